"""What the model reads at each step — one home for training (:mod:`composer.dataset`) and generation
(:mod:`composer.generate`).

Before predicting event ``j`` the model reads the event before it (its five fields; ``BOS`` before a piece's
first; velocity's UNKNOWN id as it is), the GM program of that event's track, the metrical position of its
onset, the bar length, the key, and the pitch of the previous note *on that event's track* (from which it
reads the melodic interval of each voice, not the jump between voices).

The heads read, for the chosen track of event ``j``: ``ref`` — the last pitch on that track before ``j`` (the
interval view of the pitch head) — and the *lookbacks* (Magenta's Lookback RNN): the pitches of the notes on
that track that started exactly one and two bars before event ``j``'s onset, and the duration of the first
note one bar back.

A song's per-event arrays (:class:`SongFeatures`) are computed once, vectorised, by :func:`song_features`;
training windows and the seed of a continuation read them through :func:`model_inputs`.
"""

from __future__ import annotations

from typing import NamedTuple, TypeVar

import numpy as np
import torch

from composer.encoding import DURATION, FIELDS, PITCH, SHIFT, TRACK

SIZES = tuple(f.size for f in FIELDS)  # shift, pitch, duration, velocity, track
MAX_POSITION = 192  # metrical positions (grid steps from the downbeat) are clipped below this
MAX_BAR = 193  # bar lengths in grid steps, clipped below this
N_KEYS = 25  # 24 keys + "not stated"
NO_KEY = 24
N_PROGRAMS = 129  # 128 GM programs + "none" (before the first event)
NO_PROGRAM = 128
NO_PITCH = SIZES[PITCH]  # "no previous pitch" (the BOS id of the pitch field; REST and BOS both mean none)
NO_DURATION = SIZES[DURATION]  # "no note one bar back" (the BOS id of the duration field)
LOOKBACK_NOTES = 4  # at most this many notes of a chord one / two bars back are read (top first): enough
# for melody and accompaniment figures, and a fixed width keeps the arrays plain (N, 4) integers
BOS = np.array(SIZES, dtype=np.int64)  # each field's extra "beginning of sequence" id

Onset = TypeVar("Onset", np.ndarray, torch.Tensor)


class SongFeatures(NamedTuple):
    """Per-event arrays of one song (N events), computed once (:func:`song_features`)."""

    ref: np.ndarray  # (N,) the last pitch on event j's track before j (NO_PITCH if none)
    lookback1: np.ndarray  # (N, LOOKBACK_NOTES) pitches on j's track starting one bar before j (NO_PITCH pad)
    lookback2: np.ndarray  # (N, LOOKBACK_NOTES) … two bars before
    lookback_duration: np.ndarray  # (N,) duration id of the first of lookback1 (NO_DURATION if none)


class ModelInputs(NamedTuple):
    """What the model reads before predicting each of T target events."""

    events: np.ndarray  # (T, 5) the event before each target (BOS before the first)
    position: np.ndarray  # (T,) the metrical position of that event's onset
    prev_pitch: np.ndarray  # (T,) the previous pitch on that event's track (NO_PITCH if none)
    program: np.ndarray  # (T,) the GM program of that event's track (NO_PROGRAM before the first)


def metrical_position(onset: Onset, bar_start: int, bar: int) -> Onset:
    """Where in its bar an onset (grid steps) falls: steps from the downbeat, 0 = downbeat."""
    return (onset - bar_start) % bar


def positions(ids: np.ndarray, bar: int, bar_start: int) -> np.ndarray:
    """(N+1,) metrical position of time 0 (before the first event) and of each event's onset."""
    onsets = np.concatenate([[0], np.cumsum(ids[:, SHIFT])])
    return metrical_position(onsets, bar_start, bar)


def song_features(ids: np.ndarray, bar: int) -> SongFeatures:
    """The per-event arrays of a song's ids (N, 5), vectorised (one pass per track, at most 16)."""
    n = len(ids)
    onsets = np.cumsum(ids[:, SHIFT]) if n else np.zeros(0, dtype=np.int64)
    tracks, pitches = ids[:, TRACK], ids[:, PITCH]
    is_note = pitches < SIZES[PITCH] - 1  # the last pitch id is REST
    ref = np.full(n, NO_PITCH, dtype=np.int64)
    for t in np.unique(tracks):
        notes = np.flatnonzero(is_note & (tracks == t))
        if notes.size == 0:  # only rest events on this track (a piece opening with a long silence)
            continue
        events = np.flatnonzero(tracks == t)
        before = np.searchsorted(notes, events, side="left") - 1  # the last note of track t before each event
        ref[events] = np.where(before >= 0, pitches[notes[np.maximum(before, 0)]], NO_PITCH)
    # Notes sorted by (track, onset) — canonical order already puts a chord's top note first within a track.
    note_index = np.flatnonzero(is_note)
    span = int(onsets[-1]) + 2 * bar + 1 if n else 1
    keys = tracks[note_index] * span + onsets[note_index]
    order = np.argsort(keys, kind="stable")
    keys, sorted_notes = keys[order], note_index[order]

    def lookback(bars: int) -> tuple[np.ndarray, np.ndarray]:
        query = tracks * span + onsets - bars * bar
        valid_query = onsets - bars * bar >= 0
        lo = np.searchsorted(keys, query, side="left")
        hi = np.searchsorted(keys, query, side="right")
        out = np.full((n, LOOKBACK_NOTES), NO_PITCH, dtype=np.int64)
        first = np.full(n, -1, dtype=np.int64)
        for k in range(LOOKBACK_NOTES):
            at = lo + k
            ok = valid_query & (at < hi)
            found = sorted_notes[np.minimum(at, len(sorted_notes) - 1)] if len(sorted_notes) else at
            out[:, k] = np.where(ok, pitches[found] if len(sorted_notes) else NO_PITCH, NO_PITCH)
            if k == 0:
                first = np.where(ok, found, -1)
        return out, first

    lb1, first1 = lookback(1)
    lb2, _ = lookback(2)
    lb_duration = np.where(first1 >= 0, ids[np.maximum(first1, 0), DURATION] if n else NO_DURATION, NO_DURATION)
    return SongFeatures(ref, lb1, lb2, lb_duration.astype(np.int64))


def transposed_pitches(pitches: np.ndarray, semitones: int) -> np.ndarray:
    """Pitch ids moved by ``semitones``; REST and NO_PITCH stay as they are."""
    if semitones == 0:
        return pitches
    return np.where(pitches < SIZES[PITCH] - 1, pitches + semitones, pitches)


def model_inputs(
    ids: np.ndarray, ref: np.ndarray, programs: tuple[int, ...], bar: int, bar_start: int, start: int, stop: int
) -> ModelInputs:
    """What the model reads before predicting events ``start .. stop-1`` of ``ids`` (N, 5); ``stop`` may be
    N + 1: the event after the last, the one a continuation generates.  ``ref`` is the song's
    :attr:`SongFeatures.ref` (transposed with ``ids``); ``programs`` its tracks' GM programs."""
    before = np.concatenate([BOS[None], ids])  # before[j] is the event preceding target j
    prev_pitch = np.concatenate([[NO_PITCH], ref])  # the previous note on that event's track
    table = np.array([*programs, NO_PROGRAM], dtype=np.int64)
    program = np.concatenate([[NO_PROGRAM], table[np.minimum(ids[:, TRACK], len(programs) - 1)]])
    return ModelInputs(
        before[start:stop], positions(ids, bar, bar_start)[start:stop], prev_pitch[start:stop], program[start:stop]
    )


def bar_id(bar: int) -> int:
    """The bar length as the model reads it (very long bars share the last id)."""
    return min(bar, MAX_BAR - 1)


def key_id(key: int | None) -> int:
    """A key number (0-23) as the model reads it; NO_KEY for a piece that states none."""
    return NO_KEY if key is None else int(key)
