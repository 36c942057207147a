"""composer.checkpoint: safetensors weights with their JSON config inside, written whole, read with one clear
sentence for every file that cannot be used."""

import json
from pathlib import Path

import pytest
import torch

from composer import checkpoint
from composer.errors import InputError
from composer.model import MusicLSTM
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

    model, config = checkpoint.load_model(SHIPPED_MODEL)
    assert config["weights_dtype"] == "float16"
    assert (SHIPPED_MODEL / "model.safetensors").stat().st_size < 25_000_000
    assert (SHIPPED_MODEL / "MODEL_CARD.md").exists()
    assert config["train"]["exclude_eval"] is True  # the protocols may fine-tune from it without leaks
    assert model.config.hidden == config["model"]["hidden"]
