"""Issue 12's measures: infill uses the right side, accompaniments fit the chords, joins are smooth, and speed.

* **gap**: bars 5–8 of every test-split piece with music after bar 8 (all collections), scored given both sides
  (the notes after the gap through the context encoder) and given only what precedes them — the same model,
  no context (:func:`composer.evaluate.gap_scores`); the ratio overall, per field and per collection.
* **harmonization**: the chorales of BWV 253–438 in four voices (``bach-chorales/`` files grouped with the
  evaluation set ``chorales_bwv253_438``: a model trained with ``--exclude-eval`` never saw them or their
  variants).  Alto, tenor and bass pitch bits per note: given the soprano (in the decoder's stream as given
  notes and read by the encoder: accompany mode), the same model with the soprano removed from the piece, and
  an order-4 n-gram fitted on the training chorales' alto, tenor and bass (soprano removed likewise).  Not the
  10-fold protocol: one model, never fine-tuned on the evaluation chorales.
* **accompaniment**: every POP909 test-split song (the corpus's split; the original files from ``--pop909``, whose
  ``chord_midi.txt`` gives the chords): from the bar of the melody's first note, ``--bars`` bars of the MELODY
  track alone are accompanied (style piano, 4 takes; again with key lock).  The notes are the corpus's copy
  (``midi_data/pop909/``, on the grid the model learned); the chords' seconds become beats through the
  release's own file.  The share of accompaniment note time whose pitch class
  is in the annotated chord (time under ``N`` left out), next to the real PIANO track over the same bars (the
  ceiling) and to random diatonic notes of the annotated key on the real track's rhythm; the share of its time
  doubling a sounding melody pitch class; notes per bar next to the real track's.
* **join**: infill of bars 5–8 (4 takes) of test-split pieces: on each track with notes on both sides, the
  absolute leap from the last note starting in the gap to the first note of bar 9 (the highest at an onset),
  against the real piece's; and the share of the gap's notes in the key heard around the gap.
* **bound** (``--only bound``, not in the default run): on the accompaniment's songs and bars, the share the
  chord guess itself reaches with the real piano's rhythm (each note on the guess's likeliest pitch class, or one
  drawn as the guide alone would), the melody's own share, and takes whose guide is handed the annotated chords.
* **speed**: 8 bars × 4 takes — infill (bars 5–12) and accompany (8 bars of melody) — against a continuation of
  8 bars × 4 takes from bars 1–4 of the same song, alternated in one process, median ratio of wall times: on
  POP909 001, and on the first ``--speed-songs`` test-split songs (each song's ratios, their median and highest).

    python bench/infill.py [--model composer/models/shipped] [--songs N] [--pieces 80]

Instead of the measures, the fits and choices behind the generator's constants (each on training or validation
songs, never the test split): ``--fit-pace`` and ``--tune-pace`` (the piano's pace, ``PACE_*``),
``--tune-chords`` (``CHORD_STRENGTH``), ``--tune-chord-durations`` and ``--tune-chord-candidates``
(``CHORD_DURATION_SHARE``, ``CHORD_CANDIDATES``), ``--count-stacking`` and ``--tune-stacking`` (``STACKING``,
``STACK_STRENGTH``), ``--fit-join`` and ``--tune-join`` (the join prior, ``JOIN_*``).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from composer import generate
from composer.checkpoint import SHIPPED_MODEL, load_model
from composer.context import AHEAD_BARS, FAR_BARS, RECUR_BARS
from composer.dataset import Song, load_songs, song_from_piece
from composer.encoding import STEPS_PER_BEAT
from composer.errors import InputError
from composer.evaluate import (
    gap_scores,
    join_leaps,
    lower_voices_pitch_nats,
    ngram_pitch_bits,
    piano_pace,
    piano_stacking,
    pop909_segment,
    without_track,
)
from composer.generate import CHORD_FLOOR, Composer, Settings, accompaniment_pace
from composer.harmony import annotated_chords, chord_pcs, pitch_class, pop909_numbers
from composer.midi_io import read_midi
from composer.model import MusicLSTM, bits
from composer.ngram import NGramModel
from composer.piece import Note
from composer.score import estimate_key
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)


# --------------------------------------------------------------------------------------------- gap


def gap_section(model: MusicLSTM, songs: list[Song], split: str = "test") -> dict[str, Any]:
    test = [s for s in songs if s.split == split]
    result = gap_scores(model, test, (5, 8))
    by = {}
    for collection in sorted({s.collection for s in test}):
        mine = [s for s in test if s.collection == collection]
        try:
            r = gap_scores(model, mine, (5, 8))
        except InputError:  # no piece of this collection reaches bar 9
            continue
        if r["pieces"] >= 5:
            by[collection] = {k: r[k] for k in ("pieces", "notes", "gap_bits_per_note", "ratio", "ratio_per_field")}
            by[collection]["left_only_bits_per_note"] = r["gap_left_only_bits_per_note"]
    return {**result, "by_collection": by}


def recurrence(songs: list[Song], split: str = "valid", last: int = 3) -> dict[str, Any]:
    """How much a filled note could take from the music after the gap (the reason for the far views,
    composer.context.FAR_BARS): in bars 5–8 of each ``split`` piece with music after bar 8, the share of notes
    whose ``last`` notes before them on their track all recur after the gap (same pitch and track, exact onset)
    at one of the distances of AHEAD_BARS (``near``), else at one of FAR_BARS (``far_only``), and how often the
    note itself recurs at one of those distances (``precision``); per collection and over all.  Where velocities
    are known (POP909), also the share of notes with a note of their pitch on their track 1–32 bars after them
    beyond the gap (``echo``), and how often the first such note's velocity id is the note's own (``echo_same``)
    or within one step of it (``echo_within_one``): what :func:`composer.context.echo_velocities` offers."""
    from composer.encoding import PITCH, REST, SHIFT, TRACK, VELOCITY, VELOCITY_UNKNOWN
    from composer.evaluate import _gap_rows

    keys = ("notes", "near", "near_hit", "far", "far_hit", "known", "echo", "echo_same", "echo_within_one")
    counts: dict[str, dict[str, int]] = {}
    for song in songs:
        if song.split != split or (rows := _gap_rows(song, 5, 8)) is None:
            continue
        a, b, _ = rows
        onsets = np.cumsum(song.ids[:, SHIFT])
        # each note as (onset, track, pitch); the same note bars later is the key plus (bars * bar, 0, 0)
        notes = np.stack([onsets, song.ids[:, TRACK], song.ids[:, PITCH]], axis=1).tolist()
        after = {tuple(notes[i]) for i in range(b, len(notes)) if notes[i][2] != REST}
        loud = {tuple(notes[i]): int(song.ids[i, VELOCITY]) for i in range(len(notes) - 1, b - 1, -1)}
        tally = counts.setdefault(song.collection, dict.fromkeys(keys, 0))
        on_track: dict[int, list[int]] = {}
        for i, (_, track, pitch) in enumerate(notes[:b]):
            if pitch == REST:
                continue
            mine = on_track.setdefault(track, [])
            before = mine[-last:]
            mine.append(i)
            if i < a:
                continue
            tally["notes"] += 1
            if song.ids[i, VELOCITY] != VELOCITY_UNKNOWN:
                tally["known"] += 1
                echoes = [loud[k] for d in RECUR_BARS if (k := (notes[i][0] + d * song.bar, track, pitch)) in loud]
                if echoes:
                    tally["echo"] += 1
                    tally["echo_same"] += echoes[0] == song.ids[i, VELOCITY]
                    tally["echo_within_one"] += abs(echoes[0] - int(song.ids[i, VELOCITY])) <= 1
            for kind, distances in (("near", AHEAD_BARS), ("far", FAR_BARS)):
                found = [
                    d
                    for d in distances
                    if len(before) == last
                    and all((notes[r][0] + d * song.bar, notes[r][1], notes[r][2]) in after for r in before)
                ]
                if found:
                    tally[kind] += 1
                    tally[f"{kind}_hit"] += any((notes[i][0] + d * song.bar, track, pitch) in after for d in found)
                    break
    total = {k: sum(c[k] for c in counts.values()) for k in keys}

    def shares(c: dict[str, int]) -> dict[str, Any]:
        return {
            "notes": c["notes"],
            "near": round(c["near"] / max(1, c["notes"]), 3),
            "near_precision": round(c["near_hit"] / max(1, c["near"]), 3),
            "far_only": round(c["far"] / max(1, c["notes"]), 3),
            "far_precision": round(c["far_hit"] / max(1, c["far"]), 3),
            **(
                {
                    "echo": round(c["echo"] / c["known"], 3),
                    "echo_same": round(c["echo_same"] / max(1, c["echo"]), 3),
                    "echo_within_one": round(c["echo_within_one"] / max(1, c["echo"]), 3),
                }
                if c["known"]
                else {}
            ),
        }

    return {
        "split": split,
        "last_notes": last,
        "ahead_bars": list(AHEAD_BARS),
        "far_bars": list(FAR_BARS),
        "all": shares(total),
        "by_collection": {k: shares(c) for k, c in sorted(counts.items())},
    }


# ------------------------------------------------------------------------------------ harmonization


def harmonization(model: MusicLSTM, data: Path) -> dict[str, Any]:
    rows = list(csv.DictReader((data / "manifest.csv").open()))
    eval_groups = {r["group"] for r in rows if r["eval_set"] == "chorales_bwv253_438"}
    chorales = [r for r in rows if r["collection"] == "bach-chorales" and r["tracks"] == "4"]
    evaluation = [r for r in chorales if r["group"] in eval_groups]
    training = [r for r in chorales if r["group"] not in eval_groups and r["split"] == "train"]
    sums = {"with_soprano": [0.0, 0], "without_soprano": [0.0, 0]}
    atb_only: list[Song] = []
    for r in evaluation:
        piece = read_midi(data / r["path"])
        song = song_from_piece(piece)
        for name, with_s in (("with_soprano", True), ("without_soprano", False)):
            s = song if with_s else song_from_piece(without_track(piece, 0))
            nats, count = lower_voices_pitch_nats(model, s, with_s)
            sums[name][0] += nats
            sums[name][1] += count
        atb_only.append(song_from_piece(without_track(piece, 0)))
    ngram = NGramModel(4).fit(song_from_piece(without_track(read_midi(data / r["path"]), 0)).ids for r in training)
    return {
        "chorales": len(evaluation),
        "ngram_training_chorales": len(training),
        "notes": sums["with_soprano"][1],
        "pitch_bits_given_soprano": round(bits(sums["with_soprano"][0]) / max(1, sums["with_soprano"][1]), 4),
        "pitch_bits_without_soprano": round(bits(sums["without_soprano"][0]) / max(1, sums["without_soprano"][1]), 4),
        "ngram_pitch_bits_without_soprano": round(ngram_pitch_bits(ngram, atb_only), 4),
        "context_encoder": bool(model.config.context),
    }


# ------------------------------------------------------------------------------------ accompaniment


def _chords(folder: Path, midi_path: Path, line: float, span: float) -> list[tuple[float, float, set[int] | None]]:
    """The annotated chords over the segment from beat ``line``, ``span`` beats long, moved to start at 0."""
    out = []
    for a, b, label in annotated_chords(folder, midi_path):
        if b - line > 0 and a - line < span:
            out.append((max(0.0, a - line), min(span, b - line), chord_pcs(label)))
    return out


def _overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    return max(0.0, min(a1, b1) - max(a0, b0))


def chord_share(notes: list[Note], chords: list[tuple[float, float, set[int] | None]]) -> tuple[float, float]:
    """(note time in the chord's pitch classes, note time under any labelled chord)."""
    inside = total = 0.0
    for n in notes:
        for a, b, pcs in chords:
            if pcs is None:
                continue
            t = _overlap(n.start, n.end, a, b)
            total += t
            if n.pitch % 12 in pcs:
                inside += t
    return inside, total


def _against_melody(notes: list[Note], melody: list[Note], when: Callable[[Note, Note], bool]) -> tuple[float, float]:
    """(accompaniment time while a melody note sounds and ``when(note, melody note)`` holds, accompaniment time
    while one sounds)."""
    hit = total = 0.0
    for n in notes:
        for m in melody:
            t = _overlap(n.start, n.end, m.start, m.end)
            if t > 0:
                total += t
                hit += t * when(n, m)
    return hit, total


def doubling(notes: list[Note], melody: list[Note]) -> tuple[float, float]:
    """(accompaniment time on the pitch class of a sounding melody note, accompaniment time while one sounds)."""
    return _against_melody(notes, melody, lambda n, m: n.pitch % 12 == m.pitch % 12)


def above(notes: list[Note], melody: list[Note]) -> tuple[float, float]:
    """(accompaniment time above a sounding melody note, accompaniment time while one sounds)."""
    return _against_melody(notes, melody, lambda n, m: n.pitch > m.pitch)


def _key_scale(folder: Path) -> tuple[int, ...]:
    label = (folder / "key_audio.txt").read_text().split()[2]
    root, _, mode = label.partition(":")
    scale = MINOR if mode.startswith("min") else MAJOR
    return tuple((pitch_class(root) + d) % 12 for d in scale)


def accompaniment(
    composer: Composer,
    data: Path,
    pop909: Path,
    songs: int | None,
    bars: int,
    key_lock: bool = False,
    split: str = "test",
    chord_strength: float | None = None,
    stack_strength: float | None = None,
    pace_strength: float | None = None,
) -> dict[str, Any]:
    test = pop909_numbers(data, split)[:songs]
    leaning = Settings()  # the defaults, or the strengths asked for
    if chord_strength is not None:
        leaning = replace(leaning, chord_strength=chord_strength)
    if stack_strength is not None:
        leaning = replace(leaning, stack_strength=stack_strength)
    if pace_strength is not None:
        leaning = replace(leaning, pace_strength=pace_strength)
    real_onsets: list[float] = []
    rng = np.random.default_rng(0)
    sums = {
        k: [0.0, 0.0]
        for k in ("takes", "real", "random", "takes_doubling", "real_doubling", "takes_above", "real_above")
    }
    note_counts = {"takes": 0, "real": 0}
    per_song = []
    takes_made = 0
    stacks: list[float] = []  # a take's new notes per onset
    reach: list[float] = []  # how far into the segment a take's last new note starts (+ 1 beat), as a share
    paces: list[float] = []  # the pace a take is pulled to (composer.generate.PACE_BASE), in notes a bar
    for number in test:
        folder = pop909 / number
        midi_path = folder / f"{number}.mid"  # the release's file: its tempo map turns chord seconds into beats
        piece = read_midi(data / "pop909" / f"{number}.mid")  # the corpus's copy, on the grid the model learned
        cut = pop909_segment(piece, bars)
        if cut is None:
            continue
        melody, real, line = cut
        span = bars * piece.time_signature.bar_beats
        chords = _chords(folder, midi_path, line, span)
        onsets = np.array([round(n.start * STEPS_PER_BEAT) for n in melody.notes])
        per_step = accompaniment_pace(onsets, round(span * STEPS_PER_BEAT))  # what the takes are pulled to
        paces.append(per_step * STEPS_PER_BEAT * piece.time_signature.bar_beats)
        settings = replace(leaning, variations=4, seed=int(number), key_lock=key_lock)
        takes = composer.accompany(melody, settings, style="piano")
        song_share: list[float] = []  # each take's share, where a take has note time under a labelled chord
        for take in takes:
            new = list(take.continuation.notes)
            takes_made += 1
            note_counts["takes"] += len(new)
            i, t = chord_share(new, chords)
            sums["takes"][0] += i
            sums["takes"][1] += t
            if t:
                song_share.append(i / t)
            onsets = np.array(sorted({round(n.start * 12) for n in new}))
            if len(new):
                stacks.append(len(new) / len(onsets))
                reach.append(min(1.0, (max(n.start for n in new) + 1.0) / span))
            d, dt = doubling(new, list(melody.notes))
            sums["takes_doubling"][0] += d
            sums["takes_doubling"][1] += dt
            u, ut = above(new, list(melody.notes))
            sums["takes_above"][0] += u
            sums["takes_above"][1] += ut
        note_counts["real"] += len(real.notes)
        if real.notes:
            real_onsets.append(len(real.notes) / len({round(n.start * 12) for n in real.notes}))
        for key, values in (("real", list(real.notes)),):
            i, t = chord_share(values, chords)
            sums[key][0] += i
            sums[key][1] += t
        d, dt = doubling(list(real.notes), list(melody.notes))
        sums["real_doubling"][0] += d
        sums["real_doubling"][1] += dt
        u, ut = above(list(real.notes), list(melody.notes))
        sums["real_above"][0] += u
        sums["real_above"][1] += ut
        scale = _key_scale(folder)
        randomized = [replace(n, pitch=48 + int(rng.choice(scale)) + 12 * int(rng.integers(0, 2))) for n in real.notes]
        i, t = chord_share(randomized, chords)
        sums["random"][0] += i
        sums["random"][1] += t
        real_i, real_t = chord_share(list(real.notes), chords)
        per_song.append(
            {
                "song": number,
                "takes_chord_share": round(float(np.mean(song_share)), 4) if song_share else None,
                "real_chord_share": round(real_i / real_t, 4) if real_t else None,
            }
        )

    def share(key: str) -> float:
        return round(float(sums[key][0] / sums[key][1]), 4) if sums[key][1] else float("nan")

    takes_share, real_share = share("takes"), share("real")
    n_songs = len(per_song)
    return {
        "split": split,
        "chord_strength": leaning.chord_strength,
        "chord_duration_share": generate.CHORD_DURATION_SHARE,
        "chord_candidates": generate.CHORD_CANDIDATES,
        "stack_strength": leaning.stack_strength,
        "pace_strength": leaning.pace_strength,
        "songs": n_songs,
        "bars": bars,
        "takes": takes_made,
        "chord_share_takes": takes_share,
        "chord_share_real_piano": real_share,
        "chord_share_random_diatonic": share("random"),
        "takes_share_of_real": round(takes_share / real_share, 4) if real_share else None,
        "melody_doubling_takes": share("takes_doubling"),
        "melody_doubling_real_piano": share("real_doubling"),
        "above_melody_takes": share("takes_above"),
        "above_melody_real_piano": share("real_above"),
        "notes_per_bar_takes": round(note_counts["takes"] / max(1, takes_made) / bars, 3),
        "notes_per_bar_real_piano": round(note_counts["real"] / max(1, n_songs) / bars, 3),
        "notes_per_bar_pace": round(float(np.mean(paces)), 3) if paces else None,
        "notes_per_onset_takes": round(float(np.mean(stacks)), 3) if stacks else None,
        "notes_per_onset_real_piano": round(float(np.mean(real_onsets)), 3) if real_onsets else None,
        "reach_takes": round(float(np.mean(reach)), 3) if reach else None,
        "takes_without_notes": takes_made - len(stacks),
        "per_song": per_song,
    }


def _annotated_membership(chords: list[tuple[float, float, set[int] | None]], beats: int) -> np.ndarray:
    """(beats, 12) the annotated chords as a membership guess: each beat's time in each chord's pitch classes."""
    out = np.zeros((beats, 12))
    for a, b, pcs in chords:
        for i in range(max(0, int(a)), min(beats, math.ceil(b))):
            t = _overlap(a, b, float(i), i + 1.0)
            if pcs and t > 0:
                out[i, sorted(pcs)] += t
    return np.clip(out, 0.0, 1.0)


def accompaniment_bound(
    composer: Composer, data: Path, pop909: Path, songs: int | None, bars: int, split: str = "test"
) -> dict[str, Any]:
    """How far a melody-only chord guess can carry the accompaniment measure, on the songs and bars it uses.

    On the real PIANO track's own notes (its rhythm, its durations), each note's pitch class replaced by: the
    guess's likeliest pitch class over the note's span (:func:`composer.harmony.membership`, read as ChordGuide
    reads it: the mean over the span); a pitch class drawn in proportion to the guess raised to CHORD_STRENGTH
    (what the guide alone would draw, the note model's own leaning left out; the expected share).  Then the
    melody's own note time in the chord, and takes of accompany (4 a song, the defaults) whose guide is handed
    the annotated chords instead of the guess: what the sampler makes of a right guess."""
    from unittest import mock

    from composer import harmony

    numbers = pop909_numbers(data, split)[:songs]
    sums = {k: [0.0, 0.0] for k in ("real", "guess_top", "guess_drawn", "melody", "takes_annotated")}
    strength = Settings().chord_strength

    def add(key: str, notes: list[Note], chords: list[tuple[float, float, set[int] | None]]) -> None:
        inside, total = chord_share(notes, chords)
        sums[key][0] += inside
        sums[key][1] += total

    counted = 0
    for number in numbers:
        folder = pop909 / number
        piece = read_midi(data / "pop909" / f"{number}.mid")
        cut = pop909_segment(piece, bars)
        if cut is None:
            continue
        counted += 1
        melody, piano, line = cut
        bar = piece.time_signature.bar_beats
        span = bars * bar
        chords = _chords(folder, folder / f"{number}.mid", line, span)
        beats = math.ceil(span)
        guess = np.maximum(harmony.membership(list(melody.notes), beats, 0.0, bar), CHORD_FLOOR)
        for n in piano.notes:
            a, b = n.start, min(n.end, span)
            cover = [(i, _overlap(a, b, float(i), i + 1.0)) for i in range(int(a), min(beats, math.ceil(b)))]
            cover = [(i, t) for i, t in cover if t > 0]
            if not cover:
                continue
            mean = sum(guess[i] * t for i, t in cover) / sum(t for _, t in cover)
            add("real", [n], chords)
            add("guess_top", [replace(n, pitch=int(np.argmax(mean)))], chords)
            # the expected share of a pitch class drawn as the guide alone draws: each class's share, weighed
            drawn = mean**strength
            on = np.array([chord_share([replace(n, pitch=pc)], chords)[0] for pc in range(12)])
            sums["guess_drawn"][0] += float(on @ (drawn / drawn.sum()))
            sums["guess_drawn"][1] += chord_share([n], chords)[1]
        add("melody", list(melody.notes), chords)

        read: list[int] = []  # the annotated chords replace the guess where ChordGuide reads it

        def annotated(_: object, beats: int, *__: object, chords: list = chords, read: list = read) -> np.ndarray:
            read.append(beats)
            return _annotated_membership(chords, beats)

        with mock.patch.object(harmony, "membership", annotated):
            takes = composer.accompany(melody, Settings(variations=4, seed=int(number)), style="piano")
        if not read:
            raise RuntimeError("accompany no longer reads composer.harmony.membership; the bound would be the guess's")
        for take in takes:
            add("takes_annotated", list(take.continuation.notes), chords)

    def share(key: str) -> float:
        return round(float(sums[key][0] / sums[key][1]), 4) if sums[key][1] else float("nan")

    real = share("real")
    return {
        "split": split,
        "songs": counted,
        "bars": bars,
        "chord_strength": strength,
        "chord_share_real_piano": real,
        "real_rhythm_guess_likeliest": share("guess_top"),
        "real_rhythm_guess_drawn": share("guess_drawn"),
        "melody_own": share("melody"),
        "takes_given_annotated_chords": share("takes_annotated"),
        "share_of_real": {
            "real_rhythm_guess_likeliest": round(share("guess_top") / real, 4),
            "real_rhythm_guess_drawn": round(share("guess_drawn") / real, 4),
            "takes_given_annotated_chords": round(share("takes_annotated") / real, 4),
        },
    }


# --------------------------------------------------------------------------------------------- join


def _last_and_first(notes: list[Note], track: int, start: float, end: float) -> tuple[int, int] | None:
    inside = [n for n in notes if n.track == track and start <= n.start < end]
    after = [n for n in notes if n.track == track and n.start >= end]
    if not inside or not after:
        return None
    last_onset = max(n.start for n in inside)
    first_onset = min(n.start for n in after)
    last = max(n.pitch for n in inside if n.start == last_onset)
    first = max(n.pitch for n in after if n.start == first_onset)
    return last, first


def _in_key(notes: list[Note], key: int | None) -> float:
    if key is None or not notes:
        return float("nan")
    scale = {(key % 12 + d) % 12 for d in (MINOR if key >= 12 else MAJOR)}
    return sum(n.pitch % 12 in scale for n in notes) / len(notes)


def join(
    composer: Composer, data: Path, pieces: int, split: str = "test", join_strength: float | None = None
) -> dict[str, Any]:
    rows = [r for r in csv.DictReader((data / "manifest.csv").open()) if r["split"] == split]
    settings = Settings() if join_strength is None else Settings(join_strength=join_strength)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(rows))
    real_leaps: list[int] = []
    take_leaps: list[int] = []
    real_key: list[float] = []
    take_key: list[float] = []
    used = 0
    for index in order:
        if used >= pieces:
            break
        piece = read_midi(data / rows[index]["path"])
        bar = piece.time_signature.bar_beats
        start = piece.bar_start + 4 * bar
        end = piece.bar_start + 8 * bar
        if not any(n.start >= end for n in piece.notes) or not any(start <= n.start < end for n in piece.notes):
            continue
        try:
            takes = composer.infill(piece, (5, 8), replace(settings, variations=4, seed=used))
        except Exception:  # a piece the infill refuses (too short around the gap): not counted
            continue
        used += 1
        around = piece.with_notes(tuple(n for n in piece.notes if not start <= n.start < end))
        key = estimate_key(around)
        real_key.append(_in_key([n for n in piece.notes if start <= n.start < end], key))
        for track in range(len(piece.tracks)):
            real = _last_and_first(list(piece.notes), track, start, end)
            if real is None:
                continue
            for take in takes:
                got = _last_and_first(list(take.piece.notes), track, start, end)
                if got is not None:
                    take_leaps.append(abs(got[1] - got[0]))
                    real_leaps.append(abs(real[1] - real[0]))
        for take in takes:
            take_key.append(_in_key(list(take.continuation.notes), key))
    real_mean = float(np.mean(real_leaps)) if real_leaps else float("nan")
    take_mean = float(np.mean(take_leaps)) if take_leaps else float("nan")
    return {
        "split": split,
        "join_strength": settings.join_strength,
        "pieces": used,
        "joins": len(take_leaps),
        "mean_leap_takes": round(take_mean, 3),
        "mean_leap_real": round(real_mean, 3),
        "ratio": round(take_mean / real_mean, 4) if real_mean else None,
        "in_key_share_takes": round(float(np.nanmean(take_key)), 4),
        "in_key_share_real": round(float(np.nanmean(real_key)), 4),
    }


# --------------------------------------------------------------------------------------------- speed


def _speed_of(composer: Composer, midi_path: Path, rounds: int, from_melody: bool = False) -> dict[str, Any] | None:
    """One song's three tasks, alternated ``rounds`` times after a warm-up.  From the file's start, or with
    ``from_melody`` from the bar of the melody's first note (the song moved to start there), so that the seed
    is the song's texture rather than its intro.  None for a song the tasks refuse (too short, or a seed without
    notes) or without a MELODY and a PIANO track."""
    piece = read_midi(midi_path)
    bar = piece.time_signature.bar_beats
    cut = pop909_segment(piece, 8)
    if cut is None:
        return None
    if from_melody:
        line = cut[2]
        piece = replace(
            piece.with_notes(tuple(replace(n, start=n.start - line) for n in piece.notes if n.start >= line)),
            bar_start=0.0,
        )
    # bars of the song as its file states them: bars 1-4 as the seed, bars 5-12 the span, so each task makes 8 bars
    seed = piece.with_notes(tuple(n for n in piece.notes if n.start < piece.bar_start + 4 * bar))
    twelve = piece.with_notes(tuple(n for n in piece.notes if n.start < piece.bar_start + 16 * bar))
    melody = cut[0]
    s = Settings(bars=8, variations=4, seed=0)
    tasks = {
        "continuation": lambda: composer.continue_piece(seed, s),
        "infill": lambda: composer.infill(twelve, (5, 12), s),
        "accompany": lambda: composer.accompany(melody, s, style="piano"),
    }
    made: dict[str, int] = {}
    try:
        for name, task in tasks.items():  # warm up, and count the notes each task makes
            made[name] = sum(len(t.continuation.notes) for t in task())
    except InputError:
        return None
    times: dict[str, list[float]] = {k: [] for k in tasks}
    for _ in range(rounds):
        for name, task in tasks.items():
            t = time.perf_counter()
            task()
            times[name].append(time.perf_counter() - t)
    base = statistics.median(times["continuation"])
    return {
        "rounds": rounds,
        "median_seconds": {k: round(statistics.median(v), 4) for k, v in times.items()},
        "new_notes": made,
        "infill_over_continuation": round(statistics.median(times["infill"]) / base, 3),
        "accompany_over_continuation": round(statistics.median(times["accompany"]) / base, 3),
    }


def speed(composer: Composer, pop909: Path, rounds: int, data: Path | None = None, songs: int = 0) -> dict[str, Any]:
    """POP909 001 from its start (the benchmark's song since it began), then, with ``songs``, the first ``songs``
    test-split songs as well, each from the bar of its melody's first note: each song's ratios (and the notes
    each task made), and their median and highest over the songs."""
    result = _speed_of(composer, pop909 / "001" / "001.mid", rounds)
    assert result is not None
    if songs and data is not None:
        per_song = []
        for number in pop909_numbers(data, "test")[:songs]:
            one = _speed_of(composer, pop909 / number / f"{number}.mid", rounds, from_melody=True)
            if one is None:
                print("speed", number, "skipped: the tasks refuse it")
            else:
                per_song.append({"song": number, **one})
                print("speed", number, {k: one[k] for k in ("infill_over_continuation", "accompany_over_continuation")})
        result["test_songs"] = per_song
        for key in ("infill_over_continuation", "accompany_over_continuation"):
            ratios = [one[key] for one in per_song]
            result[f"test_songs_{key}"] = {
                "median": round(statistics.median(ratios), 3),
                "highest": max(ratios),
                "over_2": sum(r > 2 for r in ratios),
            }
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, default=SHIPPED_MODEL)
    parser.add_argument("--data", type=Path, default=ROOT / "midi_data")
    parser.add_argument("--pop909", type=Path, default=ROOT.parent / "shared" / "data" / "pop909")
    parser.add_argument(
        "--songs",
        type=int,
        default=None,
        help="the first N POP909 songs of the split to accompany (default: all of them: 100 test songs, 91 "
        "validation songs; the first 20 alone, the default until 8cf69838, flatter the takes: see the README)",
    )
    parser.add_argument("--bars", type=int, default=16, help="bars of each song accompanied")
    parser.add_argument("--pieces", type=int, default=80, help="test pieces for the join")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--speed-songs",
        type=int,
        default=10,
        help="the speed on POP909 001 and on the first N test-split songs as well (0: 001 alone)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--only",
        help="comma-separated sections: gap, harmonization, accompaniment, join, speed; or bound (not run by "
        "default: how far a melody-only chord guess can carry the accompaniment measure)",
    )
    parser.add_argument(
        "--tune-chords",
        metavar="S,S,...",
        help="instead: accompany --songs POP909 validation songs at each of these chord strengths (plain, no key "
        "lock) and write the results (the strength's choice; see composer.generate.CHORD_STRENGTH)",
    )
    parser.add_argument(
        "--tune-chord-durations",
        metavar="S,S,...",
        help="likewise, at each of these shares of the chord strength leaning the durations "
        "(composer.generate.CHORD_DURATION_SHARE)",
    )
    parser.add_argument(
        "--tune-chord-candidates",
        metavar="N,N,...",
        help="likewise, drawing this many candidates a take (composer.generate.CHORD_CANDIDATES)",
    )
    parser.add_argument("--count-stacking", action="store_true", help="instead: print POP909's piano stacking")
    parser.add_argument(
        "--count-recurrence",
        action="store_true",
        help="instead: how often a gap's notes recur after it, bars ahead and far ahead (validation split; "
        "bench/results/infill_recurrence.json)",
    )
    parser.add_argument(
        "--gap-split", default="test", help="the split the gap section scores (valid: to choose between models)"
    )
    parser.add_argument("--fit-join", action="store_true", help="instead: fit the leaps of real joins (1,000 pieces)")
    parser.add_argument(
        "--tune-join", metavar="S,S,...", help="instead: the join on --pieces validation pieces at these strengths"
    )
    parser.add_argument("--fit-pace", action="store_true", help="instead: fit the pace line on POP909's training songs")
    parser.add_argument(
        "--tune-pace",
        metavar="S,S,...",
        help="likewise, at each of these pace strengths (composer.generate.PACE_STRENGTH)",
    )
    parser.add_argument(
        "--tune-stacking",
        metavar="S,S,...",
        help="likewise, at each of these stacking strengths (composer.generate.STACK_STRENGTH)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "infill.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model, _ = load_model(args.model)
    model.eval()
    composer = Composer(args.model)
    sections = set((args.only or "gap,harmonization,accompaniment,join,speed").split(","))
    result: dict[str, Any] = {"model": str(args.model), "context_encoder": bool(model.config.context)}
    if args.count_stacking:
        print(piano_stacking(args.data))
        return
    if args.count_recurrence:
        counted = recurrence(load_songs(args.data)[0])
        print(json.dumps(counted, indent=1))
        write_result(ROOT / "bench" / "results" / "infill_recurrence.json", counted)
        return
    if args.fit_join:
        result["join_fit"] = join_leaps(args.data)
        print(result["join_fit"], flush=True)
        sections = set()
    if args.tune_join:
        result["join_strengths"] = []
        for strength in (float(x) for x in args.tune_join.split(",")):
            result["join_strengths"].append(join(composer, args.data, args.pieces, "valid", strength))
            print(result["join_strengths"][-1], flush=True)
        sections = set()
    if args.fit_pace:
        result["pace_fit"] = piano_pace(args.data, args.bars)
        print(result["pace_fit"], flush=True)
        sections = set()
    tunings = (
        (args.tune_chords, "chord_strengths"),
        (args.tune_stacking, "stack_strengths"),
        (args.tune_pace, "pace_strengths"),
    )
    for asked, name in tunings:
        if not asked:
            continue
        result[name] = []
        for strength in (float(x) for x in asked.split(",")):
            chord, stack, pace = (
                strength if name == f"{field}_strengths" else None for field in ("chord", "stack", "pace")
            )
            made = accompaniment(
                composer,
                args.data,
                args.pop909,
                args.songs,
                args.bars,
                split="valid",
                chord_strength=chord,
                stack_strength=stack,
                pace_strength=pace,
            )
            result[name].append({k: v for k, v in made.items() if k != "per_song"})
            print(result[name][-1], flush=True)
        sections = set()
    constants = (
        (args.tune_chord_durations, "chord_duration_shares", "CHORD_DURATION_SHARE", float),
        (args.tune_chord_candidates, "chord_candidates", "CHORD_CANDIDATES", int),
    )
    for asked, name, constant, kind in constants:
        if not asked:
            continue
        result[name] = []
        chosen = getattr(generate, constant)
        try:
            for value in (kind(x) for x in asked.split(",")):
                setattr(generate, constant, value)
                made = accompaniment(composer, args.data, args.pop909, args.songs, args.bars, split="valid")
                result[name].append({k: v for k, v in made.items() if k != "per_song"})
                print(result[name][-1], flush=True)
        finally:
            setattr(generate, constant, chosen)
        sections = set()
    if "gap" in sections:
        songs, _ = load_songs(args.data)
        result["gap_bars_5_8"] = {"split": args.gap_split, **gap_section(model, songs, args.gap_split)}
        print("gap", {k: result["gap_bars_5_8"][k] for k in ("pieces", "gap_bits_per_note", "ratio")}, flush=True)
    if "harmonization" in sections:
        result["harmonization"] = harmonization(model, args.data)
        print("harmonization", result["harmonization"], flush=True)
    if "accompaniment" in sections:
        for name, lock in (("accompaniment", False), ("accompaniment_key_lock", True)):
            result[name] = accompaniment(composer, args.data, args.pop909, args.songs, args.bars, key_lock=lock)
            print(name, {k: v for k, v in result[name].items() if k != "per_song"}, flush=True)
    if "bound" in sections:
        result["accompaniment_bound"] = accompaniment_bound(composer, args.data, args.pop909, args.songs, args.bars)
        print("bound", result["accompaniment_bound"], flush=True)
    if "join" in sections:
        result["join"] = join(composer, args.data, args.pieces)
        print("join", result["join"], flush=True)
    if "speed" in sections:
        result["speed"] = speed(composer, args.pop909, args.rounds, args.data, args.speed_songs)
        print("speed", result["speed"], flush=True)
    write_result(args.out, result)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
