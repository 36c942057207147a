"""Chords under a melody: which pitch classes the harmony holds at each beat, learned from POP909's chords.

Accompany's ``piano`` style asks the note model for an accompaniment under a melody.  The model reads the melody
through its context encoder, but on its own it hears the harmony faintly (issue 12's measure: 42 % of its
accompaniment's note time in the annotated chord, random notes of the key 36 %, the real piano 95 %).  This
module guesses, beat by beat, how likely each pitch class is to belong to the chord under the melody, and
:mod:`composer.generate` adds ``CHORD_STRENGTH`` × the log of that likelihood, averaged over the grid steps a new
note will sound (``ChordGuide``), to the accompaniment's pitch logits, so that the note model voices the chords it
would otherwise miss and does not hold a note into a chord that leaves it out.

The guess is a small network (:class:`ChordNet`, two hidden layers of 128, ~31 k weights, ``composer/models/
chords.safetensors``) over one row per beat and pitch class c, everything rotated so that c is 0 (one network
for the twelve, transposition-equivariant): the melody's time on each pitch class in the beat and the two beats
on either side, in the four beats from the one before, and in the whole melody; c's degree in the melody's key
(estimated as the note model's key is, :func:`composer.score.estimate_key`) and mode; whether the beat starts a
bar.  Fitted by ``python -m composer.harmony fit --pop909 DIR`` on the corpus's POP909 training songs (the
MELODY track; the chord of ``chord_midi.txt`` that holds most of each beat, its bass note included), its epoch
chosen on the validation songs; the test songs are left for ``bench/infill.py``.  Melody alone says only so much
of the harmony: on the 91 validation songs the likeliest pitch class of a beat is in its annotated chord on 72 % of
the beats, the two likeliest 68 % of the time, the three likeliest 64 % (``fitted`` in the weights' metadata holds
the figures of the run that made them: ``python -m composer.harmony fit --pop909 ../shared/data/pop909``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from composer.errors import InputError
from composer.piece import Note, Piece

ROOT = Path(__file__).resolve().parent
CHORDS_PATH = ROOT / "models" / "chords.safetensors"
FEATURES_VERSION = "beats-v1"
WINDOW = 2  # beats on either side of the beat read one by one
HIDDEN = 128
NAMES = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
    "sus4(b7)": (0, 5, 7, 10),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "minmaj7": (0, 3, 7, 11),
    "dim7": (0, 3, 6, 9),
    "hdim7": (0, 3, 6, 10),
    "maj6": (0, 4, 7, 9),
    "min6": (0, 3, 7, 9),
}
DEGREES = {"1": 0, "b2": 1, "2": 2, "b3": 3, "3": 4, "4": 5, "b5": 6, "5": 7, "#5": 8, "6": 9, "b7": 10, "7": 11}


def pitch_class(name: str) -> int:
    """``C``, ``F#``, ``Bb`` … → 0–11."""
    pc = NAMES[name[0]]
    for accidental in name[1:]:
        pc += {"#": 1, "b": -1}[accidental]
    return pc % 12


def chord_pcs(label: str) -> set[int] | None:
    """A POP909 chord label (``C:maj``, ``A:min7/b7`` …) → its pitch classes, the bass's too; None for ``N`` (no
    chord).  A quality not in :data:`QUALITIES` is read as the triad its name starts with."""
    if label == "N" or ":" not in label:
        return None
    root, quality = label.split(":", 1)
    quality, _, bass = quality.partition("/")
    intervals = QUALITIES.get(quality)
    if intervals is None:
        intervals = QUALITIES["min"] if quality.startswith("min") else QUALITIES["maj"]
    r = pitch_class(root)
    pcs = {(r + i) % 12 for i in intervals}
    if bass in DEGREES:
        pcs.add((r + DEGREES[bass]) % 12)
    return pcs


# ------------------------------------------------------------------------------------------------ features


def beat_weights(notes: list[Note] | tuple[Note, ...], beats: int) -> np.ndarray:
    """(beats, 12) the notes' time (in beats) on each pitch class within each beat from beat 0."""
    w = np.zeros((beats, 12))
    for n in notes:
        a, b = max(0.0, n.start), min(float(beats), n.start + n.duration)
        i = math.floor(a)
        while i < beats and i < b:
            t = min(b, i + 1.0) - max(a, float(i))
            if t > 0:
                w[i, n.pitch % 12] += t
            i += 1
    return w


def features(weights: np.ndarray, key: int | None, bar_lines: np.ndarray) -> np.ndarray:
    """(beats × 12, 110) float32: the rows :class:`ChordNet` reads, beat-major, pitch class c = 0 … 11 within a
    beat, each rotated so that c is 0 (see the module's docstring)."""
    n = len(weights)
    pad = np.vstack([np.zeros((WINDOW, 12)), weights, np.zeros((WINDOW + 2, 12))])
    total = weights.sum(0)
    total = total / max(1e-9, float(total.sum()))
    blocks = [pad[WINDOW + d : WINDOW + d + n] for d in range(-WINDOW, WINDOW + 1)]
    blocks.append(np.sum([pad[WINDOW + d : WINDOW + d + n] for d in range(-1, 3)], axis=0))  # 4 beats from the last
    blocks.append(np.broadcast_to(total, (n, 12)))
    stacked = np.stack(blocks, axis=1)  # (n, blocks, 12)
    rows = np.empty((n, 12, stacked.shape[1] * 12 + 26), dtype=np.float32)
    for c in range(12):
        rows[:, c, : stacked.shape[1] * 12] = np.roll(stacked, -c, axis=2).reshape(n, -1)
    tail = stacked.shape[1] * 12
    rows[:, :, tail:] = 0
    if key is None:
        rows[:, :, tail + 24] = 1
    else:
        for c in range(12):
            rows[:, c, tail + (c - key % 12) % 12 + 12 * int(key >= 12)] = 1
    rows[:, :, tail + 25] = bar_lines[:, None]
    return rows.reshape(n * 12, -1)


FEATURES = (2 * WINDOW + 3) * 12 + 26


def bar_lines(beats: int, bar_start: float, bar: float) -> np.ndarray:
    """(beats,) whether each beat from 0 starts a bar."""
    at = (np.arange(beats) - bar_start) / bar
    return (np.abs(at - np.round(at)) < 1e-6).astype(np.float32)


class ChordNet(nn.Module):
    """P(pitch class c is in the chord) from :func:`features`' row for c."""

    def __init__(self, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(FEATURES, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, 1)
        )

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        return self.net(rows).squeeze(-1)


@lru_cache(maxsize=1)
def shipped_chords() -> ChordNet:
    """The chord network that ships (``composer/models/chords.safetensors``; safetensors, never a pickle)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(CHORDS_PATH), framework="pt") as f:
        meta = f.metadata() or {}
    if meta.get("features") != FEATURES_VERSION:
        raise InputError(
            f"{CHORDS_PATH.name} was fitted on other features; fit it again (python -m composer.harmony fit)."
        )
    net = ChordNet(int(meta.get("hidden", HIDDEN)))
    net.load_state_dict(load_file(str(CHORDS_PATH)))
    return net.eval()


@torch.no_grad()
def membership(notes: list[Note] | tuple[Note, ...], beats: int, bar_start: float, bar: float) -> np.ndarray:
    """(beats, 12): for each beat from 0, how likely each pitch class is to be in the chord under ``notes`` (the
    melody, or whatever is given to accompany)."""
    from composer.score import estimate_key

    if beats <= 0:
        return np.zeros((0, 12))
    key = estimate_key(Piece(notes=tuple(notes))) if notes else None
    rows = features(beat_weights(notes, beats), key, bar_lines(beats, bar_start, bar))
    return torch.sigmoid(shipped_chords()(torch.from_numpy(rows))).numpy().reshape(beats, 12)


# ------------------------------------------------------------------------------------------------ fitting


@dataclass
class Song:
    """A POP909 song as the fit reads it: its rows and each row's truth (pitch class in the chord: 1, not: 0)."""

    number: str
    rows: np.ndarray  # (labelled beats × 12, FEATURES)
    truth: np.ndarray  # (labelled beats × 12,)


def annotated_chords(folder: Path, midi_path: Path) -> list[tuple[float, float, str]]:
    """``chord_midi.txt``'s chords as (start, end) beats of the release's file (through its tempo map) and their
    labels."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(str(midi_path))
    out = []
    for row in (folder / "chord_midi.txt").read_text().splitlines():
        parts = row.split()
        if len(parts) < 3:
            continue
        a = pm.time_to_tick(float(parts[0])) / pm.resolution
        b = pm.time_to_tick(float(parts[1])) / pm.resolution
        out.append((a, b, parts[2]))
    return out


def read_song(number: str, corpus: Path, pop909: Path) -> Song | None:
    """One song: the corpus's copy for the notes (the grid the model learned), the release for the chords."""
    from composer.midi_io import read_midi
    from composer.score import estimate_key

    piece = read_midi(corpus / "pop909" / f"{number}.mid")
    melody = [i for i, t in enumerate(piece.tracks) if t.name.strip().upper() == "MELODY"]
    if not melody:
        return None
    notes = [n for n in piece.notes if n.track == melody[0]]
    chords = annotated_chords(pop909 / number, pop909 / number / f"{number}.mid")
    beats = math.ceil(max([n.end for n in notes] + [b for _, b, _ in chords]))
    truth = np.zeros((beats, 12), dtype=np.float32)
    held = np.zeros(beats)  # how much of each beat its chord holds
    labelled = np.zeros(beats, dtype=bool)  # False where no chord holds half of it, or N does
    for a, b, label in chords:
        pcs = chord_pcs(label)
        for i in range(max(0, int(a)), min(beats, math.ceil(b))):
            t = min(b, i + 1.0) - max(a, float(i))
            if t > held[i] and t >= 0.5:
                held[i], labelled[i] = t, pcs is not None
                truth[i] = 0
                if pcs is not None:
                    truth[i, list(pcs)] = 1
    key = estimate_key(Piece(notes=tuple(notes))) if notes else None
    bar = piece.time_signature.bar_beats
    rows = features(beat_weights(notes, beats), key, bar_lines(beats, piece.bar_start, bar)).reshape(beats, 12, -1)
    return Song(number, rows[labelled].reshape(-1, FEATURES), truth[labelled].reshape(-1))


def pop909_numbers(corpus: Path, split: str) -> list[str]:
    """The numbers (``"001"`` …) of the POP909 songs in the corpus's ``split`` (its manifest), in order."""
    rows = [r for r in csv.DictReader((corpus / "manifest.csv").open()) if r["collection"] == "pop909"]
    return sorted(r["path"].split("/")[-1][:3] for r in rows if r["split"] == split)


def songs_of(split: str, corpus: Path, pop909: Path) -> list[Song]:
    """The POP909 songs of the corpus's ``split`` (its manifest), read for the fit."""
    songs = [read_song(n, corpus, pop909) for n in pop909_numbers(corpus, split)]
    return [s for s in songs if s is not None]


def top_k_shares(prob: np.ndarray, truth: np.ndarray) -> list[float]:
    """For k = 1, 2, 3: the share of the k likeliest pitch classes of a beat that are in its chord."""
    p, y = prob.reshape(-1, 12), truth.reshape(-1, 12)
    order = np.argsort(-p, axis=1)
    return [round(float(np.take_along_axis(y, order[:, :k], 1).mean()), 4) for k in (1, 2, 3)]


def fit(train: list[Song], valid: list[Song], epochs: int = 4, seed: int = 0) -> tuple[ChordNet, dict[str, object]]:
    """Fit :class:`ChordNet` on ``train``; keep the epoch whose top-1 share on ``valid`` is best."""
    torch.manual_seed(seed)
    x = torch.from_numpy(np.concatenate([s.rows for s in train]))
    y = torch.from_numpy(np.concatenate([s.truth for s in train]))
    vx = torch.from_numpy(np.concatenate([s.rows for s in valid]))
    vy = np.concatenate([s.truth for s in valid])
    net = ChordNet()
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    best: tuple[float, dict[str, torch.Tensor], list[float], int] = (-1.0, {}, [], -1)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(x))
        for i in range(0, len(order), 2048):
            batch = order[i : i + 2048]
            loss = nn.functional.binary_cross_entropy_with_logits(net(x[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            shares = top_k_shares(torch.sigmoid(net(vx)).numpy(), vy)
        print(f"epoch {epoch + 1}: validation top-1/2/3 pitch classes in the chord {shares}", flush=True)
        if shares[0] > best[0]:
            best = (shares[0], {k: v.clone() for k, v in net.state_dict().items()}, shares, epoch + 1)
    net.load_state_dict(best[1])
    report = {
        "train_songs": len(train),
        "valid_songs": len(valid),
        "train_rows": len(x),
        "epoch": best[3],
        "valid_top_1_2_3_in_chord": best[2],
    }
    return net.eval(), report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m composer.harmony", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("fit", help="fit the chord network on POP909's training songs, chosen on its validation songs")
    p.add_argument("--pop909", type=Path, required=True, help="the POP909 release (NNN/NNN.mid, NNN/chord_midi.txt)")
    p.add_argument("--data", type=Path, default=ROOT.parent / "midi_data", help="the corpus (its split and copies)")
    p.add_argument("--out", type=Path, default=CHORDS_PATH)
    p.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args(argv)
    from safetensors.torch import save_file

    torch.set_num_threads(1)
    net, report = fit(songs_of("train", args.data, args.pop909), songs_of("valid", args.data, args.pop909), args.epochs)
    meta = {"features": FEATURES_VERSION, "hidden": str(HIDDEN), "fitted": json.dumps(report)}
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(args.out), metadata=meta)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
