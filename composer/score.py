"""music21 ⇄ Piece: reading scores (the bundled corpus, ABC text) and analysing keys.

The only module besides :mod:`composer.corpus` that imports music21, and it does so lazily: music21
takes a second or two to import, which a refused file or a ``--help`` should not pay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from composer.errors import InputError
from composer.piece import MAX_TRACKS, PIANO_HIGH, PIANO_LOW, Note, Piece, TimeSignature, Track

DEFAULT_VELOCITY = 80


def _key_number(tonic_pitch_class: int, mode: str) -> int:
    return tonic_pitch_class % 12 + (12 if mode == "minor" else 0)


# A part whose instrument states no MIDI program: a sung part (chorale voices, madrigal voices) is played
# as "Choir Aahs" (52) so that a chorale sounds sung and a track's program says "voice"; any other part as
# the piano (0), General MIDI's default and what notation without an instrument is usually played on.
VOICE_PROGRAM = 52
_VOICE_NAMES = re.compile(
    r"(?i)\b(soprano|alto|tenor|bass[eo]?|baritone|cantus|altus|quintus|sextus|superius|contratenor|"
    r"canto|voice|vox|triplum|duplum|motetus)\b"
)


def _track_of_part(part: Any, index: int, channel: int) -> Track:
    """The track a score's part becomes: its name, and its instrument's General MIDI program."""
    instrument = part.getInstrument(returnDefault=False) if hasattr(part, "getInstrument") else None
    name = str(getattr(part, "partName", None) or (instrument.partName if instrument else None) or "").strip()
    if not name and instrument is not None:
        name = str(instrument.instrumentName or "").strip()
    name = name or f"Part {index + 1}"
    program = instrument.midiProgram if instrument is not None else None
    if program is None:
        program = VOICE_PROGRAM if _VOICE_NAMES.search(name) else 0
    return Track(name=name, program=int(program), channel=channel)


# music21's realized volume at its default base level (0.5) puts mf at 99 and clips f, ff and fff to 127; at
# 0.35 the marks spread as MIDI players expect: pp 35, p 50, mp 64, mf 78 (the 80 of unmarked notation), f 99,
# ff 121, fff 127, with accents above their mark.
REALIZED_BASE = 0.35


def _velocity_of(element: Any, dynamic: Any) -> int:
    """A note's velocity from the score's notated dynamic in force (music21's realized volume)."""
    realized = element.volume.getRealized(useDynamicContext=dynamic, useArticulations=True, baseLevel=REALIZED_BASE)
    return max(1, min(127, round(127 * realized)))


def piece_from_score(score: Any, parts: list[int] | None = None, *, default_tempo: float = 100.0) -> Piece:
    """Convert a music21 Score (or Part) to a Piece; ``parts`` picks parts by index (all by default).

    Each chosen part with notes becomes one track (:func:`_track_of_part`), in score order; more than
    ``MAX_TRACKS`` keeps those with the most notes.  Ties are merged into single notes, chord symbols and
    grace notes are skipped, and the first metronome mark and key carry over.  Where the score has dynamics
    marks (p, mf, f…), each note's velocity is music21's realized volume under the mark in force in its part
    (articulations such as accents included); a score without any gives every note ``DEFAULT_VELOCITY``, so
    ``has_dynamics`` is False.  The time signature is the prevailing one, the meter of most of the first
    part (:func:`_prevailing_meter`), and a short first measure in it becomes the pickup (``bar_start``).
    """
    from music21 import chord, dynamics, harmony, note, stream

    score = score.stripTies(inPlace=False)
    all_parts = list(score.parts) if isinstance(score, stream.Score) and score.parts else [score]
    chosen = all_parts if parts is None else [all_parts[i] for i in parts]
    has_marks = any(True for _ in score.recurse().getElementsByClass(dynamics.Dynamic))
    default_mark = dynamics.Dynamic("mf")  # before a part's first mark
    velocities: dict[tuple[int, float | None, tuple[type, ...]], int] = {}
    by_part: list[tuple[Any, list[tuple[float, float, int, int]]]] = []
    for part in chosen:
        flat = part.flatten()
        marks = sorted(((float(d.offset), d) for d in flat.getElementsByClass(dynamics.Dynamic)), key=lambda x: x[0])
        found: list[tuple[float, float, int, int]] = []
        mark_index = -1
        for element in flat.notes:
            if isinstance(element, harmony.Harmony):
                continue  # chord symbols are annotations, not sounding notes
            length = float(element.duration.quarterLength)
            if length <= 0:
                continue  # grace notes
            start = float(element.offset)
            if isinstance(element, chord.Chord):
                pitches = [p.midi for p in element.pitches]
            elif isinstance(element, note.Note):
                pitches = [element.pitch.midi]
            else:
                continue  # unpitched percussion
            while mark_index + 1 < len(marks) and marks[mark_index + 1][0] <= start + 1e-9:
                mark_index += 1
            if has_marks:
                dynamic = marks[mark_index][1] if mark_index >= 0 else default_mark
                # The realized volume depends only on the mark, the note's own scalar and its articulations.
                key = (id(dynamic), element.volume.velocityScalar, tuple(type(a) for a in element.articulations))
                if key not in velocities:
                    velocities[key] = _velocity_of(element, dynamic)
                velocity = velocities[key]
            else:
                velocity = DEFAULT_VELOCITY
            found.extend((start, length, int(p), velocity) for p in pitches)
        if found:
            by_part.append((part, found))
    if len(by_part) > MAX_TRACKS:
        busiest = sorted(range(len(by_part)), key=lambda i: -len(by_part[i][1]))[:MAX_TRACKS]
        by_part = [by_part[i] for i in sorted(busiest)]
    tracks: list[Track] = []
    notes: list[Note] = []
    for index, (part, found) in enumerate(by_part):
        channel = index if index < 9 else index + 1  # channel 9 is the drums'
        tracks.append(_track_of_part(part, index, channel))
        notes.extend(Note(start, length, pitch, velocity, index) for start, length, pitch, velocity in found)
    notes.sort(key=lambda n: (n.start, n.track, -n.pitch))

    ts, bar_start = _prevailing_meter(all_parts[0])
    return Piece(
        notes=tuple(notes),
        tempo=_first_tempo(score, default_tempo),
        time_signature=ts,
        bar_start=bar_start,
        key=_stated_key(score, all_parts[0].flatten()),
        tracks=tuple(tracks) or (Track(),),
    )


def _first_tempo(score: Any, default_tempo: float) -> float:
    from music21 import tempo

    marks = list(score.flatten().getElementsByClass(tempo.MetronomeMark))
    return float(marks[0].getQuarterBPM()) if marks and marks[0].number else default_tempo


def _stated_key(score: Any, flat: Any) -> int | None:
    """The first key signature's key; a bare signature takes the mode music21's analysis finds on it."""
    from music21 import key

    keys = list(flat.getElementsByClass(key.KeySignature))
    if not keys:
        return None
    first = keys[0]
    if isinstance(first, key.Key):
        return _key_number(first.tonic.pitchClass, first.mode)
    major = first.asKey("major")
    minor = first.asKey("minor")
    try:
        guess = score.analyze("key")
        chosen_key = minor if guess.mode == "minor" and guess.sharps == first.sharps else major
    except Exception:  # analysis can fail on odd scores; a major reading of the signature stands
        chosen_key = major
    return _key_number(chosen_key.tonic.pitchClass, chosen_key.mode)


def _meter_spans(part: Any) -> list[tuple[float, float, TimeSignature]]:
    """(offset, length, governing meter) of each measure of ``part`` in time order, or of each stretch
    between time signatures when the part has no measures.

    The signatures are followed through the measures rather than read from ``part.flatten()``: flattening
    does not keep time order when measures carry signatures, so its first signature can come from the
    middle of the piece — in ABC tunes, the short bar (1/4, 1/8…) music21 makes of each phrase's pickup.
    """
    from music21 import meter, stream

    measures = sorted(part.getElementsByClass(stream.Measure), key=lambda m: float(m.offset))
    if not measures:
        flat = part.flatten()
        signatures = sorted(flat.getElementsByClass(meter.TimeSignature), key=lambda t: float(t.offset))
        end = float(flat.highestTime)
        return [
            (
                float(t.offset),
                max(0.0, (float(signatures[i + 1].offset) if i + 1 < len(signatures) else end) - float(t.offset)),
                TimeSignature(t.numerator, t.denominator),
            )
            for i, t in enumerate(signatures)
        ]
    outside = list(part.getElementsByClass(meter.TimeSignature))  # a part-level signature, rare
    # Measures before any signature are in 4/4, as music21 reads them.
    active = TimeSignature(outside[0].numerator, outside[0].denominator) if outside else TimeSignature()
    spans = []
    for m in measures:
        inside = list(m.getElementsByClass(meter.TimeSignature))
        if inside:
            active = TimeSignature(inside[0].numerator, inside[0].denominator)
        spans.append((float(m.offset), float(m.duration.quarterLength), active))
        if inside:
            active = TimeSignature(inside[-1].numerator, inside[-1].denominator)  # a change within the bar
    return spans


def _prevailing_meter(part: Any) -> tuple[TimeSignature, float]:
    """The meter that governs the most of ``part`` (the earliest of equals) and the pickup, ``bar_start``.

    Folk tunes change meter for a bar or two, and music21 marks their phrase pickups as short bars in meters
    of their own, so the first signature is often not the tune's meter.  A meter of a single bar is not a
    candidate when another meter recurs: music21 gives an unbarred stretch of an Essen tune (a free-meter
    line, "M: FREI4/4") one long bar such as 26/4, which can outlast the stated meter's few bars.  Bars are
    counted from the first full bar in the chosen meter: a short first bar becomes the pickup, a piece that
    opens on a full bar has ``bar_start`` 0.
    """
    spans = _meter_spans(part)
    if not spans:
        return TimeSignature().midi_compatible(), 0.0
    totals: dict[TimeSignature, float] = {}
    bars: dict[TimeSignature, int] = {}
    for _offset, length, signature in spans:
        totals[signature] = totals.get(signature, 0.0) + length
        bars[signature] = bars.get(signature, 0) + 1
    candidates = [s for s in totals if bars[s] > 1] or list(totals)  # dicts keep first-seen (time) order
    best = max(totals[s] for s in candidates)
    chosen = next(s for s in candidates if totals[s] >= best - 1e-9)  # the earliest of equals
    ts = chosen.midi_compatible()  # ABC allows meters like 3/3 that MIDI cannot state
    in_meter = [(offset, length) for offset, length, signature in spans if signature == chosen]
    full = [offset for offset, length in in_meter if abs(length - chosen.bar_beats) < 1e-6]
    start = full[0] if full else in_meter[0][0]
    bar_start = start % ts.bar_beats
    if bar_start < 1e-9 or ts.bar_beats - bar_start < 1e-9:
        bar_start = 0.0
    return ts, float(bar_start)


# ------------------------------------------------------------------------------------------------ ABC
# A musician types a melody in ABC notation.  music21's ABC reader is lenient: it skips characters it
# does not know, reads an unknown letter ('q') as a C, drops x and Z rests and ignores inline fields
# ('[K:G]'), so text that is not ABC can come back as a few wrong notes.  Those are refused here, before
# music21 sees them.  Its measure building (beams) takes time that grows with the square of the number of
# bars (~3 s for 1,000 one-note bars here), and a parse in a studio handler cannot be interrupted, so the
# size is capped: the slowest accepted inputs measured here read in about 2 s.

MAX_ABC_CHARS = 20_000
MAX_ABC_SYMBOLS = 1_500  # music21 tokens (notes, chords, bar lines, fields…): ~150 bars of eighths
MAX_ABC_VOICES = 8
MAX_ABC_BEATS = 10_000.0  # a long note ("C100000") must not become hours of audio
ABC_TEMPO_RANGE = (20.0, 400.0)
ABC_DEFAULT_TEMPO = 120.0  # quarter notes per minute when there is no Q: field (MIDI's default too)
# Pitches the model knows (A0-C8); notes outside are dropped and said so.
ABC_PITCH_LOW, ABC_PITCH_HIGH = PIANO_LOW, PIANO_HIGH

_FIELD_LINE = re.compile(r"^\s*([A-Za-z]):")
_INLINE_FIELD = re.compile(r"\[[A-Za-z]:[^\]\n]*\]?")
_ANNOTATIONS = re.compile(r'"[^"\n]*"|![^!\n]*!|\+[^+\n]*\+')  # chord symbols, "^text", !trill!, +fermata+
# Letters allowed in music lines: notes, the rest z, and the decoration shorthands music21 reads
# (L M O P S T u v ~), plus the spacer y.  x, X, Z (invisible and bar rests) and H are read wrongly.
_MUSIC_LETTERS = frozenset("ABCDEFGabcdefgzLMOPSTuvy")
_EXAMPLE = "X:1 / M:6/8 / L:1/8 / K:G, then a line such as GAB c2d|e2d cBA|"


def piece_from_abc(text: str) -> Piece:
    """Read a melody typed in ABC notation into a Piece, or raise :class:`InputError` with one sentence.

    A body without headers is accepted: X:1, M:4/4 (and then L:1/8) and K:C are added where missing.  Without
    M: the meter 4/4 is assumed and said in ``remarks``; without K: (said in ``remarks`` too) or with K:none the
    Piece states no key, so that the key is estimated from the notes rather than taken from the default.  When
    L: is missing but M: is given, ABC's own rule sets the unit (1/16 below 3/4, else 1/8).  Of several tunes
    (X: fields) the first is read.  Without Q: the tempo is 120 quarter notes per minute.  Modal keys are read
    as the training corpus read them (:func:`piece_from_score`): music21 reports K:Ador as A dorian, which
    becomes A major.
    """
    if not text or not text.strip():
        raise InputError(f"The ABC text is empty; type a melody, for example {_EXAMPLE}.")
    if len(text) > MAX_ABC_CHARS:
        raise InputError(
            f"The ABC text has {len(text):,} characters, above composer's limit of {MAX_ABC_CHARS:,}; "
            "use the first few phrases as the seed."
        )
    _check_abc_lines(text)
    prepared, remarks, key_stated = _abc_with_defaults(text)

    from music21 import abcFormat

    try:
        handler = abcFormat.ABCHandler()
        handler.process(prepared)
    except Exception:  # music21 raises several types on malformed ABC; none may escape as a traceback
        raise _abc_unreadable(text) from None
    if len(handler.tokens) > MAX_ABC_SYMBOLS:
        raise InputError(
            f"The ABC has {len(handler.tokens):,} symbols, above composer's limit of "
            f"{MAX_ABC_SYMBOLS:,} for a seed; use the first few phrases."
        )
    voices = {
        t.data.split()[0]
        for t in handler.tokens
        if isinstance(t, abcFormat.ABCMetadata) and t.tag == "V" and t.data.split()
    }
    if len(voices) > MAX_ABC_VOICES:
        raise InputError(
            f"The ABC has {len(voices)} voices (V: fields), above composer's limit of "
            f"{MAX_ABC_VOICES}; keep the melody and a few accompanying voices."
        )
    if handler.definesReferenceNumbers():
        tunes = handler.splitByReferenceNumber()  # in the order of the text
        if len(tunes) > 1:
            number = next(iter(tunes))
            remarks.append(f"The text holds {len(tunes)} tunes; the first, X:{number}, was read.")
            handler = tunes[number]
    try:
        score = abcFormat.translate.abcToStreamScore(handler)
        piece = piece_from_score(score, default_tempo=ABC_DEFAULT_TEMPO)
    except Exception:
        raise _abc_unreadable(text) from None

    # An ABC tune is one voice to composer: one track (a piano, as the corpus reads tunes), whatever music21 made.
    notes = tuple(
        sorted(
            (replace(n, track=0) for n in piece.notes if ABC_PITCH_LOW <= n.pitch <= ABC_PITCH_HIGH),
            key=lambda n: (n.start, -n.pitch, n.duration, n.velocity),
        )
    )
    if len(notes) < len(piece.notes):
        remarks.append(f"{len(piece.notes) - len(notes)} note(s) outside the piano range A0–C8 were dropped.")
    if not notes:
        where = " inside the piano range A0–C8" if piece.notes else ""
        raise InputError(
            f"The ABC has no notes{where} (only headers, rests or symbols composer does not read); "
            f"write a melody after the K: line, for example {_EXAMPLE}."
        )
    end = max(n.end for n in notes)
    if end > MAX_ABC_BEATS:
        raise InputError(
            f"The ABC melody lasts {end:,.0f} beats, above composer's limit of {MAX_ABC_BEATS:,.0f}; "
            "check the note lengths (a number after a note multiplies its length)."
        )
    low, high = ABC_TEMPO_RANGE
    if not low <= piece.tempo <= high:
        raise InputError(
            f"The ABC tempo (Q:) of {round(piece.tempo):,} quarter notes per minute is outside "
            f"{low:g}–{high:g}; write a tempo such as Q:1/4=120."
        )
    return replace(
        piece,
        notes=notes,
        key=piece.key if key_stated else None,
        tracks=(Track(),),
        remarks=piece.remarks + tuple(remarks),
    )


def _abc_with_defaults(text: str) -> tuple[str, list[str], bool]:
    """The ABC with the header fields it lacks, the remarks that say so and whether it states a key."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    head = 0  # the header: the leading field lines (and comments), up to the first line of music
    while head < len(lines) and (_FIELD_LINE.match(lines[head]) or lines[head].lstrip().startswith("%")):
        head += 1

    def field(line: str) -> str:
        match = _FIELD_LINE.match(line)
        return match.group(1) if match else ""

    header, body = lines[:head], lines[head:]
    fields = {field(line) for line in header}
    remarks: list[str] = []
    out = [line for line in header if field(line) == "X"][:1] or ["X:1"]  # X: opens a tune, K: closes its header
    # music21 misreads a tempo written with spaces around its = (Q:1/4 = 90 as 450), so they are closed up.
    out += [
        re.sub(r"\s*=\s*", "=", line) if field(line) == "Q" else line
        for line in header
        if field(line) not in ("X", "K")
    ]
    if "M" not in fields:
        out.append("M:4/4")
        remarks.append("The ABC gives no meter (M:), so 4/4 is assumed.")
        if "L" not in fields:
            out.append("L:1/8")
    keys = [line for line in header if field(line) == "K"]
    out.append(keys[0] if keys else "K:C")
    if not keys:
        remarks.append("The ABC gives no key (K:), so the key is estimated from the notes.")
    key_value = keys[0].split(":", 1)[1].split("%")[0].strip().lower() if keys else ""
    key_stated = bool(keys) and key_value not in ("", "none")
    return "\n".join(out + body) + "\n", remarks, key_stated


def _check_abc_lines(text: str) -> None:
    """Refuse, naming the line, what music21 would misread (prose, HTML, x rests, inline fields) or fail on
    with an error of its own (a meter, unit or tempo it cannot parse, a length divided by zero, an unclosed
    chord, a tuplet of fewer than two notes)."""
    for number, line in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        field = _FIELD_LINE.match(line)
        if field:
            _check_abc_field(number, field.group(1), line[field.end() :].split("%", 1)[0].strip())
        elif not line.lstrip().startswith("%"):
            _check_abc_music(number, line.split("%", 1)[0])  # a comment runs to the end of the line


_METER = re.compile(r"(?i:C\|?|none|(?:FREI)?(\d+(?:\+\d+)*)/(\d+))")
_UNIT = re.compile(r"(\d+)/(\d+)")
_TEMPO = re.compile(r"(?:((?:\d+/\d+\s*)+)=\s*|[A-Za-z]\d*\s*=\s*)?\d+(?:\.\d+)?")


def _check_abc_field(number: int, tag: str, value: str) -> None:
    """Refuse an M:, L: or Q: field that music21 cannot parse (it fails with errors of its own on them)."""
    if tag == "M":
        meter = _METER.fullmatch(value.replace(" ", ""))
        numbers = [*(meter.group(1) or "1").split("+"), meter.group(2) or "1"] if meter else ["0"]
        if value and "0" in numbers:
            raise InputError(
                f"Line {number} has the meter M:{value}, which composer cannot read; write the beats over the "
                "beat's note value, such as M:6/8 or M:3/4 (or M:C for 4/4)."
            )
    elif tag == "L":
        unit = _UNIT.fullmatch(value.replace(" ", ""))
        if not (unit and int(unit.group(1)) > 0 and int(unit.group(2)) > 0):
            raise InputError(
                f"Line {number} has the unit note length L:{value}, which composer cannot read; write a "
                "fraction of a whole note, such as L:1/8 for eighth notes."
            )
    elif tag == "Q":
        tempo = _ANNOTATIONS.sub(" ", value).strip()  # a tempo may carry a word, Q:"Allegro" 1/4=120
        beats = _TEMPO.fullmatch(tempo)
        if tempo and not (beats and all(int(d) > 0 for d in re.findall(r"/(\d+)", beats.group(1) or ""))):
            raise InputError(
                f"Line {number} has the tempo Q:{value}, which composer cannot read; write the beat and how "
                "many of it sound per minute, such as Q:1/4=120."
            )


_LENGTH_BY_ZERO = re.compile(r"[A-Ga-gz][,']*\d*/0+(?!\d)")
_TUPLET = re.compile(r"\((\d+)")


def _check_abc_music(number: int, music: str) -> None:
    """Refuse a music line that music21 would silently skip, misread or fail on."""
    inline = _INLINE_FIELD.search(music)
    if inline:
        raise InputError(
            f"Line {number} has the inline field {inline.group(0)!r}, which composer cannot read; put "
            f"the field on a line of its own (for example {inline.group(0).strip('[]')!r})."
        )
    music = _ANNOTATIONS.sub(" ", music)
    for i, ch in enumerate(music):
        if ch.isspace():
            continue
        if not ch.isascii() or not ch.isprintable():
            raise InputError(
                f"Line {number} has the character {ch!r} (U+{ord(ch):04X}) in its music, which ABC does "
                "not use; type the melody in plain ABC letters and signs."
            )
        if ch.isalpha() and ch not in _MUSIC_LETTERS:
            raise InputError(
                f"Line {number} has {ch!r} in {_snippet(music, i)!r}, which composer cannot read as a note or "
                "a rest; write notes as A–G and a–g (^ _ = for accidentals, , and ' for octaves) and "
                "rests as z."
            )
    divided = _LENGTH_BY_ZERO.search(music)
    if divided:
        raise InputError(
            f"Line {number} divides a note length by zero in {divided.group(0)!r}; write a length such as "
            f"{divided.group(0).split('/')[0]}/2 for half the unit."
        )
    for tuplet in _TUPLET.finditer(music):
        if int(tuplet.group(1)) < 2:
            raise InputError(
                f"Line {number} has the tuplet {tuplet.group(0)!r}, which groups fewer than two notes; write "
                "a tuplet as (3 before three notes, such as (3ABc for a triplet."
            )
    depth_at = -1
    for i, ch in enumerate(music):
        if ch == "[" and i + 1 < len(music) and not (music[i + 1].isdigit() or music[i + 1] == "|"):
            depth_at = i  # a chord opens ([1 and [| are a variant ending and a bar line)
        elif ch == "]":
            depth_at = -1
        elif ch == "|" and depth_at >= 0:
            break
    if depth_at >= 0:
        raise InputError(
            f"Line {number} opens a chord with [ in {_snippet(music, depth_at)!r} and does not close it; "
            "write a chord as [CEG], its notes between square brackets."
        )


def _snippet(music: str, i: int) -> str:
    return music[max(0, i - 8) : i + 9].strip()


def _abc_unreadable(text: str) -> InputError:
    """The refusal of ABC that music21 failed on after the checks above passed: the first line that fails on
    its own is named (music21's own message names Python's types and internals, which help no musician)."""
    line = _first_unreadable_line(text)
    where = f" at line {line[0]} ({line[1]!r})" if line else ""
    return InputError(
        f"The ABC could not be read{where}; check its notes, bar lines and the header lines X:, M:, L: and K:, "
        f"for example {_EXAMPLE}."
    )


def _first_unreadable_line(text: str) -> tuple[int, str] | None:
    """(number, text) of the first music line music21 fails on when read alone under the tune's header."""
    from music21 import abcFormat

    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header = [line for line in lines if _FIELD_LINE.match(line) and line[:2] not in ("w:", "W:")]
    for number, line in enumerate(lines, start=1):
        if _FIELD_LINE.match(line) or not line.split("%", 1)[0].strip():
            continue
        try:
            handler = abcFormat.ABCHandler()
            handler.process("\n".join(header) + "\n" + line + "\n")
            abcFormat.translate.abcToStreamScore(handler)
        except Exception:  # the line fails alone: it is the one to mend
            snippet = line.strip()
            return number, snippet if len(snippet) <= 40 else snippet[:39] + "…"
    return None


def estimate_key(piece: Piece) -> int | None:
    """Key number estimated by music21's key analysis (``analyze("key")``: the Aarden–Essen profiles) of the
    duration-weighted pitch classes."""
    if not piece.notes:
        return None
    weights = [0.0] * 12
    for n in piece.notes:
        weights[n.pitch % 12] += n.duration
    return _key_of_weights(tuple(weights))


@lru_cache(maxsize=256)
def _key_of_weights(weights: tuple[float, ...]) -> int | None:
    """The key of a duration-weighted pitch-class distribution (kept: a request asks again for the same notes'
    key, e.g. a studio's next takes of one piece, and music21's analysis costs ~30 ms)."""
    from music21 import note, stream

    # The analysis reads a pitch-class distribution weighted by duration, so one note per pitch class
    # carrying the total duration is the same input and 12 notes instead of thousands.
    s: stream.Stream = stream.Stream()
    for pc, weight in enumerate(weights):
        if weight > 0:
            s.append(note.Note(60 + pc, quarterLength=weight))
    k = s.analyze("key")
    return _key_number(k.tonic.pitchClass, k.mode)


# ---------------------------------------------------------------------------------------------- MusicXML
# music21 writes dotted values, triplets, quintuplets and other tuplets, but refuses some lengths (a 2048th,
# "inexpressible durations") and spells others as unreadable chains of ties (a triplet recorded at 256 ticks a
# beat).  A piece with such lengths is rounded for the score alone, first to composer's grid (sixteenths and
# triplets), then to sixteenths, which any meter spells; the MIDI and the audio keep the exact times.
_HIDDEN_REST = re.compile(rb'<note print-object="no"(?: print-spacing="yes")?>(\s*<rest\b)')
SPELLED_STEPS = (32, 96, 160, 224)  # steps per quarter note: 128ths, and their triplets, quintuplets, septuplets
SCORE_GRIDS = (12, 4)  # steps per quarter note tried, in turn, when the exact durations cannot be written


@dataclass(frozen=True)
class MusicXml:
    """A piece written as MusicXML: ``data``, the file's bytes, and ``rounded``, the sentence that says the
    score shows rounded note times (None when it shows them exactly, tuplets as tuplets)."""

    data: bytes
    rounded: str | None = None


def musicxml_of_piece(piece: Piece, title: str = "composer") -> MusicXml:
    """MusicXML of the piece (music21 makes the measures, ties, tuplets and voices); it never fails.

    The notes are written exactly where notation spells them plainly (:func:`_spellable`; triplets and
    quintuplets as tuplets) and music21 can write them.  Otherwise the onsets and ends are rounded for the
    score only — to the nearest 1/12 beat, else 1/4 beat — and ``rounded`` says so; the piece itself (and
    any MIDI written from it) keeps its times.  Every rest is printed.  The same piece and title give the
    same bytes."""
    if _spellable(piece):
        try:
            return MusicXml(_write_musicxml(piece, title))
        except Exception:  # music21 raises several types on lengths it cannot spell; the score is rounded instead
            pass
    for steps in SCORE_GRIDS:
        rounded, moved = _round_for_score(piece, steps)
        try:
            data = _write_musicxml(rounded, title)
        except Exception:  # this grid still leaves a length music21 cannot spell: try a coarser one
            continue
        grid = "1/12 beat (sixteenths and triplets)" if steps == 12 else "1/4 beat (sixteenths)"
        return MusicXml(
            data,
            f"The score shows {moved} note(s) rounded to the nearest {grid}, because their exact lengths "
            "cannot be written in notation; the MIDI keeps them exact.",
        )
    raise AssertionError("a piece on a sixteenth grid is always writable as MusicXML")  # pragma: no cover


def piece_to_musicxml(piece: Piece, title: str = "composer") -> bytes:
    """The bytes of :func:`musicxml_of_piece` (for callers that need no word on rounding)."""
    return musicxml_of_piece(piece, title).data


def _spellable(piece: Piece) -> bool:
    """Whether every onset, end and the pickup fall on a grid notation spells plainly: down to 128th notes,
    in plain values or in triplets, quintuplets or septuplets of them.  music21 also writes other lengths
    (0.332 beats, a triplet recorded at 256 ticks a beat) but as chains of tied 64ths and 1024ths, which no
    one can read; those are rounded instead."""
    times = [piece.bar_start, *(n.start for n in piece.notes), *(n.end for n in piece.notes)]
    return all(any(abs(t * d - round(t * d)) < 1e-6 for d in SPELLED_STEPS) for t in times)


def _round_for_score(piece: Piece, steps: int) -> tuple[Piece, int]:
    """The piece with onsets, ends and pickup rounded to ``steps`` per beat (each note at least one step),
    and how many notes moved."""
    moved = 0
    notes = []
    for n in piece.notes:
        start = round(n.start * steps) / steps
        end = max(start + 1 / steps, round(n.end * steps) / steps)
        if abs(start - n.start) > 1e-9 or abs(end - n.end) > 1e-9:
            moved += 1
        notes.append(replace(n, start=start, duration=end - start))
    bar = piece.time_signature.midi_compatible().bar_beats
    bar_start = (round(piece.bar_start * steps) / steps) % bar
    return replace(piece.with_notes(tuple(notes)), bar_start=bar_start), moved


def _write_musicxml(piece: Piece, title: str) -> bytes:
    """MusicXML exactly as the piece is timed; raises music21's exceptions where a length cannot be spelled."""
    import tempfile
    from pathlib import Path

    from music21 import key, metadata, meter, note, stream, tempo

    from composer.midi_io import track_label

    ts = piece.time_signature.midi_compatible()
    score = stream.Score()
    score.metadata = metadata.Metadata(title=title)
    # One part per track that has notes, in the table's order (a piece with no notes still gets one, empty).
    used = sorted({n.track for n in piece.notes}) or [0]
    tracks = piece.tracks or (Track(),)
    for index in used:
        part = stream.Part()
        track = tracks[index] if index < len(tracks) else Track()
        part.partName = track_label(track)
        part.insert(0, meter.TimeSignature(f"{ts.numerator}/{ts.denominator}"))
        part.insert(0, tempo.MetronomeMark(number=round(piece.tempo, 2)))
        if piece.key is not None:
            k = key.Key(
                ["C", "C#", "D", "E-", "E", "F", "F#", "G", "A-", "A", "B-", "B"][piece.key % 12],
                "minor" if piece.key >= 12 else "major",
            )
            part.insert(0, k)
        # Shift so a pickup sits at the end of a first, full bar (music21 pads it with a rest).
        shift = (ts.bar_beats - piece.bar_start) % ts.bar_beats
        for n in piece.notes:
            if n.track != index:
                continue
            element = note.Note(n.pitch, quarterLength=n.duration)
            if element.pitch.accidental is not None and element.pitch.accidental.name == "natural":
                # A pitch made from a MIDI number carries an explicit natural, which music21 then prints on
                # every white-key note after the first bar; without it, naturals appear only where needed.
                element.pitch.accidental = None
            element.volume.velocity = n.velocity
            part.insert(n.start + shift, element)
        score.insert(0, part)
    with tempfile.TemporaryDirectory() as tmp:
        path = score.makeNotation().write("musicxml", fp=Path(tmp) / "score.musicxml")
        text = Path(path).read_bytes()
    # music21's writer fills the gaps of each voice with rests it marks print-object="no"; a bar with a gap
    # then looks unfinished, so every rest is printed.
    text = _HIDDEN_REST.sub(rb"<note>\1", text)
    # The same piece must give the same bytes: fixed part ids, no date of writing.
    ids: dict[bytes, bytes] = {}  # music21 draws random part ids: number them in order of appearance

    def part_id(found: re.Match[bytes]) -> bytes:
        return ids.setdefault(found.group(0), b'"P%d"' % (len(ids) + 1))

    text = re.sub(rb'"P[0-9a-f]{32}"', part_id, text)
    return re.sub(rb"\s*<encoding-date>[^<]*</encoding-date>", b"", text)
