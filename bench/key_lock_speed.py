"""What key lock costs: the time of a key-locked continuation over a plain one, in the same process, alternating
rounds.

Key lock's default (``composer.generate``: the "heard" prior) draws ``SELECT_CANDIDATES`` candidates for each
take asked, all of that take's form, in one batch, and keeps one of each take's: a key-locked continuation of
K takes samples K × SELECT_CANDIDATES takes.  Three bundled tunes, 4 takes × 8 bars each, random seeds by round,
1 thread; the median of the rounds after a warm-up.  Also times the default with fewer candidates
(``Settings.key_candidates``), so the figure says what each candidate costs.

    python bench/key_lock_speed.py        # writes bench/results/key_lock_speed.json
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from composer.examples import load_example
from composer.generate import KEY_PRIOR, KEY_STRENGTH, SELECT_CANDIDATES, Composer, Settings
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent
TUNES = ("haste-to-the-wedding", "barbara-allen", "take-back-the-virgin-page")
TAKES, BARS = 4, 8


def seconds(composer: Composer, seeds: list, key_lock: bool, candidates: int, round_: int) -> float:
    settings = Settings(bars=BARS, variations=TAKES, seed=round_, key_lock=key_lock, key_candidates=candidates)
    started = time.perf_counter()
    for seed in seeds:
        composer.continue_piece(seed, settings)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "key_lock_speed.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    composer = Composer()
    seeds = [load_example(name) for name in TUNES]
    runs = {"plain": (False, SELECT_CANDIDATES), "key_lock": (True, SELECT_CANDIDATES), "key_lock_x4": (True, 4)}
    seconds(composer, seeds, True, SELECT_CANDIDATES, 0)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for r in range(args.rounds):
        for name, (lock, candidates) in runs.items():
            times[name].append(seconds(composer, seeds, lock, candidates, r + 1))
    median = {name: statistics.median(v) for name, v in times.items()}
    result = {
        "tunes": list(TUNES),
        "takes": TAKES,
        "bars": BARS,
        "threads": 1,
        "rounds": args.rounds,
        "key_prior": KEY_PRIOR,
        "key_strength": KEY_STRENGTH,
        "candidates": SELECT_CANDIDATES,
        "seconds": {name: [round(t, 3) for t in v] for name, v in times.items()},
        "key_lock_over_plain": round(median["key_lock"] / median["plain"], 3),
        "key_lock_x4_over_plain": round(median["key_lock_x4"] / median["plain"], 3),
    }
    write_result(args.out, result)
    print(result)


if __name__ == "__main__":
    main()
