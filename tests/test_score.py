"""ABC text → Piece (composer.score.piece_from_abc): what a musician types, and what is refused; and the meter
and pickup composer.score.piece_from_score reads from a music21 score (the corpus's reader)."""

import re
import time
from pathlib import Path

import pytest

from composer.errors import InputError
from composer.midi_io import piece_to_midi_bytes, read_midi
from composer.piece import TimeSignature
from composer.score import MAX_ABC_CHARS, piece_from_abc, piece_from_score

JIG = "X:1\nT:Tune\nM:6/8\nL:1/8\nK:G\nGAB c2d|e2d cBA|"


def one_sentence(message: str) -> bool:
    return message.endswith(".") and "\n" not in message and not re.search(r"\.\s+[A-Z]", message)


# ------------------------------------------------------------------------------------------ reading


def test_jig_reads_meter_key_pitches_and_eighths():
    p = piece_from_abc(JIG)
    assert p.time_signature == TimeSignature(6, 8)
    assert p.key_name == "G major"
    assert p.bar_start == 0.0
    assert [n.pitch for n in p.notes] == [67, 69, 71, 72, 74, 76, 74, 72, 71, 69]  # G4 first
    assert [n.start for n in p.notes] == [0, 0.5, 1, 1.5, 2.5, 3, 4, 4.5, 5, 5.5]
    assert [n.duration for n in p.notes][:5] == [0.5, 0.5, 0.5, 1.0, 0.5]
    assert p.tempo == 120.0
    assert p.remarks == ()


def test_jig_pickup_becomes_bar_start_and_survives_midi():
    p = piece_from_abc("X:1\nM:6/8\nL:1/8\nK:G\nD|GAB c2d|e2d cBA|")
    assert p.bar_start == 0.5
    assert [n.pitch for n in p.notes][:2] == [62, 67]
    assert p.notes[1].start == 0.5  # the first downbeat, G, comes after the one-eighth pickup
    back = read_midi(piece_to_midi_bytes(p), name="jig.mid")
    assert (back.bar_start, back.time_signature, back.key) == (0.5, TimeSignature(6, 8), p.key)
    assert [(n.start, n.pitch) for n in back.notes] == [(n.start, n.pitch) for n in p.notes]


def test_body_without_headers_gets_defaults_and_states_no_key():
    p = piece_from_abc("GABc dedB|c2A2 G4|")
    assert p.time_signature == TimeSignature(4, 4)
    assert [n.pitch for n in p.notes][:4] == [67, 69, 71, 72]
    assert [n.duration for n in p.notes][-2:] == [1.0, 2.0]  # L:1/8 assumed
    assert p.key is None  # no K: written, so the key is left to estimation, not taken as C major
    assert any("4/4" in r for r in p.remarks)


def test_header_fields_carry_over():
    p = piece_from_abc("X:7\nT:Air\nM:3/4\nL:1/4\nQ:1/4=90\nK:Am\nA B c|e2 d|")
    assert p.time_signature == TimeSignature(3, 4)
    assert p.tempo == pytest.approx(90)
    assert p.key_name == "A minor"
    assert [n.pitch for n in p.notes] == [69, 71, 72, 76, 74]
    assert p.notes[3].duration == 2.0


def test_meter_without_unit_length_follows_the_abc_rule():
    # ABC: without L:, a meter below 3/4 makes the unit a sixteenth.
    p = piece_from_abc("X:1\nM:2/4\nK:C\nCDEF GABc|")
    assert [n.duration for n in p.notes] == [0.25] * 8


def test_key_none_and_first_of_several_tunes():
    assert piece_from_abc("X:1\nL:1/8\nK:none\nCDEF|").key is None
    p = piece_from_abc("X:3\nT:a\nL:1/8\nK:C\nCDE|\n\nX:1\nT:b\nL:1/8\nK:G\nGAB|")
    assert [n.pitch for n in p.notes] == [60, 62, 64]
    assert any("2 tunes" in r and "X:3" in r for r in p.remarks)


def test_chords_chord_symbols_decorations_and_comments_are_read():
    p = piece_from_abc('X:1\nM:4/4\nL:1/8\nK:D\n"D"!trill!d2 ~f2 [DFA]4|(3ABc d2 z4| % la la\n')
    assert [n.pitch for n in p.notes] == [74, 78, 69, 66, 62, 69, 71, 73, 74]


def test_notes_outside_the_piano_are_dropped_and_said():
    p = piece_from_abc("X:1\nL:1/8\nK:C\nc'''''''' C D|")
    assert [n.pitch for n in p.notes] == [60, 62]
    assert any("piano range" in r for r in p.remarks)


# ---------------------------------------------------------------------------------------- refusing

BAD = {
    "empty": ("", "empty"),
    "blank": ("  \n\t\n", "empty"),
    "too long": ("C" * (MAX_ABC_CHARS + 1), "limit"),
    "only headers": ("X:1\nT:Nothing\nM:4/4\nL:1/8\nK:C\n", "no notes"),
    "only rests": ("X:1\nL:1/8\nK:C\nz4 z4|z8|", "no notes"),
    "only signs": ("!!!! ???? ####", "no notes"),
    "prose": ("hello world, this is my tune", "'h'"),
    "html": ("<html><body>tune</body></html>", "'h'"),
    "control bytes": ("\x00\x01\x02garbage", "U+0000"),
    "unknown letter": ("X:1\nL:1/8\nK:C\nCDqE|", "'q'"),
    "invisible rest": ("x2 CDEF|", "'x'"),
    "inline field": ("CDEF [K:G] GABc|", "[K:G]"),
    "zero meter": ("X:1\nM:0/4\nL:1/8\nK:C\nCDEF|", "Line 2 has the meter M:0/4"),
    "meter without a beat": ("X:1\nM:3/\nK:C\nCDEF|", "M:3/"),
    "meter in words": ("X:1\nM:abc\nK:C\nCDEF|", "M:abc"),
    "zero unit": ("X:1\nL:1/0\nK:C\nCDEF|", "Line 2 has the unit note length L:1/0"),
    "tempo in words": ("X:1\nL:1/8\nQ:fast\nK:C\nCDEF|", "Q:fast"),
    "bad tuplet": ("X:1\nL:1/8\nK:C\n(0CDE|", "Line 4 has the tuplet '(0'"),
    "length over zero": ("X:1\nL:1/8\nK:C\nC/0 D|", "Line 4 divides a note length by zero in 'C/0'"),
    "unclosed chord": ("X:1\nL:1/8\nK:C\nCD [CEG|GABc|", "does not close it"),
    "too many symbols": ("X:1\nM:4/4\nL:1/8\nK:C\n" + "CDEF|" * 400, "symbols"),
    "too many voices": ("X:1\nL:1/8\nK:C\n" + "".join(f"V:{i}\nC|\n" for i in range(9)), "voices"),
    "endless note": ("X:1\nL:1/8\nK:C\nC1000000 D|", "beats"),
    "absurd tempo": ("X:1\nQ:1/4=100000\nL:1/8\nK:C\nCDEF|", "tempo"),
}


@pytest.mark.parametrize("text, says", list(BAD.values()), ids=list(BAD))
def test_bad_abc_is_refused_with_one_sentence(text, says):
    with pytest.raises(InputError) as info:
        piece_from_abc(text)
    message = str(info.value)
    assert says in message
    assert one_sentence(message), message
    assert not PYTHON_WORDS.search(message), message


# A Python exception's name, or a traceback, in a message for a musician.
PYTHON_WORDS = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b|Traceback")

# ABC music21 fails on with errors of its own ("ZeroDivisionError: float division by zero", "ABCHandlerException:
# Bad chord indicator", "ValueError: not enough values to unpack"): each is refused in a musician's words.
MUSIC21_FAILURES = [
    "X:1\nM:0/4\nL:1/8\nK:C\nCDEF|",
    "X:1\nM:3/0\nL:1/8\nK:C\nCDEF|",
    "X:1\nM:/4\nK:C\nCDEF|",
    "X:1\nM:abc\nK:C\nCDEF|",
    "X:1\nL:0\nK:C\nCDEF|",
    "X:1\nL:1/\nK:C\nCDEF|",
    "X:1\nL:abc\nK:C\nCDEF|",
    "X:1\nL:1/8\nQ:abc\nK:C\nCDEF|",
    "X:1\nL:1/8\nQ:1/4=\nK:C\nCDEF|",
    "X:1\nL:1/8\nQ:1/0=120\nK:C\nCDEF|",
    "X:1\nL:1/8\nK:C\n(0CDE|",
    "X:1\nL:1/8\nK:C\n(1CDE|",
    "X:1\nL:1/8\nK:C\nC/0 D|",
    "X:1\nL:1/8\nK:C\nc'/00 D|",
    "X:1\nL:1/8\nK:C\n[CEG|",
    "X:1\nL:1/8\nK:C\nCDEF|\n[ceg GABc|",
]


@pytest.mark.parametrize("text", MUSIC21_FAILURES)
def test_abc_errors_name_the_line_and_no_python(text):
    with pytest.raises(InputError) as info:
        piece_from_abc(text)
    message = str(info.value)
    assert not PYTHON_WORDS.search(message), message
    assert one_sentence(message), message
    assert re.match(r"Line \d+ ", message), message


def test_abc_music21_still_fails_on_is_refused_at_its_line_without_python(monkeypatch):
    """Whatever music21 fails on past composer's checks is refused naming the first line that fails alone."""
    from music21 import abcFormat

    real = abcFormat.translate.abcToStreamScore

    def fails_on_d(handler, *args, **kwargs):
        if any(isinstance(t, abcFormat.ABCNote) and t.src.startswith("d") for t in handler.tokens):
            raise ZeroDivisionError("float division by zero")
        return real(handler, *args, **kwargs)

    monkeypatch.setattr(abcFormat.translate, "abcToStreamScore", fails_on_d)
    with pytest.raises(InputError) as info:
        piece_from_abc("X:1\nL:1/8\nK:C\nCDEF|\nGABc|\ndefg|\n")
    message = str(info.value)
    assert "line 6 ('defg|')" in message, message
    assert not PYTHON_WORDS.search(message) and one_sentence(message), message


def test_abc_without_a_key_says_the_key_is_estimated():
    p = piece_from_abc("X:1\nM:4/4\nL:1/8\nCDEF GABc|")
    assert p.key is None
    assert "The ABC gives no key (K:), so the key is estimated from the notes." in p.remarks
    assert not any("K:" in r for r in piece_from_abc("X:1\nM:4/4\nL:1/8\nK:G\nGABc|").remarks)


def test_a_tempo_written_with_spaces_is_read_as_written():
    assert piece_from_abc("X:1\nL:1/8\nQ:1/4 = 90\nK:C\nCDEF|").tempo == pytest.approx(90)


def test_long_input_is_refused_quickly():
    # music21's measure building grows with the square of the bars: the symbol cap keeps a refusal, and
    # the largest accepted input, within a couple of seconds.
    start = time.perf_counter()
    with pytest.raises(InputError):
        piece_from_abc("X:1\nM:4/4\nL:1/8\nK:C\n" + "C|" * 9_000)
    assert time.perf_counter() - start < 3.0


def test_musicxml_prints_naturals_only_where_a_flat_or_sharp_is_cancelled():
    from composer.piece import Note, Piece, TimeSignature
    from composer.score import piece_to_musicxml

    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    piece = Piece(
        notes=tuple(Note(float(i), 1.0, p, 80) for i, p in enumerate(scale * 2 + [70, 71])),
        tempo=100,
        time_signature=TimeSignature(4, 4),
    )
    xml = piece_to_musicxml(piece).decode()
    assert xml.count("<accidental>natural</accidental>") == 1  # the B after the B flat, in the same bar
    assert xml.count("<accidental>flat</accidental>") == 1


# ----------------------------------------------------------------------- the meter of a music21 score


def _score(bars: list[tuple[str | None, list[float]]]) -> object:
    """A one-part music21 Score of measures, each (time signature or None, quarter lengths of its notes)."""
    from music21 import meter, note, stream

    part = stream.Part()
    for number, (signature, lengths) in enumerate(bars):
        measure = stream.Measure(number=number)
        if signature:
            measure.append(meter.TimeSignature(signature))
        for i, length in enumerate(lengths):
            measure.append(note.Note(60 + (number + i) % 12, quarterLength=length))
        part.append(measure)
    score = stream.Score()
    score.insert(0, part)
    return score


def test_essen_tune_with_phrase_pickups_keeps_its_stated_meter_and_pickup():
    # essenFolksong/altdeu10.abc X:139 states M: 3/4 and opens on a one-beat pickup; music21 gives each
    # later phrase's pickup a 1/4 bar, and the corpus used to file the tune under 1/4.
    from music21 import converter, corpus, meter

    book = Path(str(corpus.getWork("essenFolksong/altdeu10.abc"))).read_text(encoding="latin-1")
    tune = next(t for t in re.split(r"(?m)^(?=X:)", book) if t.startswith("X:139\n"))
    assert "M: 3/4" in tune
    score = converter.parse(tune, format="abc")
    in_flat_order = [t.ratioString for t in score.parts[0].flatten().getElementsByClass(meter.TimeSignature)]
    assert in_flat_order[0] == "1/4"  # the trap: the flattened part lists the pickups' signatures first
    p = piece_from_score(score)
    assert (p.time_signature, p.bar_start) == (TimeSignature(3, 4), 1.0)
    assert len(p.notes) == 37 and p.notes[1].start == 1.0  # the first downbeat follows the pickup F
    back = read_midi(piece_to_midi_bytes(p), name="altdeu10-0139.mid")
    assert (back.time_signature, back.bar_start) == (TimeSignature(3, 4), 1.0)


@pytest.mark.parametrize("pickup", [None, "1/4"], ids=["short bar in 3/4", "pickup in 1/4"])
def test_pickup_and_a_short_bar_mid_piece_keep_the_main_meter(pickup):
    bars = [
        (pickup or "3/4", [1.0]),
        ("3/4" if pickup else None, [1.0, 1.0, 1.0]),
        (None, [2.0, 1.0]),
        (None, [3.0]),
        ("1/4", [1.0]),
        ("3/4", [1.0, 2.0]),
        (None, [1.0, 1.0, 1.0]),
        (None, [3.0]),
    ]
    p = piece_from_score(_score(bars))
    assert (p.time_signature, p.bar_start) == (TimeSignature(3, 4), 1.0)
    assert [n.start for n in p.notes][:4] == [0.0, 1.0, 2.0, 3.0]


def test_a_piece_that_opens_on_a_full_bar_has_no_pickup():
    p = piece_from_score(_score([("6/8", [1.5, 1.5]), (None, [3.0]), ("3/8", [1.5]), ("6/8", [3.0])]))
    assert (p.time_signature, p.bar_start) == (TimeSignature(6, 8), 0.0)


def test_a_meter_change_that_lasts_most_of_the_piece_wins():
    # Two bars of 4/4 (8 beats), then six of 3/4 (18 beats): 3/4, with bars counted from its first full bar.
    p = piece_from_score(_score([("4/4", [4.0])] * 2 + [("3/4", [3.0])] + [(None, [3.0])] * 5))
    assert p.time_signature == TimeSignature(3, 4)
    assert p.bar_start == 2.0  # the 3/4 downbeats fall on beats 8, 11, 14…: 8 mod 3
    # The other way round the opening meter stays, and so it does when the two last equally long.
    p = piece_from_score(_score([("4/4", [4.0])] * 6 + [("3/4", [3.0])] * 2))
    assert (p.time_signature, p.bar_start) == (TimeSignature(4, 4), 0.0)
    p = piece_from_score(_score([("4/4", [4.0])] * 3 + [("3/4", [3.0])] * 4))
    assert p.time_signature == TimeSignature(4, 4)


def test_one_long_unbarred_bar_does_not_outweigh_a_recurring_meter():
    # essenFolksong/han1.abc X:390 (M: 4/4): music21 makes its unbarred last line one 26/4 bar, longer than
    # the three 4/4 bars before it.
    p = piece_from_score(_score([("4/4", [4.0])] * 3 + [("26/4", [2.0] * 13)]))
    assert (p.time_signature, p.bar_start) == (TimeSignature(4, 4), 0.0)
    # A piece of two bars has no recurring meter: the longer bar's stands.
    assert piece_from_score(_score([("2/4", [2.0]), ("6/4", [6.0])])).time_signature == TimeSignature(6, 4)


def test_a_score_without_measures_keeps_its_signature():
    from music21 import meter, note, stream

    part = stream.Part()
    part.insert(0, meter.TimeSignature("6/8"))
    for i in range(6):
        part.append(note.Note(60 + i, quarterLength=0.5))
    p = piece_from_score(part)
    assert (p.time_signature, p.bar_start) == (TimeSignature(6, 8), 0.0)
    assert [n.start for n in p.notes] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    bare = stream.Stream([note.Note(60, quarterLength=1.0), note.Note(62, quarterLength=1.0)])
    assert piece_from_score(bare).time_signature == TimeSignature(4, 4)


def test_each_part_becomes_a_named_track_with_its_program():
    from music21 import instrument, note, stream

    score = stream.Score()
    for name, inst, pitch in (("Soprano", None, 72), ("Violin I", instrument.Violin(), 67), ("", None, 48)):
        part = stream.Part()
        if name:
            part.partName = name
        if inst is not None:
            part.insert(0, inst)
        for i in range(4):
            part.append(note.Note(pitch + i, quarterLength=1.0))
        score.insert(0, part)
    score.insert(0, stream.Part())  # a part without notes is no track
    p = piece_from_score(score)
    assert [(t.name, t.program) for t in p.tracks] == [("Soprano", 52), ("Violin I", 40), ("Part 3", 0)]
    assert [t.channel for t in p.tracks] == [0, 1, 2]
    assert {n.track for n in p.notes if n.pitch >= 72} == {0} and {n.track for n in p.notes if n.pitch < 52} == {2}
    assert not p.has_dynamics and {n.velocity for n in p.notes} == {80}
    soprano = piece_from_score(score, parts=[0])
    assert len(soprano.tracks) == 1 and len(soprano.notes) == 4


def test_a_chorale_becomes_four_voice_tracks():
    from music21 import corpus

    p = piece_from_score(corpus.parse("bach/bwv66.6"))
    assert [t.name for t in p.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert all(t.program == 52 for t in p.tracks)
    means = [sum(n.pitch for n in p.notes if n.track == k) / sum(n.track == k for n in p.notes) for k in range(4)]
    assert means == sorted(means, reverse=True)  # soprano above alto above tenor above bass


def test_notated_dynamics_give_the_notes_their_velocities():
    from music21 import dynamics, note, stream

    part = stream.Part()
    part.append(dynamics.Dynamic("p"))
    for i in range(4):
        part.append(note.Note(60 + i, quarterLength=1.0))
    part.append(dynamics.Dynamic("f"))
    for i in range(4):
        part.append(note.Note(60 + i, quarterLength=1.0))
    p = piece_from_score(part)
    soft = {n.velocity for n in p.notes if n.start < 4}
    loud = {n.velocity for n in p.notes if n.start >= 4}
    assert len(soft) == 1 and len(loud) == 1 and max(soft) + 20 < min(loud)
    assert p.has_dynamics


def test_a_quartet_movement_with_p_and_f_has_dynamics():
    from music21 import corpus

    p = piece_from_score(corpus.parse("mozart/k80/movement1.mxl"))
    assert [t.name for t in p.tracks] == ["Violin I", "Violin II", "Viola", "Cello"]
    assert p.has_dynamics and len({n.velocity for n in p.notes}) >= 3


# ------------------------------------------------------------------------------------------ MusicXML


def _reparsed(xml: bytes) -> list[tuple[float, float, int]]:
    """(offset, quarter length, MIDI pitch) of every sounding note music21 reads back from ``xml``, ties merged."""
    from music21 import chord, converter

    score = converter.parseData(xml.decode(), format="musicxml").stripTies()
    found = []
    for element in score.flatten().notes:
        pitches = element.pitches if isinstance(element, chord.Chord) else [element.pitch]
        found += [(float(element.offset), float(element.quarterLength), p.midi) for p in pitches]
    return sorted(found)


def _expected(piece, shift: float) -> list[tuple[float, float, int]]:
    return sorted((n.start + shift, n.duration, n.pitch) for n in piece.notes)


def _close(got, want, tolerance: float = 1e-6) -> bool:
    return len(got) == len(want) and all(
        a[2] == b[2] and abs(a[0] - b[0]) <= tolerance and abs(a[1] - b[1]) <= tolerance
        for a, b in zip(got, want, strict=True)
    )


TRIPLET_PICKUP = "X:1\nT:Folk\nM:4/4\nL:1/8\nK:G\n(3ABc | d2 e2 f2 g2 | a2 g2 (3fed c2 | B8 |\n"


@pytest.mark.parametrize(
    "abc",
    [
        TRIPLET_PICKUP,
        "X:1\nM:6/8\nL:1/8\nK:D\n(3ABc | d2e f2g | (3aga f d2e | f6 |\n",  # a triplet pickup in compound time
        "X:1\nM:4/4\nL:1/8\nK:C\n(5CDEFG c2 d2 e2 | (5cBAGF E4 |\n",  # quintuplets
        "X:1\nM:3/4\nL:1/8\nK:D\nA | (3ddd d2 e2 | f6 |\n",  # an eighth pickup, then a triplet on the downbeat
    ],
)
def test_tuplets_from_abc_are_written_as_tuplets_and_read_back_exactly(abc):
    from composer.score import musicxml_of_piece

    piece = piece_from_abc(abc)
    for source in (piece, read_midi(piece_to_midi_bytes(piece), name="seed.mid")):  # as typed, and as a MIDI seed
        score = musicxml_of_piece(source)
        assert score.rounded is None
        assert b"<time-modification>" in score.data  # a tuplet, not a rounded or tied approximation
        bar = source.time_signature.bar_beats
        assert _close(_reparsed(score.data), _expected(source, (bar - source.bar_start) % bar), 1e-3)


def test_a_triplet_pickup_recorded_at_256_ticks_a_beat_is_rounded_to_triplets_and_said():
    """Triplets in a file whose resolution has no thirds (85 + 85 + 86 ticks of 256) come back as 0.332 beats:
    music21 would spell them as tied 16ths, 64ths, 256ths and 1024ths; the score rounds them to triplets."""
    from composer.score import musicxml_of_piece
    from composer.testing import smf

    events = [smf.tempo(100), smf.time_signature(4, 2)]
    for pitch, ticks in [(67, 85), (69, 85), (71, 86), (72, 256), (74, 256), (76, 256), (77, 256), (79, 1024)]:
        events += smf.note(pitch, ticks)
    piece = read_midi(smf.smf([smf.track(events)], division=256), name="triplets.mid")
    assert piece.notes[1].start == pytest.approx(85 / 256)
    score = musicxml_of_piece(piece)
    assert score.rounded and score.rounded.startswith("The score shows 3 note(s) rounded to the nearest 1/12 beat")
    assert b"<time-modification>" in score.data and b"<type>1024th</type>" not in score.data
    got = _reparsed(score.data)
    assert [round(offset * 3, 6) for offset, _, _ in got[:4]] == [0, 1, 2, 3]  # thirds of a beat, then the beat


def _piece(notes, bar_start=0.0, ts=(4, 4)):
    from composer.piece import Note, Piece

    return Piece(
        notes=tuple(Note(s, d, p, 80) for s, d, p in notes),
        tempo=100,
        time_signature=TimeSignature(*ts),
        bar_start=bar_start,
    )


EXACT = {
    "off-grid triplet pickup": _piece([(0, 1 / 3, 67), (1 / 3, 1 / 3, 69), (2 / 3, 1 / 3, 71), (1, 4, 72)], 1.0),
    "a pickup of one triplet eighth": _piece([(0, 1 / 3, 62), (1 / 3, 1, 67), (4 / 3, 1, 69)], 1 / 3),
    "quintuplet sixteenths": _piece([(i / 5, 1 / 5, 60 + i) for i in range(5)] + [(1, 3, 67)]),
    "notes across bar lines": _piece([(3, 2, 60), (5.5, 3, 64), (8.5, 0.5, 65)], ts=(4, 4)),
    "across the bar in 6/8": _piece([(2.5, 1.5, 60), (4, 2, 62)], ts=(6, 8)),
    "septuplets after a septuplet pickup": _piece([(i / 7, 1 / 7, 60 + i) for i in range(8)] + [(8 / 7, 1, 72)], 1 / 7),
    "a chord of mixed lengths": _piece([(0, 1, 60), (0, 2, 64), (0, 1 / 3, 67), (1 / 3, 2 / 3, 69), (2, 2, 72)]),
}


@pytest.mark.parametrize("piece", list(EXACT.values()), ids=list(EXACT))
def test_musicxml_writes_what_notation_can_spell_exactly(piece):
    from composer.score import musicxml_of_piece

    score = musicxml_of_piece(piece)
    assert score.rounded is None
    bar = piece.time_signature.bar_beats
    assert _close(_reparsed(score.data), _expected(piece, (bar - piece.bar_start) % bar))


ROUNDED = {
    "a played, unquantized pickup": _piece([(0.1, 0.37, 60), (0.47, 1.0, 62), (1.53, 2.0, 64)], 0.53),
    "a 2048th": _piece([(0, 1 / 512, 60), (1, 1, 62)]),
    "a played chord, its notes a hair apart": _piece([(0, 1, 60), (0.013, 0.99, 64), (0.021, 1.02, 67), (1, 1, 72)]),
}


@pytest.mark.parametrize("piece", list(ROUNDED.values()), ids=list(ROUNDED))
def test_musicxml_rounds_for_the_score_only_and_says_so(piece):
    from composer.score import musicxml_of_piece

    score = musicxml_of_piece(piece)
    assert score.rounded and "the MIDI keeps them exact" in score.rounded
    got = _reparsed(score.data)
    bar = piece.time_signature.bar_beats
    shift = (bar - round(piece.bar_start * 4) / 4) % bar  # the coarsest grid a rounded score can use
    for (offset, _, pitch), (start, _, want) in zip(got, _expected(piece, shift), strict=True):
        assert pitch == want and abs(offset - start) <= 0.25
    assert read_midi(piece_to_midi_bytes(piece), name="x.mid").notes[0].start == pytest.approx(
        piece.notes[0].start, abs=1e-3
    )  # the piece (and its MIDI) keep their times


def test_every_rest_is_printed_in_musicxml_and_in_the_engraved_score():
    from composer.score import piece_to_musicxml
    from composer.studio.render import score_svg

    # A pickup, a gap in the bar and a second voice shorter than the first: each leaves rests to print.
    piece = _piece([(0, 1, 60), (2, 1, 62), (2, 0.5, 66), (5, 1, 64)], 1.0)
    xml = piece_to_musicxml(piece)
    assert xml.count(b"<rest") >= 3
    assert b'print-object="no"' not in xml
    svg = score_svg(piece)
    assert svg.count('class="rest"') + svg.count('class="mRest"') >= 3


def test_the_same_piece_gives_the_same_musicxml_rounded_or_not():
    from composer.score import piece_to_musicxml

    for piece in (EXACT["a chord of mixed lengths"], ROUNDED["a played, unquantized pickup"]):
        assert piece_to_musicxml(piece, "t") == piece_to_musicxml(piece, "t")


def test_musicxml_has_one_part_per_track_named_by_the_track_or_its_instrument():
    from music21 import converter

    from composer.piece import Note, Piece, Track
    from composer.score import musicxml_of_piece

    piece = Piece(
        (Note(0, 1, 72, 90, 0), Note(0, 2, 48, 50, 1), Note(1, 1, 74, 70, 0), Note(2, 2, 43, 50, 1)),
        tracks=(Track("Right hand", 0, 0), Track("", 42, 1)),
    )
    score = musicxml_of_piece(piece, "hands")
    assert score.rounded is None
    text = score.data.decode()
    assert re.findall(r"<part-name>([^<]*)</part-name>", text) == ["Right hand", "Cello"]
    assert re.findall(r'<part id="(P\d)">', text) == ["P1", "P2"]
    parts = converter.parseData(score.data.decode(), format="musicxml").parts
    assert [[n.pitch.midi for n in p.flatten().notes] for p in parts] == [[72, 74], [48, 43]]
    assert b"<rest" in score.data  # the right hand's silence after beat 2 is printed


def test_an_abc_tune_reads_as_one_track():
    piece = piece_from_abc("X:1\nT:t\nM:4/4\nL:1/4\nK:C\nCDEF|GABc|\n")
    assert len(piece.tracks) == 1 and {n.track for n in piece.notes} == {0}
