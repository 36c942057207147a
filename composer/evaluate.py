"""Evaluation: bits per note on held-out music, the published melody-prediction protocols, the n-gram.

* :func:`test_split` — bits per note (total and per field) of a model and of the n-gram baseline on the
  corpus's test split.
* :func:`protocol` — the melody-prediction literature's setting: 10-fold cross-validation on an evaluation
  set, scoring **pitch bits per note** = −log2 p(pitch | earlier notes, this note's onset and duration,
  the stated key).  The LSTM starts from a model pretrained on everything *except* the evaluation sets
  (and every piece grouped with them) and is fine-tuned on the nine training folds (the chorales also beside
  the other chorale soprano lines pre-training read: :data:`PROTOCOL_COMPANIONS`); the n-gram is trained
  on the nine folds.  Published figures on the same sets (Pearce 2005; IDyOM): chorale soprano melodies
  2.342 (pitch-only), 1.953 (best multiple-viewpoint system); Essen kinder 2.102.
* :func:`score_folder` — any folder of MIDI under the shipped model and the n-gram.
"""

from __future__ import annotations

import csv
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from composer.context import ACCOMPANY, bar_start_step, gap_context, notes_as_context
from composer.corpus import read_manifest
from composer.dataset import Song, collate, collate_contexts, iterate_batches, load_songs
from composer.discriminate import Excerpt, SeedCase, compare
from composer.encoding import FIELDS, PITCH, REST, SHIFT, STEPS_PER_BEAT, TRACK, VELOCITY, VELOCITY_UNKNOWN, encode
from composer.errors import InputError
from composer.form import RESTATED_SHARE, SeedBars
from composer.generate import KEY_PRIOR, KEY_STRENGTH, SELECT_CANDIDATES, Composer, Settings
from composer.midi_io import read_midi
from composer.model import LN2, ModelConfig, MusicLSTM, bits
from composer.ngram import NGramModel
from composer.piece import Note, Piece
from composer.score import estimate_key
from composer.train import (
    TrainConfig,
    evaluate_songs,
    evaluate_songs_with_and_without_memory,
    field_bits,
    note_count,
    select_songs,
    train,
)

PUBLISHED = {
    "chorales_bwv253_438": {"IDyOM pitch-only (Pearce 2005)": 2.342, "IDyOM best system (Pearce 2005)": 1.953},
    "essen_kinder": {"IDyOM (Pearce 2005)": 2.102},
}


@torch.no_grad()
def model_pitch_bits(model: MusicLSTM, songs: list[Song], *, memory: bool = False) -> float:
    """Mean pitch bits over the notes of whole songs, the rest id excluded from the pitch distribution;
    ``memory``: with the short-term memory blended in (:mod:`composer.memory`)."""
    model.eval()
    total, count = 0.0, 0
    for items in iterate_batches(
        songs, max_len=4096, batch_events=32768, seed=0, epoch=0, augment=False, shuffle=False
    ):
        batch = collate(items, memory=memory)
        total += float(model.field_nll(batch, pitch_of_a_note=True)[..., PITCH].sum())
        count += note_count(batch)
    return bits(total) / max(1, count)


def ngram_bits(ngram: NGramModel, songs: list[Song]) -> dict[str, float]:
    """The n-gram's bits per note, summarised as the LSTM's (:func:`composer.train.evaluate_songs`): velocity
    only where it is known, ``velocity_bits`` per such note."""
    total = np.zeros(len(FIELDS))
    notes = velocity_notes = 0
    for s in songs:
        total += ngram.event_bits(s.ids).sum(axis=0)
        is_note = s.ids[:, PITCH] != REST
        notes += int(is_note.sum())
        velocity_notes += int((is_note & (s.ids[:, VELOCITY] != VELOCITY_UNKNOWN)).sum())
    return field_bits([float(b) * LN2 for b in total], notes, velocity_notes)  # field_bits takes nats


def ngram_pitch_bits(ngram: NGramModel, songs: list[Song]) -> float:
    bits = np.concatenate([ngram.pitch_bits(s.ids) for s in songs])
    return float(bits.mean()) if bits.size else float("nan")


def shipped_training_songs(songs: list[Song]) -> list[Song]:
    """The pieces the shipped model learned from: the training split without the evaluation sets and their groups."""
    return select_songs(songs, TrainConfig(exclude_eval=True))[0]


def test_split(
    model: MusicLSTM, data: Path, *, ngram_order: int = 4, ngram: bool = True, memory: bool = True
) -> dict[str, Any]:
    """The test split's bits per note: ``lstm`` the model with the short-term memory (``memory``; then
    ``lstm_without_memory`` beside it), ``ngram`` the n-gram fitted on the shipped model's training pieces."""
    songs, _ = load_songs(data)
    train_songs = shipped_training_songs(songs)
    test_songs = [s for s in songs if s.split == "test"]
    result: dict[str, Any] = {"test_pieces": len(test_songs), "memory": memory}
    if memory:
        result["lstm"], result["lstm_without_memory"] = evaluate_songs_with_and_without_memory(
            model, test_songs, torch.device("cpu")
        )
    else:
        result["lstm"] = evaluate_songs(model, test_songs, torch.device("cpu"))
    if ngram:
        started = time.perf_counter()
        fitted = NGramModel(ngram_order).fit(s.ids for s in train_songs)
        result["ngram"] = ngram_bits(fitted, test_songs)
        result["ngram"]["order"] = ngram_order
        result["ngram"]["seconds"] = round(time.perf_counter() - started, 1)
    return result


def step_path_bits(model: MusicLSTM, data: Path, *, int8: bool, limit: int | None = None) -> dict[str, Any]:
    """Bits per note on the test split when the LSTM and the heads' first projection run as the generator
    runs them: :class:`FastStepper` steps and head inputs (``int8``: its int8 matrix products) instead of
    ``nn.LSTM`` and ``nn.Linear`` — what int8 costs, measured."""
    from composer.generate import FastStepper

    songs, _ = load_songs(data)
    test_songs = [s for s in songs if s.split == "test"][:limit]
    stepper = FastStepper(model, int8=int8)

    def trunk(x: torch.Tensor) -> torch.Tensor:
        return stepper.run(x, stepper.split_state(model.initial_state(x.shape[0])))

    def head_in(h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # One step at a time, as generation calls it: the int8 kernel's input scale is then one step's.
        per_step = [stepper.head_inputs(h[:, t]) for t in range(h.shape[1])]
        return tuple(torch.stack(chunks, dim=1) for chunks in zip(*per_step, strict=True))

    # Small batches: the int8 kernel quantizes each step's input with one scale for the whole batch, as it
    # does for the K variations of a generation (up to 16), so score at that size.
    with torch.no_grad():
        return evaluate_songs(model, test_songs, torch.device("cpu"), batch_events=4096, trunk=trunk, head_in=head_in)


def tunes_with_variants(data: Path) -> set[str]:
    """The evaluation tunes (paths as songs name them) that have a close variant elsewhere in the corpus, from
    the corpus build's ``eval-variants.csv``; none where the folder has no such list."""
    path = Path(data) / "eval-variants.csv"
    if not path.exists():
        return set()
    with open(path, newline="", encoding="utf-8") as f:
        return {row["eval_path"] for row in csv.DictReader(f)}


def folds_of(songs: list[Song], folds: int) -> list[int]:
    """Fold of each evaluation piece: pieces in corpus order (by file name), dealt round-robin."""
    order = sorted(range(len(songs)), key=lambda i: songs[i].name)
    fold = [0] * len(songs)
    for rank, i in enumerate(order):
        fold[i] = rank % folds
    return fold


# The protocols' fine-tuning rates, one chosen per fold on its validation fold: 1e-3 alone until issue 11's third
# round; at 3e-4 the shipped model's first folds scored lower on both sets (a scratch run), so both are tried.
PROTOCOL_LRS = (1e-3, 3e-4)

# The pre-training pieces of a set's own collection that fine-tuning revisits beside the folds: the chorale soprano
# lines outside BWV 253–438 (98 in today's corpus; none a close variant of an evaluation tune, those are grouped with
# it and left out of pre-training).  Fine-tuning on the folds alone (~7,500 notes) adapts to the chorales from too
# few of them; the model had already learned from these, so they tell it nothing about the test fold.  Chosen on
# the 15 chorale soprano lines of the validation and test splits outside the evaluation set and its groups (a
# scratch run, fold 0's and fold 3's training folds; pitch bits/note of the LSTM alone, the rate the validation
# fold chose): 2.031 → 1.985 and 2.072 → 1.976 (at 1e-3), and the average of fold 0's two fine-tunes 1.979.  That
# set overstated the gain (its tunes are kept apart from these by their openings only): the protocol's chorales moved
# 1.802 → 1.769 with the memory, 1.894 → 1.867 without the tunes that have a close variant (README).
# The Essen kinder tunes get none: their collection (6,487 pieces) is most of what pre-training read.
PROTOCOL_COMPANIONS = {"chorales_bwv253_438": "bach-soprano"}


@torch.no_grad()
def note_pitch_terms(model: MusicLSTM, songs: list[Song]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each note of ``songs`` (rest events left out), in a fixed order: the model's probability of its pitch
    (the rest id left out of the distribution, as the protocols score it), and the short-term memory's keep and
    mass on that pitch (:mod:`composer.memory`), so that with the memory it is keep × p + mass.  Float64."""
    model.eval()
    parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for items in iterate_batches(
        songs, max_len=4096, batch_events=32768, seed=0, epoch=0, augment=False, shuffle=False
    ):
        batch = collate(items, memory=True)
        assert batch.memory_keep is not None and batch.memory_hit is not None
        _, alone = model.field_nll_with_and_without_memory(batch, pitch_of_a_note=True)
        scored = batch.mask & (batch.targets[..., PITCH] != REST)
        parts.append(
            (
                torch.exp(-alone[..., PITCH].double())[scored].numpy(),
                batch.memory_keep[..., 0].double()[scored].numpy(),
                batch.memory_hit[..., 0].double()[scored].numpy(),
            )
        )
    if not parts:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    p, keep, hit = (np.concatenate(x) for x in zip(*parts, strict=True))
    return p, keep, hit


def mean_pitch_bits(p: np.ndarray, keep: np.ndarray | None = None, hit: np.ndarray | None = None) -> float:
    """Mean −log2 of each note's pitch probability ``p`` (:func:`note_pitch_terms`), or of keep × p + mass with
    the memory's terms; nan for no notes."""
    if not p.size:
        return float("nan")
    q = p if keep is None or hit is None else keep * p + hit
    return float(-np.log2(q).mean())


def _fine_tuned(
    data: Path,
    pretrained: Path | None,
    fit: list[Song],
    valid: list[Song],
    lrs: tuple[float, ...],
    *,
    epochs: int,
    model_config: ModelConfig | None,
    seed: int,
) -> list[tuple[float, MusicLSTM]]:
    """The model fine-tuned on ``fit`` (early stopping on ``valid``) at each rate of ``lrs``: (rate, model)."""
    from composer.checkpoint import load_model

    out = []
    for lr in lrs:
        with tempfile.TemporaryDirectory() as tmp:
            # Small batches: nine folds are only ~8,000 notes, and fine-tuning wants many small steps.
            cfg = TrainConfig(
                data=str(data),
                out=tmp,
                epochs=epochs,
                batch_events=512,
                max_len=256,
                lr=lr,
                warmup_steps=20,
                patience=5,
                seed=seed,
                progress=False,
                log=False,
                checkpoint_seconds=1e9,
                init=str(pretrained) if pretrained else None,
                model=model_config or ModelConfig(),
            )
            train(cfg, songs=(fit, valid))
            model, _ = load_model(Path(tmp) / "best.safetensors")
        out.append((lr, model))
    return out


def _chosen(models: list[tuple[float, MusicLSTM]], valid: list[Song]) -> tuple[str, list[int], dict[str, float]]:
    """Of the fine-tunes and (with two or more) their average — the mean of their pitch distributions — the one
    with the fewest pitch bits (with the memory) on ``valid`` → (its name, the models it averages, every
    candidate's validation pitch bits)."""
    terms = [note_pitch_terms(model, valid) for _, model in models]
    candidates = {f"{lr:g}": [i] for i, (lr, _) in enumerate(models)}
    if len(models) > 1:
        candidates["average"] = list(range(len(models)))
    scores = {}
    for name, members in candidates.items():
        p = np.mean([terms[i][0] for i in members], axis=0)
        score = mean_pitch_bits(p, terms[0][1], terms[0][2])
        scores[name] = round(score, 4) if np.isfinite(score) else float("inf")  # a validation fold without notes
    name = min(scores, key=lambda n: scores[n])
    return name, candidates[name], scores


def protocol(
    eval_set: str,
    data: Path,
    pretrained: Path | None,
    *,
    folds: int = 10,
    epochs: int = 30,
    model_config: ModelConfig | None = None,
    lrs: tuple[float, ...] = PROTOCOL_LRS,
    companions: bool = True,
    ngram_order: int = 4,
    progress: bool = False,
    seed: int = 0,
    only: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """k-fold cross-validated pitch bits per note on one evaluation set, for the LSTM and the n-gram.

    Each fold fine-tunes the model on eight of the other folds (and, with ``companions``, the pre-training pieces of
    :data:`PROTOCOL_COMPANIONS`) at each learning rate of ``lrs``, early stopping on the ninth; of those models and
    their average, the one with the fewest pitch bits on that ninth fold scores the test fold (the test fold
    chooses nothing).  The LSTM's figures are with the short-term memory (``lstm_pitch_bits``) and without it.

    ``only``: run just these folds (the totals then over them); :func:`merge_protocols` joins such runs, made in
    parallel, into the whole run's result."""
    songs, _ = load_songs(data)
    pieces = [s for s in songs if s.eval_set == eval_set]
    if not pieces:
        raise ValueError(f"no pieces of evaluation set {eval_set!r} in {data}")
    fold_of = folds_of(pieces, folds)
    with_variant = tunes_with_variants(data)
    companion = PROTOCOL_COMPANIONS.get(eval_set) if companions else None
    extra = [s for s in shipped_training_songs(songs) if s.collection == companion] if companion else []
    per_fold = []
    for k in range(folds) if only is None else sorted(only):
        test = [p for p, f in zip(pieces, fold_of, strict=True) if f == k]
        rest = [p for p, f in zip(pieces, fold_of, strict=True) if f != k]
        # Early stopping watches one of the nine training folds, never the test fold.
        valid_fold = (k + 1) % folds
        valid = [p for p, f in zip(pieces, fold_of, strict=True) if f == valid_fold]
        fit = [p for p, f in zip(pieces, fold_of, strict=True) if f not in (k, valid_fold)]
        started = time.perf_counter()
        models = _fine_tuned(
            data, pretrained, fit + extra, valid, lrs, epochs=epochs, model_config=model_config, seed=seed + k
        )
        chosen, members, valid_bits = _chosen(models, valid)
        ngram = NGramModel(ngram_order).fit(s.ids for s in rest)
        # The LSTM's (with the memory, without) and the n-gram's bits summed over the fold's notes, over all its
        # tunes and over those without a close variant elsewhere in the corpus (midi_data's eval-variants.csv):
        # what the model scores where no near-copy of the tune could have taught it.
        fold = {"lstm": 0.0, "lstm_without_memory": 0.0, "ngram": 0.0, "notes": 0, "pieces": 0}
        clean = dict(fold)
        for part in ([s for s in test if s.name not in with_variant], [s for s in test if s.name in with_variant]):
            if not part:
                continue
            terms = [note_pitch_terms(models[i][1], part) for i in members]
            p = np.mean([t[0] for t in terms], axis=0)
            n = len(p)
            scores = {
                "lstm": mean_pitch_bits(p, terms[0][1], terms[0][2]) * n,
                "lstm_without_memory": mean_pitch_bits(p) * n,
                "ngram": ngram_pitch_bits(ngram, part) * n,
                "notes": n,
                "pieces": len(part),
            }
            for total in (fold, clean) if part[0].name not in with_variant else (fold,):
                for key, value in scores.items():
                    total[key] += value
        notes = int(fold["notes"])
        per_fold.append(
            {
                "fold": k,
                "pieces": len(test),
                "notes": notes,
                "lstm_pitch_bits": round(fold["lstm"] / notes, 4),
                "lstm_without_memory_pitch_bits": round(fold["lstm_without_memory"] / notes, 4),
                "ngram_pitch_bits": round(fold["ngram"] / notes, 4),
                "chosen": chosen,  # the learning rate (or the average of the fine-tunes) the validation fold chose
                "valid_pitch_bits": valid_bits,  # with the memory
                "seconds": round(time.perf_counter() - started, 1),
                "sums": fold,  # what the totals add up (and merge_protocols)
                "sums_without_variant_tunes": clean,
            }
        )
        if progress:
            f = per_fold[-1]
            print(
                f"{eval_set} fold {k + 1}/{folds}: LSTM {f['lstm_pitch_bits']:.3f} (without the memory "
                f"{f['lstm_without_memory_pitch_bits']:.3f}), n-gram {f['ngram_pitch_bits']:.3f} pitch bits/note "
                f"({len(test)} pieces, {chosen}, {f['seconds']} s)",
                flush=True,
            )

    return _protocol_result(
        {
            "eval_set": eval_set,
            "pieces": len(pieces),
            "folds": folds,
            "pretrained": str(pretrained) if pretrained else None,
            "epochs": epochs,
            "seed": seed,  # fold k fine-tunes with seed + k
            "learning_rates": list(lrs),
            "companions": {"collection": companion, "pieces": len(extra)} if companion else None,
            "per_fold": per_fold,
            "published": PUBLISHED.get(eval_set, {}),
        }
    )


def _protocol_result(run: dict[str, Any]) -> dict[str, Any]:
    """A protocol run's result, its totals summed from its folds' ``sums`` (each note counted once)."""
    keys = ("lstm", "lstm_without_memory", "ngram", "notes", "pieces")
    every = {k: sum(f["sums"][k] for f in run["per_fold"]) for k in keys}
    clean = {k: sum(f["sums_without_variant_tunes"][k] for f in run["per_fold"]) for k in keys}

    def mean(total: dict[str, float], key: str) -> float | None:
        return round(total[key] / total["notes"], 4) if total["notes"] else None

    return {
        "eval_set": run["eval_set"],
        "pieces": int(every["pieces"]),
        "folds": run["folds"],
        "notes": int(every["notes"]),
        # Mean over all notes of all test folds (each note counted once).
        "lstm_pitch_bits": mean(every, "lstm"),
        "lstm_without_memory_pitch_bits": mean(every, "lstm_without_memory"),
        "ngram_pitch_bits": mean(every, "ngram"),
        "without_variant_tunes": {
            "pieces": int(clean["pieces"]),
            "notes": int(clean["notes"]),
            "lstm_pitch_bits": mean(clean, "lstm"),
            "lstm_without_memory_pitch_bits": mean(clean, "lstm_without_memory"),
            "ngram_pitch_bits": mean(clean, "ngram"),
        },
        **{k: run[k] for k in ("pretrained", "epochs", "seed", "learning_rates", "companions")},
        "per_fold": sorted(run["per_fold"], key=lambda f: f["fold"]),
        "published": run["published"],
    }


def merge_protocols(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Runs of one protocol over disjoint folds (``protocol(…, only=…)``, the same settings) → the result of the
    whole run, as one call over every fold would give (an InputError if they differ, overlap or leave one out)."""
    settings = ("eval_set", "folds", "pretrained", "epochs", "seed", "learning_rates", "companions")
    first = parts[0]
    if any(p[k] != first[k] for p in parts for k in settings):
        raise InputError("These protocol runs differ in their settings; merge runs of one protocol only.")
    folds = sorted(f["fold"] for p in parts for f in p["per_fold"])
    if folds != list(range(first["folds"])):
        raise InputError(f"These protocol runs hold folds {folds}; merge runs that hold each fold once.")
    return _protocol_result({**first, "per_fold": [f for p in parts for f in p["per_fold"]]})


def score_folder(
    model: MusicLSTM, folder: Path, reference: Path, *, ngram_order: int = 4, memory: bool = True
) -> dict[str, Any]:
    """Bits per note of every readable file in ``folder`` under the model and the n-gram.

    ``per_field`` has ``shift_bits``, ``pitch_bits``, ``duration_bits``, ``track_bits`` per note and
    ``velocity_bits`` per note whose velocity is known (``velocity_notes`` of them: files with dynamics);
    ``bits_per_note`` counts velocity only where it is known, ``bits_per_note_without_velocity`` not at all.
    ``memory``: the pitch and the duration with the short-term memory (:mod:`composer.memory`);
    ``without_memory`` then has the total, the pitch and the duration bits of the model alone.

    The n-gram is trained on what the shipped model learned from: ``reference``'s training split without the
    evaluation sets (see :func:`shipped_training_songs`).
    """
    songs, report = load_songs(folder, use_cache=False)
    if memory:
        lstm, alone = evaluate_songs_with_and_without_memory(model, songs, torch.device("cpu"))
    else:
        lstm = alone = evaluate_songs(model, songs, torch.device("cpu"))
    ref_songs, _ = load_songs(reference)
    ngram = NGramModel(ngram_order).fit(s.ids for s in shipped_training_songs(ref_songs))
    ng = ngram_bits(ngram, songs)
    return {
        "files": report.files,
        "scored": len(songs),
        "skipped": report.skipped,
        "notes": int(lstm["notes"]),
        "velocity_notes": int(lstm["velocity_notes"]),
        "bits_per_note": round(lstm["bits_per_note"], 4),
        "bits_per_note_without_velocity": round(lstm["bits_per_note_without_velocity"], 4),
        "ngram_bits_per_note": round(ng["bits_per_note"], 4),
        "ngram_bits_per_note_without_velocity": round(ng["bits_per_note_without_velocity"], 4),
        "per_field": {k: round(v, 4) for k, v in lstm.items() if k.endswith("_bits")},
        "ngram_per_field": {k: round(v, 4) for k, v in ng.items() if k.endswith("_bits")},
        "memory": memory,
        "without_memory": {
            "bits_per_note": round(alone["bits_per_note"], 4),
            "pitch_bits": round(alone["pitch_bits"], 4),
            "duration_bits": round(alone["duration_bits"], 4),
        },
    }


# ------------------------------------------------------------------------------------------ continuations


def _histogram(values: list[int], size: int, weights: list[float] | None = None) -> np.ndarray:
    h = np.zeros(size)
    for v, w in zip(values, weights or [1.0] * len(values), strict=True):
        h[min(v, size - 1)] += w
    return h / h.sum() if h.sum() else h


def _overlap(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.minimum(a, b).sum())


def _profiles(notes: list) -> tuple[np.ndarray, np.ndarray]:
    """Duration-weighted pitch-class histogram and a histogram of note lengths (grid steps, capped)."""
    pcs = _histogram([n.pitch % 12 for n in notes], 12, [n.duration for n in notes])
    lengths = _histogram([round(n.duration * STEPS_PER_BEAT) for n in notes], 49)
    return pcs, lengths


def fifths(key: int) -> int:
    """A key's signature on the circle of fifths: sharps positive, flats negative (C major, A minor → 0)."""
    major_tonic = key % 12 if key < 12 else (key + 3) % 12  # a minor key shares its relative major's signature
    return (major_tonic * 7 + 5) % 12 - 5  # F → -1, G → 1, F# → 6 … (Gb and F# are one key here)


def key_relation(seed: int | None, other: int | None) -> str:
    """How an estimated key relates to the seed's: "same", "relative" (same signature, other mode),
    "closely related" (signatures one fifth apart: dominant, subdominant and their relatives), "parallel"
    (same tonic, other mode) or "distant"."""
    if seed is None or other is None:
        return "distant"
    if seed == other:
        return "same"
    step = (fifths(other) - fifths(seed)) % 12
    if step == 0:
        return "relative"
    if seed % 12 == other % 12:
        return "parallel"
    return "closely related" if step in (1, 11) else "distant"


KEY_READINGS = {  # the key-agreement readings reported, each for the takes and for the real continuations
    "key_agreement": ("same",),  # music21's key of the continued bars alone = the seed's key
    "key_agreement_same_signature": ("same", "relative"),
    "key_agreement_closely_related": ("same", "relative", "closely related"),
}


def piano_stacking(data: Path, songs: int = 200) -> dict[str, Any]:
    """How POP909's piano tracks stack notes — the source of :data:`composer.generate.STACKING`: over the first
    ``songs`` training songs of the corpus, the notes starting together on the PIANO track at each onset (on
    composer's grid), and P(one more | n there already) for n = 1 … 5."""
    counts: dict[int, int] = {}
    entries = [e for e in read_manifest(data) if e.collection == "pop909" and e.split == "train"][:songs]
    for e in entries:
        piece = read_midi(data / e.path)
        piano = [i for i, t in enumerate(piece.tracks) if t.name.strip().upper() == "PIANO"]
        at: dict[int, int] = {}
        for n in piece.notes:
            if n.track in piano:
                at[round(n.start * STEPS_PER_BEAT)] = at.get(round(n.start * STEPS_PER_BEAT), 0) + 1
        for together in at.values():
            counts[together] = counts.get(together, 0) + 1
    at_least = {n: sum(c for k, c in counts.items() if k >= n) for n in range(1, 7)}
    return {
        "songs": len(entries),
        "onsets": at_least[1],
        "notes_per_onset": round(sum(k * c for k, c in counts.items()) / max(1, at_least[1]), 3),
        "one_more_given_n": [round(at_least[n + 1] / max(1, at_least[n]), 3) for n in range(1, 6)],
    }


def pop909_segment(piece: Piece, bars: int) -> tuple[Piece, Piece, float] | None:
    """A POP909 song cut as the accompaniment measure cuts it (``bench/infill.py``): (the MELODY alone, from the
    bar of its first note for ``bars`` bars, moved to start at beat 0; the PIANO over the same bars, likewise; the
    beat the segment starts at in the file); None without both tracks."""
    names = [t.name.strip().upper() for t in piece.tracks]
    if "MELODY" not in names or "PIANO" not in names:
        return None
    melody, piano = names.index("MELODY"), names.index("PIANO")
    bar = piece.time_signature.bar_beats
    first = min(n.start for n in piece.notes if n.track == melody)
    line = piece.bar_start + ((first - piece.bar_start) // bar) * bar
    end = line + bars * bar

    def part(track: int) -> tuple[Note, ...]:
        return tuple(
            replace(n, start=n.start - line, track=0, duration=min(n.duration, end - n.start))
            for n in piece.notes
            if n.track == track and line <= n.start < end
        )

    base = replace(piece, bar_start=0.0, found=(), remarks=())
    return (
        replace(base, notes=part(melody), tracks=(piece.tracks[melody],)),
        replace(base, notes=part(piano), tracks=(piece.tracks[piano],)),
        line,
    )


def piano_pace(data: Path, bars: int = 16) -> dict[str, Any]:
    """How busily POP909's piano plays under its melody — the source of :data:`composer.generate.PACE_BASE` and
    ``PACE_PER_ONSET``: on every training song's :func:`pop909_segment`, the piano's notes a beat against the
    melody's onsets a beat, and their least-squares line."""
    piano, melody = [], []
    for e in read_manifest(data):
        if e.collection != "pop909" or e.split != "train":
            continue
        piece = read_midi(data / e.path)
        cut = pop909_segment(piece, bars)
        if cut is None or not cut[0].notes:
            continue
        beats = bars * piece.time_signature.bar_beats
        piano.append(len(cut[1].notes) / beats)
        melody.append(len({round(n.start * STEPS_PER_BEAT) for n in cut[0].notes}) / beats)
    x, y = np.array(melody), np.array(piano)
    (base, per_onset), *_ = np.linalg.lstsq(np.vstack([np.ones_like(x), x]).T, y, rcond=None)
    fitted = base + per_onset * x
    return {
        "songs": len(x),
        "bars": bars,
        "base": round(float(base), 3),
        "per_melody_onset": round(float(per_onset), 3),
        "r2": round(float(1 - ((y - fitted) ** 2).sum() / ((y - y.mean()) ** 2).sum()), 3),
        "piano_notes_per_beat_mean": round(float(y.mean()), 3),
        "melody_onsets_per_beat_mean": round(float(x.mean()), 3),
    }


def join_leaps(data: Path, pieces: int = 1000) -> dict[str, Any]:
    """The leaps real music makes from one onset to the next on a track — the source of
    :data:`composer.generate.JOIN_LEAPS` and ``JOIN_TAIL``: the highest pitches of consecutive onsets on each track
    of ``pieces`` training pieces drawn at random (seed 0); P(|leap|) for 0–12 semitones and above."""
    entries = [e for e in read_manifest(data) if e.split == "train"]
    chosen = np.random.default_rng(0).permutation(len(entries))[:pieces]
    counts = np.zeros(14)
    for index in chosen:
        piece = read_midi(data / entries[index].path)
        tops: dict[tuple[int, float], int] = {}  # (track, onset) -> its highest pitch
        for n in piece.notes:
            tops[n.track, n.start] = max(n.pitch, tops.get((n.track, n.start), 0))
        for track in range(len(piece.tracks)):
            pitches = np.array([tops[key] for key in sorted(k for k in tops if k[0] == track)], dtype=np.int64)
            counts += np.bincount(np.minimum(np.abs(np.diff(pitches)), 13), minlength=14)
    share = counts / counts.sum()
    return {
        "pieces": len(chosen),
        "leaps": int(counts.sum()),
        "p_leap_0_to_12": [round(float(x), 4) for x in share[:13]],
        "p_leap_above_12": round(float(share[13]), 4),
    }


def scale_degree_profiles(data: Path, split: str = "train", limit: int | None = None) -> dict[str, list[float]]:
    """Share of sounding time on each scale degree (semitones above the tonic) in the pieces of ``split``
    that state a key, by mode — the source of :data:`composer.generate.KEY_PROFILES`."""
    totals = {"major": np.zeros(12), "minor": np.zeros(12)}
    entries = [e for e in read_manifest(data) if e.split == split]
    for e in entries[:limit]:
        piece = read_midi(data / e.path)
        if piece.key is None:
            continue
        profile = totals["minor" if piece.key >= 12 else "major"]
        for n in piece.notes:
            profile[(n.pitch - piece.key) % 12] += n.duration
    return {mode: [round(float(x), 4) for x in v / max(v.sum(), 1e-12)] for mode, v in totals.items()}


def _cut(piece: Piece, seed_bars: int) -> float:
    """Where a seed of ``seed_bars`` bars ends in the piece: the bar line its continuation starts on."""
    return piece.bar_start + seed_bars * piece.time_signature.bar_beats


SeedCandidate = tuple[Any, Piece, list[Note], list[Note], int | None]


def continuation_seeds(data: Path, split: str, count: int, seed_bars: int, bars: int) -> list[SeedCandidate]:
    """The musical check's pieces of ``split``, in a fixed, collection-mixed order (by content hash): the first
    ``count`` with ``seed_bars + bars`` bars and at least 8 notes in the seed and in the real continuation —
    each as (manifest entry, piece, seed notes, real continuation's notes, the key heard in the seed)."""
    entries = [e for e in read_manifest(data) if e.split == split]
    candidates: list[SeedCandidate] = []
    for e in sorted(entries, key=lambda e: e.content_hash):
        piece = read_midi(data / e.path)
        bar = piece.time_signature.bar_beats
        cut = piece.bar_start + seed_bars * bar
        if piece.end < cut + bars * bar:
            continue
        seed_notes = [n for n in piece.notes if n.start < cut]
        true_next = [n for n in piece.notes if cut <= n.start < cut + bars * bar]
        if len(seed_notes) < 8 or len(true_next) < 8:
            continue
        candidates.append((e, piece, seed_notes, true_next, estimate_key(piece.with_notes(tuple(seed_notes)))))
        if len(candidates) == count:
            break
    return candidates


def continuations(
    composer: Composer,
    data: Path,
    *,
    seeds: int = 50,
    seed_bars: int = 8,
    bars: int = 8,
    takes: int = 4,
    key_lock: bool = False,
    key_strength: float | None = None,
    key_prior: str | None = None,
    key_candidates: int | None = None,
    split: str = "test",
    form: str = "auto",
    progress: bool = False,
    memory: bool = False,
) -> dict[str, Any]:
    """The musical check of continuations on pieces of a split (the test split by default); ``memory``:
    generate with the short-term memory (``Settings.memory``).

    For each of ``seeds`` test pieces with at least ``seed_bars + bars`` bars: the first ``seed_bars`` bars
    are the seed, ``takes`` continuations of ``bars`` bars are generated and compared with the piece's true
    continuation — key agreement with the seed (music21's analysis), pitch-class and note-length histogram
    overlap, next to a real-vs-real reference (the true continuation of another test piece in the same key),
    and how many takes are caught in a loop (a phrase of ≥ 8 notes repeated ≥ 4 times in a row).  ``key_lock``
    (and ``key_strength``, ``key_prior`` and ``key_candidates``, default the generator's) generate with key
    lock; ``split`` picks the pieces (bench/key_lock.py chooses the setting on "valid" and reports "test").
    ``form``:
    ``Settings.form``; every take's restatement of the seed is measured (:class:`composer.form.SeedBars`: the
    share of its notes matching the seed's best window of phrase-long bars, and whether that reaches the
    threshold) with its longest repeated phrase (bench/form.py compares the forms).

    Issue 16's keys (:func:`composer.discriminate.compare`, every excerpt read in the key heard in its seed):
    ``discriminator`` — a logistic regression and a random forest on seed-independent features, takes vs the
    real continuation and the real-vs-real control, cross-validated by piece; ``form`` — repetition,
    restatement of the seed, rests, early stops and endings for the takes and the real continuations;
    ``scale_degrees`` — both pooled degree histograms and their overlaps, against real-vs-real.
    """
    strength = KEY_STRENGTH if key_strength is None else key_strength
    prior = KEY_PRIOR if key_prior is None else key_prior
    candidates_a_take = SELECT_CANDIDATES if key_candidates is None else key_candidates
    candidates = continuation_seeds(data, split, 2 * seeds, seed_bars, bars)
    # the next pieces in the same order lend their real continuations to the discriminator's control
    candidates, spare = candidates[:seeds], candidates[seeds:]
    donors = [
        Excerpt(tuple(true_next), key, p.time_signature.bar_beats, p.bar_start, _cut(p, seed_bars), bars)
        for _, p, _, true_next, key in spare
        if key is not None
    ]
    rows = []
    true_relations: list[str] = []  # how the piece's own continuation relates to the seed's key (the reference)
    true_piece_keys: list[bool] = []  # … and whether seed + true continuation keep the seed's key
    true_restated: list[float] = []  # … and how much of the seed it restates
    restated: list[float] = []  # how much of the seed each take restates
    repeats: list[int] = []  # … and its longest repeated phrase (notes)
    loops = 0
    total_takes = 0
    cases: list[SeedCase] = []
    for i, (e, piece, seed_notes, true_next, seed_key) in enumerate(candidates):
        seed_piece = piece.with_notes(tuple(seed_notes))
        settings = Settings(
            bars=bars,
            variations=takes,
            seed=i,
            key_lock=key_lock,
            key_strength=strength,
            key_prior=prior,
            key_candidates=candidates_a_take,
            form=form,
            memory=memory,
        )
        generated = composer.continue_piece(seed_piece, settings, key=seed_key)
        against = SeedBars(encode(seed_piece))  # what the takes' restatement is measured against
        whole = encode(piece.with_notes(tuple(seed_notes + true_next)))  # the piece's own continuation, measured alike
        after = whole.onsets > against.last_onset
        true_restated.append(getattr(against.restated(whole.ids[after], whole.onsets[after]), "share", 0.0))
        true_pcs, true_len = _profiles(true_next)
        true_relations.append(key_relation(seed_key, estimate_key(piece.with_notes(tuple(true_next)))))
        true_piece_keys.append(estimate_key(piece.with_notes(tuple(seed_notes + true_next))) == seed_key)
        # reference: the true continuation of another candidate in the same key, if any
        others = [c for c in candidates if c[0] is not e and c[4] == seed_key]
        ref = None
        if others:
            other_pcs, other_len = _profiles(others[0][3])
            ref = (_overlap(true_pcs, other_pcs), _overlap(true_len, other_len))
        # the discriminator's excerpts: all read in the seed's key, counted from the cut
        if seed_key is not None:
            bar, cut = piece.time_signature.bar_beats, _cut(piece, seed_bars)
            cases.append(
                SeedCase(
                    seed=Excerpt(tuple(seed_notes), seed_key, bar, piece.bar_start, piece.bar_start, seed_bars),
                    real=Excerpt(tuple(true_next), seed_key, bar, piece.bar_start, cut, bars),
                    takes=tuple(
                        Excerpt(t.continuation.notes, seed_key, bar, piece.bar_start, cut, bars) for t in generated
                    ),
                )
            )
        for take in generated:
            notes = list(take.continuation.notes)
            if not notes:
                continue
            pcs, lengths = _profiles(notes)
            repeat = take.metrics.longest_repeat  # measured by the generator on the take's notes
            looped = repeat.phrase_notes >= 8 and repeat.times_in_a_row >= 4
            restated.append(getattr(against.restated(take.events), "share", 0.0))
            repeats.append(repeat.phrase_notes)
            loops += looped
            total_takes += 1
            rows.append(
                {
                    "piece": e.path,
                    "key_relation": key_relation(seed_key, estimate_key(take.continuation)),
                    "piece_keeps_key": estimate_key(take.piece) == seed_key,
                    "pc_overlap": _overlap(pcs, true_pcs),
                    "length_overlap": _overlap(lengths, true_len),
                    "ref_pc_overlap": ref[0] if ref else None,
                    "ref_length_overlap": ref[1] if ref else None,
                    "share_in_key": take.metrics.share_in_key,
                    "looped": looped,
                    "bits_per_note": take.metrics.bits_per_note,
                }
            )
        if progress:
            print(f"continuations: {i + 1}/{len(candidates)} {e.path}", flush=True)
    keys: dict[str, float] = {}
    for name, accepted in KEY_READINGS.items():
        keys[name] = round(float(np.mean([r["key_relation"] in accepted for r in rows])), 4)
        keys[f"reference_{name}"] = round(float(np.mean([rel in accepted for rel in true_relations])), 4)
    keys["key_kept_by_whole_piece"] = round(float(np.mean([r["piece_keeps_key"] for r in rows])), 4)
    keys["reference_key_kept_by_whole_piece"] = round(float(np.mean(true_piece_keys)), 4)
    with_ref = [r for r in rows if r["ref_pc_overlap"] is not None]
    pc = float(np.mean([r["pc_overlap"] for r in with_ref])) if with_ref else float("nan")
    ln = float(np.mean([r["length_overlap"] for r in with_ref])) if with_ref else float("nan")
    ref_pc = float(np.mean([r["ref_pc_overlap"] for r in with_ref])) if with_ref else float("nan")
    ref_ln = float(np.mean([r["ref_length_overlap"] for r in with_ref])) if with_ref else float("nan")
    return {
        "split": split,
        "form": form,
        "key_lock": key_lock,
        "key_strength": strength if key_lock else None,
        "key_prior": prior if key_lock else None,
        "key_candidates": candidates_a_take if key_lock else None,
        "memory": memory,
        "seeds": len(candidates),
        "takes": total_takes,
        **keys,
        "pitch_class_overlap": round(pc, 4),
        "reference_pitch_class_overlap": round(ref_pc, 4),
        "pitch_class_ratio": round(pc / ref_pc, 4),
        "note_length_overlap": round(ln, 4),
        "reference_note_length_overlap": round(ref_ln, 4),
        "note_length_ratio": round(ln / ref_ln, 4),
        "looped_share": round(loops / max(1, total_takes), 4),
        # how much of the seed the takes restate (composer.form.SeedBars), and their longest repeated phrase
        "mean_restated_share": round(float(np.mean(restated)), 4),
        "restating_takes": round(float(np.mean([share >= RESTATED_SHARE for share in restated])), 4),
        "mean_longest_repeat_notes": round(float(np.mean(repeats)), 2),
        "longest_repeat_notes": max(repeats, default=0),
        "reference_mean_restated_share": round(float(np.mean(true_restated)), 4),
        "reference_restating": round(float(np.mean([share >= RESTATED_SHARE for share in true_restated])), 4),
        # how far the takes stray from the model: its bits per note on its own takes (key lock raises it)
        "take_bits_per_note": round(float(np.mean([r["bits_per_note"] for r in rows])), 4),
        "mean_share_in_key": round(
            float(np.mean([r["share_in_key"] for r in rows if r["share_in_key"] is not None])), 4
        ),
        # issue 16: can a classifier tell the takes from the real continuations; form, endings, degrees
        **compare(cases, donors),
    }


# ------------------------------------------------------------------------------------- harmonization


def without_track(piece: Piece, track: int) -> Piece:
    """``piece`` less the notes of one track (its table unchanged)."""
    return piece.with_notes(tuple(n for n in piece.notes if n.track != track))


@torch.no_grad()
def lower_voices_pitch_nats(model: MusicLSTM, song: Song, with_soprano: bool) -> tuple[float, int]:
    """Pitch nats of the notes of a chorale's alto, tenor and bass (every track but the first, the soprano),
    and their count: given the soprano (in the decoder's stream as given notes and as the context: accompany)
    when ``with_soprano``, else ``song`` is the chorale without it, scored as a plain piece."""
    n = len(song)
    batch = collate([(song, 0, n, 0)])
    notes_atb = (song.ids[:, TRACK] != 0) & (song.ids[:, PITCH] != REST)
    if not with_soprano:
        nll = model.field_nll(batch, pitch_of_a_note=True)[0, :, PITCH]
        return float(nll.sum()), note_count(batch)
    onsets = np.cumsum(song.ids[:, SHIFT])
    soprano = song.ids[:, TRACK] == 0
    ctx = notes_as_context(song.ids, onsets, soprano, song.programs, song.bar, song.bar_start, ACCOMPANY, limit=None)
    context = collate_contexts([(song, 0, n, 0)], [ctx], [soprano], model.config.copy) if model.config.context else None
    nll = model.field_nll(batch, pitch_of_a_note=True, context=context)[0, :, PITCH]
    return float(nll[torch.from_numpy(~soprano)].sum()), int(notes_atb.sum())


# ------------------------------------------------------------------------------------------ gaps (infill)


def _gap_rows(song: Song, first: int, last: int) -> tuple[int, int, int] | None:
    """(the first event of bars ``first``–``last``, the first after them, the window's start) for one song,
    or None where the bars hold no note or nothing follows them (no right side to read)."""
    onsets = np.cumsum(song.ids[:, SHIFT])
    a = int(np.searchsorted(onsets, max(0, bar_start_step(first, song.bar, song.bar_start)), side="left"))
    b = int(np.searchsorted(onsets, bar_start_step(last + 1, song.bar, song.bar_start), side="left"))
    notes = song.ids[:, PITCH] != REST
    if b >= len(song.ids) or not notes[a:b].any() or not notes[b:].any():
        return None
    return a, b, max(0, b - GAP_WINDOW)


GAP_WINDOW = 1024  # events the decoder reads up to a gap's end (a longer piece is read from this far back)


@torch.no_grad()
def gap_scores(model: MusicLSTM, songs: list[Song], bars: tuple[int, int]) -> dict[str, Any]:
    """Issue 12's measure: the notes starting in bars A–B (``bars``, as printed music counts them) of each
    piece, scored given everything else — the notes before them in the decoder's stream, the notes after the
    gap through the context encoder (``gap_bits_per_note``) — and given only what precedes them
    (``gap_left_only_bits_per_note``: the same model, no context), with per-field figures of each and their
    ratio.  Pieces whose bars A–B hold no note, or that end with them, are skipped (counted).  A model without
    a context encoder scores the same both ways."""
    model.eval()
    first, last = bars
    n = len(FIELDS)
    both = np.zeros(n)
    left = np.zeros(n)
    notes = 0.0
    velocity_notes = 0.0
    pieces = 0
    for song in songs:
        rows = _gap_rows(song, first, last)
        if rows is None:
            continue
        a, b, w = rows
        batch = collate([(song, w, b - w, 0)])
        target = torch.zeros(1, b - w, dtype=torch.bool)
        target[0, a - w :] = True
        plain = model.field_nll(batch)[0][target[0]].double().sum(0).numpy()
        if model.config.context:
            _, ctx = gap_context(song.ids, song.programs, song.bar, song.bar_start, first, last)
            context = collate_contexts([(song, w, b - w, 0)], [ctx], [np.zeros(b - w, dtype=bool)], model.config.copy)
            with_right = model.field_nll(batch, context=context)[0][target[0]].double().sum(0).numpy()
        else:
            with_right = plain
        left += plain
        both += with_right
        gap_notes = float((song.ids[a:b, PITCH] != REST).sum())
        notes += gap_notes
        velocity_notes += gap_notes if song.has_dynamics else 0.0
        pieces += 1
    if not pieces:
        raise InputError(
            f"No piece has notes in bars {first}-{last} and music after them; choose bars inside the pieces."
        )
    b_sum = field_bits([float(x) for x in both], notes, velocity_notes)
    l_sum = field_bits([float(x) for x in left], notes, velocity_notes)
    fields = [k for k in b_sum if k.endswith("_bits")]
    return {
        "bars": f"{first}-{last}",
        "pieces": pieces,
        "skipped": len(songs) - pieces,
        "notes": int(notes),
        "context_encoder": bool(model.config.context),
        "gap_bits_per_note": round(b_sum["bits_per_note"], 4),
        "gap_left_only_bits_per_note": round(l_sum["bits_per_note"], 4),
        "ratio": round(b_sum["bits_per_note"] / max(1e-9, l_sum["bits_per_note"]), 4),
        "per_field": {k: round(b_sum[k], 4) for k in fields},
        "left_only_per_field": {k: round(l_sum[k], 4) for k in fields},
        "ratio_per_field": {k: round(b_sum[k] / l_sum[k], 4) if l_sum[k] > 0 else None for k in fields},
    }
