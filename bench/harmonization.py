"""Chorale harmonization, 10-fold (issue 12): alto, tenor and bass pitch bits per note given the soprano.

The chorales of BWV 253–438 in four voices (``bach-chorales/`` files grouped with the evaluation set
``chorales_bwv253_438``; the shipped model was trained with ``--exclude-eval`` and never saw them or their
variants) are split into ``--folds`` folds by group (a chorale's variants stay in one fold).  For each fold:

* **given the soprano**: the shipped model's context (the encoder, its gains into the heads and their views;
  the note model frozen, ``train --freeze-base``) fine-tuned for ``--epochs`` epochs on the other folds' chorales
  with the training tasks (infill and accompany), then the held-out fold's alto, tenor and bass scored with the
  soprano given (in the decoder's stream as given notes, and as the context: accompany mode);
* **without the soprano**: the same model with the soprano removed from each chorale (the context is not read,
  so this is the shipped note model: fine-tuning the context does not change it);
* **n-gram**: an order-4 n-gram fitted on the other folds' chorales with the soprano removed, scored likewise;
* and the shipped model's context as it ships, not fine-tuned (``given_soprano_shipped``).

Pitch bits per note of a note (the rest id left out), summed over the folds' notes.

    python bench/harmonization.py [--model composer/models/shipped] [--folds 10] [--epochs 3]
"""

from __future__ import annotations

import argparse
import csv
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from composer.checkpoint import SHIPPED_MODEL, load_model
from composer.dataset import Song, song_from_piece
from composer.evaluate import lower_voices_pitch_nats, without_track
from composer.midi_io import read_midi
from composer.model import MusicLSTM, bits
from composer.ngram import NGramModel
from composer.testing.benchmark import write_result
from composer.train import TrainConfig, train

ROOT = Path(__file__).resolve().parent.parent


def _score(model: MusicLSTM, songs: list[Song], with_soprano: bool) -> tuple[float, int]:
    nats, count = 0.0, 0
    for song in songs:
        n, c = lower_voices_pitch_nats(model, song, with_soprano)
        nats += n
        count += c
    return nats, count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "harmonization.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    shipped, _ = load_model(args.model)
    if not shipped.config.context:
        raise SystemExit(f"{args.model} has no context encoder: nothing reads the soprano")
    rows = list(csv.DictReader((args.data / "manifest.csv").open()))
    eval_groups = {r["group"] for r in rows if r["eval_set"] == "chorales_bwv253_438"}
    chorales = [
        r for r in rows if r["collection"] == "bach-chorales" and r["tracks"] == "4" and r["group"] in eval_groups
    ]
    groups = sorted({r["group"] for r in chorales})
    fold_of = {g: i % args.folds for i, g in enumerate(np.random.default_rng(0).permutation(groups))}
    pieces = {r["path"]: read_midi(args.data / r["path"]) for r in chorales}
    full = {p: song_from_piece(piece, p, "bach-chorales") for p, piece in pieces.items()}
    atb = {p: song_from_piece(without_track(piece, 0), p, "bach-chorales") for p, piece in pieces.items()}
    sums = {k: [0.0, 0] for k in ("given_soprano", "given_soprano_shipped", "without_soprano")}
    ngram_bits: list[np.ndarray] = []
    per_fold = []
    for fold in range(args.folds):
        test = [r["path"] for r in chorales if fold_of[r["group"]] == fold]
        rest = [r["path"] for r in chorales if fold_of[r["group"]] != fold]
        valid = rest[:: max(1, len(rest) // 20)]  # ~5 % of the other folds ranks the epochs
        train_paths = [p for p in rest if p not in set(valid)]
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(
                data="unused",
                out=str(Path(tmp) / "run"),
                model=shipped.config,
                init=str(args.model),
                freeze_base=True,
                epochs=args.epochs,
                batch_events=4096,
                max_len=512,
                lr=args.lr,
                warmup_steps=10,
                patience=args.epochs,
                seed=fold,
                progress=False,
                log=False,
                threads=args.threads,
                checkpoint_seconds=1e9,
            )
            train(cfg, songs=([full[p] for p in train_paths], [full[p] for p in valid]))
            tuned, _ = load_model(Path(tmp) / "run" / "best.safetensors")
        fold_sums = {
            "given_soprano": _score(tuned, [full[p] for p in test], True),
            "given_soprano_shipped": _score(shipped, [full[p] for p in test], True),
            "without_soprano": _score(shipped, [atb[p] for p in test], False),
        }
        for key, (nats, count) in fold_sums.items():
            sums[key][0] += nats
            sums[key][1] += count
        ngram = NGramModel(4).fit(atb[p].ids for p in rest)
        fold_ngram = np.concatenate([ngram.pitch_bits(atb[p].ids) for p in test])
        ngram_bits.append(fold_ngram)
        per_fold.append(
            {
                "fold": fold,
                "chorales": len(test),
                "notes": fold_sums["given_soprano"][1],
                **{f"{k}_bits": round(bits(n) / max(1, c), 4) for k, (n, c) in fold_sums.items()},
                "ngram_without_soprano_bits": round(float(fold_ngram.mean()), 4),
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(per_fold[-1], flush=True)
    result: dict[str, Any] = {
        "model": str(args.model),
        "chorales": len(chorales),
        "groups": len(groups),
        "folds": args.folds,
        "fine_tune": f"context only (--freeze-base), {args.epochs} epochs at lr {args.lr} on the other folds",
        "notes": sums["given_soprano"][1],
        "pitch_bits_given_soprano": round(bits(sums["given_soprano"][0]) / sums["given_soprano"][1], 4),
        "pitch_bits_given_soprano_shipped": round(
            bits(sums["given_soprano_shipped"][0]) / sums["given_soprano_shipped"][1], 4
        ),
        "pitch_bits_without_soprano": round(bits(sums["without_soprano"][0]) / sums["without_soprano"][1], 4),
        "ngram_pitch_bits_without_soprano": round(float(np.concatenate(ngram_bits).mean()), 4),
        "per_fold": per_fold,
    }
    write_result(args.out, result)
    print({k: v for k, v in result.items() if k != "per_fold"})


if __name__ == "__main__":
    main()
