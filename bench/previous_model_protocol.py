"""A protocol run on the model shipped before issue 11, the way it is run on today's: is "without the tunes that
have a close variant" a regression, or a harder set?

Issue 11 compares today's chorale protocol on the tunes without a close variant in the corpus with an audit of the
model shipped before it (1.910 pitch bits/note).  That audit left out the 18 chorales a review had found with a
close variant; ``composer.evaluate.protocol`` leaves out the 43 that the corpus's variant list
(``midi_data/eval-variants.csv``) names, which leaves harder tunes.  This bench fine-tunes the earlier model the
same way as today's (10 folds, each fold's rate chosen on its validation fold from ``PROTOCOL_LRS``) on the same
corpus and scores the same tunes, so the two figures stand side by side.

The earlier model comes from git (``git show REV:composer/models/shipped/…``, REV f54d636 by default: the 2 × 512
four-field model, trained on the corpus before issue 11); its four-field checkpoint is warm-started into today's
five fields as ``composer train --init`` does (the new fields' weights at zero: the same pitch predictions).

    python bench/previous_model_protocol.py [--set chorales|kinder] [--rev f54d636]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import torch

from composer import evaluate
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent
SETS = {"chorales": "chorales_bwv253_438", "kinder": "essen_kinder"}
FILES = ("model.safetensors", "model.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=sorted(SETS), default="chorales")
    parser.add_argument("--rev", default="f54d636", help="the commit whose shipped model is fine-tuned")
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0, help="the fine-tunes' seed (fold k: seed + k)")
    parser.add_argument("--out", type=Path, help="default: bench/results/protocol_<set>_previous_model.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out or ROOT / "bench" / "results" / f"protocol_{args.set}_previous_model.json"
    with tempfile.TemporaryDirectory() as tmp:
        for name in FILES:
            shown = subprocess.run(
                ["git", "show", f"{args.rev}:composer/models/shipped/{name}"], cwd=ROOT, capture_output=True, check=True
            )
            (Path(tmp) / name).write_bytes(shown.stdout)
        result = evaluate.protocol(SETS[args.set], args.data, Path(tmp), progress=True, seed=args.seed)
    result["pretrained"] = f"composer/models/shipped at {args.rev} (from git)"
    write_result(out, {SETS[args.set]: result})
    clean = result["without_variant_tunes"]
    print(
        f"{args.set}: {result['lstm_pitch_bits']} pitch bits/note; without the {result['pieces'] - clean['pieces']} "
        f"tunes with a close variant {clean['lstm_pitch_bits']} → {out}"
    )


if __name__ == "__main__":
    main()
