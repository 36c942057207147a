"""What echo's staged draw costs: whole notes per second of one take at batch 1, form echo against form free, in
the same process, alternating rounds (issue 16 asks batch-1 notes/s of at least 0.8× the generator's).

An echo take is drawn in stages (``composer.generate.Composer._echoes``: a phrase free, that phrase restated,
the rest free), each stage priming the model on the piece so far; a free take is one draw.  Three bundled tunes
that repeat themselves (auto gives such seeds echo takes), 8 bars, random seeds 0–2, 1 thread.

    python bench/echo_speed.py            # writes bench/results/echo_speed.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from composer.examples import load_example
from composer.generate import Composer, Settings
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent
TUNES = ("hicks-hornpipe", "haste-to-the-wedding", "barbara-allen")


def notes_per_second(composer: Composer, form: str) -> float:
    notes, started = 0, time.perf_counter()
    for name in TUNES:
        seed = load_example(name)
        for s in range(3):
            notes += composer.continue_piece(seed, Settings(bars=8, variations=1, seed=s, form=form))[0].metrics.notes
    return notes / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "echo_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    composer = Composer()
    notes_per_second(composer, "free")  # warm-up
    rates: dict[str, list[float]] = {"free": [], "echo": []}
    for _ in range(args.rounds):
        for form in rates:
            rates[form].append(notes_per_second(composer, form))
    median = {form: statistics.median(values) for form, values in rates.items()}
    result = {
        "tunes": list(TUNES),
        "bars": 8,
        "threads": 1,
        "rounds": args.rounds,
        "notes_per_s": {form: [round(v, 1) for v in values] for form, values in rates.items()},
        "echo_over_free": round(median["echo"] / median["free"], 3),
    }
    write_result(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
