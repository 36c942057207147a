"""POP909's held-out songs: bits per note of the LSTM, the n-gram and a unigram, field by field (issue 11).

The songs are POP909 001–850 as the corpus holds them (``midi_data/pop909/``: MELODY, BRIDGE and PIANO tracks
with played velocities), split by song like every collection (manifest column ``split``); the test split is
scored.  References fitted on the *training* POP909 songs only: the order-4 n-gram (composer.ngram) and a
unigram — each field's own distribution over the same event ids, add-one smoothed, no context.  The LSTM is
the model given (trained on the whole corpus's training split).

    python bench/pop909.py [--model composer/models/shipped] [--data midi_data] [--split test]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from composer.checkpoint import SHIPPED_MODEL, load_model
from composer.dataset import Song, load_songs
from composer.encoding import FIELD_NAMES, FIELDS, PITCH, REST, VELOCITY, VELOCITY_UNKNOWN
from composer.evaluate import ngram_bits
from composer.ngram import NGramModel
from composer.testing.benchmark import write_result
from composer.train import evaluate_songs, field_bits

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = "pop909"


def unigram_bits(train: list[Song], test: list[Song]) -> dict[str, float]:
    """Each field's add-one-smoothed marginal over the training songs' events, scored on the test songs,
    summarised as the LSTM's (velocity only where known; rest events charged to the notes)."""
    nats = [0.0] * len(FIELDS)
    for i, f in enumerate(FIELDS):
        counts = np.ones(f.size)
        for s in train:
            ids = s.ids[:, i] if i != VELOCITY else s.ids[s.ids[:, VELOCITY] != VELOCITY_UNKNOWN, i]
            counts += np.bincount(ids, minlength=f.size)
        logp = np.log(counts / counts.sum())
        for s in test:
            ids = s.ids[:, i] if i != VELOCITY else s.ids[s.ids[:, VELOCITY] != VELOCITY_UNKNOWN, i]
            nats[i] -= float(logp[ids].sum())
    notes = sum(int((s.ids[:, PITCH] != REST).sum()) for s in test)
    velocity_notes = sum(
        int(((s.ids[:, PITCH] != REST) & (s.ids[:, VELOCITY] != VELOCITY_UNKNOWN)).sum()) for s in test
    )
    return field_bits(nats, notes, velocity_notes)


def rounded(d: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) if isinstance(v, float) and not math.isnan(v) else v for k, v in d.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pop909.json")
    parser.add_argument("--no-memory", action="store_true", help="the LSTM alone, without the short-term memory")
    args = parser.parse_args()
    torch.set_num_threads(2)
    songs, _ = load_songs(args.data)
    pop = [s for s in songs if s.collection == COLLECTION]
    train = [s for s in pop if s.split == "train"]
    test = [s for s in pop if s.split == args.split]
    if not test:
        raise SystemExit(f"no POP909 songs in the {args.split} split of {args.data}; build the corpus with --pop909")
    model, _ = load_model(args.model)
    lstm = rounded(evaluate_songs(model, test, torch.device("cpu"), memory=not args.no_memory))
    alone = rounded(evaluate_songs(model, test, torch.device("cpu"))) if not args.no_memory else lstm
    ngram = rounded(ngram_bits(NGramModel(4).fit(s.ids for s in train), test))
    unigram = rounded(unigram_bits(train, test))
    result = {
        "model": str(args.model),
        "split": args.split,
        "songs": {"train": len(train), args.split: len(test)},
        "notes": lstm["notes"],
        "memory": not args.no_memory,  # the LSTM's pitch and duration with the short-term memory (composer.memory)
        "lstm": lstm,
        "lstm_without_memory": alone,
        "ngram_order_4_on_pop909_train": ngram,
        "unigram_on_pop909_train": unigram,
        "lstm_to_ngram_total": round(lstm["bits_per_note"] / ngram["bits_per_note"], 3),
        "every_field_below_unigram": all(lstm[f"{name}_bits"] < unigram[f"{name}_bits"] for name in FIELD_NAMES),
        "targets": "total <= 10.0 (aim 9.0), pitch <= 4.0, velocity <= 2.3, every field below the unigram, "
        "LSTM <= 0.7 x the n-gram's total",
    }
    write_result(args.out, result)
    for name in ("bits_per_note", *(f"{n}_bits" for n in FIELD_NAMES), "bits_per_note_without_velocity"):
        print(f"{name:32s} lstm {lstm[name]:7.3f}   ngram {ngram[name]:7.3f}   unigram {unigram[name]:7.3f}")
    print(f"LSTM / n-gram total: {result['lstm_to_ngram_total']}; songs {result['songs']}, notes {lstm['notes']:.0f}")
    print(
        f"without the memory: {alone['bits_per_note']:.3f} bits/note, pitch {alone['pitch_bits']:.3f}, "
        f"duration {alone['duration_bits']:.3f}"
    )


if __name__ == "__main__":
    main()
