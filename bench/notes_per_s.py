"""Whole notes per second of one checkout's generator, at batch 1 and batch 8 (256 notes a take, 1 thread).

Uses only the generator's public API (``Composer``, ``Settings``, ``Piece``), which the previous model's code
shares, so that ``bench/generation.py`` can time that code and this one alike, each in a process of its own:

    PYTHONPATH=TREE python bench/notes_per_s.py [--repeats 3]    # prints {"batch_1": …, "batch_8_per_take": …}
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import torch

from composer.generate import Composer, Settings
from composer.piece import Note, Piece, TimeSignature

NOTES = 256


def best_of(fn: Callable[..., object], repeats: int = 5) -> float:
    """The shortest of ``repeats`` timed calls after one warm-up call (seconds): the least disturbed run."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def seed() -> Piece:
    melody = [67, 67, 69, 71, 72, 71, 69, 67, 69, 71, 72, 74, 72, 71, 69, 67]
    return Piece(
        notes=tuple(Note(i * 0.5, 0.5, p, 80) for i, p in enumerate(melody)),
        tempo=100,
        time_signature=TimeSignature(4, 4),
        key=7,
    )


def seconds(composer: Composer, notes: int, k: int, repeats: int = 3) -> float:
    """Best time for ``k`` takes of ``notes`` notes each from :func:`seed`."""
    settings = Settings(bars=None, notes=notes, variations=k, seed=1)
    return best_of(lambda: composer.continue_piece(seed(), settings), repeats=repeats)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    composer = Composer()  # the checkout's own shipped model
    t1, t8 = seconds(composer, NOTES, 1, args.repeats), seconds(composer, NOTES, 8, args.repeats)
    print(json.dumps({"batch_1": NOTES / t1, "batch_8_per_take": 8 * NOTES / t8}))


if __name__ == "__main__":
    main()
