"""Continuation of multi-track seeds (issue 11): does every seed track go on, at its density, in its register?

For the first ``--seeds`` test-split pieces with at least two tracks and 16 bars (a fixed, collection-mixed
order: by content hash), the first 8 bars are the seed and ``--takes`` takes of 8 bars are generated.  Reported:

* the share of takes that put notes on **every** seed track (target ≥ 80 %);
* per track, notes per bar in the take against the seed's last 4 bars: the share of (take, track) pairs within
  0.6–1.6× (tracks silent in those 4 bars are left out);
* register: the share of (take, track) pairs whose new notes' median pitch lies within the seed track's range;
* velocity: seeds at one velocity v — the share of their new notes at v ± 4 (target: all); seeds with dynamics —
  the mean |take's mean velocity − the seed's last-4-bar mean| per track;
* the takes' mean bits per note under the model (what the constraints cost in the model's eyes).

Generation keeps each track in its register and near its density by default (``Settings.register_lock``,
``Settings.density_lock``); ``--free-register`` / ``--free-density`` measure without them (both: the figures
before issue 11's constraints).

    python bench/multitrack.py [--model composer/models/shipped] [--seeds 50] [--takes 4]
                               [--free-register] [--free-density]
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from composer.checkpoint import SHIPPED_MODEL
from composer.corpus import read_manifest
from composer.generate import Composer, Settings
from composer.midi_io import read_midi
from composer.piece import Note, Piece
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent
SEED_BARS, BARS = 8, 8


def seeds(data: Path, count: int, split: str) -> list[tuple[str, Piece, Piece]]:
    """(path, seed of 8 bars, the piece) for the first ``count`` multi-track pieces of the split."""
    out = []
    entries = [e for e in read_manifest(data) if e.split == split and e.tracks >= 2]
    for e in sorted(entries, key=lambda e: e.content_hash):
        piece = read_midi(data / e.path)
        bar = piece.time_signature.bar_beats
        cut = piece.bar_start + SEED_BARS * bar
        if piece.end < cut + BARS * bar:
            continue
        seed = piece.with_notes(tuple(n for n in piece.notes if n.start < cut))
        if len({n.track for n in seed.notes}) < 2:
            continue
        out.append((e.path, seed, piece))
        if len(out) == count:
            break
    return out


def last_bars(seed: Piece, bars: int) -> list[Note]:
    bar = seed.time_signature.bar_beats
    end = seed.bar_start + SEED_BARS * bar
    return [n for n in seed.notes if n.start >= end - bars * bar]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--takes", type=int, default=4)
    parser.add_argument("--split", default="test")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "multitrack.json")
    parser.add_argument("--free-register", action="store_true", help="generate without the register constraint")
    parser.add_argument("--free-density", action="store_true", help="generate without the density nudge")
    args = parser.parse_args()
    torch.set_num_threads(1)
    composer = Composer(args.model)
    chosen = seeds(args.data, args.seeds, args.split)
    every_track = takes_total = 0
    density_ok = density_pairs = register_ok = register_pairs = 0
    constant_ok = constant_notes = 0
    level_gaps: list[float] = []
    take_bits: list[float] = []  # how far the constraints take the takes from the model
    by_collection: dict[str, int] = {}
    for i, (path, seed, _piece) in enumerate(chosen):
        by_collection[path.split("/")[0]] = by_collection.get(path.split("/")[0], 0) + 1
        settings = Settings(
            bars=BARS,
            variations=args.takes,
            seed=i,
            register_lock=not args.free_register,
            density_lock=not args.free_density,
        )
        tracks = sorted({n.track for n in seed.notes})
        recent = last_bars(seed, 4)
        constant = None if seed.has_dynamics else seed.notes[0].velocity
        for take in composer.continue_piece(seed, settings):
            new = take.continuation.notes
            takes_total += 1
            take_bits.append(take.metrics.bits_per_note)
            every_track += all(any(n.track == t for n in new) for t in tracks)
            for t in tracks:
                mine = [n for n in new if n.track == t]
                before = [n for n in recent if n.track == t]
                if before:
                    ratio = (len(mine) / BARS) / (len(before) / 4)
                    density_pairs += 1
                    density_ok += 0.6 <= ratio <= 1.6
                    if seed.has_dynamics and mine:
                        level_gaps.append(
                            abs(statistics.mean(n.velocity for n in mine) - statistics.mean(n.velocity for n in before))
                        )
                if mine:
                    pitches = [n.pitch for n in seed.notes if n.track == t]
                    register_pairs += 1
                    register_ok += min(pitches) <= statistics.median(n.pitch for n in mine) <= max(pitches)
            if constant is not None:
                constant_notes += len(new)
                constant_ok += sum(abs(n.velocity - constant) <= 4 for n in new)
    result = {
        "model": str(args.model),
        "split": args.split,
        "register_lock": not args.free_register,
        "density_lock": not args.free_density,
        "seeds": len(chosen),
        "seeds_by_collection": by_collection,
        "takes": takes_total,
        "takes_with_notes_on_every_seed_track": round(every_track / max(1, takes_total), 3),
        "track_density_within_0.6_1.6": round(density_ok / max(1, density_pairs), 3),
        "track_register_within_seed_range": round(register_ok / max(1, register_pairs), 3),
        "constant_velocity_notes_within_4": round(constant_ok / max(1, constant_notes), 3) if constant_notes else None,
        "constant_velocity_notes": constant_notes,
        "dynamics_mean_level_gap": round(statistics.mean(level_gaps), 2) if level_gaps else None,
        "takes_mean_bits_per_note": round(statistics.mean(take_bits), 3) if take_bits else None,
        "targets": "every seed track goes on in >= 80 % of takes; notes per bar within 0.6-1.6x; register; "
        "constant velocity v -> new notes at v +- 4",
    }
    write_result(args.out, result)
    for k, v in result.items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    main()
