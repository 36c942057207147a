"""A musician's edits to a piece: add, move, delete notes, change their velocity, and a track's instrument.

Pure — a :class:`Piece` and a list of edits (plain JSON values, as the studio's roll and its ``/edit`` API send
them) in, the edited piece out.  The edits are checked here, at the edge, each refusal one sentence in a
musician's words; nothing is changed unless every edit holds.

An edit names the note it acts on by what the musician sees — its start (beats), pitch and track — not by a
position in a list, so that an edit made on a page that has gone stale finds nothing rather than the wrong note.

Edits, one JSON object each::

    {"op": "add", "start": 4, "duration": 1, "pitch": 64, "velocity": 80, "track": 0}
    {"op": "move", "note": {"start": 4, "pitch": 64, "track": 0}, "start": 5, "pitch": 65, "duration": 2}
    {"op": "delete", "note": {"start": 4, "pitch": 64, "track": 0}}
    {"op": "velocity", "note": {"start": 4, "pitch": 64, "track": 0}, "velocity": 100}
    {"op": "program", "track": 1, "program": 40}

(``move`` changes any of start, pitch and duration; the others stay.  ``program`` gives a track (from 0) another
General MIDI instrument (0–127, 40 the violin): its notes stay and the whole piece sounds otherwise, so such an
edit begins at beat 0.)  Overlapping notes of one pitch on one track are settled as the reader and fills settle
them (:func:`composer.fill.assemble`): MIDI holds one key of a pitch down at a time, so the earlier note stops
where the later begins, and two that begin together become one — the edited one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from composer.errors import InputError
from composer.midi_io import instrument_name, track_label
from composer.piece import PIANO_HIGH, PIANO_LOW, PITCH_CLASS_NAMES, Note, Piece

MAX_EDITS = 500  # edits in one request: more is not a musician's gesture
ROOM_BARS = 4  # notes may be added or moved this many bars past the piece's last bar, not further
EPS = 1e-6  # beats: a note named by its start matches within this (starts are tick ratios, sent as JSON floats)
OPS = ("add", "move", "delete", "velocity", "program")


@dataclass(frozen=True)
class Edited:
    """The result of :func:`apply_edits`: the piece, where the edits begin (beats) and what was done, in words."""

    piece: Piece
    first_beat: float  # the earliest beat an edit touched: the new point's join
    summary: str  # "moved 1 note, added 2 notes"; "track 2 (Piano) now plays Violin"
    merged: int  # notes joined or shortened because they overlapped a note of their pitch on their track


def pitch_name(pitch: int) -> str:
    """MIDI number → scientific pitch name: 60 → 'C4', 61 → 'C#4'."""
    return f"{PITCH_CLASS_NAMES[pitch % 12]}{pitch // 12 - 1}"


def where(piece: Piece, beat: float) -> str:
    """A beat as a musician counts it: 'bar 3, beat 2' (bar 1 the first whole bar, a pickup bar 0)."""
    bar = piece.time_signature.bar_beats
    number = math.floor((beat - piece.bar_start) / bar + EPS) + 1
    bar_begins = piece.bar_start + (number - 1) * bar
    if number < 1 and piece.bar_start > 0:  # in the pickup: bar 0, counted from the piece's start
        number, bar_begins = 0, 0.0
    return f"bar {number}, beat {beat - bar_begins + 1:g}"


def apply_edits(piece: Piece, edits: Any) -> Edited:
    """``piece`` with ``edits`` (a list of edit objects, see the module) applied in order; an InputError names
    the first that cannot be done and nothing is changed."""
    if not isinstance(edits, list) or not edits:
        raise InputError('Send the edits as a list, e.g. [{"op": "delete", "note": {"start": 4, "pitch": 60}}].')
    if len(edits) > MAX_EDITS:
        raise InputError(f"That is {len(edits)} edits at once; send at most {MAX_EDITS}.")
    notes = list(piece.notes)
    tracks = list(piece.tracks)
    instruments: list[str] = []  # what the program edits did, in words
    made: list[Note] = []  # the notes the edits produced: they win where they overlap others
    touched: list[float] = []
    done: dict[str, int] = {}
    for number, edit in enumerate(edits, 1):
        if not isinstance(edit, dict) or edit.get("op") not in OPS:
            raise InputError(f"Edit {number} is not one of {', '.join(OPS)} (each edit is an object with an 'op').")
        op = edit["op"]
        if op == "program":
            track, program = _int(edit, "track", number), _int(edit, "program", number)
            if not 0 <= track < len(tracks):
                raise InputError(
                    f"Edit {number} gives track {track + 1} an instrument, but the piece has "
                    f"{len(tracks)} track{'' if len(tracks) == 1 else 's'}."
                )
            if not 0 <= program <= 127:
                raise InputError(
                    f"Edit {number} asks for instrument {program}; the General MIDI instruments run from 0 to 127."
                )
            instruments.append(
                f"track {track + 1} ({track_label(piece.tracks[track])}) now plays {instrument_name(program)}"
            )
            tracks[track] = replace(tracks[track], program=program)
            touched.append(0.0)  # the whole piece sounds otherwise
            continue
        if op == "add":
            note = _checked(piece, Note(_num(edit, "start", number), _num(edit, "duration", number, 1.0),
                                        _int(edit, "pitch", number), _int(edit, "velocity", number, 80),
                                        _int(edit, "track", number, 0)), number)  # fmt: skip
            notes.append(note)
            made.append(note)
            touched.append(note.start)
        else:
            old = _find(piece, notes, edit.get("note"), number)
            notes.remove(old)
            if old in made:
                made.remove(old)
            touched.append(old.start)
            if op == "move":
                new = replace(
                    old,
                    start=_num(edit, "start", number, old.start),
                    pitch=_int(edit, "pitch", number, old.pitch),
                    duration=_num(edit, "duration", number, old.duration),
                )
            elif op == "velocity":
                new = replace(old, velocity=_int(edit, "velocity", number))
            if op != "delete":
                new = _checked(piece, new, number)
                notes.append(new)
                made.append(new)
                touched.append(new.start)
        done[op] = done.get(op, 0) + 1
    settled, merged = _settle(notes, made)
    if not settled:
        raise InputError("Those edits would delete every note of the piece; keep at least one.")
    edited = replace(
        piece.with_notes(tuple(sorted(settled, key=lambda n: (n.start, n.track, -n.pitch)))), tracks=tuple(tracks)
    )
    if edited == piece:
        raise InputError("Those edits leave the piece as it was, so there is nothing to keep.")
    words = {"add": "added", "move": "moved", "delete": "deleted", "velocity": "changed the velocity of"}
    summary = ", ".join([f"{words[op]} {n} note{'' if n == 1 else 's'}" for op, n in done.items()] + instruments)
    return Edited(edited, min(touched), summary, merged)


def _settle(notes: list[Note], made: list[Note]) -> tuple[list[Note], int]:
    """Overlapping notes of one pitch on one track settled as MIDI holds them: the earlier stops where the later
    begins; of two beginning together the edited one stays.  → (notes, how many were joined or shortened)."""
    voices: dict[tuple[int, int], list[Note]] = {}
    for n in notes:
        voices.setdefault((n.track, n.pitch), []).append(n)
    out: list[Note] = []
    merged = 0
    for voice in voices.values():
        # by start; on a tie the edited note last, so that it is the one kept
        voice.sort(key=lambda n: (n.start, n in made))
        kept: list[Note] = []
        for n in voice:
            if kept and abs(kept[-1].start - n.start) < EPS:
                kept[-1] = n  # two notes at one beat become one: the later in the order, the edited
                merged += 1
                continue
            if kept and kept[-1].end > n.start + EPS:
                kept[-1] = replace(kept[-1], duration=n.start - kept[-1].start)
                merged += 1
            kept.append(n)
        out += kept
    return out, merged


def _find(piece: Piece, notes: list[Note], ref: Any, number: int) -> Note:
    """The note an edit names by its start, pitch and track (track 0 when not given)."""
    if not isinstance(ref, dict):
        raise InputError(f"Edit {number} does not say which note: give its start, pitch and track.")
    start, pitch = _num(ref, "start", number), _int(ref, "pitch", number)
    track = _int(ref, "track", number, 0)
    for n in notes:
        if abs(n.start - start) < EPS and n.pitch == pitch and n.track == track:
            return n
    return _missing(piece, start, pitch, track)


def _missing(piece: Piece, start: float, pitch: int, track: int) -> Note:
    on = f" on track {track + 1}" if len(piece.tracks) > 1 else ""
    name = pitch_name(pitch) if 0 <= pitch <= 127 else f"pitch {pitch}"
    raise InputError(
        f"There is no {name} beginning at {where(piece, start)}{on} at this point of the piece (it may have "
        "changed in another tab); reload the studio and edit again."
    )


def _checked(piece: Piece, note: Note, number: int) -> Note:
    """A note an edit makes, checked against the piece: inside the piano, its tracks and the bars near it."""
    if not PIANO_LOW <= note.pitch <= PIANO_HIGH:
        raise InputError(
            f"Edit {number} asks for MIDI note {note.pitch}, outside the piano's A0–C8 ({PIANO_LOW}–{PIANO_HIGH})."
        )
    if not 1 <= note.velocity <= 127:
        raise InputError(f"Edit {number} asks for velocity {note.velocity}; a velocity runs from 1 to 127.")
    if not 0 <= note.track < len(piece.tracks):
        raise InputError(
            f"Edit {number} puts a note on track {note.track + 1}, but the piece has "
            f"{len(piece.tracks)} track{'' if len(piece.tracks) == 1 else 's'}."
        )
    bar = piece.time_signature.bar_beats
    last_bar = math.ceil((piece.end - piece.bar_start) / bar - EPS)
    room = piece.bar_start + (last_bar + ROOM_BARS) * bar
    if note.start < -EPS:
        raise InputError(f"Edit {number} puts a note before the piece's first beat; place it inside the piece.")
    if note.start >= room - EPS:
        raise InputError(
            f"Edit {number} puts a note at {where(piece, note.start)}, outside the piece: it ends in bar "
            f"{last_bar}, and notes go at most {ROOM_BARS} bars past it."
        )
    if not 0 < note.duration <= 4 * bar:
        raise InputError(f"Edit {number} asks for a note {note.duration:g} beats long; give 0 to {4 * bar:g} beats.")
    return replace(note, start=max(note.start, 0.0))


def _num(obj: dict[str, Any], key: str, number: int, default: float | None = None) -> float:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"Edit {number} needs a number for {key!r}; got {value!r}.")
    return float(value)


def _int(obj: dict[str, Any], key: str, number: int, default: int | None = None) -> int:
    value = _num(obj, key, number, default)
    if not value.is_integer():
        raise InputError(f"Edit {number} needs a whole number for {key!r}; got {value:g}.")
    return int(value)
