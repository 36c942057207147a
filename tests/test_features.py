"""What the model reads at each step: the same for a training window and for a continuation's seed."""

import subprocess
import sys

import numpy as np
import torch

from composer import features
from composer.features import BOS, MAX_BAR, NO_KEY, NO_PITCH


def ids(rows):
    return np.array(rows, dtype=np.int64)  # (shift, pitch, duration, velocity) per event


def test_the_model_reads_the_event_before_each_target_its_position_and_the_pitch_before_that():
    events = ids([[0, 40, 6, 5], [12, 42, 6, 5], [12, 44, 6, 5], [24, 45, 12, 5]])
    seen = features.model_inputs(events, bar=48, bar_start=12, start=0, stop=5)  # stop = N + 1: the next event
    assert seen.events.tolist() == [BOS.tolist(), *events.tolist()]
    # onsets 0, 0, 12, 24, 48 (time 0, then each event's); bars counted from step 12 in 48-step bars
    assert seen.position.tolist() == [36, 36, 0, 12, 36]
    assert seen.prev_pitch.tolist() == [NO_PITCH, NO_PITCH, 40, 42, 44]
    window = features.model_inputs(events, bar=48, bar_start=12, start=2, stop=4)  # a window mid-song
    assert window.events.tolist() == events[1:3].tolist()
    assert window.position.tolist() == seen.position[2:4].tolist()
    assert window.prev_pitch.tolist() == [40, 42]


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
