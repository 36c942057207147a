"""The short-term memory's settings, chosen on validation pieces, and what it does to the pitch bits (issue 11).

The memory (``composer/memory.py``) blends the pitches that followed the track's last k pitches earlier in the
same piece over the note model's pitch distribution.  Its four settings — the lowest and highest order, ALPHA and
BETA — are chosen here on the corpus's **validation** split: 150 Essen tunes and 150 O'Neill tunes (drawn with
seed 0) and the 32 chorale soprano lines — no evaluation tune of the protocols, which sit in no split's
validation.  The score is each collection's pitch bits per note (the pitch of a note, as the protocols score it)
under the shipped note model, averaged over the three collections; the grid's best is the setting.

Then the chosen memory is measured, not chosen, on more validation pieces: POP909's 91 validation songs (three
tracks each) and Palestrina's validation masses (several voices); and on every set the duration, with the same
settings (not tuned apart), remembered after the track's last pitches and durations together (composer.memory's
way) and, beside it, after its last durations alone.

    python bench/memory.py [--model composer/models/shipped] [--out bench/results/memory.json]

Only the LSTM's probability of each note's own pitch (and duration) is needed: with the memory it is keep × p +
mass, and the memory's keep and mass come from the notes alone (:func:`composer.memory.memory_of`).  The scores
count notes only (a rest event's duration is left out here; composer's scoring blends it too).
"""

from __future__ import annotations

import argparse
import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from composer import memory
from composer.checkpoint import SHIPPED_MODEL, load_model
from composer.dataset import Song, collate, load_songs
from composer.encoding import DURATION, PITCH, REST, TRACK
from composer.memory import ContextTable, ShortTermMemory, memory_of
from composer.model import MusicLSTM
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent
CHOOSE_ON = {"essen": 150, "oneills1850": 150, "bach-soprano": None}  # None: every validation piece
MEASURE_ON = {"pop909": None, "palestrina": None}
GRID = {"min_order": (1, 2, 3), "max_order": (8, 16, 24), "alpha": (1, 2, 4, 8), "beta": (2, 4, 8, 16)}


def validation_pieces(songs: list[Song], collection: str, count: int | None) -> list[Song]:
    pieces = [s for s in songs if s.split == "valid" and s.collection == collection]
    if count is None:
        return pieces
    order = np.random.default_rng(0).permutation(len(pieces))[:count]
    return [pieces[i] for i in order]


@torch.no_grad()
def note_probabilities(model: MusicLSTM, song: Song) -> tuple[np.ndarray, np.ndarray]:
    """(the note events' indices, the model's probability of each one's pitch — rest left out, as the protocols
    score it — and duration: (notes, 2))."""
    nll = model.field_nll(collate([(song, 0, len(song), 0)]), pitch_of_a_note=True)[0]
    notes = np.flatnonzero(song.ids[:, PITCH] != REST)
    return notes, np.exp(-nll[:, [PITCH, DURATION]].double().numpy()[notes])


def durations_alone(ids: np.ndarray, settings: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The duration's (keep, mass on its own id) with the track's last durations alone as the context (the
    alternative to composer.memory's pitches and durations together)."""
    tables: dict[int, ContextTable] = {}
    keep, hit = np.ones(len(ids)), np.zeros(len(ids))
    orders = settings["min_order"], settings["max_order"]
    for j, (pitch, duration, track) in enumerate(ids[:, [PITCH, DURATION, TRACK]].tolist()):
        table = tables.setdefault(track, ContextTable())
        keep[j], mass = table.blend(*orders, settings["alpha"], settings["beta"])
        hit[j] = mass.get(duration, 0.0)
        if pitch != REST:
            table.play(duration, duration, *orders)
    return keep, hit


def bits(
    pieces: list[tuple[Song, np.ndarray, np.ndarray]],
    settings: dict[str, Any] | None,
    field: int = 0,
    alone: bool = False,
) -> float:
    """Bits per note of the pitch (``field`` 0) or the duration (1), with the memory of ``settings`` (None:
    the model alone; ``alone``: the duration remembered after the durations alone)."""
    total, count = 0.0, 0
    for song, notes, p in pieces:
        q = p[:, field]
        if settings is not None:
            keep, hit = (
                durations_alone(song.ids, settings) if alone else memory_of(song.ids, ShortTermMemory(**settings))
            )
            if not alone:
                keep, hit = keep[:, field], hit[:, field]
            q = keep[notes] * q + hit[notes]
        total -= float(np.log2(q).sum())
        count += len(notes)
    return total / max(1, count)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "memory.json")
    args = parser.parse_args()
    started = time.perf_counter()
    torch.set_num_threads(2)
    model, _ = load_model(args.model)
    model.eval()
    songs, _ = load_songs(args.data)
    scored = {
        name: [(s, *note_probabilities(model, s)) for s in validation_pieces(songs, name, count)]
        for name, count in {**CHOOSE_ON, **MEASURE_ON}.items()
    }
    grid: list[dict[str, Any]] = []
    for values in itertools.product(*GRID.values()):
        settings = dict(zip(GRID, values, strict=True))
        by_set = {name: round(bits(scored[name], settings), 4) for name in CHOOSE_ON}
        grid.append({**settings, "pitch_bits": by_set, "mean": round(float(np.mean(list(by_set.values()))), 4)})
        print(grid[-1], flush=True)
    best = min(grid, key=lambda row: float(row["mean"]))
    chosen = {key: best[key] for key in GRID}
    shipped: dict[str, Any] = {
        "min_order": memory.MIN_ORDER,
        "max_order": memory.MAX_ORDER,
        "alpha": memory.ALPHA,
        "beta": memory.BETA,
    }
    collections = {}
    for name, pieces in scored.items():
        collections[name] = {
            "pieces": len(pieces),
            "notes": int(sum(len(n) for _, n, _ in pieces)),
            "chosen_on": name in CHOOSE_ON,
            "without_memory": round(bits(pieces, None), 4),
            "with_memory": round(bits(pieces, shipped), 4),
            "duration_without_memory": round(bits(pieces, None, 1), 4),
            "duration_with_memory": round(bits(pieces, shipped, 1), 4),
            "duration_with_memory_of_durations_alone": round(bits(pieces, shipped, 1, alone=True), 4),
        }
    result = {
        "model": str(args.model),
        "grid": grid,
        "best_on_validation": chosen,
        "best_mean_pitch_bits": best["mean"],
        "without_memory_mean_pitch_bits": round(
            float(np.mean([collections[name]["without_memory"] for name in CHOOSE_ON])), 4
        ),
        "shipped_settings": shipped,
        "shipped_is_best": chosen == shipped,
        "collections": collections,
        "seconds": round(time.perf_counter() - started, 1),
    }
    write_result(args.out, result)
    print("best on validation:", chosen, best["mean"], "| composer.memory's:", shipped)
    for name, row in collections.items():
        print(
            f"{name:14s} {row['pieces']:4d} pieces  pitch {row['without_memory']:.3f} → {row['with_memory']:.3f}, "
            f"duration {row['duration_without_memory']:.3f} → {row['duration_with_memory']:.3f} bits "
            f"(after the durations alone {row['duration_with_memory_of_durations_alone']:.3f})"
        )


if __name__ == "__main__":
    main()
