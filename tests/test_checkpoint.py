"""composer.checkpoint: safetensors weights with their JSON config inside, written whole, read with one clear
sentence for every file that cannot be used."""

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from composer import checkpoint
from composer.errors import InputError
from composer.model import ModelConfig, MusicLSTM
from composer.testing.training import TINY


def saved_model(path: Path, config: dict | None = None) -> MusicLSTM:
    torch.manual_seed(0)
    model = MusicLSTM(TINY)
    checkpoint.save(path, checkpoint.model_tensors(model), config or {"model": TINY.to_dict()})
    return model


def test_save_then_read_gives_the_same_tensors_and_config_and_a_readable_copy(tmp_path: Path) -> None:
    path = tmp_path / "run" / "best.safetensors"  # the folder is made
    model = saved_model(path, {"model": TINY.to_dict(), "metrics": {"valid": {"bits_per_note": 3.25}}})
    tensors, config = checkpoint.read(path)
    assert tensors.keys() == checkpoint.model_tensors(model).keys()
    for name, tensor in checkpoint.model_tensors(model).items():
        assert torch.equal(tensors[name], tensor), name
    assert config["format"] == checkpoint.FORMAT
    assert config["encoding"] == checkpoint.encoding_table()
    assert config["metrics"] == {"valid": {"bits_per_note": 3.25}}
    assert json.loads((tmp_path / "run" / "best.json").read_text()) == config  # the copy says what the file holds
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best.json", "best.safetensors"]  # no temp


def test_load_model_rebuilds_the_same_network(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    model = saved_model(path)
    loaded, config = checkpoint.load_model(path)
    assert config["model"] == TINY.to_dict()
    assert not loaded.training  # ready to generate
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name


def test_a_folder_names_its_best_model_first(tmp_path: Path) -> None:
    saved_model(tmp_path / "last.safetensors")
    assert checkpoint.resolve(tmp_path) == tmp_path / "last.safetensors"
    saved_model(tmp_path / "best.safetensors")
    assert checkpoint.resolve(tmp_path) == tmp_path / "best.safetensors"
    assert checkpoint.resolve(tmp_path / "last.safetensors") == tmp_path / "last.safetensors"


def test_missing_models_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        checkpoint.load_model(tmp_path / "nothing.safetensors")
    with pytest.raises(InputError, match="holds no model"):
        checkpoint.load_model(tmp_path)


def test_bad_checkpoints_are_refused_clearly(tmp_path: Path) -> None:
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


def test_checkpoints_of_another_kind_are_refused(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(InputError, match="not a composer checkpoint"):
        checkpoint.read(foreign)
    old_format = tmp_path / "old.safetensors"
    save_file({"w": torch.zeros(2)}, str(old_format), metadata={"composer": json.dumps({"format": "composer-0"})})
    with pytest.raises(InputError, match="does not read"):
        checkpoint.read(old_format)
    other_encoding = tmp_path / "enc.safetensors"
    header = {"format": checkpoint.FORMAT, "encoding": {"steps_per_beat": 1, "fields": []}}
    save_file({"w": torch.zeros(2)}, str(other_encoding), metadata={"composer": json.dumps(header)})
    with pytest.raises(InputError, match="different event encoding"):
        checkpoint.read(other_encoding)


def test_export_keeps_the_model_in_half_precision_and_leaves_training_state_behind(tmp_path: Path) -> None:
    source = tmp_path / "last.safetensors"
    model = MusicLSTM(TINY)
    extra = {"optimizer.step": torch.zeros(1)}
    config = {"model": TINY.to_dict(), "state": {"step": 7}, "metrics": {"valid": {"bits_per_note": 3.0}}}
    checkpoint.save(source, {**checkpoint.model_tensors(model), **extra}, config)
    target = checkpoint.export(source, tmp_path / "shipped")
    assert target == tmp_path / "shipped" / "model.safetensors"
    tensors, kept = checkpoint.read(target)
    assert all(name.startswith("model.") for name in tensors)
    assert all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())
    assert "state" not in kept and kept["metrics"] == config["metrics"]
    assert kept["weights_dtype"] == "float16" and kept["exported_from"] == str(source)
    loaded, _ = checkpoint.load_model(target)  # fp16 weights come back as fp32: the rounding is the only change
    for name, tensor in model.state_dict().items():
        assert loaded.state_dict()[name].dtype == torch.float32
        assert torch.equal(loaded.state_dict()[name], tensor.half().float()), name


def test_the_shipped_model_loads_by_default() -> None:
    from composer.generate import SHIPPED_MODEL

    if checkpoint.read(SHIPPED_MODEL, older=True)[1]["encoding"] == checkpoint.OLD_ENCODING_TABLE:
        pytest.skip("the shipped model is of the four-field format until the issue-11 model is trained and shipped")
    model, config = checkpoint.load_model(SHIPPED_MODEL)
    assert config["weights_dtype"] == "float16"
    assert (SHIPPED_MODEL / "model.safetensors").stat().st_size < 25_000_000
    assert (SHIPPED_MODEL / "MODEL_CARD.md").exists()
    assert config["train"]["exclude_eval"] is True  # the protocols may fine-tune from it without leaks
    assert model.config.hidden == config["model"]["hidden"]


# ------------------------------------------------------------------------------------------ warm start


def _old_model_log_probs(old: dict[str, torch.Tensor], ids: np.ndarray, bar: int, key: int) -> torch.Tensor:
    """The four-field model before issue 11, written out from its weights: (N, 3) log-probabilities of each
    event's shift, pitch and duration (a reference implementation of what the shipped model computes)."""
    import itertools

    from torch.nn import functional as F

    from composer.features import positions

    n = len(ids)
    hidden = old["lstm.0.weight_hh_l0"].shape[1]
    hh = old["out_shift.weight"].shape[1]
    old_sizes = (50, 90, 97, 17, 192, 193, 25, 50, 13)
    offsets = [0, *itertools.accumulate(old_sizes[:-1])]
    pos = torch.from_numpy(positions(ids, bar, 0))
    inputs = torch.cat([torch.tensor([[49, 89, 96]]), torch.from_numpy(ids[:, :3])])[:n]
    prev = torch.cat([torch.tensor([89, 89]), torch.from_numpy(ids[:, 1])])[:n]
    pitch = inputs[:, 1]
    real = pitch < 88
    interval = torch.where(real & (prev < 88), (pitch - prev).clamp(-24, 24) + 24, 49)
    degree = torch.where(real, (pitch + 21 - key) % 12, 12)
    velocity = torch.full((n,), 10)
    velocity[0] = 16
    columns = [inputs[:, 0], inputs[:, 1], inputs[:, 2], velocity, pos[:n], torch.full((n,), bar)]
    columns += [torch.full((n,), key), interval, degree]
    x = torch.stack([old["in_embed.weight"][c + o] for c, o in zip(columns, offsets, strict=True)]).sum(0)
    for layer in range(sum(1 for k in old if k.endswith("weight_ih_l0"))):
        lstm = torch.nn.LSTM(hidden, hidden, batch_first=True)
        lstm.load_state_dict({k.split(".", 2)[2]: v for k, v in old.items() if k.startswith(f"lstm.{layer}.")})
        x = lstm(x[None])[0][0]
    zs, zd, zp, _ = F.linear(x, old["head_in.weight"], old["head_in.bias"]).split(hh, dim=-1)
    t = torch.from_numpy(ids)
    shift, pitch_t, dur, tpos = t[:, 0], t[:, 1], t[:, 2], pos[1:]
    logits_s = F.linear(F.gelu(zs), old["out_shift.weight"], old["out_shift.bias"])
    cond_d = old["dur_cond.weight"][shift] + old["dur_cond.weight"][49 + tpos]
    logits_d = F.linear(F.gelu(zd + cond_d), old["out_dur.weight"], old["out_dur.bias"])
    pc = old["pitch_cond.weight"]
    g = F.gelu(zp + pc[shift] + pc[49 + tpos] + pc[241 + dur] + pc[337 + key])
    logits_p = F.linear(g, old["out_pitch.weight"], old["out_pitch.bias"])
    candidates = torch.arange(88)
    ref = inputs[:, 1]
    rel = (
        F.linear(g, old["out_interval.weight"], old["out_interval.bias"]).gather(
            -1, candidates - ref.clamp(max=87)[:, None] + 87
        )
        * (ref < 88)[:, None]
    )
    deg = F.linear(g, old["out_degree.weight"], old["out_degree.bias"]).gather(
        -1, ((candidates + 21 - key) % 12).expand(n, 88)
    )
    logits_p = logits_p + torch.cat([rel + deg, torch.zeros(n, 1)], dim=-1)
    pick = lambda lg, y: F.log_softmax(lg, -1).gather(-1, y[:, None])[:, 0]  # noqa: E731
    return torch.stack([pick(logits_s, shift), pick(logits_p, pitch_t), pick(logits_d, dur)], dim=-1)


def old_checkpoint(path: Path, hidden: int = 32, head: int = 16, layers: int = 2) -> Path:
    """A checkpoint of the four-field format before issue 11, random weights in its layout (the shipped model had
    it until the issue-11 model replaced it): what warm_start migrates and load_model refuses."""
    g = torch.Generator().manual_seed(0)

    def w(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * 0.1

    tensors = {
        "in_embed.weight": w(sum(checkpoint._OLD_IN_SIZES), hidden),
        "head_in.weight": w(4 * head, hidden),
        "head_in.bias": w(4 * head),
    }
    for i in range(layers):
        for kind in ("ih", "hh"):
            tensors[f"lstm.{i}.weight_{kind}_l0"] = w(4 * hidden, hidden)
            tensors[f"lstm.{i}.bias_{kind}_l0"] = w(4 * hidden)
    # Conditioning tables: duration (shift, position), pitch (shift, position, duration, key), velocity.
    for name, rows in (("dur_cond", 49 + 192), ("pitch_cond", 49 + 192 + 96 + 25), ("vel_cond", 49 + 192 + 96 + 89)):
        tensors[f"{name}.weight"] = w(rows, head)
    for name, rows in (("shift", 49), ("pitch", 89), ("interval", 175), ("degree", 12), ("dur", 96), ("vel", 16)):
        tensors[f"out_{name}.weight"], tensors[f"out_{name}.bias"] = w(rows, head), w(rows)
    config = {"model": ModelConfig(hidden=hidden, layers=layers, head_hidden=head).to_dict()}
    named = {f"model.{k}": v for k, v in tensors.items()}  # as checkpoint.model_tensors names them
    checkpoint.save(path, named, {**config, "encoding": checkpoint.OLD_ENCODING_TABLE})
    return path


def test_warm_start_from_a_four_field_model_starts_as_it(tmp_path: Path) -> None:
    from composer.dataset import collate, song_from_piece
    from composer.encoding import DURATION, PITCH, SHIFT
    from composer.piece import Note, Piece

    old_path = old_checkpoint(tmp_path / "old.safetensors")
    _, config = checkpoint.read(old_path, older=True)
    assert config["encoding"] == checkpoint.OLD_ENCODING_TABLE
    melody = [60, 62, 64, 65, 67, 65, 64, 62, 60, 67, 72, 71, 69, 67, 65, 64]
    piece = Piece(notes=tuple(Note(i * 0.5, 0.5, p, 84) for i, p in enumerate(melody)), key=0)
    song = song_from_piece(piece)
    model, _ = checkpoint.warm_start(old_path)
    model.eval()
    with torch.no_grad():
        nll = model.field_nll(collate([(song, 0, len(song), 0)]))[0]
        old = {k: v.float() for k, v in checkpoint.model_state(checkpoint.read(old_path, older=True)[0]).items()}
        expected = _old_model_log_probs(old, song.ids, song.bar, song.key)
    got = -nll[:, [SHIFT, PITCH, DURATION]]
    assert np.allclose(got.numpy(), expected.numpy(), atol=1e-4), (got - expected).abs().max()
    # The new track head is fresh; a one-track piece's notes can only go to its one track, so they cost nothing.
    assert float(nll[:, 4].abs().sum()) == 0
    two = replace(song, programs=(0, 32))  # the same notes in a two-track table: the fresh head pays
    with torch.no_grad():
        assert float(model.field_nll(collate([(two, 0, len(two), 0)]))[0][:, 4].sum()) > 0


def test_an_older_checkpoint_is_refused_for_use_in_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="made for an older event format; retrain or use --init"):
        checkpoint.load_model(old_checkpoint(tmp_path / "old.safetensors"))


def test_warm_start_of_a_current_checkpoint_loads_it_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    model = saved_model(path)
    loaded, _ = checkpoint.warm_start(path)
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
