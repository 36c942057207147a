"""Training: read top to bottom.  ``composer train --data midi_data --out runs/NAME``.

Every knob is a field of :class:`TrainConfig` with its default and a reason.  The run is seeded and
resumable: the batches of an epoch, their transpositions and the dropout masks are functions of
(seed, epoch, batch index), so a run killed at any moment and continued with ``--resume`` goes on
exactly where its last checkpoint stood.  Checkpoints are written atomically (see
:mod:`composer.checkpoint`).

More than one process: ``torchrun --nproc_per_node N composer train …`` trains with
DistributedDataParallel (gloo on CPU, nccl on GPU); each process takes every N-th batch.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from composer import checkpoint
from composer.context import FAR_MODE_SHARE, FROZEN_MODE_SHARE, MODE_SHARE, training_context
from composer.dataset import Song, collate, collate_contexts, count_batches, iterate_batches, load_songs
from composer.encoding import FIELD_NAMES, PITCH, REST, VELOCITY, VELOCITY_UNKNOWN
from composer.errors import InputError
from composer.model import Batch, ContextBatch, ModelConfig, MusicLSTM, bits, parameter_count


@dataclass
class TrainConfig:
    data: str = "midi_data"  # a folder of MIDI; a manifest.csv there brings its split
    out: str = "runs/default"  # where checkpoints go
    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 40  # upper bound; early stopping usually ends sooner
    batch_events: int = 8192  # events per batch (about 32 windows of 256)
    max_len: int = 256  # longest training window; longer pieces are cut into windows
    lr: float = 2e-3  # peak learning rate of Adam(W)
    min_lr_ratio: float = 0.05  # cosine schedule decays to this fraction of the peak
    warmup_steps: int = 200  # linear warm-up from 0, steadies the first steps of a fresh LSTM
    weight_decay: float = 0.01  # mild AdamW regularization
    # The context encoder's learning rate, as a multiple of lr (its own parameter group).  Measured on this
    # corpus: at 1x an epoch left the gap's bits within 0.02% of the left-only score; at 10x the first 156 steps
    # made them 0.05-0.14% worse, and attention over the context (tried, removed) 20-30% worse.
    context_lr_scale: float = 1.0
    # Train the context encoder, its gains into the heads and their views only: the note model stays exactly as
    # it was (so continuation does too), its LSTM runs without gradients, and a step costs a fraction of a
    # full one; validation then ranks epochs by the context tasks' bits (:func:`evaluate_context`).
    freeze_base: bool = False
    # Train the far views only (ModelConfig.far: the track 12-32 bars ahead, read in infill): the note model
    # and the context encoder stay exactly as they were, so continuation and accompaniment do too — their new
    # tracks are never in their own context, so the far views never see a note there.  Infill tasks only.
    # A model with copy views (ModelConfig.copy) trains its copy views only, the far views kept as they were.
    freeze_context: bool = False
    clip: float = 1.0  # gradient-norm clipping: LSTMs occasionally spike
    patience: int = 4  # epochs without a better validation score before stopping
    seed: int = 0
    augment: bool = True  # random range-safe transposition of each training window
    exclude_eval: bool = False  # leave out the evaluation sets and every piece grouped with them
    collections: list[str] | None = None  # train on these collections only (default: all)
    # Each training song of these collections appears this many times an epoch (a corpus's small collection
    # weighed up against its large ones); validation still counts every song once.
    repeat: dict[str, int] | None = None
    init: str | None = None  # start from this checkpoint's weights (fine-tuning)
    checkpoint_seconds: float = 60.0  # write last.safetensors at least this often
    max_steps: int | None = None  # stop after this many optimizer steps (tests, quick runs)
    # Stop after this many seconds of wall-clock time in this call (checked between steps): a run cut short
    # validates where it stands (keeping it as best when better) and writes best and last, as any stop does;
    # that last check runs after the limit.  The studio's style lessons are bounded so.
    max_seconds: float | None = None
    # Also validate mid-epoch at least this often (seconds): a short fine-tune whose epochs outlast its budget
    # still keeps its best point and reports progress.  Patience counts whole epochs only.
    validate_seconds: float | None = None
    save_last: bool = True  # write last.safetensors (the resumable state); a one-off fine-tune may skip it
    device: str = "auto"  # "cpu", "cuda" or "auto"
    threads: int | None = None  # torch intra-op threads (default: torch's choice)
    progress: bool = True  # a progress bar per epoch
    log: bool = True  # one line per epoch (and the set-up line)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        data["model"] = ModelConfig.from_dict(data.get("model", {}))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class TrainState:
    """Where a run stands; saved in every last.safetensors (as the config's ``state``) and read back by
    ``--resume``.  :meth:`to_dict` / :meth:`from_dict` are its JSON form, the same keys as runs have always
    written."""

    epoch: int = 0  # epochs finished
    batch: int = 0  # batches of the current epoch done
    step: int = 0  # optimizer steps done
    best: float = float("inf")  # best validation bits per note so far
    bad_epochs: int = 0  # epochs since the best
    history: list[dict[str, float]] = field(default_factory=list)  # one row per epoch: epoch, step, validation
    train_seconds: float = 0.0
    notes_seen: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})


# ---------------------------------------------------------------------------------------- helpers


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay from ``lr`` to ``lr * min_lr_ratio`` at ``total`` steps."""
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def note_count(batch: Batch) -> int:
    return int((batch.mask & (batch.targets[..., PITCH] != REST)).sum())


def velocity_note_count(batch: Batch) -> int:
    """Notes whose velocity is known: in songs with dynamics (rest events carry no velocity)."""
    known = batch.velocity_mask & (batch.targets[..., VELOCITY] != VELOCITY_UNKNOWN)
    return int((batch.mask & known & (batch.targets[..., PITCH] != REST)).sum())


@torch.no_grad()
def evaluate_songs(
    model: MusicLSTM,
    songs: list[Song],
    device: torch.device,
    *,
    max_len: int = 4096,
    batch_events: int = 32768,
    world: int = 1,
    rank: int = 0,
    trunk: Callable[[torch.Tensor], torch.Tensor] | None = None,
    head_in: Callable[[torch.Tensor], tuple[torch.Tensor, ...]] | None = None,
    memory: bool = False,
) -> dict[str, float]:
    """Bits per note on whole songs (no augmentation): total and per field; ``memory``: the pitch and the duration
    with the short-term memory blended in (:mod:`composer.memory`).

    Rest events' bits are charged to the notes (bits of all events / number of notes).  Velocity is scored
    only where it is known (songs with dynamics): ``velocity_bits`` is per such note (``velocity_notes`` of
    them), and ``bits_per_note`` counts velocity only there (its velocity bits / all notes), so a corpus without
    dynamics adds nothing for velocity; ``bits_per_note_without_velocity`` leaves velocity out.  ``trunk``, ``head_in``:
    see :meth:`MusicLSTM.field_nll` (score another way of running the LSTM and the heads' projection, e.g. the
    generator's int8 steps).
    """
    return _evaluate(
        model, songs, device, max_len, batch_events, world, rank, trunk=trunk, head_in=head_in, memory=memory
    )[0]


def evaluate_songs_with_and_without_memory(
    model: MusicLSTM, songs: list[Song], device: torch.device, *, max_len: int = 4096, batch_events: int = 32768
) -> tuple[dict[str, float], dict[str, float]]:
    """:func:`evaluate_songs` with the short-term memory and without it (the LSTM alone), from one pass."""
    return _evaluate(model, songs, device, max_len, batch_events, 1, 0, memory=True, both=True)


@torch.no_grad()
def _evaluate(
    model: MusicLSTM,
    songs: list[Song],
    device: torch.device,
    max_len: int,
    batch_events: int,
    world: int,
    rank: int,
    *,
    trunk: Callable[[torch.Tensor], torch.Tensor] | None = None,
    head_in: Callable[[torch.Tensor], tuple[torch.Tensor, ...]] | None = None,
    memory: bool,
    both: bool = False,
) -> tuple[dict[str, float], dict[str, float]]:
    """(with ``memory`` as asked, the LSTM alone: computed only where ``both``, else the first again)."""
    model.eval()
    n_fields = len(FIELD_NAMES)
    # 5 fields with the memory as asked, 5 without, notes, velocity notes
    totals = torch.zeros(2 * n_fields + 2, dtype=torch.float64, device=device)
    batches = list(
        iterate_batches(
            songs, max_len=max_len, batch_events=batch_events, seed=0, epoch=0, augment=False, shuffle=False
        )
    )
    for items in batches[rank::world]:
        batch = collate(items, memory=memory).to(device)
        if both:
            nll, alone = model.field_nll_with_and_without_memory(batch)
            totals[n_fields : 2 * n_fields] += alone.double().sum(dim=(0, 1))
        else:
            nll = model.field_nll(batch, trunk=trunk, head_in=head_in)
        totals[:n_fields] += nll.double().sum(dim=(0, 1))  # (B, T, 5) nats
        totals[2 * n_fields] += note_count(batch)
        totals[2 * n_fields + 1] += velocity_note_count(batch)
    if world > 1:
        dist.all_reduce(totals)
    notes, velocity_notes = float(totals[2 * n_fields]), float(totals[2 * n_fields + 1])
    asked = field_bits([float(x) for x in totals[:n_fields]], notes, velocity_notes)
    if not both:
        return asked, asked
    return asked, field_bits([float(x) for x in totals[n_fields : 2 * n_fields]], notes, velocity_notes)


@torch.no_grad()
def evaluate_context(
    model: MusicLSTM, songs: list[Song], device: torch.device, *, max_len: int = 512, seed: int = 0
) -> dict[str, float]:
    """The context tasks of training (:func:`context_tasks`: continue, infill, accompany), drawn with a fixed
    seed over ``songs``' windows, scored with the context (``context_bits_per_note``) and without it
    (``context_left_only_bits_per_note``: the same windows, cuts and scored notes, the context not read)."""
    model.eval()
    rng = np.random.default_rng([seed, 7])
    with_ctx = without = notes = 0.0
    for items in iterate_batches(
        songs, max_len=max_len, batch_events=16384, seed=seed, epoch=0, augment=False, shuffle=False
    ):
        items, context = context_tasks(items, rng, copy=model.config.copy)
        context = context.to(device)
        batch = collate(items).to(device)
        scored = (batch.mask & ~context.given).unsqueeze(-1)
        with_ctx += float(model.field_nll(batch, context=context).double().sum())
        without += float((model.field_nll(batch).double() * scored).sum())
        notes += float((batch.mask & ~context.given & (batch.targets[..., PITCH] != REST)).sum())
    notes = max(1.0, notes)
    return {
        "context_bits_per_note": bits(with_ctx) / notes,
        "context_left_only_bits_per_note": bits(without) / notes,
        "context_notes": notes,
    }


def field_bits(nats: list[float], notes: float, velocity_notes: float) -> dict[str, float]:
    """Per-field nats summed over a corpus → the bits-per-note summary (see :func:`evaluate_songs`)."""
    notes = max(1.0, notes)
    per_field = {f"{name}_bits": bits(nats[i]) / notes for i, name in enumerate(FIELD_NAMES)}
    per_field["velocity_bits"] = bits(nats[VELOCITY]) / max(1.0, velocity_notes)
    without = sum(nats) - nats[VELOCITY]
    return {
        "bits_per_note": bits(sum(nats)) / notes,
        **per_field,
        "bits_per_note_without_velocity": bits(without) / notes,
        "notes": notes,
        "velocity_notes": velocity_notes,
    }


def _device(cfg: TrainConfig, local_rank: int) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise InputError("--device cuda was asked for but no CUDA GPU is available; use --device cpu.")
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def select_songs(songs: list[Song], cfg: TrainConfig) -> tuple[list[Song], list[Song]]:
    """(training, validation) songs: each song's split, less the collections and evaluation sets ``cfg``
    leaves out (with ``exclude_eval``, also every piece grouped with an evaluation piece); a training song of a
    collection in ``cfg.repeat`` appears that many times (a name no training song has is an InputError)."""
    held = {s.group for s in songs if s.eval_set} if cfg.exclude_eval else set()

    def kept(s: Song) -> bool:
        if cfg.collections and s.collection not in cfg.collections:
            return False
        return not cfg.exclude_eval or (not s.eval_set and (not s.group or s.group not in held))

    train = [s for s in songs if s.split == "train" and kept(s)]
    if cfg.repeat:
        have = sorted({s.collection for s in train})
        unknown = sorted(set(cfg.repeat) - set(have))
        if unknown:
            raise InputError(
                f"--repeat names {', '.join(unknown)}, which no training piece belongs to; the collections are: "
                f"{', '.join(have)}."
            )
        train = [s for s in train for _ in range(max(1, cfg.repeat.get(s.collection, 1)))]
    valid = [s for s in songs if s.split == "valid" and kept(s)]
    return train, valid


# ---------------------------------------------------------------------------------------- the loop


def train(
    cfg: TrainConfig,
    *,
    resume: bool = False,
    songs: tuple[list[Song], list[Song]] | None = None,
    fingerprint: str = "",
    cancel: Callable[[], bool] | None = None,
    on_progress: Callable[[TrainState], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) a model; returns the final metrics.  ``songs`` bypasses reading ``cfg.data``.

    ``cancel``: asked between steps; True stops the run there (last and best are written, no validation).
    ``on_progress``: called with the run's state after every step and every validation (the newest
    validation is ``state.history[-1]``), in the training thread: keep it quick."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = _device(cfg, local_rank)
    owns_group = world > 1 and not dist.is_initialized()
    if owns_group:
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    try:
        return _train(cfg, resume, songs, fingerprint, device, cancel or (lambda: False), on_progress or _ignore)
    finally:
        # A process that leaves with gloo's threads still running dies in std::terminate (SIGABRT) now and then.
        if owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _train(
    cfg: TrainConfig,
    resume: bool,
    songs: tuple[list[Song], list[Song]] | None,
    fingerprint: str,
    device: torch.device,
    cancel: Callable[[], bool],
    on_progress: Callable[[TrainState], None],
) -> dict[str, Any]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if world > 1 and (cfg.max_seconds is not None or cfg.validate_seconds):
        # Each process would read its own clock and the ranks part ways inside a collective step.
        raise InputError("A time limit needs a single training process; bound a torchrun run with --max-steps.")
    out = Path(cfg.out)
    main_process = rank == 0
    say = print if (main_process and cfg.log) else (lambda *a, **k: None)
    if main_process:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(
                f"--out {out} cannot be made a folder ({error.strerror}: {error.filename}); choose another --out."
            ) from None
        _check_writable(out)

    # ---- data
    if songs is None:
        all_songs, report = load_songs(Path(cfg.data), progress=cfg.progress and main_process)
        for line in report.skipped:
            say(f"skipped: {line}")
        train_songs, valid_songs = select_songs(all_songs, cfg)
        fingerprint = report.fingerprint
    else:
        train_songs, valid_songs = songs
    if not train_songs:
        raise InputError(f"No training pieces in {cfg.data} (after the split and filters); add MIDI files.")
    if not valid_songs:
        valid_songs = train_songs[: max(1, len(train_songs) // 10)]
        say(
            f"no validation pieces: validating on {len(valid_songs)} training pieces (early stopping is then "
            "only a guide)"
        )

    # ---- model and optimizer
    torch.manual_seed(cfg.seed)
    saved: dict[str, Any] | None = None
    if resume and (out / "last.safetensors").exists():
        tensors, saved = checkpoint.read(out / "last.safetensors")
        if fingerprint and saved.get("data_fingerprint") and saved["data_fingerprint"] != fingerprint:
            raise InputError(
                f"The run in {out} was trained on other data than {cfg.data} holds now; resume it with "
                "the same data, or start a new run with another --out."
            )
        cfg.model = ModelConfig.from_dict(saved["model"])  # the run's own settings, whatever the flags say
    if cfg.init and saved is None:
        model, _ = checkpoint.warm_start(Path(cfg.init))  # also the older four-field format
        if cfg.model.context and not model.config.context:
            model = checkpoint.with_context_encoder(model, cfg.model.context)
        if cfg.model.far and not model.config.far:
            model = checkpoint.with_far_views(model)
        if cfg.model.copy and not model.config.copy:
            model = checkpoint.with_copy_views(model)
        cfg.model = model.config
    else:
        model = MusicLSTM(cfg.model)
    model.to(device)
    if (model.config.far or model.config.copy) and not model.config.context:
        raise InputError("The far and copy views are read through a context encoder; give --context WIDTH as well.")
    if cfg.freeze_context:
        if not (model.config.far or model.config.copy):
            raise InputError("--freeze-context trains the far or copy views only; give --far-views or --copy-views.")
        trained = "ctx_copy" if model.config.copy else "ctx_far"
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith(trained))
    elif cfg.freeze_base:
        if not model.config.context:
            raise InputError("--freeze-base trains a context encoder only; give --context WIDTH as well.")
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(name.startswith("ctx_"))
    optimizer = torch.optim.AdamW(_param_groups(model, cfg), lr=cfg.lr, weight_decay=cfg.weight_decay)
    loss_module: torch.nn.Module = _Loss(model)
    if world > 1:
        loss_module = torch.nn.parallel.DistributedDataParallel(
            loss_module, device_ids=[local_rank] if device.type == "cuda" else None
        )

    state = TrainState()
    if saved is not None:
        model.load_state_dict(checkpoint.model_state(tensors))
        _load_optimizer(optimizer, tensors, saved["optimizer"])
        state = TrainState.from_dict(saved["state"])
        say(f"resuming at epoch {state.epoch + 1}, batch {state.batch}, step {state.step}")
    elif resume:
        say(f"nothing to resume in {out}; starting a new run")

    # A tiny data set still trains with many processes: at least one batch each.
    batches_per_epoch = max(
        1,
        count_batches(train_songs, max_len=cfg.max_len, batch_events=cfg.batch_events, seed=cfg.seed, epoch=0) // world,
    )
    # The schedule spans all epochs; max_steps only stops early, so a stopped run resumes on the same curve.
    total_steps = cfg.epochs * batches_per_epoch
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    )
    base = {
        "model": cfg.model.to_dict(),
        "train": _jsonable(asdict(cfg)),
        "data_fingerprint": fingerprint,
        "parameters": parameter_count(model),
        "init": cfg.init,
    }
    say(
        f"training {parameter_count(model):,} parameters on {len(train_songs):,} pieces "
        f"({sum(len(s) for s in train_songs):,} events), validating on {len(valid_songs):,}; "
        f"{batches_per_epoch} batches per epoch, device {device}, {world} process(es)"
    )

    def validate(epoch_end: bool, fraction: float) -> None:
        """Score the held-out songs; keep the model as best when better; an epoch's end also closes it."""
        valid = evaluate_songs(model, valid_songs, device, world=world, rank=rank)
        if cfg.model.context:
            valid.update(evaluate_context(model, valid_songs, device, max_len=cfg.max_len, seed=cfg.seed))
        model.train()
        if epoch_end:
            state.epoch += 1
            state.batch = 0
        criterion = valid["context_bits_per_note" if cfg.freeze_base or cfg.freeze_context else "bits_per_note"]
        improved = criterion < state.best - 1e-4
        # A check inside an epoch is at a fractional epoch (2.5: halfway through the third).
        state.history.append(
            {"epoch": state.epoch if epoch_end else state.epoch + fraction, "step": state.step, **valid}
        )
        if improved:
            state.best = criterion
            if main_process:
                with _writing(out):
                    checkpoint.save(
                        out / "best.safetensors",
                        checkpoint.model_tensors(model),
                        {
                            **base,
                            "name": out.name,
                            "metrics": {"valid": valid, "epoch": state.history[-1]["epoch"], "step": state.step},
                        },
                    )
        told = (
            f"; context tasks {valid['context_bits_per_note']:.4f} vs {valid['context_left_only_bits_per_note']:.4f} "
            "without the context"
            if "context_bits_per_note" in valid
            else ""
        )
        at = f"epoch {state.epoch}" if epoch_end else f"step {state.step}"
        say(
            f"{at}: valid {valid['bits_per_note']:.4f} bits/note "
            f"(pitch {valid['pitch_bits']:.4f}){told}{' *' if improved else ''}"
        )
        on_progress(state)

    run_started = last_save = last_valid = time.perf_counter()
    validated_step = -1  # the step of the newest mid-epoch validation
    stop = cancelled = False
    while state.epoch < cfg.epochs and not stop:
        epoch = state.epoch
        best_before_epoch = state.best
        model.train()
        batches = list(
            iterate_batches(
                train_songs,
                max_len=cfg.max_len,
                batch_events=cfg.batch_events,
                seed=cfg.seed,
                epoch=epoch,
                augment=cfg.augment,
            )
        )
        # Every process takes the same number of batches (DDP steps together): every world-th batch,
        # wrapping around when an epoch has fewer batches than that needs.
        mine = [(rank + world * j) % len(batches) for j in range(batches_per_epoch)]
        bar = _progress(cfg.progress and main_process, len(mine), epoch, cfg.epochs)
        if bar is not None:
            bar.update(state.batch)
        started = time.perf_counter()
        notes_this_run = 0
        for index in mine[state.batch :]:
            torch.manual_seed(hash((cfg.seed, epoch, index)) % (2**63))  # dropout masks, resumable
            items = batches[index]
            context = None
            if cfg.model.context:
                share = FAR_MODE_SHARE if cfg.freeze_context else FROZEN_MODE_SHARE if cfg.freeze_base else MODE_SHARE
                rng = np.random.default_rng([cfg.seed, epoch, index, 2])
                items, context = context_tasks(items, rng, share, copy=model.config.copy)
                context = context.to(device)
            batch = collate(items).to(device)
            for group in optimizer.param_groups:
                group["lr"] = lr_at(state.step, total_steps, cfg) * group.get("scale", 1.0)
            with autocast:
                nll = loss_module(batch, context)
            scored = batch.mask if context is None else batch.mask & ~context.given
            loss = nll.sum() / scored.sum().clamp(min=1)  # nats per event (every field; velocity only where known)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
            optimizer.step()
            notes = note_count(batch) * world
            notes_this_run += notes
            state.notes_seen += notes
            state.step += 1
            state.batch += 1
            if bar is not None:
                elapsed = time.perf_counter() - started
                bar.set_postfix(loss=f"{bits(loss.item()):.3f} bits/event", notes_s=f"{notes_this_run / elapsed:,.0f}")
                bar.update(1)
            on_progress(state)
            if cfg.max_steps and state.step >= cfg.max_steps:
                stop = True
                break
            now = time.perf_counter()
            # Each process reads its own clock: under DDP the ranks could part ways, so a run of several
            # processes is bounded by max_steps, not by these.
            out_of_time = cfg.max_seconds is not None and now - run_started >= cfg.max_seconds
            if out_of_time or cancel():
                stop, cancelled = True, not out_of_time
                break
            if cfg.validate_seconds and now - last_valid >= cfg.validate_seconds and state.batch < len(mine):
                validate(False, state.batch / len(mine))
                last_valid = time.perf_counter()
                validated_step = state.step
            if time.perf_counter() - last_save > cfg.checkpoint_seconds:
                state.train_seconds += time.perf_counter() - last_save
                _save_last(out, model, optimizer, state, base, main_process and cfg.save_last, world)
                last_save = time.perf_counter()
        if bar is not None:
            bar.close()
        if stop and state.batch < len(mine):
            # max_steps or a cancel cut the epoch short: no validation (the run resumes as if never stopped);
            # the clock did: validate where it stands, its last steps may be its best
            if not cancelled and cfg.max_seconds is not None and validated_step != state.step:
                validate(False, state.batch / len(mine))
            break
        validate(True, 1.0)
        last_valid = time.perf_counter()
        state.bad_epochs = 0 if state.best < best_before_epoch else state.bad_epochs + 1
        state.train_seconds += time.perf_counter() - last_save
        _save_last(out, model, optimizer, state, base, main_process and cfg.save_last, world)
        last_save = time.perf_counter()
        if state.bad_epochs >= cfg.patience:
            say(f"no improvement for {cfg.patience} epochs: stopping early")
            break
    state.train_seconds += time.perf_counter() - last_save
    _save_last(out, model, optimizer, state, base, main_process and cfg.save_last, world)
    if not (out / "best.safetensors").exists() and main_process:
        valid = evaluate_songs(model, valid_songs, device)
        with _writing(out):
            checkpoint.save(
                out / "best.safetensors",
                checkpoint.model_tensors(model),
                {**base, "name": out.name, "metrics": {"valid": valid, "step": state.step}},
            )
    if world > 1:
        dist.barrier()
    return {
        "best_valid_bits_per_note": state.best,
        "steps": state.step,
        "epochs": state.epoch,
        "history": state.history,
        "train_seconds": state.train_seconds,
    }


def _ignore(state: TrainState) -> None:
    """No one is told of the progress."""


def _param_groups(model: MusicLSTM, cfg: TrainConfig) -> list[dict[str, Any]]:
    """The optimizer's parameter groups: the context encoder's (``ctx_*``) at ``context_lr_scale`` times the
    learning rate, the rest at it."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    rest = [p for n, p in named if not n.startswith("ctx_")]
    context = [p for n, p in named if n.startswith("ctx_")]
    groups: list[dict[str, Any]] = [{"params": rest, "scale": 1.0}] if rest else []
    if context:
        groups.append({"params": context, "scale": cfg.context_lr_scale})
    return groups


class _Loss(torch.nn.Module):
    """The model's per-field loss as a module's forward, so DistributedDataParallel wraps the whole step."""

    def __init__(self, model: MusicLSTM) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Batch, context: ContextBatch | None = None) -> torch.Tensor:
        return self.model.field_nll(batch, context=context)


def context_tasks(
    items: list[tuple[Song, int, int, int]],
    rng: np.random.Generator,
    share: tuple[float, float, float] = MODE_SHARE,
    copy: bool = False,
) -> tuple[list[tuple[Song, int, int, int]], ContextBatch]:
    """Each training window turned into a random task for a model with a context encoder
    (:func:`composer.context.training_context`: continue, infill a gap, or accompany given tracks); ``copy``:
    with the copy views filled in (a model that reads them)."""
    tasks, contexts, given = [], [], []
    for song, start, length, semis in items:
        cut, ctx, g = training_context(song.ids, song.programs, song.bar, song.bar_start, start, length, rng, share)
        tasks.append((song, start, cut, semis))
        contexts.append(ctx)
        given.append(g)
    return tasks, collate_contexts(tasks, contexts, given, copy)


def _progress(enabled: bool, total: int, epoch: int, epochs: int) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", dynamic_ncols=True)


def _check_writable(out: Path) -> None:
    probe = out / ".write-test"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as error:
        raise InputError(
            f"Cannot write checkpoints to {out} ({error.strerror}); choose a writable --out folder with free space."
        ) from None


@contextlib.contextmanager
def _writing(out: Path) -> Iterator[None]:
    """A checkpoint write that fails (disk full, read-only, file too large) becomes one sentence; the
    checkpoint.save contract leaves the previous files intact."""
    try:
        yield
    except OSError as error:
        raise InputError(
            f"Could not write a checkpoint to {out} ({error.strerror or error}); the previous checkpoint "
            "is intact — free some space or choose another --out, then --resume."
        ) from None


def _save_last(
    out: Path,
    model: MusicLSTM,
    optimizer: torch.optim.Optimizer,
    state: TrainState,
    base: dict[str, Any],
    main_process: bool,
    world: int,
) -> None:
    if main_process:
        tensors = checkpoint.model_tensors(model)
        opt_tensors, opt_meta = _optimizer_tensors(optimizer)
        tensors.update(opt_tensors)
        with _writing(out):
            checkpoint.save(
                out / "last.safetensors",
                tensors,
                {**base, "name": out.name, "state": state.to_dict(), "optimizer": opt_meta},
            )
    if world > 1:
        dist.barrier()


def _optimizer_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in sd["state"].items():
        for name, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{name}"] = value
            else:
                scalars.setdefault(str(pid), {})[name] = value
    return tensors, {"param_groups": _jsonable(sd["param_groups"]), "scalars": scalars}


def _load_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, pid, name = key.split(".", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, scalars in meta.get("scalars", {}).items():
        state.setdefault(int(pid), {}).update(scalars)
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: asdict(o) if hasattr(o, "__dataclass_fields__") else str(o)))
