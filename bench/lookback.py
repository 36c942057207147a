"""What the lookback view earns (issue 16, point 1): the model's bits per note with the notes one and two bars
back as it was trained to read them, and with that view blanked ("no note there").

The shipped model read the lookbacks in training, so blanking them is an ablation at inference: it measures how
much the model *uses* the view, not what a model trained without it would score (that needs a second training).
Scored on the test split (whole songs, no augmentation), overall and per collection group, because the view
should matter most where music repeats bar against bar (POP909's accompaniment, dance tunes) and least in
through-composed chorales.

    python bench/lookback.py [--model composer/models/shipped] [--data midi_data] [--limit N]
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np
import torch

from composer.checkpoint import SHIPPED_MODEL, load_model
from composer.dataset import Song, load_songs
from composer.features import NO_DURATION, NO_PITCH, SongFeatures
from composer.testing.benchmark import write_result
from composer.train import evaluate_songs

ROOT = Path(__file__).resolve().parent.parent


def blanked(song: Song) -> Song:
    """The song as the model would read it without the lookback view: nothing one or two bars back."""
    f = song.features
    view = SongFeatures(
        f.ref,
        np.full_like(f.lookback1, NO_PITCH),
        np.full_like(f.lookback2, NO_PITCH),
        np.full_like(f.lookback_duration, NO_DURATION),
    )
    return dataclasses.replace(song, _features=view)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--limit", type=int, help="score only the first N test songs (quick runs)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "lookback.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    songs, _ = load_songs(args.data)
    test = [s for s in songs if s.split == "test"][: args.limit]
    model, _ = load_model(args.model)
    cpu = torch.device("cpu")
    groups = {"all": test}
    for name in sorted({s.collection for s in test}):
        groups[name] = [s for s in test if s.collection == name]
    result: dict[str, object] = {"model": str(args.model), "split": "test", "pieces": len(test)}
    for name, group in groups.items():
        with_view = evaluate_songs(model, group, cpu)
        without = evaluate_songs(model, [blanked(s) for s in group], cpu)
        result[name] = {
            "pieces": len(group),
            "notes": int(with_view["notes"]),
            "bits_per_note": round(with_view["bits_per_note"], 4),
            "bits_per_note_blanked": round(without["bits_per_note"], 4),
            "pitch_bits": round(with_view["pitch_bits"], 4),
            "pitch_bits_blanked": round(without["pitch_bits"], 4),
            "duration_bits": round(with_view["duration_bits"], 4),
            "duration_bits_blanked": round(without["duration_bits"], 4),
        }
        print(name, result[name], flush=True)
    write_result(args.out, result)


if __name__ == "__main__":
    main()
