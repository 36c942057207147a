"""What the model reads at each step — one home for training (:mod:`composer.dataset`) and generation
(:mod:`composer.generate`).

Before predicting event ``j`` the model reads the event before it (``BOS`` before a piece's first), the
metrical position of that event's onset, the bar length, the key, and the pitch of the event before *that*
(from which the model reads the melodic interval).  Training windows and the seed of a continuation are
built by the same :func:`model_inputs`; the generator's per-note steps use :func:`metrical_position`,
:func:`bar_id` and :func:`key_id`, so both read the music the same way.
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

import numpy as np
import torch

from composer.encoding import FIELDS, PITCH, SHIFT

SIZES = tuple(f.size for f in FIELDS)  # shift, pitch, duration, velocity
MAX_POSITION = 192  # metrical positions (grid steps from the downbeat) are clipped below this
MAX_BAR = 193  # bar lengths in grid steps, clipped below this
N_KEYS = 25  # 24 keys + "not stated"
NO_KEY = 24
NO_PITCH = SIZES[PITCH]  # "no previous pitch" (the BOS id of the pitch field)
BOS = np.array(SIZES, dtype=np.int64)  # each field's extra "beginning of sequence" id

Onset = TypeVar("Onset", np.ndarray, torch.Tensor)


class ModelInputs(NamedTuple):
    """What the model reads before predicting each of T target events."""

    events: np.ndarray  # (T, 4) the event before each target (BOS before the first)
    position: np.ndarray  # (T,) the metrical position of that event's onset
    prev_pitch: np.ndarray  # (T,) the pitch of the event before that one (NO_PITCH at the start)


def metrical_position(onset: Onset, bar_start: int, bar: int) -> Onset:
    """Where in its bar an onset (grid steps) falls: steps from the downbeat, 0 = downbeat."""
    return (onset - bar_start) % bar


def positions(ids: np.ndarray, bar: int, bar_start: int) -> np.ndarray:
    """(N+1,) metrical position of time 0 (before the first event) and of each event's onset."""
    onsets = np.concatenate([[0], np.cumsum(ids[:, SHIFT])])
    return metrical_position(onsets, bar_start, bar)


def model_inputs(ids: np.ndarray, bar: int, bar_start: int, start: int, stop: int) -> ModelInputs:
    """What the model reads before predicting events ``start .. stop-1`` of ``ids`` (N, 4); ``stop`` may be
    N + 1: the event after the last, the one a continuation generates."""
    before = np.concatenate([BOS[None], ids])  # before[j] is the event preceding target j
    pitches = np.concatenate([[NO_PITCH, NO_PITCH], ids[:, PITCH]])  # pitches[j]: the one before that
    return ModelInputs(before[start:stop], positions(ids, bar, bar_start)[start:stop], pitches[start:stop])


def bar_id(bar: int) -> int:
    """The bar length as the model reads it (very long bars share the last id)."""
    return min(bar, MAX_BAR - 1)


def key_id(key: int | None) -> int:
    """A key number (0-23) as the model reads it; NO_KEY for a piece that states none."""
    return NO_KEY if key is None else int(key)
