"""Piece ⇄ events: one event per note on a beat grid, and the vocabulary derived from one table.

An event is five small integers, ids into the fields of :data:`FIELDS`:

* ``shift``    — grid steps since the previous event's onset, in any track (0 for the other notes of a chord);
* ``pitch``    — MIDI pitch A0–C8 as 0–87, or :data:`REST` (see below);
* ``duration`` — grid steps the note sounds, 1 step (id 0) up to the cap;
* ``velocity`` — loudness relative to the level of the notes just before (see *Velocity* below), or
  :data:`VELOCITY_UNKNOWN` where the piece says nothing about loudness;
* ``track``    — the note's index in the piece's track table (``Piece.tracks``, at most ``MAX_TRACKS``).

**Velocity** is data that is sometimes missing.  A piece whose notes share one velocity (notation, ABC, most
folk MIDI) says nothing about dynamics: every event's velocity id is :data:`VELOCITY_UNKNOWN` and
:attr:`Events.constant_velocity` carries that one velocity, so decoding gives it back.  In a piece with dynamics
each note's velocity is written relative to its track's *level* — the mean velocity of the ``VELOCITY_WINDOW``
notes before it on the same track (for a track's first note, the mean of the notes before it on any track;
:data:`VELOCITY_START` for the piece's first) — in steps of ``VELOCITY_STEP``, so loudness carries over: a model
that learned a crescendo learned it at any level, and a soft accompaniment under a loud melody keeps that
balance.  Rest events carry :data:`VELOCITY_UNKNOWN`.

The grid has ``STEPS_PER_BEAT`` = 12 steps per quarter note: sixteenths (3 steps), eighth-note
triplets (4 steps) and sixteenth triplets (2 steps) all fall on it.

Documented rules for what does not fit (applied by :func:`quantize`, so that
``decode(encode(p)) == quantize(p)`` exactly):

* **Onsets and ends** snap to the nearest grid step; a note is at least one step long.
* **Long notes** are cut to ``MAX_DURATION`` steps (8 beats, two bars of 4/4).
* **Rests longer than the shift field** (more than ``MAX_SHIFT`` = 4 beats between onsets) are carried
  losslessly by *rest events*: events whose pitch is :data:`REST`, whose shift advances time and whose
  duration and velocity mean nothing.  A silence longer than ``MAX_GAP_BARS`` bars between two onsets is
  shortened by whole bars to at most that many, which keeps every later note's place in the bar.
* **Coinciding notes** (same onset, same pitch) merge into the longest one; a note still sounding when
  the same pitch starts again is cut to end there (MIDI cannot hold both).
* **Coinciding notes** are per track: two tracks may sound the same pitch at once.
* Velocity is rounded to its step from the level (computed from the rounded velocities before it), and
  kept between 1 and 127; a piece without dynamics keeps its one velocity exactly.

Events are in canonical order: by onset, then track (the table's order), then pitch from high to low.

The encoder is strict (it refuses pitches and velocities outside the table rather than bend them); the
decoder is forgiving: any sequence of in-range ids decodes to a valid Piece.

Metrical position — where in the bar an onset falls — is derived from the running time, the time
signature and the pickup (:func:`metrical_positions`), for the model to read as input.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from composer.errors import InputError
from composer.piece import MAX_TRACKS, PIANO_HIGH, PIANO_LOW, Note, Piece, TimeSignature, Track

STEPS_PER_BEAT = 12  # grid steps per quarter note
STEPS_PER_WHOLE = 4 * STEPS_PER_BEAT
MAX_SHIFT = 4 * STEPS_PER_BEAT  # longest onset-to-onset step in one event: 4 beats
MAX_DURATION = 8 * STEPS_PER_BEAT  # longest note: 8 beats
MAX_GAP_BARS = 4  # a silence between onsets longer than this many bars is shortened by whole bars
# Velocity is written in steps of 8 from the level: 16 loudness steps over MIDI's range, the resolution of the
# first models (16 bins) and about what a listener tells apart; steps of 4 cost ~1 bit/note more to predict
# for detail nobody hears.  The entropy of the velocity id given the track on POP909's training songs
# (bench/velocity_levels.py): steps of 4 3.54 bits from a shared level, 3.37 from each track's; steps of 8
# 2.57 and 2.43.
VELOCITY_STEP = 8
VELOCITY_RANGE = 15  # ids for up to 15 steps above or below the level (±120: every MIDI velocity from any level)
VELOCITY_WINDOW = 16  # the level is the mean velocity of this many notes before on the same track
VELOCITY_START = 64  # the level before the first note (mezzo-forte)
PITCH_LOW, PITCH_HIGH = PIANO_LOW, PIANO_HIGH  # A0 .. C8: the pitch ids cover the piano


@dataclass(frozen=True)
class Field:
    """One field of an event: its name and the number of ids it takes (0 .. size-1)."""

    name: str
    size: int
    meaning: str


# The one table: encode, decode, the model's embedding and output sizes all come from here.
FIELDS: tuple[Field, ...] = (
    Field("shift", MAX_SHIFT + 1, "grid steps since the previous onset, 0..MAX_SHIFT"),
    Field("pitch", PITCH_HIGH - PITCH_LOW + 2, "MIDI pitch - PITCH_LOW; the last id is REST"),
    Field("duration", MAX_DURATION, "grid steps sounding - 1"),
    Field(
        "velocity",
        2 * VELOCITY_RANGE + 2,
        "(velocity - level) / VELOCITY_STEP + VELOCITY_RANGE; the last id is UNKNOWN",
    ),
    Field("track", MAX_TRACKS, "index into the piece's track table"),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
SHIFT, PITCH, DURATION, VELOCITY, TRACK = range(5)
REST = PITCH_HIGH - PITCH_LOW + 1  # the pitch id of a rest event
VELOCITY_UNKNOWN = 2 * VELOCITY_RANGE + 1  # the velocity id of a piece without dynamics, and of rest events


class Loudness:
    """The level each track's next velocity is read against (encoding and decoding share it, so the two agree).

    A track's level is the mean of its last ``VELOCITY_WINDOW`` (rounded) velocities; a track with no note yet
    takes the mean of the last notes on any track, and the piece's first note :data:`VELOCITY_START`.
    ``before``: (track, velocity) of notes that came first (a continuation's seed).
    """

    def __init__(self, before: Iterable[tuple[int, int]] = ()) -> None:
        self._tracks: dict[int, list[int]] = {}
        self._any: list[int] = []
        for track, velocity in before:
            self.add(track, velocity)

    def level(self, track: int) -> int:
        recent = self._tracks.get(track) or self._any
        return round(sum(recent) / len(recent)) if recent else VELOCITY_START

    def add(self, track: int, velocity: int) -> None:
        for recent in (self._tracks.setdefault(track, []), self._any):
            recent.append(velocity)
            del recent[:-VELOCITY_WINDOW]

    def encode(self, track: int, velocity: int) -> tuple[int, int]:
        """A played velocity → (its rounded value, its id): a whole number of ``VELOCITY_STEP``s from the
        track's level, at most ``VELOCITY_RANGE`` steps away, within 1–127; the level moves on."""
        level = self.level(track)
        steps = max(-VELOCITY_RANGE, min(VELOCITY_RANGE, round((velocity - level) / VELOCITY_STEP)))
        value = max(1, min(127, level + steps * VELOCITY_STEP))
        self.add(track, value)
        return value, steps + VELOCITY_RANGE

    def decode(self, track: int, vid: int, constant: int | None) -> int:
        """The velocity an id means on ``track`` here; the level moves on.  An unknown id is the piece's one
        velocity, or the track's level where the piece has dynamics."""
        level = self.level(track)
        if vid >= VELOCITY_UNKNOWN:
            value = constant if constant is not None else level
        else:
            value = max(1, min(127, level + (vid - VELOCITY_RANGE) * VELOCITY_STEP))
        self.add(track, value)
        return value


def bar_steps(time_signature: TimeSignature) -> int:
    """Grid steps in one bar (4/4 → 48, 6/8 → 36); at least 1."""
    return max(1, round(time_signature.numerator * STEPS_PER_WHOLE / time_signature.denominator))


@dataclass(frozen=True)
class Events:
    """An encoded piece: the event ids plus what rides beside them (not predicted by the model).

    ``ids`` is (N, 5) int64 in field order; ``tracks`` is the piece's track table (what each track id
    means: name, GM program, channel); ``constant_velocity`` is the one velocity of a piece without dynamics
    (whose velocity ids are all :data:`VELOCITY_UNKNOWN`), None where the piece has dynamics.
    """

    ids: np.ndarray
    tempo: float
    time_signature: TimeSignature
    bar_start: int  # grid step where bars are counted from (the pickup length), 0 <= bar_start < bar
    key: int | None
    tracks: tuple[Track, ...] = (Track(),)
    constant_velocity: int | None = None

    @property
    def has_dynamics(self) -> bool:
        return self.constant_velocity is None

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def onsets(self) -> np.ndarray:
        """(N,) absolute onset of each event in grid steps."""
        return np.cumsum(self.ids[:, SHIFT]) if len(self.ids) else np.zeros(0, dtype=np.int64)

    def positions(self) -> np.ndarray:
        return metrical_positions(self.ids[:, SHIFT], self.time_signature, self.bar_start)


def metrical_positions(shifts: np.ndarray, time_signature: TimeSignature, bar_start: int) -> np.ndarray:
    """(N,) where in its bar each event's onset falls, in grid steps from the downbeat (0 = downbeat)."""
    onsets = np.cumsum(np.asarray(shifts, dtype=np.int64))
    return (onsets - bar_start) % bar_steps(time_signature)


@dataclass(frozen=True)
class QuantizationReport:
    """What :func:`quantize` changed; the seed report shows it."""

    max_onset_shift: float  # beats
    mean_onset_shift: float  # beats
    notes_merged: int
    notes_shortened: int  # cut where the same pitch starts again
    durations_capped: int
    rests_shortened: int


def _check_encodable(piece: Piece) -> None:
    if not 1 <= len(piece.tracks) <= MAX_TRACKS:
        raise InputError(
            f"The piece has {len(piece.tracks)} tracks; composer holds 1 to {MAX_TRACKS}: merge or drop tracks first."
        )
    for t in piece.tracks:
        if not 0 <= t.program <= 127:
            raise InputError(f"A track has program {t.program}; General MIDI programs run from 0 to 127.")
    for n in piece.notes:
        if not PITCH_LOW <= n.pitch <= PITCH_HIGH:
            raise InputError(
                f"A note has pitch {n.pitch}, outside the range composer encodes "
                f"({PITCH_LOW}–{PITCH_HIGH}, the piano's A0–C8); transpose it into range."
            )
        if not 1 <= n.velocity <= 127:
            raise InputError(f"A note has velocity {n.velocity}; MIDI velocities run from 1 to 127.")
        if not n.duration > 0 or not np.isfinite(n.start) or n.start < 0:
            raise InputError(
                f"A note at beat {n.start} has length {n.duration}; notes need a start at or "
                "after 0 and a positive length."
            )
        if not 0 <= n.track < len(piece.tracks):
            raise InputError(f"A note is on track {n.track}, which the piece's track table does not have.")


# A note on the grid: (onset, pitch, duration, velocity, track), times in grid steps.
GridNote = tuple[int, int, int, int, int]


def _canonical(n: GridNote) -> tuple[int, int, int]:
    return (n[0], n[4], -n[1])  # onset, then track, then pitch from high to low (melody first in a chord)


def _normalize(notes: list[GridNote]) -> list[GridNote]:
    """Merge coinciding notes and cut same-pitch overlaps, within each track; canonical order.

    Idempotent, so decoding an encoded piece gives back exactly the quantized piece.
    """
    # Longest first within (onset, track, pitch), then loudest: keep the first.
    notes = sorted(notes, key=lambda n: (n[0], n[4], n[1], -n[2], -n[3]))
    merged: list[GridNote] = []
    for n in notes:
        if merged and merged[-1][0] == n[0] and merged[-1][1] == n[1] and merged[-1][4] == n[4]:
            continue
        merged.append(n)
    last_of_pitch: dict[tuple[int, int], int] = {}
    out = list(merged)
    for i, (onset, pitch, _dur, _vel, track) in enumerate(out):
        j = last_of_pitch.get((track, pitch))
        if j is not None:
            o, p, d, v, t = out[j]
            if o + d > onset:
                out[j] = (o, p, onset - o, v, t)
        last_of_pitch[(track, pitch)] = i
    out.sort(key=_canonical)
    return out


@dataclass(frozen=True)
class _Grid:
    """A piece on the grid: its notes in canonical order with rounded velocities, their velocity ids, and
    the piece's one velocity where it has no dynamics."""

    notes: list[GridNote]
    velocity_ids: list[int]
    constant_velocity: int | None
    bar_start: int
    report: QuantizationReport


def _grid(piece: Piece) -> _Grid:
    bar = bar_steps(piece.time_signature)
    bar_start = round(piece.bar_start * STEPS_PER_BEAT) % bar
    notes: list[GridNote] = []
    shifts = []
    capped = 0
    for n in piece.notes:
        onset = round(n.start * STEPS_PER_BEAT)
        end = round(n.end * STEPS_PER_BEAT)
        duration = max(1, end - onset)
        if duration > MAX_DURATION:
            duration = MAX_DURATION
            capped += 1
        shifts.append(abs(onset / STEPS_PER_BEAT - n.start))
        notes.append((onset, n.pitch, duration, n.velocity, n.track))
    # Long silences: shorten by whole bars, moving every later note by the same amount.
    notes.sort(key=_canonical)
    max_gap = MAX_GAP_BARS * bar
    removed = 0
    rests_shortened = 0
    shifted: list[GridNote] = []
    previous_onset = 0
    for onset, pitch, duration, vel, track in notes:
        gap = onset - previous_onset
        if gap > max_gap:
            cut = -(-(gap - max_gap) // bar) * bar  # whole bars, enough to bring the gap within the cap
            removed += cut
            rests_shortened += 1
        previous_onset = onset
        shifted.append((onset - removed, pitch, duration, vel, track))
    before = len(shifted)
    normalized = _normalize(shifted)
    merged = before - len(normalized)
    lookup = {(n[0], n[1], n[4]): n[2] for n in shifted}
    shortened = sum(1 for n in normalized if n[2] < lookup.get((n[0], n[1], n[4]), n[2]))
    report = QuantizationReport(
        max_onset_shift=max(shifts, default=0.0),
        mean_onset_shift=float(np.mean(shifts)) if shifts else 0.0,
        notes_merged=merged,
        notes_shortened=shortened,
        durations_capped=capped,
        rests_shortened=rests_shortened,
    )
    velocities = sorted({n[3] for n in normalized})
    if len(velocities) <= 1:  # no dynamics: the one velocity is kept exactly, and each id says "unknown"
        constant = velocities[0] if velocities else None
        return _Grid(normalized, [VELOCITY_UNKNOWN] * len(normalized), constant, bar_start, report)
    loudness = Loudness()
    rounded: list[GridNote] = []
    ids: list[int] = []
    for o, p, d, v, t in normalized:
        value, vid = loudness.encode(t, v)
        rounded.append((o, p, d, value, t))
        ids.append(vid)
    return _Grid(rounded, ids, None, bar_start, report)


def _piece_from_grid(piece: Piece, notes: list[GridNote], bar_start: int) -> Piece:
    return Piece(
        notes=tuple(Note(o / STEPS_PER_BEAT, d / STEPS_PER_BEAT, p, v, t) for o, p, d, v, t in notes),
        tempo=piece.tempo,
        time_signature=piece.time_signature,
        bar_start=bar_start / STEPS_PER_BEAT,
        key=piece.key,
        tracks=piece.tracks,
        found=piece.found,
        remarks=piece.remarks,
    )


def quantize(piece: Piece) -> Piece:
    """The piece as the grid and the rules above hold it: what ``decode(encode(piece))`` returns."""
    return quantize_with_report(piece)[0]


def quantize_with_report(piece: Piece) -> tuple[Piece, QuantizationReport]:
    _check_encodable(piece)
    grid = _grid(piece)
    return _piece_from_grid(piece, grid.notes, grid.bar_start), grid.report


def encode(piece: Piece) -> Events:
    """Encode a piece as one event per note (plus rest events for long silences).

    Strict: raises :class:`InputError` for a pitch, velocity, track or length the table cannot hold.
    """
    _check_encodable(piece)
    grid = _grid(piece)
    rows: list[tuple[int, int, int, int, int]] = []
    previous, track = 0, 0
    for (onset, pitch, duration, _vel, track_of_note), vid in zip(grid.notes, grid.velocity_ids, strict=True):
        gap = onset - previous
        while gap > MAX_SHIFT:  # a rest event stays on the track of the note before it
            rows.append((MAX_SHIFT, REST, 0, VELOCITY_UNKNOWN, track))
            gap -= MAX_SHIFT
        track = track_of_note
        rows.append((gap, pitch - PITCH_LOW, duration - 1, vid, track))
        previous = onset
    ids = np.array(rows, dtype=np.int64).reshape(-1, len(FIELDS))
    return Events(
        ids=ids,
        tempo=piece.tempo,
        time_signature=piece.time_signature,
        bar_start=grid.bar_start,
        key=piece.key,
        tracks=piece.tracks,
        constant_velocity=grid.constant_velocity,
    )


def decode(events: Events, before: Iterable[tuple[int, int]] = ()) -> Piece:
    """Turn any sequence of in-range ids into a valid Piece (forgiving: merges, cuts overlaps; a track id
    beyond the table plays on its last track).  ``before``: (track, velocity) of the notes before these events
    (a continuation's seed), so the levels their velocity ids are read against carry on from them."""
    ids = np.asarray(events.ids, dtype=np.int64).reshape(-1, len(FIELDS))
    sizes = np.array([f.size for f in FIELDS])
    if ids.size and ((ids < 0).any() or (ids >= sizes).any()):
        raise ValueError("event ids outside the vocabulary table")
    tracks = events.tracks or (Track(),)
    notes: list[GridNote] = []
    loudness = Loudness(before)
    onset = 0
    for shift, pitch, duration, vid, track in ids.tolist():
        onset += shift
        if pitch == REST:
            continue
        track = min(track, len(tracks) - 1)
        notes.append(
            (onset, pitch + PITCH_LOW, duration + 1, loudness.decode(track, vid, events.constant_velocity), track)
        )
    template = Piece(notes=(), tempo=events.tempo, time_signature=events.time_signature, key=events.key, tracks=tracks)
    return _piece_from_grid(template, _normalize(notes), events.bar_start % bar_steps(events.time_signature))


def vocabulary_sizes() -> tuple[int, ...]:
    """Ids per field, in field order (shift, pitch, duration, velocity, track)."""
    return tuple(f.size for f in FIELDS)
