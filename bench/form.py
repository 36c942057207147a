"""The form control on the musical check's seeds: how much of the seed each form's takes restate.

For each form (auto, repeat, vary, contrast), the first 20 test-split seeds that ``composer evaluate
--continuations`` uses (8 seed bars, 4 takes × 8 bars, random seed i for the i-th piece) are continued, and
each take is measured against the seed (:class:`composer.form.SeedBars`): the share of its notes matching the
seed's best window of phrase-long bars (position in bar, track, and pitch or interval), the share of takes at
or above the threshold that calls a take a restatement, and the longest phrase repeated back to back inside the
take; next to them the same restatement measure on the pieces' own next 8 bars, and the key and loop figures
of the musical check.  Then the same restatement share on the seven bundled examples (random seeds 1 and 2,
4 takes × 8 bars each), tunes whose model takes restate more.

    python bench/form.py            # writes bench/results/form.json (about a minute per form, 1 thread)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from composer import evaluate, examples
from composer.encoding import encode
from composer.form import FORMS, RESTATED_SHARE, SeedBars
from composer.generate import Composer, Settings
from composer.midi_io import read_midi
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent
SHOWN = (
    "mean_restated_share",
    "restating_takes",
    "mean_longest_repeat_notes",
    "longest_repeat_notes",
    "reference_mean_restated_share",
    "reference_restating",
    "key_agreement",
    "mean_share_in_key",
    "looped_share",
    "take_bits_per_note",
)


def on_examples(composer: Composer, form: str) -> float:
    """The mean share of the seed restated by the takes continuing the bundled examples."""
    shares = []
    for example in examples.EXAMPLES:
        seed = read_midi(examples.example_path(example.name))
        against = SeedBars(encode(seed))
        for random_seed in (1, 2):
            for take in composer.continue_piece(seed, Settings(bars=8, variations=4, seed=random_seed, form=form)):
                shares.append(getattr(against.restated(take.events), "share", 0.0))
    return round(float(np.mean(shares)), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "form.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    composer = Composer()
    forms = {}
    for form in FORMS:
        started = time.perf_counter()
        result = evaluate.continuations(composer, args.data, seeds=args.seeds, form=form)
        result["seconds"] = round(time.perf_counter() - started, 1)
        forms[form] = result
        print(f"{form:8} { ({k: result[k] for k in SHOWN}) } in {result['seconds']} s", flush=True)
    bundled = {form: on_examples(composer, form) for form in FORMS}
    print(f"bundled examples, mean share of the seed restated: {bundled}", flush=True)
    result = {"seeds": args.seeds, "restated_threshold": RESTATED_SHARE, "forms": forms, "examples": bundled}
    write_result(args.out, result, indent=1)
    print(
        "mean share of the seed restated: "
        + ", ".join(f"{form} {forms[form]['mean_restated_share']:.3f}" for form in FORMS)
        + f" (the pieces' own continuations {forms['auto']['reference_mean_restated_share']:.3f}) → {args.out}"
    )


if __name__ == "__main__":
    main()
