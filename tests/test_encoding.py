from dataclasses import replace

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
    VELOCITY_RANGE,
    VELOCITY_START,
    VELOCITY_STEP,
    VELOCITY_UNKNOWN,
    VELOCITY_WINDOW,
    Events,
    decode,
    encode,
    quantize,
    quantize_with_report,
    vocabulary_sizes,
)
from composer.errors import InputError
from composer.piece import MAX_TRACKS, Note, Piece, TimeSignature, Track
from composer.testing.strategies import pieces, signatures

ONE_TRACK = (Track(),)


def piece(*notes, ts=(4, 4), bar_start=0.0, key=None, tracks=ONE_TRACK):
    return Piece(
        notes=tuple(Note(*n) for n in notes),
        time_signature=TimeSignature(*ts),
        bar_start=bar_start,
        key=key,
        tracks=tracks,
    )


U = VELOCITY_UNKNOWN  # the velocity id of every note of a piece without dynamics


def rows(p):
    return encode(p).ids.tolist()


# ------------------------------------------------------------------------------------------ golden


def test_table_sizes_come_from_one_table():
    assert vocabulary_sizes() == (MAX_SHIFT + 1, 89, MAX_DURATION, 2 * VELOCITY_RANGE + 2, MAX_TRACKS)
    assert [f.name for f in FIELDS] == ["shift", "pitch", "duration", "velocity", "track"]
    assert REST == 88 and VELOCITY_UNKNOWN == 31


def test_chord_is_several_events_with_zero_shift_melody_first():
    p = piece((0, 1, 60, 80), (0, 1, 64, 80), (0, 1, 67, 80))
    assert rows(p) == [[0, 67 - PITCH_LOW, 11, U, 0], [0, 64 - PITCH_LOW, 11, U, 0], [0, 60 - PITCH_LOW, 11, U, 0]]
    assert decode(encode(p)) == quantize(p)


def test_overlapping_notes_of_the_same_pitch_cut_the_earlier():
    p = piece((0, 2, 60, 80), (1, 1, 60, 80))
    assert rows(p) == [[0, 39, 11, U, 0], [12, 39, 11, U, 0]]
    q, report = quantize_with_report(p)
    assert [n.duration for n in q.notes] == [1.0, 1.0]
    assert report.notes_shortened == 1


def test_coinciding_notes_merge_into_the_longest():
    q, report = quantize_with_report(piece((0, 1, 60, 80), (0, 3, 60, 40)))
    assert [(n.duration, n.velocity) for n in q.notes] == [(3.0, 40)]  # one velocity left: kept exactly
    assert report.notes_merged == 1


def test_note_longer_than_the_cap_is_cut_to_the_cap():
    p = piece((0, 10, 60, 80))
    assert rows(p) == [[0, 39, MAX_DURATION - 1, U, 0]]
    assert quantize(p).notes[0].duration == MAX_DURATION / STEPS_PER_BEAT
    assert quantize_with_report(p)[1].durations_capped == 1


def test_rest_longer_than_the_shift_field_uses_rest_events_losslessly():
    p = piece((0, 1, 60, 84), (6, 1, 62, 84))  # 72 steps between onsets, the field holds 48
    assert rows(p) == [[0, 39, 11, U, 0], [48, REST, 0, U, 0], [24, 41, 11, U, 0]]
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
    assert rows(p) == [[0, 39, 3, U, 0], [4, 41, 3, U, 0], [4, 43, 3, U, 0], [4, 44, 2, U, 0]]
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


def test_tracks_and_velocities_round_trip_relative_to_the_level():
    table = (Track("Low"), Track("Mid", 73, 1), Track("High", 40, 2))
    p = piece((0, 1, 60, 1, 0), (1, 1, 60, 127, 1), (1, 1, 72, 64, 2), tracks=table)
    # Event order: onset, then track, then pitch.  Levels: 64 (the piece's start); a track's first note reads
    # the mean of every track so far: 1 for track 1, mean(1, 121) = 61 for track 2.
    # 1 - 64 is 7.9 steps of 8 down → 8 → 0, kept at 1.  127 - 1: 15.75 steps up, at most 15 → 121.  64 - 61 → 0.
    assert VELOCITY_START == 64 and VELOCITY_STEP == 8
    assert rows(p) == [
        [0, 39, 11, VELOCITY_RANGE - 8, 0],
        [12, 39, 11, 2 * VELOCITY_RANGE, 1],
        [0, 51, 11, VELOCITY_RANGE, 2],
    ]
    q = quantize(p)
    assert [(n.track, n.velocity) for n in q.notes] == [(0, 1), (1, 121), (2, 61)]
    assert q.tracks == table and encode(p).tracks == table
    assert decode(encode(p)) == q


def test_the_level_is_the_mean_of_the_last_sixteen_notes_on_the_track():
    velocities = [100] * VELOCITY_WINDOW + [40] * VELOCITY_WINDOW + [41]
    p = piece(*[(i, 1, 60, v) for i, v in enumerate(velocities)])
    e = encode(p)
    vids = e.ids[:, 3].tolist()
    assert vids[VELOCITY_WINDOW - 1] == VELOCITY_RANGE  # at the level of the rounded 100s
    assert vids[-1] == VELOCITY_RANGE  # 41 after sixteen 40s: at the level
    assert abs([n.velocity for n in decode(e).notes][-1] - 41) <= VELOCITY_STEP // 2
    assert decode(e) == quantize(p)


def test_each_track_keeps_its_own_level():
    # A loud melody over a soft accompaniment, alternating: each track reads its own level, so after its first
    # note every note is "at the level" — a shared level would swing between them at every note.
    table = (Track("Melody"), Track("Piano", 0, 1))
    notes = [(i / 2, 0.5, 72, 100, 0) if i % 2 == 0 else (i / 2, 0.5, 48, 40, 1) for i in range(32)]
    e = encode(piece(*notes, tracks=table))
    assert e.ids[2:, 3].tolist() == [VELOCITY_RANGE] * 30
    q = quantize(piece(*notes, tracks=table))
    assert {n.velocity for n in q.notes if n.track == 0} == {96} and {n.velocity for n in q.notes if n.track == 1} == {
        40
    }
    # A continuation's decoding carries each track's level on from the notes before it.
    cont = replace(e, ids=e.ids[-2:])
    before = [(n.track, n.velocity) for n in q.notes[:-2]]
    assert [(n.track, n.velocity) for n in decode(cont, before=before).notes] == [(0, 96), (1, 40)]


def test_a_constant_velocity_is_kept_exactly_and_said_unknown():
    p = piece((0, 1, 60, 37, 0), (0, 1, 48, 37, 1), (1, 1, 62, 37, 0), tracks=(Track(), Track("Bass", 32, 1)))
    e = encode(p)
    assert e.constant_velocity == 37 and not e.has_dynamics
    assert set(e.ids[:, 3].tolist()) == {VELOCITY_UNKNOWN}
    assert [n.velocity for n in decode(e).notes] == [37, 37, 37] and decode(e) == quantize(p)


def test_same_pitch_merging_and_cutting_stay_within_a_track():
    table = (Track("Right"), Track("Left", 0, 1))
    # The same C on both hands at once: two notes, not merged.  An overlap on one hand is cut; across hands not.
    p = piece((0, 2, 60, 80, 0), (0, 1, 60, 80, 1), (1, 1, 60, 80, 0), (1, 2, 60, 80, 1), tracks=table)
    q, report = quantize_with_report(p)
    assert [(n.start, n.duration, n.track) for n in q.notes] == [(0, 1, 0), (0, 1, 1), (1, 1, 0), (1, 2, 1)]
    assert report.notes_merged == 0 and report.notes_shortened == 1
    coinciding = piece((0, 1, 60, 80, 0), (0, 3, 60, 80, 0), (0, 1, 60, 80, 1), tracks=table)
    assert [(n.duration, n.track) for n in quantize(coinciding).notes] == [(3, 0), (1, 1)]


def test_a_rest_event_keeps_the_track_of_the_note_before_it():
    p = piece((0, 1, 60, 80, 1), (6, 1, 62, 80, 0), tracks=(Track(), Track("Other", 0, 1)))
    assert rows(p) == [[0, 39, 11, U, 1], [48, REST, 0, U, 1], [24, 41, 11, U, 0]]
    assert decode(encode(p)) == quantize(p)


def test_the_track_table_holds_at_most_sixteen_tracks():
    table = tuple(Track(f"T{i}", i, i) for i in range(MAX_TRACKS))
    full = piece(*[(i, 1, 60 + i, 80, i) for i in range(MAX_TRACKS)], tracks=table)
    assert sorted(set(encode(full).ids[:, 4].tolist())) == list(range(MAX_TRACKS))
    assert decode(encode(full)) == quantize(full)
    with pytest.raises(InputError, match="17 tracks"):
        encode(piece((0, 1, 60, 80), tracks=(*table, Track("one too many"))))
    with pytest.raises(InputError, match="track 2"):
        encode(piece((0, 1, 60, 80, 2), tracks=(Track(), Track())))


def test_encoder_is_strict():
    with pytest.raises(InputError, match="pitch 12"):
        encode(piece((0, 1, 12, 80)))
    with pytest.raises(InputError, match="velocity 0"):
        encode(piece((0, 1, 60, 0)))
    with pytest.raises(InputError, match="positive length"):
        encode(piece((0, 0, 60, 80)))


def test_decoder_refuses_out_of_vocabulary_ids():
    bad = Events(np.array([[0, 200, 0, 0, 0]]), 120.0, TimeSignature(), 0, None)
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
    assert q.tracks == p.tracks == e.tracks
    # a piece at one velocity: kept exactly, every id unknown (a piece with dynamics may round to one velocity
    # at steps of 8 — 76 and 80 both to 80 — and is still written with its dynamics)
    if not p.has_dynamics and p.notes:
        assert {n.velocity for n in q.notes} == {e.constant_velocity} <= {n.velocity for n in p.notes}
        assert set(e.ids[:, 3].tolist()) == {VELOCITY_UNKNOWN}
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
    ids = np.array(cols, dtype=np.int64).T.reshape(-1, len(FIELDS))
    ts = TimeSignature(*draw(signatures))
    tracks = tuple(Track(f"T{i}", i, i) for i in range(draw(st.integers(1, 4))))
    constant = draw(st.one_of(st.none(), st.integers(1, 127)))
    return Events(ids, 120.0, ts, draw(st.integers(0, 200)), None, tracks, constant)


@settings(max_examples=300, deadline=None)
@given(id_sequences())
def test_any_in_range_ids_decode_to_a_valid_piece(events):
    p = decode(events)
    assert p.tracks == events.tracks
    last_end: dict[tuple[int, int], float] = {}
    for n in p.notes:
        assert 21 <= n.pitch <= 108 and 1 <= n.velocity <= 127 and n.duration > 0
        assert 0 <= n.track < len(p.tracks)
        assert last_end.get((n.track, n.pitch), -1) <= n.start + 1e-9  # no overlap of one pitch on one track
        last_end[(n.track, n.pitch)] = n.end
    # A decoded piece is already normalized: the same notes on the same tracks.  (Its velocities come back the
    # same only when the ids were in canonical order, as the encoder writes them: each is relative to the notes
    # before it.)
    again = decode(encode(p))
    assert [(n.start, n.duration, n.pitch, n.track) for n in again.notes] == [
        (n.start, n.duration, n.pitch, n.track) for n in p.notes
    ]
