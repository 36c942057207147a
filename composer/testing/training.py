"""Tiny models and data for tests of training and generation: they train in seconds on one core."""

from __future__ import annotations

import os

import numpy as np

from composer.dataset import Song
from composer.encoding import VELOCITY_UNKNOWN
from composer.model import ModelConfig

# A model small enough to train a few steps in a test.
TINY = ModelConfig(hidden=32, layers=2, head_hidden=16, dropout=0.1)


def songs(n: int = 12, length: int = 40, seed: int = 0) -> list[Song]:
    """``n`` small random songs (two meters, pickups, every key): enough for batches and a few training steps."""
    rng = np.random.default_rng(seed)
    out: list[Song] = []
    for i in range(n):
        ids = np.stack(
            [
                rng.choice([0, 6, 12], length),
                rng.integers(30, 50, length),
                rng.integers(0, 12, length),
                np.where(rng.random(length) < 0.5, 15, rng.integers(10, 20, length)),
                rng.integers(0, 2, length),
            ],
            axis=1,
        ).astype(np.int64)
        # Two tracks (strings and piano); every third song has no dynamics (velocity unknown throughout).
        dynamics = i % 3 != 2
        if not dynamics:
            ids[:, 3] = VELOCITY_UNKNOWN
        out.append(
            Song(
                ids=ids,
                bar=36 if i % 2 else 48,
                bar_start=i % 3,
                key=i % 24,
                name=f"s{i}",
                programs=(48, 0),
                has_dynamics=dynamics,
            )
        )
    return out


def cli_train_args(
    folder: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *extra: str,
    epochs: int = 3,
    batch_events: int = 96,
    max_len: int = 16,
    checkpoint_seconds: float = 0.0,
) -> list[str]:
    """``composer train`` arguments for a tiny model that trains in seconds (the kill-and-resume tests and
    bench/training_faults.py)."""
    return [
        "train",
        "--data",
        str(folder),
        "--out",
        str(out),
        "--hidden",
        "32",
        "--layers",
        "1",
        "--head-hidden",
        "16",
        "--epochs",
        str(epochs),
        "--batch-events",
        str(batch_events),
        "--max-len",
        str(max_len),
        "--threads",
        "1",
        "--checkpoint-seconds",
        str(checkpoint_seconds),
        "--quiet",
        *extra,
    ]
