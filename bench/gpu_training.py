"""Train within a time budget (made for a lent GPU): measure the step speed, size the run to fit, train, export.

1. Reads the corpus once (the events cache; ``COMPOSER_CACHE`` may point at a carried copy).
2. Times ``--probe-steps`` optimizer steps of the asked model on the device (a throwaway run) → seconds/step
   and notes/s, the same for a bare ``nn.LSTM`` stack of that size (fwd + bwd) → the ratio.
3. Trains a fresh run with as many epochs as fit in ``--minutes`` (the cosine schedule spans exactly those),
   validation and early stopping as ``composer train`` does them.
4. Exports the best checkpoint as fp16 (``composer export-model``) into ``--export`` with a JSON summary.

    python bench/gpu_training.py --minutes 6 --hidden 512 --head-hidden 256 --dropout 0.3 \
        --out /tmp/run --export $OUT/model
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from composer import checkpoint
from composer.dataset import collate, count_batches, iterate_batches, load_songs
from composer.model import ModelConfig
from composer.train import TrainConfig, note_count, select_songs, train


def bare_lstm_notes_per_s(cfg: TrainConfig, songs, device: torch.device, steps: int) -> float:
    """A bare nn.LSTM stack of the same size, fwd + bwd on the same batches (the reference)."""
    h, layers = cfg.model.hidden, cfg.model.layers
    lstm = torch.nn.LSTM(h, h, num_layers=layers, batch_first=True).to(device)
    batches = list(
        iterate_batches(songs, max_len=cfg.max_len, batch_events=cfg.batch_events, seed=0, epoch=0, augment=False)
    )[:steps]
    notes, seconds = 0, 0.0
    for i, items in enumerate(batches):
        b = collate(items)
        x = torch.randn(*b.inputs.shape[:2], h, device=device)
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            out, _ = lstm(x)
        out.float().sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:  # warm-up
            seconds += time.perf_counter() - started
            notes += note_count(b)
    return notes / max(seconds, 1e-9)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", default="midi_data")
    p.add_argument("--out", required=True)
    p.add_argument("--export", required=True, type=Path)
    p.add_argument("--minutes", type=float, required=True)
    p.add_argument("--hidden", type=int, default=ModelConfig.hidden)
    p.add_argument("--layers", type=int, default=ModelConfig.layers)
    p.add_argument("--head-hidden", type=int, default=ModelConfig.head_hidden)
    p.add_argument("--dropout", type=float, default=ModelConfig.dropout)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--patience", type=int, default=6)
    p.add_argument("--probe-steps", type=int, default=40)
    p.add_argument("--epochs", type=int, help="train this many epochs (the probe's plan is only printed)")
    p.add_argument("--device", default="cuda")
    args = p.parse_args()

    started = time.perf_counter()
    model = ModelConfig(hidden=args.hidden, layers=args.layers, head_hidden=args.head_hidden, dropout=args.dropout)
    base = dict(
        data=args.data,
        model=model,
        lr=args.lr,
        patience=args.patience,
        exclude_eval=True,
        device=args.device,
        progress=False,
    )
    songs, report = load_songs(Path(args.data))
    train_songs, valid_songs = select_songs(songs, TrainConfig(**base))
    cfg = TrainConfig(out=args.out + "-probe", max_steps=args.probe_steps, epochs=1000, log=False, **base)
    probe_started = time.perf_counter()
    train(cfg, songs=(train_songs, valid_songs[:10]), fingerprint=report.fingerprint)
    per_step = (time.perf_counter() - probe_started) / args.probe_steps  # includes start-up: an upper bound
    batches = count_batches(train_songs, max_len=cfg.max_len, batch_events=cfg.batch_events, seed=0, epoch=0)
    valid_seconds = 2.0  # validation per epoch, generous on a GPU
    budget = args.minutes * 60 - (time.perf_counter() - started)
    epochs = args.epochs or max(1, math.floor(budget / (batches * per_step + valid_seconds)))
    device = torch.device(args.device)
    bare = bare_lstm_notes_per_s(cfg, train_songs, device, 20)
    print(
        f"probe: {per_step * 1e3:.1f} ms/step, {batches} batches/epoch → {epochs} epochs in "
        f"{budget:.0f} s; bare nn.LSTM {bare:,.0f} notes/s",
        flush=True,
    )

    cfg = TrainConfig(out=args.out, epochs=epochs, **base)
    result = train(cfg, songs=(train_songs, valid_songs), fingerprint=report.fingerprint)
    notes_per_s = sum(len(s) for s in train_songs) * result["epochs"] / max(result["train_seconds"], 1e-9)
    args.export.mkdir(parents=True, exist_ok=True)
    _, meta = checkpoint.read(Path(args.out) / "best.safetensors")
    meta["command"] = "python bench/gpu_training.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k not in ("out", "export")
    )
    checkpoint.export(Path(args.out) / "best.safetensors", args.export)
    summary = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "probe_ms_per_step": round(per_step * 1e3, 2),
        "epochs_planned": epochs,
        "bare_lstm_notes_per_s": round(bare),
        "training_events_per_s": round(notes_per_s),
        **{k: v for k, v in result.items()},
        "best_meta_metrics": meta.get("metrics"),
        "command": meta["command"],
    }
    (args.export / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2, default=str))


if __name__ == "__main__":
    main()
