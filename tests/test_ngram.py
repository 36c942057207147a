"""composer.ngram: the n-gram baseline — proper probabilities, PPM blending, and what it learns from data."""

import math

import numpy as np
import pytest

from composer.encoding import DURATION, FIELDS, PITCH, REST, SHIFT, TRACK, VELOCITY, VELOCITY_UNKNOWN
from composer.ngram import NGramModel


def tune(pitches: list[int], shift: int = 12, duration: int = 11, velocity: int = 8, track: int = 0) -> np.ndarray:
    """Events (shift, pitch, duration, velocity, track) of a melody of equal notes; pitch ids, not MIDI numbers."""
    rows = [(shift, p, duration, velocity, track) for p in pitches]
    return np.array(rows, dtype=np.int64).reshape(-1, len(FIELDS))


SCALE = [39, 41, 43, 44, 46, 48, 50, 51]  # C major from middle C, as pitch ids (MIDI - 21)
CORPUS = [tune(SCALE * 4), tune(list(reversed(SCALE)) * 3), tune([39, 43, 46, 51] * 5)]


@pytest.mark.parametrize("field", [SHIFT, PITCH, DURATION, VELOCITY, TRACK])
def test_each_field_is_a_probability_distribution(field: int) -> None:
    model = NGramModel(order=3).fit(CORPUS)
    seq = tune([39, 41, 43, 44, 60, 46])  # 60: a pitch never seen, in contexts partly seen
    for i in (0, 3, 5):
        total = 0.0
        for symbol in range(FIELDS[field].size):
            probe = seq.copy()
            probe[i, field] = symbol
            p = model.field_probability(probe, i, field)
            assert p > 0.0  # smoothing never gives zero
            total += p
        assert total == pytest.approx(1.0, abs=1e-9)


def test_pitch_without_rests_is_a_distribution_over_the_notes() -> None:
    with_rests = [*CORPUS, np.vstack([tune([39]), [(48, REST, 0, VELOCITY_UNKNOWN, 0)], tune([41, 43])])]
    model = NGramModel(order=2).fit(with_rests)
    seq = tune([39, 41, 43, 44])
    total = 0.0
    for symbol in range(FIELDS[PITCH].size):
        if symbol == REST:
            continue
        probe = seq.copy()
        probe[2, PITCH] = symbol
        total += model.field_probability(probe, 2, PITCH, exclude_rest=True)
    assert total == pytest.approx(1.0, abs=1e-9)


def test_what_it_has_seen_is_cheap_and_what_it_has_not_is_dear() -> None:
    model = NGramModel(order=4).fit(CORPUS)
    familiar = model.pitch_bits(tune(SCALE * 2)).mean()
    rng = np.random.default_rng(0)
    strange = model.pitch_bits(tune(rng.integers(0, 88, size=16).tolist())).mean()
    assert familiar < 1.0  # a scale it has heard many times
    # Random pitches, mostly never heard: dearer than guessing blindly among all of them, since the model has
    # learnt that only a few pitches occur.
    assert strange > math.log2(FIELDS[PITCH].size)


def test_a_longer_context_predicts_a_pattern_better() -> None:
    # After 39 comes 41 in the scale, 51 in the reversed scale and 43 in the arpeggio: one note of context
    # cannot tell them apart, four can.
    seq = tune(SCALE * 2)
    order0 = NGramModel(order=0).fit(CORPUS).pitch_bits(seq).sum()
    order1 = NGramModel(order=1).fit(CORPUS).pitch_bits(seq).sum()
    order4 = NGramModel(order=4).fit(CORPUS).pitch_bits(seq).sum()
    assert order4 < order1 < order0


def test_event_bits_give_every_field_of_every_event_and_pitch_bits_skip_rests() -> None:
    model = NGramModel(order=2).fit(CORPUS)
    seq = np.vstack([tune([39, 41]), [(48, REST, 0, VELOCITY_UNKNOWN, 0)], tune([43, 44, 46])])
    bits = model.event_bits(seq)
    assert bits.shape == (6, len(FIELDS))
    assert (bits >= 0).all()
    pitch = model.pitch_bits(seq)
    assert len(pitch) == 5  # the rest event has no pitch to predict
    assert pitch[0] == pytest.approx(-math.log2(model.field_probability(seq, 0, PITCH, exclude_rest=True)))


def test_the_same_data_gives_the_same_figures() -> None:
    seq = tune([39, 43, 41, 44, 46, 43])
    a = NGramModel(order=3).fit(CORPUS).event_bits(seq)
    b = NGramModel(order=3).fit(list(CORPUS)).event_bits(seq)
    assert np.array_equal(a, b)


def test_an_unknown_velocity_is_neither_learned_nor_scored_and_tracks_are_predicted() -> None:
    quiet = tune(SCALE * 4, velocity=VELOCITY_UNKNOWN, track=1)
    model = NGramModel(order=2).fit([quiet, tune(SCALE * 2, velocity=12)])
    assert model.tables[VELOCITY].unigram[VELOCITY_UNKNOWN] == 0  # nothing learned from "no information"
    scored = model.event_bits(quiet)
    assert (scored[:, VELOCITY] == 0).all() and (scored[:, TRACK] > 0).all()
    assert model.event_bits(tune(SCALE, velocity=12))[:, VELOCITY].sum() > 0
    # the track a tune is on is learned: track 1 is cheap after track 1
    assert scored[5:, TRACK].mean() < 0.5
