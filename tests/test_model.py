"""The LSTM itself: the whole-sequence forward against steps, its exact losses (checkpoints: test_checkpoint.py)."""

import torch
from torch.nn import functional as F

from composer.dataset import collate
from composer.encoding import DURATION, PITCH, SHIFT, TRACK, VELOCITY
from composer.model import MusicLSTM
from composer.testing.training import TINY, songs


def trunk_inputs(batch, t=None):
    cut = (lambda x: x) if t is None else (lambda x: x[:, t : t + 1])
    return [cut(x) for x in (batch.inputs, batch.in_pos, batch.bar, batch.key, batch.prev_pitch, batch.in_program)]


def test_step_by_step_equals_whole_sequence():
    torch.manual_seed(0)
    model = MusicLSTM(TINY).eval()
    batch = collate([(s, 0, len(s), 0) for s in songs(3)])
    whole, _ = model(*trunk_inputs(batch))
    state = model.initial_state(3)
    steps = []
    for t in range(batch.inputs.shape[1]):
        out, state = model(*trunk_inputs(batch, t), state)
        steps.append(out)
    assert torch.allclose(torch.cat(steps, 1), whole, atol=1e-5)


def test_field_losses_are_exact_log_probabilities_of_all_five_heads():
    torch.manual_seed(0)
    model = MusicLSTM(TINY).eval()
    torch.nn.init.normal_(model.out_lookback.weight)  # the lookback view takes part
    batch = collate([(s, 0, len(s), 1) for s in songs(3)])
    nll = model.field_nll(batch)
    assert nll.shape == (*batch.mask.shape, 5)
    h, _ = model(*trunk_inputs(batch))
    zs, zt, zd, zp, zv = model.head_inputs(h)
    t, pos = batch.targets, batch.tgt_pos
    shift, pitch, dur, track = t[..., SHIFT], t[..., PITCH], t[..., DURATION], t[..., TRACK]
    logits = {
        SHIFT: model.shift_logits(zs),
        TRACK: model.track_logits(zt, shift, pos, batch.inputs[..., TRACK])[..., :2],  # the songs' two tracks
        DURATION: model.duration_logits(zd, shift, pos, track, batch.lookback_duration),
        PITCH: model.pitch_logits(
            zp, shift, pos, dur, batch.key, track, batch.tgt_program, batch.ref, batch.lookback1, batch.lookback2
        ),
        VELOCITY: model.velocity_logits(zv, shift, pos, dur, pitch, track),
    }
    for field, lg in logits.items():
        expected = -F.log_softmax(lg, -1).gather(-1, t[..., field : field + 1]).squeeze(-1)
        if field == VELOCITY:
            expected = expected * batch.velocity_mask
        assert torch.allclose(nll[..., field], expected * batch.mask, atol=1e-5), field
    assert (nll >= 0).all()


def test_the_track_is_scored_among_the_tracks_of_the_songs_table():
    import dataclasses

    torch.manual_seed(0)
    model = MusicLSTM(TINY).eval()
    one = [dataclasses.replace(s, ids=s.ids.copy(), programs=(0,)) for s in songs(2)]
    for s in one:
        s.ids[:, TRACK] = 0
    batch = collate([(s, 0, len(s), 0) for s in one])
    assert (batch.tracks == 1).all()
    assert model.field_nll(batch)[..., TRACK].abs().max() == 0  # one track: nothing to guess
    two = collate([(s, 0, len(s), 0) for s in songs(2)])
    assert (two.tracks == 2).all() and (model.field_nll(two)[..., TRACK] > 0).any()


def test_the_lookback_view_raises_exactly_the_pitches_one_and_two_bars_back():
    torch.manual_seed(0)
    model = MusicLSTM(TINY).eval()
    batch = collate([(s, 0, len(s), 0) for s in songs(2, length=60)])
    args = (batch.targets[..., SHIFT], batch.tgt_pos, batch.targets[..., DURATION], batch.key)
    args += (batch.targets[..., TRACK], batch.tgt_program, batch.ref)
    z = torch.randn(*batch.mask.shape, TINY.head_hidden)
    with torch.no_grad():
        model.out_lookback.weight.zero_()
        model.out_lookback.bias.zero_()
        plain = model.pitch_logits(z, *args, batch.lookback1, batch.lookback2)
        model.out_lookback.bias.copy_(torch.tensor([1.5, 0.25]))
        raised = model.pitch_logits(z, *args, batch.lookback1, batch.lookback2)
    back = raised - plain
    row, col = torch.nonzero(batch.lookback1[..., 0] < 88)[0]  # a target with a note one bar back
    assert back[row, col, batch.lookback1[row, col, 0]] >= 1.5 - 1e-5  # the top note one bar back
    one = set(p for p in batch.lookback1[row, col].tolist() if p < 88)
    two = set(p for p in batch.lookback2[row, col].tolist() if p < 88)
    expected = torch.tensor([1.5 * (p in one) + 0.25 * (p in two) for p in range(88)] + [0.0])
    assert torch.allclose(back[row, col], expected, atol=1e-5)


def test_velocity_is_masked_for_songs_without_dynamics():
    torch.manual_seed(0)
    model = MusicLSTM(TINY).eval().requires_grad_(False)
    plain = [s for s in songs(6) if not s.has_dynamics]
    loud = [s for s in songs(6) if s.has_dynamics]
    assert plain and loud
    batch = collate([(s, 0, len(s), 0) for s in plain + loud])
    nll = model.field_nll(batch)
    assert float(nll[: len(plain), :, VELOCITY].abs().sum()) == 0.0  # nothing learned from "no information"
    assert float(nll[len(plain) :, :, VELOCITY].sum()) > 0
    assert float(nll[: len(plain), :, TRACK].sum()) > 0  # the other fields still count
