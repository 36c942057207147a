"""Key lock's strength: chosen on the validation split, then measured once on the test split.

Key lock keeps the key music21 hears in the seed's last bars: the model is told that key, pitches outside
its scale are masked, and the pitch distribution is multiplied by the key's scale-degree profile raised to
a strength (``Settings.key_strength``).  This bench runs the musical check of ``composer evaluate
--continuations`` (50 seeds of 8 bars, 8 bars × 4 takes) on the validation split for strengths 0–3, picks
the one with the highest key agreement there (ties: the smaller), and then reports on the test split the
takes without key lock and with key lock at that strength — the figures in the README.

    python bench/key_lock.py            # writes bench/results/key_lock.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from composer import evaluate
from composer.generate import KEY_STRENGTH, Composer
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent
STRENGTHS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
SHOWN = (
    "key_agreement",
    "reference_key_agreement",
    "key_agreement_same_signature",
    "key_agreement_closely_related",
    "key_kept_by_whole_piece",
    "pitch_class_ratio",
    "note_length_ratio",
    "looped_share",
    "take_bits_per_note",
    "mean_share_in_key",
)


def check(composer: Composer, data: Path, split: str, strength: float | None, seeds: int) -> dict:
    started = time.perf_counter()
    result = evaluate.continuations(
        composer, data, seeds=seeds, split=split, key_lock=strength is not None, key_strength=strength
    )
    result["seconds"] = round(time.perf_counter() - started, 1)
    shown = {k: result[k] for k in SHOWN}
    print(f"{split:5} key lock {'off' if strength is None else strength:>4}: {shown}", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "key_lock.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    composer = Composer()
    sweep = {"off": check(composer, args.data, "valid", None, args.seeds)}
    for strength in STRENGTHS:
        sweep[str(strength)] = check(composer, args.data, "valid", strength, args.seeds)
    best = max(STRENGTHS, key=lambda s: (sweep[str(s)]["key_agreement"], -s))
    test = {
        "off": check(composer, args.data, "test", None, args.seeds),
        "chosen": check(composer, args.data, "test", best, args.seeds),
    }
    result = {
        "validation_sweep": sweep,
        "chosen_strength": best,
        "generator_default_strength": KEY_STRENGTH,
        "test": test,
    }
    write_result(args.out, result, indent=1)
    print(
        f"chosen strength {best} (generator default {KEY_STRENGTH}); test key agreement without key lock "
        f"{test['off']['key_agreement']:.3f}, with key lock {test['chosen']['key_agreement']:.3f} "
        f"(real continuations {test['off']['reference_key_agreement']:.3f}) → {args.out}"
    )


if __name__ == "__main__":
    main()
