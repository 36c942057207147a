"""How to write velocity (issue 11): the entropy of the velocity id, given the note's track, on POP909's training
songs, for steps of 4 and of 8 from a level shared by all tracks and from each track's own level.

The velocities are the corpus's as stored (``midi_data/pop909/``, read by ``composer.midi_io``), in event order;
each scheme rounds them as :class:`composer.encoding.Loudness` does (a level: the mean of the 16 rounded
velocities before, shared or on the note's track).  The figure is a unigram entropy per track — what a model
must at least beat — not a model's bits.

    python bench/velocity_levels.py        # writes bench/results/velocity_levels.json
"""

from __future__ import annotations

import argparse
import math
from collections import Counter, defaultdict
from pathlib import Path

from composer.corpus import read_manifest
from composer.encoding import VELOCITY_RANGE, VELOCITY_START, VELOCITY_WINDOW
from composer.midi_io import read_midi
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent


def ids(notes: list[tuple[int, int]], step: int, per_track: bool) -> list[tuple[int, int]]:
    """(track, velocity id) of (track, velocity) notes, rounded in ``step``s from the shared or per-track level."""
    recent: dict[int, list[int]] = defaultdict(list)
    out = []
    for track, velocity in notes:
        window = recent[track if per_track else 0][-VELOCITY_WINDOW:]
        if per_track and not window:  # a track's first note reads the level of the notes on any track
            window = recent[-1][-VELOCITY_WINDOW:]
        level = round(sum(window) / len(window)) if window else VELOCITY_START
        steps = max(-VELOCITY_RANGE, min(VELOCITY_RANGE, round((velocity - level) / step)))
        value = max(1, min(127, level + steps * step))
        for key in {track if per_track else 0, -1}:
            recent[key].append(value)
        out.append((track, steps))
    return out


def entropy_given_track(pairs: list[tuple[int, int]]) -> float:
    by_track: dict[int, Counter[int]] = defaultdict(Counter)
    for track, vid in pairs:
        by_track[track][vid] += 1
    total = len(pairs)
    bits = 0.0
    for counts in by_track.values():
        n = sum(counts.values())
        bits += n / total * -sum(c / n * math.log2(c / n) for c in counts.values())
    return bits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "velocity_levels.json")
    args = parser.parse_args()
    songs = []
    for e in read_manifest(args.data):
        if e.collection == "pop909" and e.split == "train":
            piece = read_midi(args.data / e.path)
            order = sorted(piece.notes, key=lambda n: (n.start, n.track, -n.pitch))  # event order
            songs.append([(n.track, n.velocity) for n in order])
    result: dict[str, object] = {"songs": len(songs), "notes": sum(map(len, songs))}
    for step in (4, 8):
        for per_track in (False, True):
            pairs = [p for song in songs for p in ids(song, step, per_track)]
            name = f"step_{step}_{'per_track' if per_track else 'shared'}_level_bits"
            result[name] = round(entropy_given_track(pairs), 4)
            print(name, result[name], flush=True)
    write_result(args.out, result)


if __name__ == "__main__":
    main()
