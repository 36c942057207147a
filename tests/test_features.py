"""What the model reads at each step: the same for a training window and for a continuation's seed."""

import subprocess
import sys

import numpy as np
import torch

from composer import features
from composer.features import BOS, MAX_BAR, NO_DURATION, NO_KEY, NO_PITCH, NO_PROGRAM

REST = 88
U = 31  # velocity unknown


def ids(rows):
    return np.array(rows, dtype=np.int64)  # (shift, pitch, duration, velocity, track) per event


def test_the_model_reads_the_event_before_each_target_its_position_program_and_its_tracks_previous_pitch():
    # Two tracks: a melody (track 0, strings) over a bass (track 1, piano), interleaved.
    events = ids([[0, 40, 6, 15, 0], [0, 20, 12, 15, 1], [12, 42, 6, 15, 0], [12, 44, 6, U, 0], [0, 22, 12, 15, 1]])
    ref = features.song_features(events, 48).ref
    assert ref.tolist() == [NO_PITCH, NO_PITCH, 40, 42, 20]  # the last pitch on each event's own track
    seen = features.model_inputs(events, ref, (48, 0), bar=48, bar_start=12, start=0, stop=6)
    assert seen.events.tolist() == [BOS.tolist(), *events.tolist()]
    # onsets 0, 0, 0, 12, 24, 24 (time 0, then each event's); bars counted from step 12 in 48-step bars
    assert seen.position.tolist() == [36, 36, 36, 0, 12, 12]
    assert seen.prev_pitch.tolist() == [NO_PITCH, NO_PITCH, NO_PITCH, 40, 42, 20]  # interval within a voice
    assert seen.program.tolist() == [NO_PROGRAM, 48, 0, 48, 48, 0]
    window = features.model_inputs(events, ref, (48, 0), bar=48, bar_start=12, start=2, stop=4)  # mid-song
    assert window.events.tolist() == events[1:3].tolist()
    assert window.position.tolist() == seen.position[2:4].tolist()
    assert window.prev_pitch.tolist() == seen.prev_pitch[2:4].tolist()


def test_lookbacks_are_the_chosen_tracks_notes_one_and_two_bars_back_at_the_same_onset():
    bar = 12
    # track 0: a chord at 0 (pitches 50, 45), a note at 12 (52), a note at 24 (54); track 1: a note at 12 (30).
    events = ids(
        [
            [0, 50, 5, 15, 0],
            [0, 45, 5, 15, 0],
            [12, 52, 3, 15, 0],
            [0, 30, 2, 15, 1],
            [12, 54, 3, 15, 0],
            [0, 33, 2, 15, 1],
            [6, REST, 0, U, 1],
        ]
    )
    f = features.song_features(events, bar)
    none = [NO_PITCH] * features.LOOKBACK_NOTES
    assert f.lookback1[:4].tolist() == [none, none, [50, 45, NO_PITCH, NO_PITCH], none]  # not track 1's
    assert f.lookback1[4].tolist()[:1] == [52] and f.lookback2[4].tolist()[:2] == [50, 45]
    assert f.lookback1[5].tolist()[:1] == [30] and f.lookback2[5].tolist() == none  # track 1: one bar only
    assert f.lookback1[6].tolist() == none  # onset 30: nothing started at 18
    assert f.lookback_duration.tolist() == [NO_DURATION, NO_DURATION, 5, NO_DURATION, 3, 2, NO_DURATION]


def test_transposition_moves_pitches_and_leaves_rest_and_none():
    moved = features.transposed_pitches(np.array([3, REST, NO_PITCH]), 2)
    assert moved.tolist() == [5, REST, NO_PITCH]


def test_metrical_position_is_the_same_on_numpy_and_torch_before_the_first_bar_line():
    onsets = [0, 5, 11, 12, 47, 48, 100]
    on_numpy = features.metrical_position(np.array(onsets), 12, 48)
    on_torch = features.metrical_position(torch.tensor(onsets), 12, 48)
    assert on_numpy.tolist() == on_torch.tolist() == [36, 41, 47, 0, 35, 36, 40]


def test_keys_and_bar_lengths_as_the_model_reads_them():
    assert features.key_id(None) == NO_KEY and features.key_id(23) == 23
    assert features.bar_id(48) == 48 and features.bar_id(10_000) == MAX_BAR - 1


def test_generation_reads_its_inputs_from_features_not_from_the_training_data_module():
    code = "import sys, composer.generate; print('composer.dataset' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_piece_opening_with_a_long_silence_on_another_track_reads_none_before_its_first_note():
    # rest events on track 0 (the encoder's start) before the first note, which is on track 1
    events = ids([[48, REST, 0, U, 0], [12, 30, 5, 15, 1], [12, 32, 5, 15, 1]])
    f = features.song_features(events, 48)
    assert f.ref.tolist() == [NO_PITCH, NO_PITCH, 30]
    assert f.lookback1.shape == (3, features.LOOKBACK_NOTES)
    empty = features.song_features(np.zeros((0, 5), dtype=np.int64), 48)
    assert empty.ref.shape == (0,) and empty.lookback1.shape == (0, features.LOOKBACK_NOTES)
