"""Checkpoints: safetensors weights with the JSON config inside the same file, written atomically.

One file is the unit: ``NAME.safetensors`` holds the tensors and, in its header's metadata, the JSON
config (model settings, encoding table, data fingerprint, metrics, training state).  A readable copy
of that JSON is written beside it as ``NAME.json``.  The vocabulary is rebuilt from the config, so a
checkpoint is self-contained.  Nothing is ever unpickled.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import json
import re
from dataclasses import replace
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
    """The event format a checkpoint was made for: the grid and each field's name and size (five fields)."""
    return {"steps_per_beat": STEPS_PER_BEAT, "fields": [[f.name, f.size] for f in FIELDS]}


# The format before issue 11 (four fields: absolute velocity in 16 bins, no track): read only to warm-start.
OLD_ENCODING_TABLE: dict[str, Any] = {
    "steps_per_beat": STEPS_PER_BEAT,
    "fields": [["shift", 49], ["pitch", 89], ["duration", 96], ["velocity", 16]],
}
OLD_VELOCITY_OF_THE_CORPUS = 10  # the old velocity id of 84 (84 // 8), the one velocity the old corpus had


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


def read(path: Path, *, older: bool = False) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Tensors and config of a checkpoint, or :class:`InputError` saying why it cannot be used.

    ``older``: also accept the four-field format before issue 11 (:data:`OLD_ENCODING_TABLE`) — for
    :func:`warm_start` only; anywhere else such a checkpoint is refused in one sentence."""
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
    if older and config.get("encoding") == OLD_ENCODING_TABLE:
        return tensors, config
    if config.get("encoding") == OLD_ENCODING_TABLE:
        raise InputError(
            f"{path.name} was made for an older event format; retrain or use --init to start a new model from it."
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


def warm_start(path: Path, device: str | torch.device = "cpu") -> tuple[MusicLSTM, dict[str, Any]]:
    """A model to train from a checkpoint (``composer train --init``): a current one loads as it is; one of
    the older four-field format gives a new model that starts as the old one.

    Every weight whose meaning is unchanged is copied: the LSTM, the input embedding's rows of shift, pitch,
    duration, position, bar, key, interval and degree, the shift / pitch (absolute, interval, degree) /
    duration heads and their conditioning rows (shift, position; duration, key).  The old velocity input was
    always 84 in the old corpus, so every new velocity row starts as that row (the new model reads any
    velocity as the old one read its corpus); new input rows (track, program) and new conditioning rows
    (track, program, duration one bar back) start at zero, and the lookback view's weights at zero, so the
    new model's shift, duration and pitch start as the old model's.  The track and velocity heads are new
    (fresh initialisation).
    """
    tensors, config = read(path, older=True)
    if config.get("encoding") == encoding_table():
        try:
            return load_model(path, device)
        except InputError:
            if not config.get("model", {}).get("context"):
                raise
            # A context encoder of another design: the note model's weights kept, and of the encoder's those
            # whose name and shape this version still has; the rest start new (their gains at zero).
            state = {k: v.float() for k, v in model_state(tensors).items()}
            base = {k: v for k, v in state.items() if not k.startswith("ctx_")}
            plain = MusicLSTM(replace(ModelConfig.from_dict(config["model"]), context=0))
            plain.load_state_dict(base, strict=True)
            grown = with_context_encoder(plain, int(config["model"]["context"]))
            mine = grown.state_dict()
            fits = {k: v for k, v in state.items() if k.startswith("ctx_") and k in mine and mine[k].shape == v.shape}
            grown.load_state_dict({**mine, **fits})
            return grown.to(device), config
    try:
        model_config = ModelConfig.from_dict(config["model"])
    except (KeyError, TypeError, ValueError) as error:
        raise InputError(f"{Path(path).name} has model settings this version cannot build ({error}).") from None
    old = {k: v.float() for k, v in model_state(tensors).items()}
    model = MusicLSTM(model_config)
    hh = model_config.head_hidden
    try:
        with torch.no_grad():
            state = model.state_dict()
            for name, value in old.items():
                if name.startswith("lstm.") or name.split(".")[0] in (
                    "out_shift",
                    "out_pitch",
                    "out_interval",
                    "out_degree",
                    "out_dur",
                ):
                    state[name].copy_(value)
            _copy_tables(state["in_embed.weight"], old["in_embed.weight"], MusicLSTM.IN_TABLES, MusicLSTM.IN_SIZES)
            for cond in ("dur_cond.weight", "pitch_cond.weight"):  # the old tables are a prefix of the new
                state[cond].zero_()
                state[cond][: len(old[cond])].copy_(old[cond])
            for part in ("weight", "bias"):  # head_in's chunks: old (shift, duration, pitch, velocity)
                new, was = state[f"head_in.{part}"], old[f"head_in.{part}"]
                for old_chunk, head in enumerate(("shift", "duration", "pitch")):
                    at = MusicLSTM.HEADS.index(head)
                    new[at * hh : (at + 1) * hh].copy_(was[old_chunk * hh : (old_chunk + 1) * hh])
            state["out_lookback.weight"].zero_()
            state["out_lookback.bias"].zero_()
            model.load_state_dict(state)
    except (KeyError, RuntimeError) as error:
        raise InputError(
            f"{Path(path).name} does not hold the model its settings describe ({error}); it cannot start a new one."
        ) from None
    model.to(device)
    return model, config


def with_context_encoder(model: MusicLSTM, width: int) -> MusicLSTM:
    """``model`` with a context encoder of ``width`` added (composer.context): every weight of the note model
    copied, the encoder fresh, its projections into the decoder at zero — so it starts as ``model`` exactly."""
    grown = MusicLSTM(replace(model.config, context=width))
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not name.startswith("ctx_") for name in missing):
        raise InputError("This model cannot be given a context encoder; start from a current checkpoint.")
    return grown.to(next(model.parameters()).device)


def with_far_views(model: MusicLSTM) -> MusicLSTM:
    """``model`` (with a context encoder) with the far views added (``ModelConfig.far``): every weight copied,
    the far views' at zero — so it starts as ``model`` exactly."""
    return _with_views(model, "far", "Far views")


def with_copy_views(model: MusicLSTM) -> MusicLSTM:
    """``model`` (with a context encoder) with the copy views added (``ModelConfig.copy``): every weight copied,
    the copy views' at zero — so it starts as ``model`` exactly."""
    return _with_views(model, "copy", "Copy views")


def _with_views(model: MusicLSTM, setting: str, views: str) -> MusicLSTM:
    """``model`` grown by the views that ``ModelConfig.<setting>`` turns on (weights named ``ctx_<setting>…``)."""
    if not model.config.context:
        raise InputError(f"{views} are read through a context encoder; give --context WIDTH as well.")
    grown = MusicLSTM(replace(model.config, **{setting: True}))
    missing, unexpected = grown.load_state_dict(model.state_dict(), strict=False)
    if unexpected or any(not name.startswith(f"ctx_{setting}") for name in missing):
        raise InputError(f"This model cannot be given {views.lower()}; start from a current checkpoint.")
    return grown.to(next(model.parameters()).device)


_OLD_IN_SIZES = (50, 90, 97, 17, 192, 193, 25, 50, 13)  # the old input tables' sizes (each field + BOS)
_OLD_IN_TABLES = ("shift", "pitch", "duration", "velocity", "position", "bar", "key", "interval", "degree")


def _copy_tables(new: torch.Tensor, old: torch.Tensor, tables: tuple[str, ...], sizes: tuple[int, ...]) -> None:
    """Copy the old input embedding's tables into the new one by name; the rest start at zero, velocity as
    the old corpus's one velocity (BOS as BOS)."""
    new.zero_()
    starts = dict(zip(tables, [0, *itertools.accumulate(sizes[:-1])], strict=True))
    old_starts = dict(zip(_OLD_IN_TABLES, [0, *itertools.accumulate(_OLD_IN_SIZES[:-1])], strict=True))
    for name, size in zip(_OLD_IN_TABLES, _OLD_IN_SIZES, strict=True):
        a, b = starts[name], old_starts[name]
        if name == "velocity":
            n = sizes[tables.index("velocity")]
            new[a : a + n - 1] = old[b + OLD_VELOCITY_OF_THE_CORPUS]
            new[a + n - 1] = old[b + size - 1]  # BOS
        else:
            new[a : a + size] = old[b : b + size]


def model_tensors(model: torch.nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    state = model.state_dict()
    return {f"model.{k}": (v.to(dtype) if dtype is not None and v.is_floating_point() else v) for k, v in state.items()}


def export(source: Path, target_dir: Path, *, half: bool = True, extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint's model (weights only, fp16 by default) as ``target_dir/model.safetensors``.

    The optimizer state and training history are left behind; the config, data fingerprint and
    metrics travel along, and ``extra``'s keys beside them.  Loading turns fp16 weights back into fp32.
    """
    tensors, config = read(source)
    state = model_state(tensors)
    dtype = torch.float16 if half else torch.float32
    out = {f"model.{k}": (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
    kept = {k: v for k, v in config.items() if k not in ("state", "optimizer", "format", "encoding")}
    kept["weights_dtype"] = "float16" if half else "float32"
    kept["exported_from"] = str(source)
    kept.update(extra or {})
    target = Path(target_dir) / "model.safetensors"
    save(target, out, kept)
    return target
