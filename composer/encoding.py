"""Piece ⇄ events: one event per note on a beat grid, and the vocabulary derived from one table.

An event is four small integers, ids into the fields of :data:`FIELDS`:

* ``shift``    — grid steps since the previous event's onset (0 for the other notes of a chord);
* ``pitch``    — MIDI pitch A0–C8 as 0–87, or :data:`REST` (see below);
* ``duration`` — grid steps the note sounds, 1 step (id 0) up to the cap;
* ``velocity`` — loudness in ``VELOCITY_BINS`` equal bins.

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
* Velocity becomes the centre of its bin.

The encoder is strict (it refuses pitches and velocities outside the table rather than bend them); the
decoder is forgiving: any sequence of in-range ids decodes to a valid Piece.

Metrical position — where in the bar an onset falls — is derived from the running time, the time
signature and the pickup (:func:`metrical_positions`), for the model to read as input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from composer.errors import InputError
from composer.piece import PIANO_HIGH, PIANO_LOW, Note, Piece, TimeSignature

STEPS_PER_BEAT = 12  # grid steps per quarter note
STEPS_PER_WHOLE = 4 * STEPS_PER_BEAT
MAX_SHIFT = 4 * STEPS_PER_BEAT  # longest onset-to-onset step in one event: 4 beats
MAX_DURATION = 8 * STEPS_PER_BEAT  # longest note: 8 beats
MAX_GAP_BARS = 4  # a silence between onsets longer than this many bars is shortened by whole bars
PITCH_LOW, PITCH_HIGH = PIANO_LOW, PIANO_HIGH  # A0 .. C8: the pitch ids cover the piano
VELOCITY_BINS = 16


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
    Field("velocity", VELOCITY_BINS, "velocity // (128 / VELOCITY_BINS)"),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
SHIFT, PITCH, DURATION, VELOCITY = range(4)
REST = PITCH_HIGH - PITCH_LOW + 1  # the pitch id of a rest event
VELOCITY_STEP = 128 // VELOCITY_BINS


def velocity_to_id(velocity: int) -> int:
    return min(VELOCITY_BINS - 1, velocity // VELOCITY_STEP)


def id_to_velocity(vid: int) -> int:
    return vid * VELOCITY_STEP + VELOCITY_STEP // 2


def bar_steps(time_signature: TimeSignature) -> int:
    """Grid steps in one bar (4/4 → 48, 6/8 → 36); at least 1."""
    return max(1, round(time_signature.numerator * STEPS_PER_WHOLE / time_signature.denominator))


@dataclass(frozen=True)
class Events:
    """An encoded piece: the event ids plus what rides beside them (not predicted by the model).

    ``ids`` is (N, 4) int64 in field order; ``programs`` (N,) is each event's General MIDI program
    (0 for rest events), kept so that decoding restores instruments exactly.
    """

    ids: np.ndarray
    programs: np.ndarray
    tempo: float
    time_signature: TimeSignature
    bar_start: int  # grid step where bars are counted from (the pickup length), 0 <= bar_start < bar
    key: int | None

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
        if not 0 <= n.program <= 127:
            raise InputError(f"A note has program {n.program}; General MIDI programs run from 0 to 127.")


def _normalize(notes: list[tuple[int, int, int, int, int]]) -> list[tuple[int, int, int, int, int]]:
    """Merge coinciding notes and cut same-pitch overlaps; notes are (onset, pitch, dur, vel_id, program).

    Returns them in canonical order: by onset, then pitch from high to low (melody first in a chord).
    Idempotent, so decoding an encoded piece gives back exactly the quantized piece.
    """
    # Longest first within (onset, pitch), then loudest, then lowest program: keep the first.
    notes = sorted(notes, key=lambda n: (n[0], n[1], -n[2], -n[3], n[4]))
    merged: list[tuple[int, int, int, int, int]] = []
    for n in notes:
        if merged and merged[-1][0] == n[0] and merged[-1][1] == n[1]:
            continue
        merged.append(n)
    last_of_pitch: dict[int, int] = {}
    out = list(merged)
    for i, (onset, pitch, _dur, _vel, _prog) in enumerate(out):
        j = last_of_pitch.get(pitch)
        if j is not None:
            o, p, d, v, g = out[j]
            if o + d > onset:
                out[j] = (o, p, onset - o, v, g)
        last_of_pitch[pitch] = i
    out.sort(key=lambda n: (n[0], -n[1]))
    return out


def _grid_notes(piece: Piece) -> tuple[list[tuple[int, int, int, int, int]], QuantizationReport, int]:
    bar = bar_steps(piece.time_signature)
    bar_start = round(piece.bar_start * STEPS_PER_BEAT) % bar
    notes = []
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
        notes.append((onset, n.pitch, duration, velocity_to_id(n.velocity), n.program))
    # Long silences: shorten by whole bars, moving every later note by the same amount.
    notes.sort(key=lambda n: (n[0], -n[1]))
    max_gap = MAX_GAP_BARS * bar
    removed = 0
    rests_shortened = 0
    shifted: list[tuple[int, int, int, int, int]] = []
    previous_onset = 0
    for onset, pitch, duration, vel, prog in notes:
        gap = onset - previous_onset
        if gap > max_gap:
            cut = -(-(gap - max_gap) // bar) * bar  # whole bars, enough to bring the gap within the cap
            removed += cut
            rests_shortened += 1
        previous_onset = onset
        shifted.append((onset - removed, pitch, duration, vel, prog))
    before = len(shifted)
    normalized = _normalize(shifted)
    merged = before - len(normalized)
    lookup = {(n[0], n[1]): n[2] for n in shifted}
    shortened = sum(1 for n in normalized if n[2] < lookup.get((n[0], n[1]), n[2]))
    report = QuantizationReport(
        max_onset_shift=max(shifts, default=0.0),
        mean_onset_shift=float(np.mean(shifts)) if shifts else 0.0,
        notes_merged=merged,
        notes_shortened=shortened,
        durations_capped=capped,
        rests_shortened=rests_shortened,
    )
    return normalized, report, bar_start


def _piece_from_grid(piece: Piece, notes: list[tuple[int, int, int, int, int]], bar_start: int) -> Piece:
    return Piece(
        notes=tuple(Note(o / STEPS_PER_BEAT, d / STEPS_PER_BEAT, p, id_to_velocity(v), g) for o, p, d, v, g in notes),
        tempo=piece.tempo,
        time_signature=piece.time_signature,
        bar_start=bar_start / STEPS_PER_BEAT,
        key=piece.key,
        tracks=piece.tracks,
        remarks=piece.remarks,
    )


def quantize(piece: Piece) -> Piece:
    """The piece as the grid and the rules above hold it: what ``decode(encode(piece))`` returns."""
    return quantize_with_report(piece)[0]


def quantize_with_report(piece: Piece) -> tuple[Piece, QuantizationReport]:
    _check_encodable(piece)
    notes, report, bar_start = _grid_notes(piece)
    return _piece_from_grid(piece, notes, bar_start), report


def encode(piece: Piece) -> Events:
    """Encode a piece as one event per note (plus rest events for long silences).

    Strict: raises :class:`InputError` for a pitch, velocity, program or length the table cannot hold.
    """
    _check_encodable(piece)
    notes, _report, bar_start = _grid_notes(piece)
    rows: list[tuple[int, int, int, int]] = []
    programs: list[int] = []
    previous = 0
    for onset, pitch, duration, vel, prog in notes:
        gap = onset - previous
        while gap > MAX_SHIFT:
            rows.append((MAX_SHIFT, REST, 0, 0))
            programs.append(0)
            gap -= MAX_SHIFT
        rows.append((gap, pitch - PITCH_LOW, duration - 1, vel))
        programs.append(prog)
        previous = onset
    ids = np.array(rows, dtype=np.int64).reshape(-1, len(FIELDS))
    return Events(
        ids=ids,
        programs=np.array(programs, dtype=np.int64),
        tempo=piece.tempo,
        time_signature=piece.time_signature,
        bar_start=bar_start,
        key=piece.key,
    )


def decode(events: Events) -> Piece:
    """Turn any sequence of in-range ids into a valid Piece (forgiving: merges, cuts overlaps)."""
    ids = np.asarray(events.ids, dtype=np.int64).reshape(-1, len(FIELDS))
    sizes = np.array([f.size for f in FIELDS])
    if ids.size and ((ids < 0).any() or (ids >= sizes).any()):
        raise ValueError("event ids outside the vocabulary table")
    programs = np.asarray(events.programs, dtype=np.int64)
    if len(programs) != len(ids):
        programs = np.zeros(len(ids), dtype=np.int64)
    notes = []
    onset = 0
    for (shift, pitch, duration, vel), prog in zip(ids.tolist(), programs.tolist(), strict=True):
        onset += shift
        if pitch == REST:
            continue
        notes.append((onset, pitch + PITCH_LOW, duration + 1, vel, prog))
    template = Piece(notes=(), tempo=events.tempo, time_signature=events.time_signature, key=events.key)
    return _piece_from_grid(template, _normalize(notes), events.bar_start % bar_steps(events.time_signature))


def vocabulary_sizes() -> tuple[int, ...]:
    """Ids per field, in field order (shift, pitch, duration, velocity)."""
    return tuple(f.size for f in FIELDS)
