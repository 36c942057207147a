"""composer.piece: the value types — notes in beats, meters, keys, bars and what reading dropped."""

import dataclasses

import pytest

from composer.piece import (
    PIANO_HIGH,
    PIANO_LOW,
    Note,
    Piece,
    TimeSignature,
    Track,
    TrackFound,
    key_name,
    signature_for_beats,
)


def test_the_piano_range_is_a0_to_c8() -> None:
    assert (PIANO_LOW, PIANO_HIGH) == (21, 108)
    assert PIANO_HIGH - PIANO_LOW + 1 == 88


def test_a_note_ends_after_its_duration_and_orders_by_start() -> None:
    a, b = Note(1.0, 0.5, 60, 80), Note(0.5, 2.0, 72, 90)
    assert a.end == 1.5 and b.end == 2.5
    assert sorted([a, b]) == [b, a]
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.pitch = 61  # type: ignore[misc]  # the value types are immutable: that is what the test checks


@pytest.mark.parametrize(
    ("numerator", "denominator", "beats"), [(4, 4, 4.0), (3, 4, 3.0), (6, 8, 3.0), (2, 2, 4.0), (7, 16, 1.75)]
)
def test_a_bar_lasts_its_meter_in_quarter_notes(numerator: int, denominator: int, beats: float) -> None:
    meter = TimeSignature(numerator, denominator)
    assert meter.bar_beats == beats
    assert str(meter) == f"{numerator}/{denominator}"


def test_meters_midi_cannot_state_keep_their_bar_length_where_one_exists() -> None:
    assert TimeSignature(6, 8).midi_compatible() == TimeSignature(6, 8)  # already a power of two
    assert TimeSignature(3, 3).midi_compatible() == TimeSignature(4, 4)  # three third-notes: four beats
    assert TimeSignature(9, 3).midi_compatible() == TimeSignature(12, 4)
    assert TimeSignature(3, 6).midi_compatible() == TimeSignature(2, 4)
    assert TimeSignature(5, 6).midi_compatible() == TimeSignature(4, 4)  # 3⅓ beats: no MIDI meter, common time
    assert TimeSignature(4, 0).midi_compatible() == TimeSignature(4, 4)  # no bar length to keep


def test_signature_for_beats_finds_the_plainest_meter() -> None:
    assert signature_for_beats(1.0) == (1, 4)
    assert signature_for_beats(1.5) == (3, 8)
    assert signature_for_beats(3.0) == (3, 4)
    assert signature_for_beats(0.125) == (1, 32)
    assert signature_for_beats(1 / 3) is None  # no power-of-two denominator makes a third of a beat


def test_key_numbers_name_major_and_minor_keys() -> None:
    assert key_name(None) is None
    assert key_name(0) == "C major"
    assert key_name(7) == "G major"
    assert key_name(12 + 4) == "E minor"
    assert key_name(12 + 10) == "Bb minor"
    assert Piece(notes=(), key=9).key_name == "A major"


def test_bars_count_a_pickup_as_a_bar_of_its_own() -> None:
    assert Piece(notes=()).bars == 0
    whole_bar = Piece(notes=(Note(0.0, 4.0, 60, 80),))
    assert whole_bar.bars == 1  # a note ending on the bar line does not touch the next bar
    pickup = Piece(notes=(Note(0.0, 1.0, 67, 80), Note(1.0, 4.0, 72, 80)), bar_start=1.0)
    assert pickup.bars == 2
    assert pickup.end == 5.0
    waltz = Piece(notes=(Note(0.0, 1.0, 60, 80), Note(8.0, 1.0, 64, 80)), time_signature=TimeSignature(3, 4))
    assert waltz.bars == 3


def test_with_notes_keeps_everything_but_the_notes() -> None:
    drums = TrackFound("Drums", program=0, is_drum=True, notes=12, kept=False, reason="drum track")
    table = (Track("Right", 0, 0), Track("Left", 0, 1))
    piece = Piece(
        notes=(Note(0.0, 1.0, 60, 80),),
        tempo=90.0,
        time_signature=TimeSignature(6, 8),
        bar_start=0.5,
        key=14,
        tracks=table,
        found=(drums,),
        remarks=("The drum track was dropped.",),
    )
    changed = piece.with_notes((Note(0.0, 2.0, 62, 70, 1),))
    assert changed.notes == (Note(0.0, 2.0, 62, 70, 1),)
    assert (changed.tempo, changed.time_signature, changed.bar_start, changed.key) == (
        90.0,
        TimeSignature(6, 8),
        0.5,
        14,
    )
    assert changed.tracks == table and changed.found == (drums,) and changed.remarks == piece.remarks


def test_provenance_does_not_change_what_a_piece_is() -> None:
    notes = (Note(0.0, 1.0, 60, 80),)
    plain = Piece(notes=notes)
    told = Piece(notes=notes, found=(TrackFound("Piano", 0, False, 1, True),), remarks=("Tempo changes were dropped.",))
    assert plain == told
    assert plain != Piece(notes=notes, tempo=100.0)
    assert plain != Piece(notes=notes, tracks=(Track("Piano", 0, 0),))  # the track table is music: compared


def test_a_notes_program_is_its_tracks_and_dynamics_need_two_velocities() -> None:
    piece = Piece(
        (Note(0.0, 1.0, 72, 80, 0), Note(0.0, 1.0, 40, 80, 1)), tracks=(Track("Tune", 73, 0), Track("Bass", 33, 1))
    )
    assert [piece.program_of(n) for n in piece.notes] == [73, 33]
    assert not piece.has_dynamics
    assert piece.with_notes((Note(0.0, 1.0, 72, 80), Note(1.0, 1.0, 72, 81))).has_dynamics
