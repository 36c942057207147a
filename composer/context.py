"""What the encoder reads: the notes a new passage must fit — after a gap, or on the tracks it accompanies.

The note model reads the music left to right; to fill a gap between bars a musician keeps, or to add parts
under a melody, it must also know what comes *after* and what sounds *beside* it.  That is the *context*:

* **infill** — the notes after the gap (the decoder's own stream stops at the gap's end);
* **accompany** — the notes of the given tracks, all through the piece (they are also in the decoder's
  stream, as *given* events: read, never predicted or scored).

A bidirectional LSTM reads the context notes (:meth:`composer.model.MusicLSTM.encode_context`) and, at each
decoder step, the decoder's heads read the encoder's outputs at the *next* context note and at the one before
it, plus how far ahead that next note is (:func:`distance_bucket`) — aligned by grid time: the shift head at the
current time, the track, duration, pitch and velocity heads at the new note's own onset — so the same mechanism
tells "the gap ends in two beats, and then this" and "the melody sounds this, now".  Beside the encoder the
heads read a few exact *views* of the context at the new note's onset and track (:func:`views`): the next
context note on its track (pitch and distance: the join out of a gap), the pitch classes the context sounds
at the onset, in its beat and in its bar (the harmony an accompaniment sits on), and the pitches and durations
on its track 1, 2, 4 and 8 bars ahead (a phrase that returns after the gap).  A model with *far views*
(``ModelConfig.far``) reads, in an infill, the same track 12, 16, 24 and 32 bars ahead too (a verse or chorus
that returns) and the velocities of the notes that recur with the new note's pitch; a model with *copy
views* (``ModelConfig.copy``) reads, in an infill, what follows the track's last 1–8 pitches wherever they recur
on the track after the gap, at any distance (:class:`CopyIndex`: a motif or phrase that returns off the bar lines
the other views read at).  Plain continuation is the case with no context: the heads then read exactly what
a plain model reads, and score exactly as it does.

This module builds the context arrays, for training (:func:`training_context`: random gaps of 1–8 bars and
random held-out tracks), for scoring a gap (:func:`gap_context`) and for generation (:func:`context_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from composer.encoding import DURATION, PITCH, PITCH_LOW, REST, SHIFT, STEPS_PER_BEAT, TRACK, VELOCITY, VELOCITY_UNKNOWN
from composer.features import MAX_POSITION, NO_PITCH, NO_PROGRAM, SIZES

NONE, INFILL, ACCOMPANY = 0, 1, 2  # context modes (NONE: plain continuation, the encoder adds nothing)
MODES = ("none", "infill", "accompany")
CONTEXT_NOTES = 384  # at most this many context notes are read (the notes nearest the decoder's stream)
EXACT_STEPS = 48  # distances below one 4/4 bar are told apart step by step …
BEAT_BUCKETS = 63  # … longer ones by the beat, up to about 16 bars
N_DISTANCES = EXACT_STEPS + BEAT_BUCKETS + 1  # + "no context note after now"
NO_NEXT = N_DISTANCES - 1
MAX_GAP_BARS = 8  # training gaps are 1 to this many bars
MODE_SHARE = (0.4, 0.35, 0.25)  # training items: plain continuation, infill, accompany (when it can be)
# … when only the context is trained (``--freeze-base``): a plain continuation reads no context, so it would
# teach nothing
FROZEN_MODE_SHARE = (0.0, 0.5, 0.5)
# … and when only the far views are (``--freeze-context``): they read the new note's own track after the gap,
# which an accompaniment's new tracks never have in their context
FAR_MODE_SHARE = (0.0, 1.0, 0.0)
AHEAD_BARS = (1, 2, 4, 8)  # the views read the new note's track this many bars after its onset
AHEAD_DURATION_BARS = (4, 8)  # … and the duration of the first note there
CHROMA_VIEWS = 3  # pitch classes the context sounds: at the onset, in the beat from it, in the onset's bar
DURATION_VIEWS = len(AHEAD_DURATION_BARS) + 1  # + "lasts up to the next context note on its track"
SHIFT_BARS = (0, 1, 2, 4, 8)  # the shift head reads whether a context note starts this many bars after an onset
MATCH_WINDOW = 2  # whether the last this many events recur in the context AHEAD_BARS later: "a passage repeats"
# A model with *far views* (ModelConfig.far) also reads the track this many bars ahead — a pop song's verse or
# chorus returns 12 to 32 bars on, beyond the bars-ahead views (in bars 5-8 of the validation split's POP909
# songs, a note's last three notes on its track recur after the gap 1, 2, 4 or 8 bars on for 19 % of the notes,
# only 12, 16, 24 or 32 bars on for 9 % more: python bench/infill.py --count-recurrence)
FAR_BARS = (12, 16, 24, 32)
RECUR_BARS = AHEAD_BARS + FAR_BARS  # the distances recurrence is counted at (recurs, match_counts)
# A model with *copy views* (ModelConfig.copy) reads, in an infill, what follows the track's last k notes
# wherever those k pitches recur in the context, at any distance: a phrase that returns after the gap off the
# bar lines the views above read at, or a motif the tune restates elsewhere (a fitted sum of these counts over
# the shipped model's scores took the pitch of bars 5-8 of the validation pieces from 1.829 to 1.731
# bits/event, the duration from 1.109 to 1.073).  :class:`CopyIndex`.
COPY_ORDERS = (1, 2, 3, 4, 6, 8)
COPY_HISTORY = max(COPY_ORDERS)  # the last notes on each track a copy view matches
N_PITCHES = REST  # real pitch ids 0 .. REST-1


def distance_bucket(steps: np.ndarray) -> np.ndarray:
    """Grid steps from now to the next context note → a bucket id (exact within a bar, then by the beat)."""
    steps = np.maximum(steps, 0)
    beats = EXACT_STEPS + np.minimum((steps - EXACT_STEPS) // 12, BEAT_BUCKETS - 1)
    return np.where(steps < EXACT_STEPS, steps, beats).astype(np.int64)


@dataclass
class Context:
    """One piece's context notes and how its decoder steps align with them.

    ``ids`` (S, 5): the context notes as events (shift from the previous context note, capped to the shift
    field; rest events left out); ``onsets`` (S,) their grid onsets; ``positions`` (S,) their metrical
    positions; ``programs`` (S,) their tracks' GM programs; ``mode`` one of NONE / INFILL / ACCOMPANY.
    """

    ids: np.ndarray
    onsets: np.ndarray
    positions: np.ndarray
    programs: np.ndarray
    mode: int

    @classmethod
    def empty(cls) -> Context:
        z = np.zeros(0, dtype=np.int64)
        return cls(np.zeros((0, 5), dtype=np.int64), z, z, z, NONE)

    def __len__(self) -> int:
        return len(self.ids)

    def align(self, now: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For decoder steps at grid times ``now`` (T,): the index of the first context note at or after
        each (S where none is left) and the bucket of its distance (NO_NEXT where none)."""
        index = np.searchsorted(self.onsets, now, side="left")
        has = index < len(self.onsets)
        gap = self.onsets[np.minimum(index, max(0, len(self.onsets) - 1))] - now if len(self.onsets) else now
        return index.astype(np.int64), np.where(has, distance_bucket(gap), NO_NEXT).astype(np.int64)


@dataclass
class Views:
    """What the heads read of a context at N new notes' onsets and tracks (:func:`views`).

    ``next_pitch`` (N,) the pitch id of the first context note on the note's track at or after its onset
    (NO_PITCH: none), ``next_steps`` (N,) grid steps to it (-1: none), ``next_distance`` (N,) their bucket
    (NO_NEXT: none); ``chroma`` (N, CHROMA_VIEWS, 12) bool: the pitch classes (C = 0) of context notes sounding
    at the onset, sounding in the beat from it, sounding in its bar; ``ahead`` (N, len(AHEAD_BARS), pitch ids)
    bool: pitches starting on its track exactly that many bars after the onset; ``durations`` (N,
    DURATION_VIEWS, duration ids) bool: the first such note's duration 4 and 8 bars ahead, and the duration
    that lasts up to the next context note on the track; ``far`` (N, len(FAR_BARS), pitch ids) and
    ``far_durations`` (N, len(FAR_BARS), duration ids) bool: the pitches and the first note's duration on its
    track exactly :data:`FAR_BARS` after the onset (read by a model with far views)."""

    next_pitch: np.ndarray
    next_steps: np.ndarray
    next_distance: np.ndarray
    chroma: np.ndarray
    ahead: np.ndarray
    durations: np.ndarray
    far: np.ndarray
    far_durations: np.ndarray

    @classmethod
    def none(cls, n: int) -> Views:
        return cls(
            next_pitch=np.full(n, NO_PITCH, dtype=np.int64),
            next_steps=np.full(n, -1, dtype=np.int64),
            next_distance=np.full(n, NO_NEXT, dtype=np.int64),
            chroma=np.zeros((n, CHROMA_VIEWS, 12), dtype=bool),
            ahead=np.zeros((n, len(AHEAD_BARS), N_PITCHES), dtype=bool),
            durations=np.zeros((n, DURATION_VIEWS, SIZES[DURATION]), dtype=bool),
            far=np.zeros((n, len(FAR_BARS), N_PITCHES), dtype=bool),
            far_durations=np.zeros((n, len(FAR_BARS), SIZES[DURATION]), dtype=bool),
        )


def views(
    ids: np.ndarray,
    onsets: np.ndarray,
    at: np.ndarray,
    tracks: np.ndarray,
    bar: int,
    bar_start: int,
    far: bool = False,
) -> Views:
    """The :class:`Views` of the context notes ``ids`` (S, 5) with grid ``onsets`` (S,), sorted, for new notes
    at grid steps ``at`` (N,) on ``tracks`` (N,) — one function for training, scoring and generation.  The far
    views are read where ``far`` (an infill's context: :func:`reads_far`), and left empty elsewhere."""
    n = len(at)
    out = Views.none(n)
    if n == 0 or len(ids) == 0:
        return out
    at = np.asarray(at, dtype=np.int64)[:, None]
    on = np.asarray(onsets, dtype=np.int64)[None, :]
    ends = on + ids[None, :, DURATION] + 1
    pitch = ids[:, PITCH]
    same = ids[None, :, TRACK] == np.asarray(tracks, dtype=np.int64)[:, None]  # (N, S)
    after = same & (on >= at)
    has = after.any(axis=1)
    first = after.argmax(axis=1)
    steps = np.where(has, onsets[first] - at[:, 0], -1)
    out.next_pitch[:] = np.where(has, pitch[first], NO_PITCH)
    out.next_steps[:] = steps
    out.next_distance[:] = np.where(has, distance_bucket(steps), NO_NEXT)
    pc = (pitch + PITCH_LOW) % 12
    bar_at = bar_start + ((at - bar_start) // bar) * bar
    windows = (
        (on <= at) & (at < ends),  # sounding at the onset
        (on < at + STEPS_PER_BEAT) & (ends > at),  # sounding in the beat from it
        (on < bar_at + bar) & (ends > bar_at),  # sounding in its bar
    )
    for v, window in enumerate(windows):
        rows, cols = np.nonzero(window)
        out.chroma[rows, v, pc[cols]] = True
    for v, bars in enumerate(AHEAD_BARS):
        there = same & (on == at + bars * bar)
        rows, cols = np.nonzero(there)
        out.ahead[rows, v, pitch[cols]] = True
        if bars in AHEAD_DURATION_BARS:
            found = there.any(axis=1)
            rows = np.flatnonzero(found)
            d = AHEAD_DURATION_BARS.index(bars)
            out.durations[rows, d, ids[there.argmax(axis=1)[rows], DURATION]] = True
    for v, bars in enumerate(FAR_BARS if far else ()):
        there = same & (on == at + bars * bar)
        rows, cols = np.nonzero(there)
        out.far[rows, v, pitch[cols]] = True
        rows = np.flatnonzero(there.any(axis=1))
        out.far_durations[rows, v, ids[there.argmax(axis=1)[rows], DURATION]] = True
    lasting = np.flatnonzero(has & (steps >= 1) & (steps <= SIZES[DURATION]))
    out.durations[lasting, -1, steps[lasting] - 1] = True  # duration id = steps sounding - 1
    return out


def _note_keys(onsets: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """One integer per (onset, track, pitch) — a note's identity for :func:`recurs`."""
    return (onsets.astype(np.int64) * SIZES[TRACK] + ids[:, TRACK]) * SIZES[PITCH] + ids[:, PITCH]


def known_notes(ctx: Context) -> np.ndarray:
    """The context's notes as :func:`_note_keys`, sorted and unique: what :func:`recurs` looks them up in (a
    generation computes it once, not at every step)."""
    return np.unique(_note_keys(ctx.onsets, ctx.ids))


def recurs(ctx: Context, onsets: np.ndarray, ids: np.ndarray, bar: int, known: np.ndarray | None = None) -> np.ndarray:
    """(M, len(RECUR_BARS)) bool: whether each of the events ``ids`` (M, 5) at grid ``onsets`` (M,) — a note —
    sounds again in the context, same pitch on the same track, exactly 1, 2, 4 and 8 bars later (and 12, 16, 24
    and 32: :data:`FAR_BARS`).  Summed over
    the last :data:`MATCH_WINDOW` events it tells the heads whether the passage they are in returns after the
    gap (:func:`match_counts`), and so how far to trust the views of the bars ahead."""
    out = np.zeros((len(ids), len(RECUR_BARS)), dtype=bool)
    if len(ctx) == 0 or len(ids) == 0:
        return out
    known = known_notes(ctx) if known is None else known
    note = ids[:, PITCH] != REST
    for v, bars in enumerate(RECUR_BARS):
        keys = _note_keys(onsets + bars * bar, ids)
        found = np.searchsorted(known, keys)
        out[:, v] = note & (known[np.minimum(found, len(known) - 1)] == keys)
    return out


def match_counts(recurred: np.ndarray) -> np.ndarray:
    """(N, len(RECUR_BARS)) how many of the :data:`MATCH_WINDOW` events up to each one recur (:func:`recurs`;
    rows in event order)."""
    counts = np.zeros(recurred.shape, dtype=np.int64)
    for back in range(MATCH_WINDOW):
        counts[back:] += recurred[: len(recurred) - back]
    return counts


def echo_velocities(
    ids: np.ndarray,
    onsets: np.ndarray,
    at: np.ndarray,
    tracks: np.ndarray,
    pitches: np.ndarray,
    bar: int,
    far: bool = False,
) -> np.ndarray:
    """(N, len(RECUR_BARS), velocity ids) bool: for new notes at grid steps ``at`` (N,) on ``tracks`` with
    pitch ids ``pitches`` (N,), the velocity ids of the context notes (``ids`` (S, 5) at ``onsets``) of the same
    pitch on the same track exactly 1, 2, 4, 8, 12, 16, 24 and 32 bars later — how loudly the passage is played
    where it returns (POP909's played velocities: in bars 5-8 of the validation songs, 57 % of the notes recur so
    after the gap, 42 % of those at the same velocity id, 78 % within one: ``python bench/infill.py
    --count-recurrence``).  Read by a model with far views
    where ``far``; empty elsewhere, and for context notes of unknown velocity."""
    n = len(at)
    out = np.zeros((n, len(RECUR_BARS), SIZES[VELOCITY]), dtype=bool)
    if not far or n == 0 or len(ids) == 0:
        return out
    on = np.asarray(onsets, dtype=np.int64)[None, :]
    at = np.asarray(at, dtype=np.int64)[:, None]
    same = (ids[None, :, TRACK] == np.asarray(tracks, dtype=np.int64)[:, None]) & (
        ids[None, :, PITCH] == np.asarray(pitches, dtype=np.int64)[:, None]
    )
    same &= ids[None, :, VELOCITY] != VELOCITY_UNKNOWN
    for v, bars in enumerate(RECUR_BARS):
        rows, cols = np.nonzero(same & (on == at + bars * bar))
        out[rows, v, ids[cols, VELOCITY]] = True
    return out


def _gram_keys(tracks: np.ndarray, grams: np.ndarray, order: int) -> np.ndarray:
    """One integer per (order index, track, k pitch ids) — exact for k up to :data:`COPY_HISTORY`: the track
    and pitches take under 2^56 (16 · 88^8), the order index the bits above."""
    key = np.asarray(tracks, dtype=np.int64).copy()
    for col in range(grams.shape[1]):
        key = key * N_PITCHES + grams[:, col]
    return key + (order << 56)


class CopyIndex:
    """The context's notes as continuations of the k notes before them on their track (k in
    :data:`COPY_ORDERS`): for a track's last k pitches, the pitches and durations that follow the same k
    pitches on that track in the context — the copy views of a model with ``ModelConfig.copy``.  Built once a
    context (training builds it per window, a generation once per fill)."""

    def __init__(self, ids: np.ndarray) -> None:
        keys, pitches, durations = [], [], []
        notes = ids[ids[:, PITCH] != REST]
        for a, k in enumerate(COPY_ORDERS):
            for track in np.unique(notes[:, TRACK]):
                line = notes[notes[:, TRACK] == track]
                if len(line) <= k:
                    continue
                grams = np.lib.stride_tricks.sliding_window_view(line[:-1, PITCH], k)
                keys.append(_gram_keys(np.full(len(grams), track), grams, a))
                pitches.append(line[k:, PITCH])
                durations.append(line[k:, DURATION])
        z = np.zeros(0, dtype=np.int64)
        key = np.concatenate(keys) if keys else z
        order = np.argsort(key, kind="stable")
        # one table for every order (the order is the key's top bits), sorted by key
        self.keys = key[order]
        self.pitches = np.concatenate(pitches)[order] if keys else z
        self.durations = np.concatenate(durations)[order] if keys else z

    def views(self, tracks: np.ndarray, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For new notes on ``tracks`` (N,) whose tracks' last :data:`COPY_HISTORY` pitch ids are ``history``
        (N, COPY_HISTORY), the most recent last, -1 where the track has fewer notes: (N, len(COPY_ORDERS),
        pitch ids) and (N, len(COPY_ORDERS), duration ids) uint8 — how many times each pitch, each duration,
        follows the last k of them in the context (at most 255)."""
        n, orders = len(tracks), len(COPY_ORDERS)
        pitch = np.zeros((n, orders, N_PITCHES), dtype=np.uint8)
        duration = np.zeros((n, orders, SIZES[DURATION]), dtype=np.uint8)
        if n == 0 or len(self.keys) == 0:
            return pitch, duration
        tracks = np.asarray(tracks, dtype=np.int64)
        wanted = np.stack([_gram_keys(tracks, history[:, COPY_HISTORY - k :], a) for a, k in enumerate(COPY_ORDERS)], 1)
        known = np.stack([(history[:, COPY_HISTORY - k :] >= 0).all(axis=1) for k in COPY_ORDERS], 1)  # (N, orders)
        cell = np.flatnonzero(known)  # row * orders + order
        lo = np.searchsorted(self.keys, wanted.ravel()[cell], side="left")
        counts = np.searchsorted(self.keys, wanted.ravel()[cell], side="right") - lo
        total = int(counts.sum())
        if total == 0:
            return pitch, duration
        index = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)
        cells = np.repeat(cell, counts)
        size = n * orders
        p = np.bincount(cells * N_PITCHES + self.pitches[index], minlength=size * N_PITCHES)
        d = np.bincount(cells * SIZES[DURATION] + self.durations[index], minlength=size * SIZES[DURATION])
        pitch[:] = np.minimum(p, 255).reshape(n, orders, N_PITCHES)
        duration[:] = np.minimum(d, 255).reshape(n, orders, SIZES[DURATION])
        return pitch, duration


def track_histories(pitches: np.ndarray, tracks: np.ndarray, at: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """(N, COPY_HISTORY) for events ``at`` (N,) — indices into a stream of ``pitches`` / ``tracks`` (L,) — the
    pitch ids of the last :data:`COPY_HISTORY` notes (rest events left out) on track ``wanted`` (N,) before
    each, the most recent last, -1 where there are fewer: what :meth:`CopyIndex.views` matches."""
    out = np.full((len(at), COPY_HISTORY), -1, dtype=np.int64)
    for track in np.unique(wanted):
        mine = np.flatnonzero(wanted == track)
        notes = np.flatnonzero((tracks == track) & (pitches != REST))
        if notes.size == 0:
            continue
        count = np.searchsorted(notes, np.asarray(at)[mine], side="left")  # notes before each event
        index = count[:, None] - COPY_HISTORY + np.arange(COPY_HISTORY)[None, :]
        out[mine] = np.where(index >= 0, pitches[notes[np.maximum(index, 0)]], -1)
    return out


def reads_far(ctx: Context) -> bool:
    """Whether a model with far views (or copy views) reads them in this context: in an infill only.  An
    accompaniment's new tracks have no notes of their own in its context, and its given tracks' onsets far ahead
    stay unread, so a model's far and copy views never change an accompaniment."""
    return ctx.mode == INFILL


def shift_views(onsets: np.ndarray, now: np.ndarray, bar: int) -> np.ndarray:
    """(N, len(SHIFT_BARS), shift ids) bool: for steps at grid times ``now`` (N,), whether a context note (any
    track; ``onsets`` (S,) sorted) starts exactly at ``now + shift`` plus 0, 1, 2, 4 and 8 bars — the gap's end
    or the melody's next onset, and a rhythm that returns after the gap.  (Onsets 12–32 bars on, read as the
    far views are, made the shift head's bits worse on the validation gaps: 0.951 of the left-only score against
    0.947 without them, runs/f3; not kept.)"""
    now = np.asarray(now, dtype=np.int64)
    out = np.zeros((len(now), len(SHIFT_BARS), SIZES[SHIFT]), dtype=bool)
    if len(onsets) == 0 or len(now) == 0:
        return out
    candidates = now[:, None] + np.arange(SIZES[SHIFT])[None, :]
    for v, bars in enumerate(SHIFT_BARS):
        at = candidates + bars * bar
        found = np.searchsorted(onsets, at)
        out[:, v] = onsets[np.minimum(found, len(onsets) - 1)] == at
    return out


def notes_as_context(
    ids: np.ndarray,
    onsets: np.ndarray,
    keep: np.ndarray,
    programs: Sequence[int],
    bar: int,
    bar_start: int,
    mode: int,
    limit: int | None = CONTEXT_NOTES,
) -> Context:
    """The events of ``ids`` (N, 5) where ``keep`` (N,) bool holds — notes only, the first ``limit`` of them
    (training bounds its cost; generation reads them all) — as a :class:`Context`."""
    chosen = np.flatnonzero(keep & (ids[:, PITCH] != REST))
    if mode == NONE or chosen.size == 0:
        return Context.empty()
    if limit is not None and chosen.size > limit:
        chosen = chosen[:limit]
    at = onsets[chosen]
    out = ids[chosen].copy()
    out[:, SHIFT] = np.minimum(np.diff(at, prepend=at[0]), SIZES[SHIFT] - 1)
    table = np.array([*programs, NO_PROGRAM], dtype=np.int64)
    return Context(
        ids=out,
        onsets=at.astype(np.int64),
        positions=np.minimum((at - bar_start) % bar, MAX_POSITION - 1).astype(np.int64),
        programs=table[np.minimum(out[:, TRACK], len(programs) - 1)],
        mode=mode,
    )


def bar_lines(onsets: np.ndarray, bar: int, bar_start: int) -> tuple[int, int]:
    """The indices of the first and last bar (bar 0: the one starting at ``bar_start - bar``, a pickup's)
    in which the onsets fall."""
    first = int((onsets[0] - bar_start) // bar) + 1
    last = int((onsets[-1] - bar_start) // bar) + 1
    return first, last


def bar_start_step(number: int, bar: int, bar_start: int) -> int:
    """The grid step where bar ``number`` starts (as in printed music: bar 1 is the first whole bar, a
    pickup is bar 0)."""
    return bar_start + (number - 1) * bar


def gap_context(
    ids: np.ndarray, programs: Sequence[int], bar: int, bar_start: int, first: int, last: int
) -> tuple[int, Context]:
    """For scoring bars ``first``–``last`` given both sides: the number of events the decoder runs over
    (every event starting before the bar after the gap) and the notes after the gap as context."""
    onsets = np.cumsum(ids[:, SHIFT])
    end = bar_start_step(last + 1, bar, bar_start)
    stop = int(np.searchsorted(onsets, end, side="left"))
    keep = np.zeros(len(ids), dtype=bool)
    keep[stop:] = True
    return stop, notes_as_context(ids, onsets, keep, programs, bar, bar_start, INFILL)


def training_context(
    ids: np.ndarray,
    programs: Sequence[int],
    bar: int,
    bar_start: int,
    start: int,
    length: int,
    rng: np.random.Generator,
    share: tuple[float, float, float] = MODE_SHARE,
) -> tuple[int, Context, np.ndarray]:
    """A random training task for the window ``start .. start+length`` of a song's ``ids``: → (the window's
    new length, its context, (length,) bool: the targets that are given, not predicted).

    With probability ``share`` (:data:`MODE_SHARE`): plain continuation (no context); infill — a gap of 1–8 whole bars
    starting at a bar line inside the window, the window cut at the gap's end and the song's notes after it as
    context; accompany (a window with notes on two tracks or more) — a random proper subset of its tracks
    given (the top track, the melody in most arrangements, half the time), its notes the context."""
    stop = start + length
    no_given = np.zeros(length, dtype=bool)
    onsets = np.cumsum(ids[:, SHIFT])
    mode = int(rng.choice(3, p=share))
    window = ids[start:stop]
    notes = window[:, PITCH] != REST
    tracks = np.unique(window[notes, TRACK])
    if mode == ACCOMPANY and tracks.size < 2:
        mode = INFILL
    if mode == NONE or not notes.any():
        return length, Context.empty(), no_given
    if mode == INFILL:
        first, last = bar_lines(onsets[start:stop], bar, bar_start)
        a = int(rng.integers(first, last + 1))
        gap = int(rng.integers(1, MAX_GAP_BARS + 1))
        end = bar_start_step(a + gap, bar, bar_start)
        cut = int(np.searchsorted(onsets[start:stop], end, side="left"))
        if cut == 0:
            return length, Context.empty(), no_given
        keep = np.zeros(len(ids), dtype=bool)
        keep[start + cut :] = True
        return cut, notes_as_context(ids, onsets, keep, programs, bar, bar_start, INFILL), no_given[:cut]
    if rng.random() < 0.5:
        given = {int(tracks[0])}
    else:
        size = int(rng.integers(1, tracks.size))
        given = {int(t) for t in rng.choice(tracks, size=size, replace=False)}
    on_given = np.isin(ids[:, TRACK], list(given))
    keep = np.zeros(len(ids), dtype=bool)
    keep[start:] = on_given[start:]
    return length, notes_as_context(ids, onsets, keep, programs, bar, bar_start, ACCOMPANY), on_given[start:stop]
