import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composer.encoding import (
    FIELDS,
    MAX_DURATION,
    MAX_SHIFT,
    PITCH_LOW,
    REST,
    STEPS_PER_BEAT,
    Events,
    decode,
    encode,
    quantize,
    quantize_with_report,
    vocabulary_sizes,
)
from composer.errors import InputError
from composer.piece import Note, Piece, TimeSignature
from composer.testing.strategies import pieces, signatures


def piece(*notes, ts=(4, 4), bar_start=0.0, key=None):
    return Piece(notes=tuple(Note(*n) for n in notes), time_signature=TimeSignature(*ts), bar_start=bar_start, key=key)


def rows(p):
    return encode(p).ids.tolist()


# ------------------------------------------------------------------------------------------ golden


def test_table_sizes_come_from_one_table():
    assert vocabulary_sizes() == (MAX_SHIFT + 1, 89, MAX_DURATION, 16)
    assert [f.name for f in FIELDS] == ["shift", "pitch", "duration", "velocity"]
    assert REST == 88


def test_chord_is_several_events_with_zero_shift_melody_first():
    p = piece((0, 1, 60, 80), (0, 1, 64, 80), (0, 1, 67, 80))
    assert rows(p) == [[0, 67 - PITCH_LOW, 11, 10], [0, 64 - PITCH_LOW, 11, 10], [0, 60 - PITCH_LOW, 11, 10]]
    assert decode(encode(p)) == quantize(p)


def test_overlapping_notes_of_the_same_pitch_cut_the_earlier():
    p = piece((0, 2, 60, 80), (1, 1, 60, 80))
    assert rows(p) == [[0, 39, 11, 10], [12, 39, 11, 10]]
    q, report = quantize_with_report(p)
    assert [n.duration for n in q.notes] == [1.0, 1.0]
    assert report.notes_shortened == 1


def test_coinciding_notes_merge_into_the_longest():
    q, report = quantize_with_report(piece((0, 1, 60, 80), (0, 3, 60, 40)))
    assert [(n.duration, n.velocity) for n in q.notes] == [(3.0, 44)]
    assert report.notes_merged == 1


def test_note_longer_than_the_cap_is_cut_to_the_cap():
    p = piece((0, 10, 60, 80))
    assert rows(p) == [[0, 39, MAX_DURATION - 1, 10]]
    assert quantize(p).notes[0].duration == MAX_DURATION / STEPS_PER_BEAT
    assert quantize_with_report(p)[1].durations_capped == 1


def test_rest_longer_than_the_shift_field_uses_rest_events_losslessly():
    p = piece((0, 1, 60, 84), (6, 1, 62, 84))  # 72 steps between onsets, the field holds 48
    assert rows(p) == [[0, 39, 11, 10], [48, REST, 0, 0], [24, 41, 11, 10]]
    assert decode(encode(p)) == quantize(p) == p


def test_rest_longer_than_four_bars_is_shortened_by_whole_bars():
    p = piece((1, 1, 60, 80), (30, 1, 62, 80))  # 29 beats of 4/4 → 4 bars + 1 beat allowed
    q, report = quantize_with_report(p)
    assert [n.start for n in q.notes] == [1.0, 14.0]  # 29 - 16 (four whole bars removed)
    assert (q.notes[1].start - q.bar_start) % 4 == (30 - 0) % 4  # same place in the bar
    assert report.rests_shortened == 1
    assert decode(encode(p)) == q


def test_triplets_sit_on_the_grid():
    third = 1 / 3
    p = piece((0, third, 60, 80), (third, third, 62, 80), (2 * third, third, 64, 80), (1, 0.25, 65, 80))
    assert rows(p) == [[0, 39, 3, 10], [4, 41, 3, 10], [4, 43, 3, 10], [4, 44, 2, 10]]
    q = quantize(p)
    assert [n.start for n in q.notes] == [0, 4 / 12, 8 / 12, 1.0]
    assert decode(encode(p)) == q


def test_pickup_bar_positions():
    p = piece((0, 1, 67, 80), (1, 1, 72, 80), (2, 1, 71, 80), (5, 1, 72, 80), bar_start=1.0)
    e = encode(p)
    assert e.bar_start == 12
    assert e.positions().tolist() == [36, 0, 12, 0]
    assert decode(e).bar_start == 1.0
    assert quantize(p).bars == 3


def test_three_four_positions():
    p = piece(*[(i, 1, 60 + i, 80) for i in range(6)], ts=(3, 4))
    assert encode(p).positions().tolist() == [0, 12, 24, 0, 12, 24]


def test_six_eight_positions():
    p = piece(*[(i * 0.5, 0.5, 60 + i, 80) for i in range(7)], ts=(6, 8))
    assert encode(p).positions().tolist() == [0, 6, 12, 18, 24, 30, 0]
    assert decode(encode(p)).time_signature == TimeSignature(6, 8)


def test_velocity_bins_and_programs_round_trip():
    p = piece((0, 1, 60, 1, 0), (1, 1, 60, 127, 40), (1, 1, 72, 64, 73))
    q = quantize(p)
    assert sorted((n.velocity, n.program) for n in q.notes) == [(4, 0), (68, 73), (124, 40)]
    assert decode(encode(p)) == q


def test_encoder_is_strict():
    with pytest.raises(InputError, match="pitch 12"):
        encode(piece((0, 1, 12, 80)))
    with pytest.raises(InputError, match="velocity 0"):
        encode(piece((0, 1, 60, 0)))
    with pytest.raises(InputError, match="positive length"):
        encode(piece((0, 0, 60, 80)))


def test_decoder_refuses_out_of_vocabulary_ids():
    bad = Events(np.array([[0, 200, 0, 0]]), np.zeros(1, dtype=np.int64), 120.0, TimeSignature(), 0, None)
    with pytest.raises(ValueError):
        decode(bad)


# ------------------------------------------------------------------------------------------ properties
# (the strategy of pieces lives in composer.testing.strategies, shared with test_midi_io)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces())
def test_round_trip_equals_the_quantized_piece(p):
    q = quantize(p)
    assert decode(encode(p)) == q
    assert quantize(q) == q  # quantizing is idempotent
    e = encode(p)
    assert (e.ids[:, 0] <= MAX_SHIFT).all()
    assert len(e.ids) >= len(q.notes)
    # every note is on the grid and in range
    for n in q.notes:
        assert abs(n.start * STEPS_PER_BEAT - round(n.start * STEPS_PER_BEAT)) < 1e-9
        assert 0 < n.duration <= MAX_DURATION / STEPS_PER_BEAT


@st.composite
def id_sequences(draw):
    length = draw(st.integers(0, 60))
    cols = [draw(st.lists(st.integers(0, f.size - 1), min_size=length, max_size=length)) for f in FIELDS]
    ids = np.array(cols, dtype=np.int64).T.reshape(-1, 4)
    ts = TimeSignature(*draw(signatures))
    return Events(ids, np.zeros(length, dtype=np.int64), 120.0, ts, draw(st.integers(0, 200)), None)


@settings(max_examples=300, deadline=None)
@given(id_sequences())
def test_any_in_range_ids_decode_to_a_valid_piece(events):
    p = decode(events)
    last_end: dict[int, float] = {}
    for n in p.notes:
        assert 21 <= n.pitch <= 108 and 1 <= n.velocity <= 127 and n.duration > 0
        assert last_end.get(n.pitch, -1) <= n.start + 1e-9  # no overlap of one pitch
        last_end[n.pitch] = n.end
    assert decode(encode(p)) == p  # a decoded piece is already normalized
