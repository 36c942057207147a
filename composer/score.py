"""music21 ⇄ Piece: reading scores (the bundled corpus, ABC text) and analysing keys.

The only module besides :mod:`composer.corpus` that imports music21, and it does so lazily: music21
takes a second or two to import, which a refused file or a ``--help`` should not pay.
"""

from __future__ import annotations

import re
from typing import Any

from composer.piece import Note, Piece, TimeSignature

DEFAULT_VELOCITY = 80


def _key_number(tonic_pitch_class: int, mode: str) -> int:
    return tonic_pitch_class % 12 + (12 if mode == "minor" else 0)


def piece_from_score(score: Any, parts: list[int] | None = None, *, program: int = 0,
                     default_tempo: float = 100.0) -> Piece:
    """Convert a music21 Score (or Part) to a Piece; ``parts`` picks parts by index (all by default).

    Ties are merged into single notes, chord symbols and grace notes are skipped, a short first measure
    becomes the pickup (``bar_start``), and the first metronome mark, time signature and key carry over.
    """
    from music21 import chord, harmony, key, meter, note, stream, tempo

    score = score.stripTies(inPlace=False)
    all_parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    chosen = all_parts if parts is None else [all_parts[i] for i in parts]
    notes: list[Note] = []
    for part in chosen:
        for element in part.flatten().notes:
            if isinstance(element, harmony.Harmony):
                continue  # chord symbols are annotations, not sounding notes
            length = float(element.duration.quarterLength)
            if length <= 0:
                continue  # grace notes
            start = float(element.offset)
            velocity = element.volume.velocity or DEFAULT_VELOCITY
            if isinstance(element, chord.Chord):
                pitches = [p.midi for p in element.pitches]
            elif isinstance(element, note.Note):
                pitches = [element.pitch.midi]
            else:
                continue  # unpitched percussion
            notes.extend(Note(start, length, int(p), int(velocity), program) for p in pitches)
    notes.sort(key=lambda n: (n.start, -n.pitch))

    flat = all_parts[0].flatten()
    marks = list(score.flatten().getElementsByClass(tempo.MetronomeMark))
    bpm = float(marks[0].getQuarterBPM()) if marks and marks[0].number else default_tempo
    signatures = list(flat.getElementsByClass(meter.TimeSignature))
    ts = TimeSignature(signatures[0].numerator, signatures[0].denominator) if signatures else TimeSignature()
    ts = ts.midi_compatible()  # ABC allows meters like 3/3 that MIDI cannot state
    measures = list(all_parts[0].getElementsByClass(stream.Measure))
    bar_start = 0.0
    if len(measures) > 1 and 0 < float(measures[1].offset) < ts.bar_beats - 1e-9:
        bar_start = float(measures[1].offset)

    key_number = None
    keys = list(flat.getElementsByClass(key.KeySignature))
    if keys:
        first = keys[0]
        if isinstance(first, key.Key):
            key_number = _key_number(first.tonic.pitchClass, first.mode)
        else:
            # A bare key signature states no mode: take the mode the analysis finds on that signature.
            major = first.asKey("major")
            minor = first.asKey("minor")
            try:
                guess = score.analyze("key")
                chosen_key = minor if guess.mode == "minor" and guess.sharps == first.sharps else major
            except Exception:  # analysis can fail on odd scores; a major reading of the signature stands
                chosen_key = major
            key_number = _key_number(chosen_key.tonic.pitchClass, chosen_key.mode)
    return Piece(notes=tuple(notes), tempo=bpm, time_signature=ts, bar_start=bar_start, key=key_number)


def estimate_key(piece: Piece) -> int | None:
    """Key number estimated by music21's Krumhansl–Schmuckler analysis of the duration-weighted pitch classes."""
    if not piece.notes:
        return None
    from music21 import note, stream

    weights = [0.0] * 12
    for n in piece.notes:
        weights[n.pitch % 12] += n.duration
    # The analysis reads a pitch-class distribution weighted by duration, so one note per pitch class
    # carrying the total duration is the same input and 12 notes instead of thousands.
    s = stream.Stream()
    for pc, weight in enumerate(weights):
        if weight > 0:
            s.append(note.Note(60 + pc, quarterLength=weight))
    k = s.analyze("key")
    return _key_number(k.tonic.pitchClass, k.mode)



def piece_to_musicxml(piece: Piece, title: str = "composer") -> bytes:
    """MusicXML of the piece (music21 makes the measures, ties and voices)."""
    import tempfile
    from pathlib import Path

    from music21 import key, metadata, meter, note, stream, tempo

    ts = piece.time_signature.midi_compatible()
    part = stream.Part()
    part.insert(0, meter.TimeSignature(f"{ts.numerator}/{ts.denominator}"))
    part.insert(0, tempo.MetronomeMark(number=round(piece.tempo, 2)))
    if piece.key is not None:
        k = key.Key(["C", "C#", "D", "E-", "E", "F", "F#", "G", "A-", "A", "B-", "B"][piece.key % 12],
                    "minor" if piece.key >= 12 else "major")
        part.insert(0, k)
    # Shift so a pickup sits at the end of a first, full bar (music21 pads it with a rest).
    shift = (ts.bar_beats - piece.bar_start) % ts.bar_beats
    for n in piece.notes:
        element = note.Note(n.pitch, quarterLength=n.duration)
        element.volume.velocity = n.velocity
        part.insert(n.start + shift, element)
    score = stream.Score()
    score.metadata = metadata.Metadata(title=title)
    score.insert(0, part)
    with tempfile.TemporaryDirectory() as tmp:
        path = score.makeNotation().write("musicxml", fp=Path(tmp) / "score.musicxml")
        text = Path(path).read_bytes()
    # The same piece must give the same bytes: fixed part ids, no date of writing.
    text = re.sub(rb'"P[0-9a-f]{32}"', b'"P1"', text)  # music21 draws random part ids
    return re.sub(rb"\s*<encoding-date>[^<]*</encoding-date>", b"", text)
