"""Training throughput (notes/s) against a bare ``nn.LSTM`` forward+backward of the same size.

The bare reference runs in the same process on the same batch shape, so the ratio holds on a noisy
machine.  Target: the full training step (collate, embeddings, LSTM, five heads, loss, backward,
clipping, AdamW) runs at >= 0.8 of the bare LSTM's notes/s.

    python bench/train_throughput.py [--hidden 512 --layers 2] [--device cuda]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from composer.dataset import Song, collate, iterate_batches
from composer.model import ModelConfig, MusicLSTM
from composer.testing.benchmark import write_result
from composer.train import note_count


def synthetic_songs(n: int, length: int, seed: int = 0) -> list[Song]:
    rng = np.random.default_rng(seed)
    songs = []
    for _ in range(n):
        ids = np.stack(
            [
                rng.integers(0, 13, length),
                rng.integers(20, 70, length),
                rng.integers(0, 24, length),
                rng.integers(8, 12, length),
            ],
            axis=1,
        ).astype(np.int64)
        songs.append(Song(ids=ids, bar=48, bar_start=0, key=0))
    return songs


def timed(fn, repeats: int) -> float:
    fn()  # warm-up
    started = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=ModelConfig.hidden)
    parser.add_argument("--layers", type=int, default=ModelConfig.layers)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    b, t, h = args.batch, args.length, args.hidden

    # Reference: the bare LSTM, forward + backward, same (B, T, H).  Its input asks for a gradient, as
    # the input of any trained LSTM does (something upstream learns); bench also reports it without.
    lstm = torch.nn.LSTM(h, h, num_layers=args.layers, batch_first=True).to(device)
    x = torch.randn(b, t, h, device=device, requires_grad=True)
    x_const = x.detach()

    def bare_no_input_grad() -> None:
        out, _ = lstm(x_const)
        out.sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    def bare() -> None:
        out, _ = lstm(x)
        out.sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()

    # Ours: the whole training step as train.py runs it.
    model = MusicLSTM(ModelConfig(hidden=h, layers=args.layers)).to(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    songs = synthetic_songs(b * 4, t)
    items = next(iterate_batches(songs, max_len=t, batch_events=b * t, seed=0, epoch=0, augment=True))
    notes = sum(length for _, _, length, _ in items)
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    )

    def ours() -> None:
        batch = collate(items).to(device)
        with autocast:
            nll = model.field_nll(batch)
        loss = nll.sum() / batch.mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()

    assert notes == note_count(collate(items))
    # Interleave the two measurements so that drift in machine load hits both alike.
    bare_s, ours_s, const_s = [], [], []
    for _ in range(3):
        bare_s.append(timed(bare, args.repeats))
        ours_s.append(timed(ours, args.repeats))
        const_s.append(timed(bare_no_input_grad, args.repeats))
    bare_rate = b * t / min(bare_s)
    const_rate = b * t / min(const_s)
    ours_rate = notes / min(ours_s)
    result = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "hidden": h,
        "layers": args.layers,
        "batch": b,
        "length": t,
        "bare_lstm_notes_per_s": round(bare_rate),
        "training_notes_per_s": round(ours_rate),
        "ratio": round(ours_rate / bare_rate, 3),
        "bare_lstm_no_input_grad_notes_per_s": round(const_rate),
        "ratio_to_no_input_grad": round(ours_rate / const_rate, 3),
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / f"train_throughput_{device.type}.json"
    write_result(out, result)


if __name__ == "__main__":
    main()
