"""Event sequences for training: a folder of MIDI read once into a cache, augmentation, and batches.

A folder with a ``manifest.csv`` (like ``midi_data/``) brings its split; any other folder is split by a
hash of each file's bytes (80/10/10), so the same files always land in the same split.  Unreadable
files are skipped and listed; a folder with nothing usable is one clear error.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from composer import features
from composer.atomic import atomic_write
from composer.context import (
    COPY_ORDERS,
    N_PITCHES,
    RECUR_BARS,
    SHIFT_BARS,
    Context,
    CopyIndex,
    Views,
    echo_velocities,
    match_counts,
    reads_far,
    recurs,
    shift_views,
    track_histories,
    views,
)
from composer.encoding import (
    DURATION,
    FIELDS,
    PITCH,
    PITCH_HIGH,
    PITCH_LOW,
    REST,
    SHIFT,
    TRACK,
    VELOCITY,
    Events,
    bar_steps,
    encode,
)
from composer.errors import InputError
from composer.features import LOOKBACK_NOTES, NO_DURATION, NO_KEY, NO_PITCH, NO_PROGRAM, ModelInputs, SongFeatures
from composer.memory import memory_of
from composer.model import Batch, ContextBatch
from composer.piece import Piece

# 2: five fields (track, relative velocity), track programs, has_dynamics; 3: voices in unison kept apart;
# 4: velocity in steps of 8 from each track's own level
CACHE_VERSION = 4
TRANSPOSE = (-6, 5)  # semitones tried by augmentation, each clipped so every pitch stays in range


@dataclass
class Song:
    """One encoded piece: (N, 5) ids plus what the model reads beside them."""

    ids: np.ndarray  # (N, 5) int64
    bar: int  # bar length in grid steps
    bar_start: int  # grid step where bars are counted from
    key: int  # 0-23, or NO_KEY
    name: str = ""
    collection: str = ""
    group: str = ""  # pieces of one work or melody share a group (from the manifest)
    split: str = ""  # "train", "valid" or "test" ("" for a song not read from a folder)
    eval_set: str = ""  # the evaluation set it belongs to, if any (from the manifest)
    programs: tuple[int, ...] = (0,)  # GM program of each track of the piece's table
    has_dynamics: bool = True  # False: one velocity throughout (Events.constant_velocity): velocity not learned
    _features: SongFeatures | None = field(default=None, repr=False, compare=False)
    _memory: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def features(self) -> SongFeatures:
        """The per-event arrays (track-local previous pitch, lookbacks), computed once per song."""
        if self._features is None:
            self._features = features.song_features(self.ids, self.bar)
        return self._features

    def memory(self) -> tuple[np.ndarray, np.ndarray]:
        """The short-term memory's (keep, mass on the event's own value), (N, 2) each for the pitch and the duration
        (:func:`composer.memory.memory_of`), computed once per song."""
        if self._memory is None:
            self._memory = memory_of(self.ids)
        return self._memory

    def positions(self) -> np.ndarray:
        """(N+1,) metrical position of time 0 (before the first event) and of each event's onset."""
        return features.positions(self.ids, self.bar, self.bar_start)

    def model_inputs(self, start: int, stop: int, semitones: int = 0) -> ModelInputs:
        """What the model reads before predicting events ``start .. stop-1`` (:func:`features.model_inputs`),
        transposed by ``semitones``."""
        ids, _ = transposed(self.ids, self.key, semitones)
        ref = features.transposed_pitches(self.features.ref, semitones)
        return features.model_inputs(ids, ref, self.programs, self.bar, self.bar_start, start, stop)


@dataclass
class LoadReport:
    """What reading a folder found: how many files, which were skipped and why, and the data's fingerprint."""

    files: int = 0
    skipped: list[str] = field(default_factory=list)  # "name: reason", one per unreadable file
    fingerprint: str = ""  # hash of the data (names, sizes, contents): recorded in checkpoints


def song_from_events(events: Events, name: str = "", collection: str = "") -> Song:
    return Song(
        ids=events.ids,
        bar=bar_steps(events.time_signature),
        bar_start=events.bar_start,
        key=features.key_id(events.key),
        name=name,
        collection=collection,
        programs=tuple(t.program for t in events.tracks),
        has_dynamics=events.has_dynamics,
    )


def song_from_piece(piece: Piece, name: str = "", collection: str = "") -> Song:
    return song_from_events(encode(piece), name, collection)


# -------------------------------------------------------------------------------------- loading


def _cache_dir() -> Path:
    return Path(os.environ.get("COMPOSER_CACHE", Path.home() / ".cache" / "composer"))


@dataclass(frozen=True)
class FileEntry:
    path: Path
    split: str
    collection: str = ""
    eval_set: str = ""
    group: str = ""
    content: str = ""  # hash of the bytes (from the manifest, or computed when there is none)


def list_files(root: Path) -> list[FileEntry]:
    """Every MIDI file of a folder with its split, in a stable order.

    A folder with a manifest brings split, collection, evaluation set, group and content hash; in any
    other folder each file is read once here and its hash gives both its split and its fingerprint.
    """
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root} is not a folder; give a folder of MIDI files.")
    from composer.corpus import read_manifest, split_of_digest

    if (root / "manifest.csv").exists():
        return [
            FileEntry(root / e.path, e.split, e.collection, e.eval_set, e.group, e.content_hash)
            for e in read_manifest(root)
        ]
    out = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in (".mid", ".midi") and p.is_file()):
        try:
            content = hashlib.sha1(path.read_bytes()).hexdigest()
        except OSError:
            content = hashlib.sha1(str(path).encode()).hexdigest()  # unreadable: reading reports it later
        out.append(FileEntry(path, split_of_digest(content), content=content))
    if not out:
        raise InputError(f"{root} holds no .mid or .midi files; point --data at a folder of MIDI files.")
    return out


def load_songs(root: Path, *, use_cache: bool = True, progress: bool = False) -> tuple[list[Song], LoadReport]:
    """Read every file of a folder → (songs, report); each song carries its split and evaluation set.

    Encoded songs are cached (numpy ``.npz``, no pickle) under ``$COMPOSER_CACHE`` or
    ``~/.cache/composer``, keyed by a hash of the files' names, sizes and contents.
    """
    from composer.midi_io import read_midi

    files = list_files(root)
    digest = hashlib.sha1(f"v{CACHE_VERSION}".encode())
    for f in files:
        stat = f.path.stat() if f.path.exists() else None
        digest.update(
            f"{f.path.relative_to(root)}|{f.split}|{f.collection}|{f.eval_set}|{f.group}|"
            f"{stat.st_size if stat else -1}".encode()
        )
    if (Path(root) / "manifest.csv").exists():
        digest.update((Path(root) / "manifest.csv").read_bytes())
    else:
        for f in files:  # the bytes' hashes, computed once by list_files
            digest.update(bytes.fromhex(f.content))
    fingerprint = digest.hexdigest()[:16]
    cache = _cache_dir() / f"events-{fingerprint}.npz"
    if use_cache and cache.exists():
        try:
            cached, report = _read_cache(cache)
            report.fingerprint = fingerprint
            return cached, report
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt
    songs: list[Song] = []
    report = LoadReport(files=len(files), fingerprint=fingerprint)
    iterator: Iterable[FileEntry] = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="reading MIDI", unit="file")
    for f in iterator:
        try:
            song = song_from_piece(read_midi(f.path), str(f.path.relative_to(root)), f.collection)
        except InputError as error:
            report.skipped.append(str(error))
            continue
        song.group, song.split, song.eval_set = f.group, f.split, f.eval_set
        songs.append(song)
    if not songs:
        raise InputError(
            f"None of the {len(files)} MIDI files in {root} could be read; see the reasons above and "
            "check that the folder holds real MIDI files."
        )
    if use_cache:
        # The cache only saves time; an unwritable cache folder costs a re-read next time.
        with contextlib.suppress(OSError):
            _write_cache(cache, songs, report)
    return songs, report


def _write_cache(path: Path, songs: list[Song], report: LoadReport) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    lengths = np.array([len(s) for s in songs], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        ids=np.concatenate([s.ids for s in songs]).astype(np.int16),
        lengths=lengths,
        meta=np.array([[s.bar, s.bar_start, s.key, int(s.has_dynamics)] for s in songs], dtype=np.int64),
        programs=np.array([[*s.programs, *[NO_PROGRAM] * (16 - len(s.programs))] for s in songs], dtype=np.int64),
        names=np.array([s.name for s in songs]),
        collections=np.array([s.collection for s in songs]),
        groups=np.array([s.group for s in songs]),
        splits=np.array([s.split for s in songs]),
        evals=np.array([s.eval_set for s in songs]),
        skipped=np.array([*report.skipped, ""]),
        files=np.array([report.files]),
    )
    # Several processes (torchrun ranks) may build the same cache at once: each writes its own temporary file.
    atomic_write(path, buffer.getvalue())


def _read_cache(path: Path) -> tuple[list[Song], LoadReport]:
    with np.load(path, allow_pickle=False) as z:
        ids = z["ids"].astype(np.int64)
        ends = np.cumsum(z["lengths"])
        starts = ends - z["lengths"]
        meta = z["meta"]
        columns = zip(
            starts, ends, meta, z["names"], z["collections"], z["groups"], z["splits"], z["evals"], strict=True
        )
        programs = [tuple(int(p) for p in row if p != NO_PROGRAM) or (0,) for row in z["programs"]]
        songs = [
            Song(
                ids[a:b],
                int(m[0]),
                int(m[1]),
                int(m[2]),
                str(n),
                str(c),
                str(g),
                str(sp),
                str(e),
                programs=progs,
                has_dynamics=bool(m[3]),
            )
            for (a, b, m, n, c, g, sp, e), progs in zip(columns, programs, strict=True)
        ]
        report = LoadReport(files=int(z["files"][0]), skipped=[s for s in z["skipped"].tolist() if s])
        return songs, report


# -------------------------------------------------------------------------------------- augmentation


def transpose_range(song: Song) -> tuple[int, int]:
    """Semitone shifts within TRANSPOSE that keep every pitch of the song on the piano."""
    pitches = song.ids[:, PITCH]
    notes = pitches[pitches != REST]
    if notes.size == 0:
        return 0, 0
    low = max(TRANSPOSE[0], -int(notes.min()))
    high = min(TRANSPOSE[1], (PITCH_HIGH - PITCH_LOW) - int(notes.max()))
    return low, max(low, high)


def transposed(ids: np.ndarray, key: int, semitones: int) -> tuple[np.ndarray, int]:
    if semitones == 0:
        return ids, key
    out = ids.copy()
    notes = out[:, PITCH] != REST
    out[notes, PITCH] += semitones
    if key != NO_KEY:
        key = (key % 12 + semitones) % 12 + (12 if key >= 12 else 0)
    return out, key


# -------------------------------------------------------------------------------------- batches


def collate(items: Sequence[tuple[Song, int, int, int]], *, memory: bool = False) -> Batch:
    """Pad (song, start, length, semitones) windows into one Batch.

    The input at a window's first step is the event before it (or BOS at a song's start), so every
    target is predicted with the right metrical position, key, track-local previous pitch and lookbacks.
    Transposition moves pitches only (tracks, programs and velocities are untouched).  ``memory``: carry the
    short-term memory's figures (:func:`composer.memory.memory_of`, from the song's start, whatever the window),
    so the batch's pitches and durations are scored with it; a transposition leaves them as they are.
    """
    lengths = [length for _, _, length, _ in items]
    b, t = len(items), max(lengths)
    n_fields = len(FIELDS)
    inputs = np.zeros((b, t, n_fields), dtype=np.int64)
    targets = np.zeros((b, t, n_fields), dtype=np.int64)
    in_pos = np.zeros((b, t), dtype=np.int64)
    tgt_pos = np.zeros((b, t), dtype=np.int64)
    bar = np.zeros((b, t), dtype=np.int64)
    key = np.full((b, t), NO_KEY, dtype=np.int64)
    mask = np.zeros((b, t), dtype=bool)
    prev_pitch = np.full((b, t), NO_PITCH, dtype=np.int64)
    in_program = np.full((b, t), NO_PROGRAM, dtype=np.int64)
    tgt_program = np.zeros((b, t), dtype=np.int64)
    ref = np.full((b, t), NO_PITCH, dtype=np.int64)
    lookback1 = np.full((b, t, LOOKBACK_NOTES), NO_PITCH, dtype=np.int64)
    lookback2 = np.full((b, t, LOOKBACK_NOTES), NO_PITCH, dtype=np.int64)
    lookback_duration = np.full((b, t), NO_DURATION, dtype=np.int64)
    velocity_mask = np.zeros((b, t), dtype=bool)
    tracks = np.ones((b, t), dtype=np.int64)
    for row, (song, start, length, semis) in enumerate(items):
        ids, k = transposed(song.ids, song.key, semis)
        stop = start + length
        got = song.model_inputs(start, stop, semis)
        inputs[row, :length], in_pos[row, :length] = got.events, got.position
        prev_pitch[row, :length], in_program[row, :length] = got.prev_pitch, got.program
        targets[row, :length] = ids[start:stop]
        tgt_pos[row, :length] = song.positions()[start + 1 : stop + 1]  # positions()[j + 1]: event j's onset
        programs = np.array(song.programs, dtype=np.int64)
        tgt_program[row, :length] = programs[np.minimum(ids[start:stop, TRACK], len(programs) - 1)]
        f = song.features
        ref[row, :length] = features.transposed_pitches(f.ref[start:stop], semis)
        lookback1[row, :length] = features.transposed_pitches(f.lookback1[start:stop], semis)
        lookback2[row, :length] = features.transposed_pitches(f.lookback2[start:stop], semis)
        lookback_duration[row, :length] = f.lookback_duration[start:stop]
        bar[row, :length] = song.bar
        key[row, :length] = k
        mask[row, :length] = True
        velocity_mask[row, :length] = song.has_dynamics
        tracks[row] = len(song.programs)
    arrays = (
        inputs,
        targets,
        in_pos,
        tgt_pos,
        bar,
        key,
        mask,
        prev_pitch,
        in_program,
        tgt_program,
        ref,
        lookback1,
        lookback2,
        lookback_duration,
        velocity_mask,
        tracks,
    )
    batch = Batch(*(torch.from_numpy(a) for a in arrays))
    if memory:
        keep = np.ones((b, t, 2), dtype=np.float32)
        hit = np.zeros((b, t, 2), dtype=np.float32)
        for row, (song, start, length, _) in enumerate(items):
            kept, mass = song.memory()
            keep[row, :length], hit[row, :length] = kept[start : start + length], mass[start : start + length]
        batch.memory_keep, batch.memory_hit = torch.from_numpy(keep), torch.from_numpy(hit)
    return batch


def collate_contexts(
    items: Sequence[tuple[Song, int, int, int]],
    contexts: Sequence[Context],
    given: Sequence[np.ndarray],
    copy: bool = False,
) -> ContextBatch:
    """The contexts of a batch's windows (as :func:`collate` pads them), each transposed with its window,
    aligned with each decoder step's current time (the onset of the event the step reads).  ``copy``: fill the
    copy views (for a model with them, ``ModelConfig.copy``; left at zero otherwise, as nothing reads them)."""
    lengths = [length for _, _, length, _ in items]
    b, t = len(items), max(lengths)
    s = max(1, max(len(c) for c in contexts))
    ids = np.zeros((b, s, len(FIELDS)), dtype=np.int64)
    positions = np.zeros((b, s), dtype=np.int64)
    programs = np.zeros((b, s), dtype=np.int64)
    index = np.zeros((b, t), dtype=np.int64)
    distance = np.zeros((b, t), dtype=np.int64)
    target_index = np.zeros((b, t), dtype=np.int64)
    target_distance = np.zeros((b, t), dtype=np.int64)
    seen = Views.none(b * t)
    shifts = np.zeros((b, t, len(SHIFT_BARS), features.SIZES[SHIFT]), dtype=bool)
    matches = np.zeros((b, t, len(RECUR_BARS)), dtype=np.int64)
    velocities = np.zeros((b, t, len(RECUR_BARS), features.SIZES[VELOCITY]), dtype=bool)
    copy_pitch = np.zeros((b, t, len(COPY_ORDERS), N_PITCHES), dtype=np.uint8)
    copy_duration = np.zeros((b, t, len(COPY_ORDERS), features.SIZES[DURATION]), dtype=np.uint8)
    given_at = np.zeros((b, t), dtype=bool)
    for row, ((song, start, length, semis), ctx, g) in enumerate(zip(items, contexts, given, strict=True)):
        n = len(ctx)
        onsets = np.concatenate([[0], np.cumsum(song.ids[:, SHIFT])])
        now, at = onsets[start : start + length], onsets[start + 1 : start + length + 1]
        index[row, :length], distance[row, :length] = ctx.align(now)
        target_index[row, :length], target_distance[row, :length] = ctx.align(at)
        if n:
            moved = ctx.ids.copy()
            moved[:, PITCH] = features.transposed_pitches(moved[:, PITCH], semis)
            ids[row, :n], positions[row, :n], programs[row, :n] = moved, ctx.positions, ctx.programs
            tracks = song.ids[start : start + length, TRACK]
            row_views = views(moved, ctx.onsets, at, tracks, song.bar, song.bar_start, reads_far(ctx))
            for name, value in vars(row_views).items():
                getattr(seen, name)[row * t : row * t + length] = value
            shifts[row, :length] = shift_views(ctx.onsets, now, song.bar)
            pitches = features.transposed_pitches(song.ids[start : start + length, PITCH], semis)
            velocities[row, :length] = echo_velocities(moved, ctx.onsets, at, tracks, pitches, song.bar, reads_far(ctx))
            # step i reads event start+i-1: the counts over the events up to it (from before the window too)
            first = max(0, start - 2)
            recurred = recurs(ctx, onsets[first + 1 : start + length], song.ids[first : start + length - 1], song.bar)
            counts = match_counts(recurred)  # row j: event first + j
            steps = np.arange(length) + start - 1 - first  # the row of each step's input event; -1: none (BOS)
            if len(counts):
                matches[row, :length] = np.where((steps >= 0)[:, None], counts[np.maximum(steps, 0)], 0)
            if copy and reads_far(ctx):  # the copy views: the target's track's last notes (from the song's start)
                stream = features.transposed_pitches(song.ids[: start + length, PITCH], semis)
                targets = np.arange(start, start + length)
                history = track_histories(stream, song.ids[: start + length, TRACK], targets, tracks)
                copy_pitch[row, :length], copy_duration[row, :length] = CopyIndex(moved).views(tracks, history)
        given_at[row, : len(g)] = g
    modes = np.array([c.mode for c in contexts], dtype=np.int64)
    counts = np.array([len(c) for c in contexts], dtype=np.int64)
    shaped = {name: value.reshape(b, t, *value.shape[1:]) for name, value in vars(seen).items()}
    t_ids, t_positions, t_programs, t_counts, t_modes, t_index, t_distance = (
        torch.from_numpy(a) for a in (ids, positions, programs, counts, modes, index, distance)
    )
    return ContextBatch(
        ids=t_ids,
        positions=t_positions,
        programs=t_programs,
        lengths=t_counts,
        modes=t_modes,
        index=t_index,
        distance=t_distance,
        target_index=torch.from_numpy(target_index),
        target_distance=torch.from_numpy(target_distance),
        next_pitch=torch.from_numpy(shaped["next_pitch"]),
        next_distance=torch.from_numpy(shaped["next_distance"]),
        chroma=torch.from_numpy(shaped["chroma"]),
        ahead=torch.from_numpy(shaped["ahead"]),
        durations=torch.from_numpy(shaped["durations"]),
        shifts=torch.from_numpy(shifts),
        matches=torch.from_numpy(matches),
        given=torch.from_numpy(given_at),
        far=torch.from_numpy(shaped["far"]),
        far_durations=torch.from_numpy(shaped["far_durations"]),
        velocities=torch.from_numpy(velocities),
        copy_pitch=torch.from_numpy(copy_pitch),
        copy_duration=torch.from_numpy(copy_duration),
    )


def windows_for_epoch(songs: Sequence[Song], max_len: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Every song once: whole when it fits in ``max_len``, else cut into consecutive windows.

    Long songs start their windows at a random offset each epoch so every note is a window start sometimes.
    """
    out = []
    for i, song in enumerate(songs):
        n = len(song)
        if n <= max_len:
            out.append((i, 0, n))
            continue
        offset = int(rng.integers(0, max_len))
        starts = [0, *list(range(offset, n, max_len))] if offset else list(range(0, n, max_len))
        bounds = [*starts, n]
        for a, b in itertools.pairwise(bounds):
            if b > a:
                out.append((i, a, b - a))
    return out


def iterate_batches(
    songs: Sequence[Song],
    *,
    max_len: int,
    batch_events: int,
    seed: int,
    epoch: int,
    augment: bool,
    shuffle: bool = True,
) -> Iterator[list[tuple[Song, int, int, int]]]:
    """The batches of one epoch, the same for the same (seed, epoch) whether or not training was resumed.

    Windows of similar length are grouped (little padding), about ``batch_events`` events per batch.
    """
    rng = np.random.default_rng([seed, epoch])
    windows = windows_for_epoch(songs, max_len, rng)
    if shuffle:
        order = rng.permutation(len(windows))
        windows = [windows[i] for i in order]
    # Sort within chunks of 50 batches by length: little padding, still shuffled between chunks.
    chunk = 50 * max(1, batch_events // max_len)
    batches: list[list[tuple[int, int, int]]] = []
    for c in range(0, len(windows), chunk):
        part = sorted(windows[c : c + chunk], key=lambda w: w[2])
        current: list[tuple[int, int, int]] = []
        longest = 0
        for w in part:
            longest_next = max(longest, w[2])
            if current and longest_next * (len(current) + 1) > batch_events:
                batches.append(current)
                current, longest_next = [], w[2]
            current.append(w)
            longest = longest_next
        if current:
            batches.append(current)
    if shuffle:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    for index, batch in enumerate(batches):
        brng = np.random.default_rng([seed, epoch, index, 1])
        items = []
        for song_index, start, length in batch:
            song = songs[song_index]
            semis = 0
            if augment:
                low, high = transpose_range(song)
                semis = int(brng.integers(low, high + 1))
            items.append((song, start, length, semis))
        yield items


def count_batches(songs: Sequence[Song], *, max_len: int, batch_events: int, seed: int, epoch: int) -> int:
    return sum(
        1
        for _ in iterate_batches(
            songs, max_len=max_len, batch_events=batch_events, seed=seed, epoch=epoch, augment=False
        )
    )
