"""The LSTM itself: the whole-sequence forward against steps, its exact losses; and its checkpoints."""

import pytest
import torch
from test_dataset import songs  # small random songs

from composer import checkpoint
from composer.dataset import collate
from composer.errors import InputError
from composer.model import ModelConfig, MusicLSTM

TINY = ModelConfig(hidden=32, layers=2, head_hidden=16, dropout=0.1)


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


def test_bad_checkpoints_are_refused_clearly(tmp_path):
    model = MusicLSTM(TINY)
    path = tmp_path / "m.safetensors"
    checkpoint.save(path, checkpoint.model_tensors(model), {"model": TINY.to_dict()})
    checkpoint.load_model(path)
    truncated = tmp_path / "t.safetensors"
    truncated.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(InputError, match="truncated"):
        checkpoint.load_model(truncated)
    pickle_like = tmp_path / "p.safetensors"
    pickle_like.write_bytes(b"\x80\x04\x95" + bytes(100))
    with pytest.raises(InputError, match="not a safetensors"):
        checkpoint.load_model(pickle_like)
    other = tmp_path / "o.safetensors"
    checkpoint.save(other, checkpoint.model_tensors(model), {"model": {**TINY.to_dict(), "hidden": 64}})
    with pytest.raises(InputError, match="does not match"):
        checkpoint.load_model(other)


def test_the_shipped_model_loads_by_default():
    from composer.generate import SHIPPED_MODEL

    model, config = checkpoint.load_model(SHIPPED_MODEL)
    assert config["weights_dtype"] == "float16"
    assert (SHIPPED_MODEL / "model.safetensors").stat().st_size < 25_000_000
    assert (SHIPPED_MODEL / "MODEL_CARD.md").exists()
    assert config["train"]["exclude_eval"] is True  # the protocols may fine-tune from it without leaks
    assert model.config.hidden == config["model"]["hidden"]
