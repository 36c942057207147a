"""The LSTM itself: the whole-sequence forward against steps, its exact losses (checkpoints: test_checkpoint.py)."""

import torch

from composer.dataset import collate
from composer.model import MusicLSTM
from composer.testing.training import TINY, songs


def test_step_by_step_equals_whole_sequence():
    torch.manual_seed(0)
    model = MusicLSTM(TINY).eval()
    batch = collate([(s, 0, len(s), 0) for s in songs(3)])
    whole, _ = model(batch.inputs, batch.in_pos, batch.bar, batch.key, batch.prev_pitch)
    state = model.initial_state(3)
    steps = []
    for t in range(batch.inputs.shape[1]):
        out, state = model(
            batch.inputs[:, t : t + 1],
            batch.in_pos[:, t : t + 1],
            batch.bar[:, t : t + 1],
            batch.key[:, t : t + 1],
            batch.prev_pitch[:, t : t + 1],
            state,
        )
        steps.append(out)
    assert torch.allclose(torch.cat(steps, 1), whole, atol=1e-5)


def test_field_losses_are_exact_log_probabilities():
    torch.manual_seed(0)
    model = MusicLSTM(TINY).eval()
    batch = collate([(s, 0, len(s), 0) for s in songs(2)])
    nll = model.field_nll(batch)
    h, _ = model(batch.inputs, batch.in_pos, batch.bar, batch.key, batch.prev_pitch)
    zs, *_ = model.head_inputs(h)
    logp = torch.log_softmax(model.shift_logits(zs), -1)
    expected = -logp.gather(-1, batch.targets[..., :1]).squeeze(-1)
    assert torch.allclose(nll[..., 0], expected * batch.mask, atol=1e-5)
    assert (nll >= 0).all()
