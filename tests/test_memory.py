"""The short-term memory (composer.memory): what a piece has played, blended over the note model's pitch."""

import math

import numpy as np
import pytest
import torch

from composer.dataset import Song, collate
from composer.encoding import DURATION, PITCH, REST, TRACK
from composer.memory import ALPHA, BETA, MAX_ORDER, MIN_ORDER, ShortTermMemory, memory_of
from composer.model import MusicLSTM
from composer.testing.training import TINY, songs


def test_a_phrase_heard_once_is_expected_again_with_the_weights_the_formula_gives():
    memory = ShortTermMemory()
    phrase = [40, 42, 44, 45, 47]
    for p in phrase:
        memory.play(0, p, 6)
    assert memory.blend(0) == (1.0, {})  # (44, 45, 47) … nothing followed 45, 47 yet
    for p in phrase[:3]:  # the phrase begins again: 40, 42, 44
        memory.play(0, p, 6)
    keep, mass = memory.blend(0)
    # after (42, 44) and (40, 42, 44) came 45 once each; (47, 40, 42, 44) never came before
    weight = 1 / (1 + ALPHA + BETA)
    assert keep == pytest.approx((1 - weight) ** 2)
    assert mass == pytest.approx({45: 1 - keep})
    assert sum(mass.values()) + keep == pytest.approx(1.0)
    assert memory.blend_duration(0) == (pytest.approx(keep), pytest.approx({6: 1 - keep}))  # its rhythm too


def test_each_track_remembers_its_own_notes():
    memory = ShortTermMemory()
    for p in (40, 42, 44, 40, 42):
        memory.play(0, p, 3)
    assert memory.blend(0)[1] == pytest.approx({44: 1 - memory.blend(0)[0]})
    assert memory.blend(1) == (1.0, {})
    memory.play(1, 60, 3)
    memory.play(1, 62, 3)
    assert memory.blend(1) == (1.0, {})  # a context needs an earlier occurrence on the same track


def test_orders_stop_at_the_longest_and_every_blend_is_a_distribution():
    rng = np.random.default_rng(0)
    memory = ShortTermMemory()
    tune = list(rng.integers(40, 46, 30)) * 3  # a strain played three times
    for p in tune:
        keep, mass = memory.blend(0)
        assert 0 < keep <= 1 and all(m > 0 for m in mass.values())
        assert keep + sum(mass.values()) == pytest.approx(1.0)
        memory.play(0, int(p), 6)
    assert max(len(c) for c in memory._pitches[0].counts) == MAX_ORDER
    assert min(len(c) for c in memory._pitches[0].counts) == MIN_ORDER
    keep, mass = memory.blend(0)  # the third time through, the memory is sure of the next note
    assert keep < 0.05 and max(mass, key=mass.get) == tune[len(tune) % 30]


def test_memory_of_a_piece_is_the_memory_note_by_note_rests_left_alone():
    ids = np.zeros((12, 5), dtype=np.int64)
    ids[:, PITCH] = [40, 42, 44, REST, 40, 42, 44, 50, 40, 42, 44, 40]
    ids[:, DURATION] = [6, 6, 12, 0, 6, 6, 12, 6, 6, 6, 3, 6]
    ids[:, TRACK] = [0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]
    keep, hit = memory_of(ids)
    assert keep.shape == hit.shape == (12, 2)
    memory = ShortTermMemory()
    for j, (pitch, duration, track) in enumerate(ids[:, [PITCH, DURATION, TRACK]].tolist()):
        kept, mass = memory.blend(track)
        assert keep[j, 0] == pytest.approx(kept)
        assert hit[j, 0] == pytest.approx(mass.get(pitch, 0.0) if pitch != REST else 0.0)
        kept, mass = memory.blend_duration(track)
        assert keep[j, 1] == pytest.approx(kept) and hit[j, 1] == pytest.approx(mass.get(duration, 0.0))
        if pitch != REST:
            memory.play(track, pitch, duration)
    assert hit[3, 0] == 0 and hit[6, 0] > 0 and hit[10, 0] > hit[6, 0]  # 44 after 40, 42: heard once, then twice
    assert hit[6, 1] > 0 and hit[10, 1] == 0  # 44 was held 12 after (40, 6), (42, 6); the third time, 3


def test_scored_with_the_memory_a_pitch_costs_minus_log_of_keep_times_the_model_plus_the_mass():
    torch.manual_seed(0)
    model = MusicLSTM(TINY).eval()
    base = songs(3, length=60)
    repeated = [
        Song(ids=np.concatenate([s.ids, s.ids]), bar=s.bar, bar_start=s.bar_start, key=s.key, programs=s.programs)
        for s in base
    ]
    items = [(s, 5, len(s) - 5, 0) for s in repeated]  # windows that start after the songs' first notes
    plain, blended = collate(items), collate(items, memory=True)
    with torch.no_grad():
        alone, nll = model.field_nll(plain), model.field_nll(blended)
    for row, song in enumerate(repeated):
        keep, hit = memory_of(song.ids)  # from the song's start, not the window's
        n = len(song) - 5
        for i, f in enumerate((PITCH, DURATION)):
            expected = -np.log(keep[5:, i] * np.exp(-alone[row, :n, f].double().numpy()) + hit[5:, i])
            assert nll[row, :n, f].double().numpy() == pytest.approx(expected, rel=1e-4, abs=1e-5)
        assert (hit[len(base[row]) :, 0] > 0).mean() > 0.8  # the second time through, the memory knows the notes
    others = [f for f in range(5) if f not in (PITCH, DURATION)]
    assert torch.equal(nll[..., others], alone[..., others])
    # one forward pass gives both, exactly as two would, for the pitch of a note too (rests and padding at zero)
    for of_a_note in (False, True):
        with torch.no_grad():
            both = model.field_nll_with_and_without_memory(blended, pitch_of_a_note=of_a_note)
            assert torch.equal(both[0], model.field_nll(blended, pitch_of_a_note=of_a_note))
            assert torch.equal(both[1], model.field_nll(plain, pitch_of_a_note=of_a_note))
    for f in (PITCH, DURATION):
        assert float(nll[..., f].sum()) < float(alone[..., f].sum())
    assert math.isfinite(float(nll.sum()))
