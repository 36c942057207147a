"""What infill and accompany add to generation: the given notes a take plays at their places, the context the
encoder reads, the bars a musician names, and the finished piece.

Both are one task (:meth:`composer.generate.Composer.infill`, :meth:`~composer.generate.Composer.accompany`):
generate new notes on some tracks (the *regenerated* ones) between two grid steps, while every other note in
that span is *given* — played into the model at its place, exactly as written (:class:`Given`) — and the
encoder reads what the new notes must fit (:mod:`composer.context`):

* infill: bars A–B of the chosen tracks are regenerated; the notes after the gap are the context, the
  notes before it the seed (read as a continuation's), the other tracks' notes inside the gap are given;
* accompany: new tracks are added to the table and filled from the first bar to the last; the piece's own
  tracks are given all through and are the context.

A take's notes are then decoded, and the piece is assembled from every note that was not regenerated — kept
exactly — and the new ones (:func:`assemble`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from composer.context import (
    COPY_HISTORY,
    MATCH_WINDOW,
    NONE,
    RECUR_BARS,
    Context,
    CopyIndex,
    echo_velocities,
    known_notes,
    reads_far,
    recurs,
    shift_views,
    track_histories,
    views,
)
from composer.encoding import DURATION, PITCH, REST, STEPS_PER_BEAT, TRACK, Events
from composer.errors import InputError
from composer.features import SIZES
from composer.model import ContextBatch, ContextMemory, HeadViews, MusicLSTM, copy_strength
from composer.piece import Note, Piece

MAX_GAP = 16  # bars infill regenerates at most at a time
BEYOND = 1 << 40  # an onset after every real one: "no given note left"


class Given:
    """The given notes of a fill, in event order, and where each take stands in them.

    ``events`` (F, 5) ids (their shifts are recomputed when played), ``onsets`` (F,) grid onsets.  At each step a
    take whose drawn onset would pass its next given note plays that note instead (:meth:`due`); a new note may
    not start a pitch a given note on its track is sounding (:meth:`sounding`: that note would be cut)."""

    def __init__(self, events: np.ndarray, onsets: np.ndarray, takes: int) -> None:
        self.events = torch.from_numpy(np.asarray(events, dtype=np.int64).reshape(-1, 5))
        self.onsets = torch.from_numpy(np.append(np.asarray(onsets, dtype=np.int64), BEYOND))
        self.ends = self.onsets[:-1] + self.events[:, DURATION] + 1  # duration id = steps - 1
        self.next = torch.zeros(takes, dtype=torch.long)
        self.count = len(self.events)
        self.played: list[torch.Tensor] = []  # (K,) per step: which takes played a given note there

    def __len__(self) -> int:
        return self.count

    def due(self, time: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(K,) bool: the takes whose drawn onset ``time + shift`` reaches their next given note, and (K,)
        that note's onset (BEYOND where none is left)."""
        at = self.onsets[self.next]
        return (time + shift) >= at, at

    def play(self, use: torch.Tensor) -> torch.Tensor:
        """(K, 5) each take's next given note (any row where ``use`` is False), and move past it there."""
        rows = self.events[self.next.clamp(max=max(0, self.count - 1))] if self.count else torch.zeros(len(use), 5)
        self.next = self.next + use.long()
        return rows.long()

    def ceiling(self, onset: torch.Tensor) -> torch.Tensor:
        """(K,) the pitch id of the highest given note sounding at each take's ``onset`` (any track); where none
        sounds, of the given note last begun before it (or the first, before any): what an accompaniment stays
        under.  POP909's piano tracks sound above their melody 9 % of the time the two sound together (16 bars of
        20 validation songs, bench/infill.py's above_melody); the accompaniments before this rule 17 % (a scratch
        count on 8 of those songs, where the real tracks did 2 %).  Past the highest pitch id where there are no
        given notes."""
        if not self.count:
            return torch.full((len(onset),), SIZES[PITCH], dtype=torch.long)
        on, pitch = self.onsets[:-1], self.events[:, PITCH]
        note = pitch != REST
        sounding = (on[None] <= onset[:, None]) & (onset[:, None] < self.ends[None]) & note[None]
        high = torch.where(sounding, pitch[None], -1).max(dim=1).values
        last = (torch.searchsorted(on, onset, right=True) - 1).clamp(min=0)
        return torch.where(high >= 0, high, pitch[last])

    def sounding(self, onset: torch.Tensor, track: torch.Tensor) -> torch.Tensor:
        """(K, pitch ids) True at the pitches a given note on each take's ``track`` sounds at ``onset``."""
        out = torch.zeros(len(onset), SIZES[PITCH], dtype=torch.bool)
        if not self.count:
            return out
        on = self.onsets[:-1]
        hit = (
            (on[None] <= onset[:, None])
            & (onset[:, None] < self.ends[None])
            & (self.events[None, :, TRACK] == track[:, None])
        )
        rows, which = torch.nonzero(hit, as_tuple=True)
        out[rows, self.events[which, PITCH]] = True
        return out


class ContextSteps:
    """The encoded context of a fill, read at each step by the heads: at the takes' current times (the shift
    head), then at their new notes' onsets and tracks (the other heads, and the context's views)."""

    def __init__(self, model: MusicLSTM, context: Context, bar: int, bar_start: int) -> None:
        self.context = context
        self.model = model
        self.bar, self.bar_start = bar, bar_start
        one = torch.zeros(1, 1, dtype=torch.long)
        batch = ContextBatch(
            ids=torch.from_numpy(context.ids)[None],
            positions=torch.from_numpy(context.positions)[None],
            programs=torch.from_numpy(context.programs)[None],
            lengths=torch.tensor([len(context)]),
            modes=torch.tensor([context.mode]),
            index=one,
            distance=one,
            target_index=one,
            target_distance=one,
            next_pitch=one,
            next_distance=one,
            chroma=torch.zeros(1, 1, 3, 12, dtype=torch.bool),
            ahead=torch.zeros(1, 1, 1, 1, dtype=torch.bool),
            durations=torch.zeros(1, 1, 1, 1, dtype=torch.bool),
            shifts=torch.zeros(1, 1, 1, 1, dtype=torch.bool),
            matches=one[..., None],
            given=torch.zeros(1, 1, dtype=torch.bool),
            far=torch.zeros(1, 1, 1, 1, dtype=torch.bool),
            far_durations=torch.zeros(1, 1, 1, 1, dtype=torch.bool),
            velocities=torch.zeros(1, 1, 1, 1, dtype=torch.bool),
            copy_pitch=torch.zeros(1, 1, 1, 1, dtype=torch.uint8),
            copy_duration=torch.zeros(1, 1, 1, 1, dtype=torch.uint8),
        )
        self.memory: ContextMemory = model.encode_context(batch)
        # what context_heads gathers at an aligned index, its two rows summed once: (S+1, 5·HH)
        self.rows = self.memory.following[0] + self.memory.preceding[0]
        self.heads = len(model.HEADS)
        self.recent = np.zeros((1, MATCH_WINDOW, len(RECUR_BARS)), dtype=bool)  # the last events' recurrence
        self.known = known_notes(context)  # the context's notes, for recurs
        self.far = model.config.far and reads_far(context)  # only a model with far views pays for reading them
        # … and copy views: the context's continuations of each track's last notes, matched against each take's
        # own last COPY_HISTORY pitches on each track (-1: fewer notes), as training reads them
        self.copy = CopyIndex(context.ids) if model.config.copy and reads_far(context) else None
        self.history = np.full((1, SIZES[TRACK], COPY_HISTORY), -1, dtype=np.int64)
        self._last: tuple[np.ndarray, tuple[torch.Tensor, ...]] | None = None  # the last times asked, and their gains
        # at the last notes asked (:meth:`note`): grid steps to the next context note on their track (-1: none)
        self.next_steps = torch.zeros(0, dtype=torch.long)

    def begin(self, ids: np.ndarray, onsets: np.ndarray, takes: int) -> None:
        """The takes start after the events ``ids`` at grid ``onsets`` (the seed): whether its last ones recur
        in the context bars later (:func:`composer.context.recurs`), as training reads them."""
        last = recurs(self.context, onsets[-MATCH_WINDOW:], ids[-MATCH_WINDOW:], self.bar, self.known)
        self.recent = np.zeros((takes, MATCH_WINDOW, len(RECUR_BARS)), dtype=bool)
        if len(last):
            self.recent[:, MATCH_WINDOW - len(last) :] = last
        if self.copy is not None:
            every = np.arange(SIZES[TRACK])
            seed = track_histories(ids[:, PITCH], ids[:, TRACK], np.full(len(every), len(ids)), every)
            self.history = np.repeat(seed[None], takes, axis=0)

    def played(self, event: torch.Tensor, onset: torch.Tensor) -> None:
        """Each take played ``event`` (K, 5) at ``onset`` (K,): its recurrence joins the last events'."""
        now = recurs(self.context, onset.numpy(), event.numpy(), self.bar, self.known)
        self.recent = np.concatenate([self.recent[:, 1:], now[:, None]], axis=1)
        if self.copy is not None:
            played = event.numpy()
            rows = np.flatnonzero(played[:, PITCH] != REST)
            tracks = played[rows, TRACK]
            self.history[rows, tracks] = np.concatenate(
                [self.history[rows, tracks, 1:], played[rows, PITCH, None]], axis=1
            )

    def matches(self) -> torch.Tensor:
        """(K, len(RECUR_BARS)) how many of the last events recur in the context that many bars later."""
        return torch.from_numpy(self.recent.sum(axis=1).astype(np.int64))

    def _at(self, times: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(K,) grid times → the five heads' gains, each (K, HH).  The last answer is kept: a step asks for its
        onset twice (the track head, then the note's), and reads it once."""
        at = times.numpy().astype(np.int64)
        if self._last is not None and np.array_equal(self._last[0], at):
            return self._last[1]
        gains = self._gains(at)
        self._last = (at, gains)
        return gains

    def _gains(self, at: np.ndarray) -> tuple[torch.Tensor, ...]:
        """(K,) grid steps → the five heads' gains, each (K, HH)."""
        index, distance = self.context.align(at)
        rows = self.rows[torch.from_numpy(index)]  # MusicLSTM.context_heads at one time per take
        gain = self.model.context_gain(rows, torch.from_numpy(distance), self.memory.mode, self.memory.has[:, None])
        return gain.chunk(self.heads, dim=-1)

    def now(self, time: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """What the shift head gains at the takes' current times ``time`` (K,): (K, HH), and its views (K,
        len(SHIFT_BARS), shift ids)."""
        seen = shift_views(self.context.onsets, time.numpy(), self.bar)
        return self._at(time)[0], torch.from_numpy(seen).float()

    def onset(self, onset: torch.Tensor) -> torch.Tensor:
        """(K, HH) what the track head gains at the takes' new onsets."""
        return self._at(onset)[1]

    def note(self, onset: torch.Tensor, track: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], HeadViews]:
        """For new notes at ``onset`` on ``track`` (K,): the duration, pitch and velocity heads' gains (each
        (K, HH)) and the context's views of them."""
        _, _, at_d, at_p, at_v = self._at(onset)
        seen = views(
            self.context.ids, self.context.onsets, onset.numpy(), track.numpy(), self.bar, self.bar_start, self.far
        )
        self.next_steps = torch.from_numpy(seen.next_steps)
        has = torch.ones(len(onset))
        near_d, near_p, near_v = self.model.track_distance(torch.from_numpy(seen.next_distance), has)
        head_views = HeadViews(
            next_pitch=torch.from_numpy(seen.next_pitch),
            chroma=torch.from_numpy(seen.chroma).float(),
            ahead=torch.from_numpy(seen.ahead).float(),
            durations=torch.from_numpy(seen.durations).float(),
            matches=self.matches(),
            far=torch.from_numpy(seen.far).float(),
            far_durations=torch.from_numpy(seen.far_durations).float(),
        )
        if self.copy is not None:
            tracks = track.numpy()
            pitch, duration = self.copy.views(tracks, self.history[np.arange(len(tracks)), tracks])
            head_views.copy_pitch = copy_strength(torch.from_numpy(pitch))
            head_views.copy_duration = copy_strength(torch.from_numpy(duration))
        return (at_d + near_d, at_p + near_p, at_v + near_v), head_views

    def velocities(self, onset: torch.Tensor, track: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
        """(K, len(RECUR_BARS), velocity ids) the velocities of the context notes that recur with the takes' new
        notes (:func:`composer.context.echo_velocities`), for the velocity head of a model with far views."""
        seen = echo_velocities(
            self.context.ids, self.context.onsets, onset.numpy(), track.numpy(), pitch.numpy(), self.bar, self.far
        )
        return torch.from_numpy(seen).float()


def parse_bars(text: str) -> tuple[int, int]:
    """``--bars A-B`` (or one bar, ``A``) → (A, B)."""
    first, dash, last = str(text).strip().partition("-")
    if not first.strip().isdigit() or (dash and not last.strip().isdigit()):
        raise InputError(
            f"--bars {text!r} is not A-B; give the first and last bar to fill, e.g. 5-8 (bar 1 is the first whole bar)."
        )
    a = int(first)
    return a, int(last) if dash else a


def gap_span(events: Events, bar: int, first: int, last: int) -> tuple[int, int]:
    """The grid steps [start, end) of bars ``first``–``last`` of a piece, checked against the piece: one
    sentence where the bars are not in it, run backwards or span more than :data:`MAX_GAP`."""
    onsets = events.onsets
    last_bar = int((int(onsets[-1]) - events.bar_start) // bar) + 1
    lowest = 0 if events.bar_start > 0 else 1
    if first > last:
        raise InputError(f"Bars {first}-{last} run backwards; give the first bar first, e.g. {last}-{first}.")
    if first < lowest or last > last_bar:
        pickup = "bar 0 is its pickup, " if lowest == 0 else ""
        raise InputError(
            f"Bars {first}-{last} are outside the piece: it has bars {lowest} to {last_bar} ({pickup}bar 1 its "
            "first whole bar); choose bars inside it."
        )
    if last - first + 1 > MAX_GAP:
        raise InputError(
            f"Bars {first}-{last} are {last - first + 1} bars; composer fills at most {MAX_GAP} at a time — "
            "fill them in parts."
        )
    start = max(0, events.bar_start + (first - 1) * bar)
    return start, events.bar_start + last * bar


def regenerated_tracks(piece: Piece, names: str | None) -> list[int]:
    """``--tracks NAME,…`` → the track indices to fill (all tracks when None); names match the track table's
    names (case and spaces aside) or its numbers from 1."""
    if names is None:
        return list(range(len(piece.tracks)))
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    chosen: list[int] = []
    table = [t.name.strip().lower() for t in piece.tracks]
    for name in wanted:
        if name.lower() in table:
            chosen.append(table.index(name.lower()))
        elif name.isdigit() and 1 <= int(name) <= len(piece.tracks):
            chosen.append(int(name) - 1)
        else:
            listed = ", ".join(f"{i + 1} {t.name or '(no name)'}" for i, t in enumerate(piece.tracks))
            raise InputError(f"--tracks names {name!r}, which is not a track of this piece (its tracks: {listed}).")
    if not chosen:
        raise InputError("--tracks names no track; give track names or numbers, e.g. --tracks 1 or --tracks Piano.")
    return sorted(set(chosen))


def assemble(piece: Piece, regenerated: set[int], start: float, end: float, new: tuple[Note, ...]) -> Piece:
    """The piece with its notes on the ``regenerated`` tracks starting in [start, end) beats replaced by
    ``new``.  Every other note stays exactly as it was; a new note stops where a kept note of its pitch on its
    track starts (MIDI holds one), and one that would start while such a note sounds is left out."""
    kept = [n for n in piece.notes if not (n.track in regenerated and start - 1e-9 <= n.start < end - 1e-9)]
    by_voice: dict[tuple[int, int], list[Note]] = {}
    for n in kept:
        by_voice.setdefault((n.track, n.pitch), []).append(n)
    placed: list[Note] = []
    for n in new:
        clash = by_voice.get((n.track, n.pitch), [])
        if any(k.start - 1e-9 <= n.start < k.end - 1e-9 for k in clash):
            continue
        later = [k.start for k in clash if k.start > n.start + 1e-9]
        stop = min([n.end, *later])
        placed.append(replace(n, duration=stop - n.start))
    notes = sorted([*kept, *placed], key=lambda n: (n.start, n.track, -n.pitch))
    return piece.with_notes(tuple(notes))


def as_rests(ids: np.ndarray, given: np.ndarray) -> np.ndarray:
    """A take's events with its given notes turned into rest events (same shifts): decoding them then gives
    the new notes alone, at their places."""
    out = ids.copy()
    out[given, PITCH] = REST
    return out


def beats(step: int) -> float:
    return step / STEPS_PER_BEAT


__all__ = [
    "MAX_GAP",
    "NONE",
    "ContextSteps",
    "Given",
    "as_rests",
    "assemble",
    "beats",
    "gap_span",
    "parse_bars",
    "regenerated_tracks",
]
