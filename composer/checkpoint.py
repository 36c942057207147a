"""Checkpoints: safetensors weights with the JSON config inside the same file, written atomically.

One file is the unit: ``NAME.safetensors`` holds the tensors and, in its header's metadata, the JSON
config (model settings, encoding table, data fingerprint, metrics, training state).  A readable copy
of that JSON is written beside it as ``NAME.json``.  The vocabulary is rebuilt from the config, so a
checkpoint is self-contained.  Nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import errno
import json
import re
from pathlib import Path
from typing import Any

import torch

from composer.atomic import atomic_write, sync_folder
from composer.encoding import FIELDS, STEPS_PER_BEAT
from composer.errors import InputError
from composer.model import ModelConfig, MusicLSTM

FORMAT = "composer-checkpoint-1"
SHIPPED_MODEL = Path(__file__).resolve().parent / "models" / "shipped"  # the model composer ships with


def encoding_table() -> dict[str, Any]:
    return {"steps_per_beat": STEPS_PER_BEAT, "fields": [[f.name, f.size] for f in FIELDS]}


def save(path: Path, tensors: dict[str, torch.Tensor], config: dict[str, Any]) -> None:
    """Write tensors + config to ``path`` (a .safetensors file) atomically, then the JSON copy beside it.

    A failed write (disk full, read-only folder, file too large) leaves the previous file as it was and no
    temporary file behind, and raises :class:`OSError` with the system's reason — also where safetensors
    reports it as its own error type.  A process killed mid-write leaves at most its one temporary file
    (``.NAME.safetensors.PID.tmp``, a name nothing loads), which the next successful save of the same
    checkpoint removes.  Both files and the renames are fsynced: a checkpoint survives a power loss.
    """
    from safetensors import SafetensorError
    from safetensors.torch import save as to_bytes

    path = Path(path)
    header = {"format": FORMAT, "encoding": encoding_table(), **config}
    text = json.dumps(header, sort_keys=True)
    contiguous = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Serialized in memory and written through atomic_write (not safetensors' own randomly named file).
        data = to_bytes(contiguous, metadata={"composer": text})
        atomic_write(path, data, durable=True)
        atomic_write(path.with_suffix(".json"), (json.dumps(header, indent=2, sort_keys=True) + "\n").encode())
        sync_folder(path.parent)  # the JSON copy's rename survives a power loss too
    except (OSError, SafetensorError) as error:
        if isinstance(error, OSError):
            raise
        # "Error while serializing: I/O error: No space left on device (os error 28)"
        found = re.search(r"I/O error: (.*?) \(os error (\d+)\)", str(error))
        code, reason = (int(found.group(2)), found.group(1)) if found else (errno.EIO, str(error))
        raise OSError(code, reason) from error
    _remove_leftovers(path)


def _remove_leftovers(path: Path) -> None:
    """Temporary files of earlier saves of this checkpoint that a kill cut short.  One process writes a
    run's checkpoints, so any other temporary file of the same target is a leftover."""
    for target in (path, path.with_suffix(".json")):
        for leftover in target.parent.glob(f".{target.name}.*.tmp"):
            with contextlib.suppress(OSError):
                leftover.unlink()


MODEL_FILES = ("best.safetensors", "model.safetensors", "last.safetensors")  # tried in this order in a folder


def resolve(path: Path) -> Path:
    """The checkpoint file a path names: the file itself, or the first of MODEL_FILES in a folder."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"The model file {path} does not exist; check the path or train one with 'composer train'.")
    if path.is_dir():
        for name in MODEL_FILES:
            if (path / name).exists():
                return path / name
        raise InputError(f"{path} holds no model ({', '.join(MODEL_FILES)}).")
    return path


def read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and config of a checkpoint, or :class:`InputError` saying why it cannot be used."""
    from safetensors import SafetensorError, safe_open

    path = resolve(path)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        header_len = int.from_bytes(head, "little") if len(head) == 8 else -1
        if header_len <= 0 or header_len > 100_000_000 or header_len + 8 > path.stat().st_size:
            raise InputError(
                f"{path.name} is not a safetensors model file (or it is truncated); composer loads "
                "only .safetensors checkpoints that it wrote."
            )
        with safe_open(str(path), framework="pt") as f:  # one pass: config and tensors
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 - safe_open is no dict
    except InputError:
        raise
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise InputError(
            f"{path.name} is not a readable safetensors model (it may be truncated: {error}); train or "
            "download it again."
        ) from None
    if "composer" not in metadata:
        raise InputError(
            f"{path.name} is a safetensors file but not a composer checkpoint (no composer config "
            "inside); use a model written by 'composer train'."
        )
    try:
        config = json.loads(metadata["composer"])
    except json.JSONDecodeError:
        raise InputError(f"{path.name} has a damaged config; train or download it again.") from None
    if config.get("format") != FORMAT:
        raise InputError(
            f"{path.name} is a checkpoint of format {config.get('format')!r}, which this version "
            f"of composer does not read ({FORMAT})."
        )
    if config.get("encoding") != encoding_table():
        raise InputError(
            f"{path.name} was trained with a different event encoding; retrain it with this version of composer."
        )
    return tensors, config


def model_state(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len("model.") :]: v for k, v in tensors.items() if k.startswith("model.")}


def load_model(path: Path, device: str | torch.device = "cpu") -> tuple[MusicLSTM, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights (fp16 weights become fp32)."""
    tensors, config = read(path)
    try:
        model_config = ModelConfig.from_dict(config["model"])
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{Path(path).name} has model settings this version cannot build ({error}).") from None
    model = MusicLSTM(model_config)
    state = {k: v.float() for k, v in model_state(tensors).items()}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0] if str(error) else "shapes differ"
        raise InputError(
            f"{Path(path).name} does not match its own model settings ({first}); the file is from "
            "another configuration or damaged."
        ) from None
    model.to(device)
    model.eval()
    return model, config


def model_tensors(model: torch.nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    return {f"model.{k}": (v.to(dtype) if dtype is not None and v.is_floating_point() else v) for k, v in state.items()}


def export(source: Path, target_dir: Path, *, half: bool = True) -> Path:
    """Write a checkpoint's model (weights only, fp16 by default) as ``target_dir/model.safetensors``.

    The optimizer state and training history are left behind; the config, data fingerprint and
    metrics travel along.  Loading turns fp16 weights back into fp32.
    """
    tensors, config = read(source)
    state = model_state(tensors)
    dtype = torch.float16 if half else torch.float32
    out = {f"model.{k}": (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
    kept = {k: v for k, v in config.items() if k not in ("state", "optimizer", "format", "encoding")}
    kept["weights_dtype"] = "float16" if half else "float32"
    kept["exported_from"] = str(source)
    target = Path(target_dir) / "model.safetensors"
    save(target, out, kept)
    return target
