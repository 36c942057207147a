"""The embedded corpus: ``midi_data/``, built from music21's bundled corpus, its manifest and its split.

``composer corpus build`` parses (offline) the Bach chorales — all voices, and the soprano lines on their
own — and the folk-song collections music21 ships: the Essen collection, O'Neill's Music of Ireland
(1850 tunes) and Ryan's Mammoth Collection.  Each piece is quantized to the event grid and written as a
MIDI file; ``manifest.csv`` lists every file with its source, title, key, meter, note count, content
hash, split and evaluation set.

Deduplication and the split, so that evaluation never leaks:

* identical pieces (same quantized notes) are kept once;
* folk tunes whose melody is a chorale melody (Essen's ``altdeu`` books hold many) or a tune of the
  Essen "kinder" evaluation set are dropped;
* pieces that share a work (a chorale's four voices and its soprano line) or a melody (a chorale tune
  harmonized more than once) form one group, and the split — train 80 %, validation 10 %, test 10 % —
  is drawn from a hash of the group, so a group never straddles two splits.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from composer.encoding import PITCH, SHIFT, Events, encode, quantize
from composer.errors import InputError
from composer.midi_io import write_midi
from composer.piece import Piece

MANIFEST = "manifest.csv"
# Per row; the full provenance is in midi_data/README.md.
LICENCE = "public domain (via the music21 corpus)"
CHORALE_EVAL = "chorales_bwv253_438"
KINDER_EVAL = "essen_kinder"
SPLITS = (("train", 80), ("valid", 90), ("test", 100))
# Intervals of a melody's opening (repeated notes folded) that identify it across sources.  Ten is
# loose on purpose: Bach's soprano lines and Essen's plain versions of the same chorale tune differ in
# passing notes later on, and an extra folk tune caught is harmless where a leak is not.
MELODY_KEY_INTERVALS = 10
VARIANTS = "eval-variants.csv"
# POP909 (Wang et al., ISMIR 2020): songs 001-850 are the corpus's; 851-909 stay unseen.
POP909 = "pop909"
POP909_SONGS = 850
POP909_LICENCE = "MIT (POP909, Music X Lab; see pop909/LICENSE)"
# music21's multi-voice collections: a corpus path's prefix → the collection it joins (first match wins).
SCORE_COLLECTIONS = (
    ("palestrina/", "palestrina"),
    ("monteverdi/", "monteverdi"),
    ("trecento/", "trecento"),
    ("beethoven/opus", "quartets"),
    ("haydn/", "quartets"),
    ("mozart/k545", "piano"),
    ("mozart/k", "quartets"),
    ("joplin/", "piano"),
    ("chopin/", "piano"),
    ("cpebach/", "piano"),
    ("schoenberg/opus19", "piano"),
)
# A close variant: the same tune up to transposition, tempo and a few notes.  Two melodies are variants when
# the edit distance of their words (interval, duration ratio) is at most this share of the longer one (and at
# least VARIANT_MIN_EDITS, so that one changed note, two words, is caught in a short tune too).  Measured:
# bwv359 / bwv154.3 (the same chorale, passing eighths moved) are 6 edits apart in 45 words, kinder0-0015 /
# erk30-0537 2; unrelated chorale melodies of that length 30 or more.
VARIANT_SHARE = 0.2
VARIANT_MIN_EDITS = 2
VARIANT_MIN_WORDS = 12  # shorter melodies are too generic to call variants
VARIANT_LONGEST = 3  # a melody up to this many times longer may contain the other (repeats, a second strain)
VARIANT_SHINGLE = 4  # intervals per shingle in the prefilter (rhythm left out: versions differ there most)
VARIANT_SHINGLE_SHARE = 0.4  # a candidate shares at least this share of the shorter melody's shingles


@dataclass
class Entry:
    """One row of the manifest."""

    path: str  # relative to midi_data/
    collection: str
    source: str  # music21 corpus path, with #N for the N-th tune of a multi-tune file
    title: str
    key: str
    meter: str
    notes: int
    content_hash: str
    group: str
    split: str
    eval_set: str
    licence: str = LICENCE
    tracks: int = 1  # entries of the piece's track table (voices, instruments)
    dynamics: str = "no"  # "yes" when the notes' velocities vary (Piece.has_dynamics)


@dataclass
class _Item:
    collection: str
    name: str
    source: str
    title: str
    work: str  # pieces of one work share a group
    piece: Piece
    eval_set: str = ""
    licence: str = LICENCE


# ---------------------------------------------------------------------------------------------- jobs
# One job per source file, run in worker processes; each returns the pieces it found (or an error).


def _chorale_job(path: str) -> tuple[list[_Item], list[str]]:
    from music21 import corpus

    from composer.score import piece_from_score

    stem = Path(path).name.split(".mxl")[0].split(".krn")[0]
    number = int(re.match(r"bwv(\d+)", stem).group(1))  # type: ignore[union-attr]
    score = corpus.parse(path)
    title = (score.metadata.bestTitle if score.metadata else "") or stem
    full = piece_from_score(score, default_tempo=80.0)  # four tracks: soprano, alto, tenor, bass
    soprano = piece_from_score(score, parts=[0], default_tempo=80.0)
    eval_set = CHORALE_EVAL if 253 <= number <= 438 else ""
    return [
        _Item("bach-chorales", stem, path, title, f"bach/{stem}", full),
        _Item("bach-soprano", stem, path, title, f"bach/{stem}", soprano, eval_set),
    ], []


def _abc_job(args: tuple[str, str]) -> tuple[list[_Item], list[str]]:
    from music21 import converter, corpus

    from composer.score import piece_from_score

    collection, path = args
    stem = Path(path).stem
    errors: list[str] = []
    items: list[_Item] = []
    try:
        parsed = corpus.parse(path)
        scores = list(parsed.scores) if hasattr(parsed, "scores") and parsed.scores else [parsed]
    except Exception:  # one bad tune can sink music21's parse of a whole book: parse tune by tune
        text = Path(path).read_text(encoding="latin-1")
        tunes = re.split(r"(?m)^(?=X:)", text)
        scores = []
        for tune in tunes:
            if not tune.startswith("X:"):
                continue
            try:
                scores.append(converter.parse(tune, format="abc"))
            except Exception as error:
                errors.append(f"{path} {tune.splitlines()[0]}: {type(error).__name__}")
    is_kinder = collection == "essen" and stem == "kinder0"
    for index, score in enumerate(scores, start=1):
        source = f"{path}#{index}" if len(scores) > 1 else path
        try:
            piece = piece_from_score(score, default_tempo=120.0)
        except Exception as error:
            errors.append(f"{source}: {type(error).__name__}: {error}")
            continue
        if len(piece.notes) < 8:
            errors.append(f"{source}: fewer than 8 notes")
            continue
        title = (score.metadata.bestTitle if score.metadata else "") or f"{stem} {index}"
        name = f"{stem}-{index:04d}" if len(scores) > 1 else stem
        items.append(
            _Item(
                collection, name, source, title.strip(), f"{collection}/{name}", piece, KINDER_EVAL if is_kinder else ""
            )
        )
    return items, errors


def _score_job(args: tuple[str, str, str]) -> tuple[list[_Item], list[str]]:
    """One multi-part score of music21's corpus (a madrigal, a quartet movement, a piano piece)."""
    from music21 import corpus

    from composer.score import piece_from_score

    collection, path, work = args
    score = corpus.parse(path)
    short = _short_source(path)
    name = re.sub(r"[^A-Za-z0-9.-]+", "-", short.rsplit(".", 1)[0]).strip("-")
    title = (score.metadata.bestTitle if score.metadata else "") or name
    piece = piece_from_score(score, default_tempo=100.0)
    if len(piece.notes) < 8:
        return [], [f"{path}: fewer than 8 notes"]
    return [_Item(collection, name, path, str(title).strip(), f"{collection}/{work}", piece)], []


def _pop909_job(path: str) -> tuple[list[_Item], list[str]]:
    """One POP909 song (melody, bridge and piano tracks, played velocities), read by composer's reader."""
    from composer.midi_io import read_midi

    name = Path(path).stem
    piece = read_midi(path)
    if len(piece.notes) < 8:
        return [], [f"{path}: fewer than 8 notes"]
    source = f"POP909/{name}/{name}.mid"  # the release's own path, wherever the folder or a kept copy lies
    item = _Item(POP909, name, source, f"POP909 song {name}", f"{POP909}/{name}", piece, licence=POP909_LICENCE)
    return [item], []


def _run_job(job: tuple[str, object]) -> tuple[list[_Item], list[str]]:
    kind, arg = job
    try:
        if kind == "chorale":
            return _chorale_job(arg)  # type: ignore[arg-type]
        if kind == "score":
            return _score_job(arg)  # type: ignore[arg-type]
        if kind == "pop909":
            return _pop909_job(arg)  # type: ignore[arg-type]
        return _abc_job(arg)  # type: ignore[arg-type]
    except Exception as error:
        return [], [f"{arg}: {type(error).__name__}: {error}"]


def _score_jobs(core: list[str]) -> list[tuple[str, object]]:
    """The multi-voice collections: (collection, path, work) per score; a work's movements share a group."""
    by_stem: dict[str, str] = {}
    for path in core:  # one file per piece: MusicXML before Humdrum before the rest
        stem = path.rsplit(".", 1)[0]
        rank = {".mxl": 0, ".xml": 1, ".musicxml": 1, ".krn": 2}.get(Path(path).suffix, 3)
        old = by_stem.get(stem)
        if old is None or rank < {".mxl": 0, ".xml": 1, ".musicxml": 1, ".krn": 2}.get(Path(old).suffix, 3):
            by_stem[stem] = path
    jobs: list[tuple[str, object]] = []
    for path in sorted(by_stem.values()):
        short = _short_source(path)
        parts = short.split("/")
        if Path(path).suffix not in (".mxl", ".xml", ".musicxml", ".krn"):
            continue
        collection = next((c for prefix, c in SCORE_COLLECTIONS if short.startswith(prefix)), None)
        if collection is None:
            continue
        work = "/".join(parts[:2]) if len(parts) > 2 else short.rsplit(".", 1)[0]
        jobs.append(("score", (collection, path, work)))
    return jobs


def pop909_songs(folder: Path) -> list[Path]:
    """The MIDI files of POP909's songs 001–850 in ``folder`` (``NNN/NNN.mid``); InputError when the folder is
    missing, holds none of them, or has a song folder without its MIDI file."""
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder; give --pop909 the POP909 folder that holds 001/001.mid, 002/ ….")
    folders = [folder / f"{n:03d}" for n in range(1, POP909_SONGS + 1)]
    present = [f for f in folders if f.is_dir()]
    if not present:
        raise InputError(
            f"{folder} has no POP909 song folders (001 … 850, each with its NNN.mid); "
            "give --pop909 the folder of the POP909 release."
        )
    lacking = [f for f in present if not (f / f"{f.name}.mid").is_file()]
    if lacking:
        raise InputError(
            f"POP909 song folder {lacking[0]} has no {lacking[0].name}.mid; give --pop909 a complete copy of the "
            "release; the corpus is unchanged."
        )
    return [f / f"{f.name}.mid" for f in present]


def _jobs(limit: int | None = None, skip: tuple[str, ...] = ()) -> list[tuple[str, object]]:
    from music21 import corpus

    chorales = sorted(set(corpus.chorales.Iterator(returnType="filename")))
    core = sorted(str(p) for p in corpus.getCorePaths())

    def under(folder: str) -> list[str]:
        return [p for p in core if f"/{folder}/" in p and p.endswith(".abc")]

    def chorale_path(name: str) -> str:
        found = corpus.getWork(name)
        if isinstance(found, list):  # e.g. bwv277.krn and bwv277.mxl, or bwv112.5.mxl and bwv112.5-sc.mxl
            stem = name.split("/")[-1]
            exact = [p for p in found if Path(p).name == f"{stem}.mxl"]
            found = exact[0] if exact else sorted(found, key=lambda p: (Path(p).suffix != ".mxl", str(p)))[0]
        return str(found)

    jobs: list[tuple[str, object]] = [("chorale", p) for p in sorted({chorale_path(c) for c in chorales})]
    jobs += [("abc", ("essen", p)) for p in under("essenFolksong")]
    jobs += [("abc", ("oneills1850", p)) for p in under("oneills1850")]
    jobs += [("abc", ("ryans-mammoth", p)) for p in under("ryansMammoth")]
    # The multi-voice scores first: they take longest (a quartet movement ~20 s), so the pool's tail stays short.
    jobs = [j for j in _score_jobs(core) if j[1][0] not in skip] + jobs  # type: ignore[index]
    if limit:
        # A small but complete sample for tests: a few of each kind, kinder included.
        picked = [j for j in jobs if j[0] == "chorale"][:limit]
        abc = [j for j in jobs if j[0] == "abc"]
        picked += [j for j in abc if "kinder0" in str(j[1])]
        picked += [j for j in abc if "oneills1850" in str(j[1])][:1]
        picked += [j for j in abc if "ryansMammoth" in str(j[1])][:limit]
        picked += [j for j in jobs if j[0] == "score" and "trecento" in str(j[1])][:1]
        jobs = picked
    return jobs


# ------------------------------------------------------------------------------------------ identity


def content_hash(events: Events) -> str:
    """Hash of the encoded notes (onsets, pitches, durations); the same music gives the same hash."""
    return hashlib.sha1(events.ids[:, :3].astype("<i8").tobytes()).hexdigest()[:16]


def melody_key(events: Events) -> str | None:
    """Transposition- and rhythm-free identity of a melody: the intervals of its opening top line.

    Repeated notes are folded, since versions of one tune differ there most.  None for short pieces.
    """
    ids = events.ids
    pitches: list[int] = []
    onset = -1
    time = 0
    for shift, pitch in zip(ids[:, SHIFT].tolist(), ids[:, PITCH].tolist(), strict=True):
        time += shift
        if time == onset:
            continue  # lower notes of a chord: the top line is the first note at each onset
        onset = time
        if not pitches or pitches[-1] != pitch:
            pitches.append(pitch)
    intervals = [b - a for a, b in itertools.pairwise(pitches)][:MELODY_KEY_INTERVALS]
    if len(intervals) < MELODY_KEY_INTERVALS:
        return None
    return ",".join(map(str, intervals))


def split_of_digest(digest: str) -> str:
    """The split (80/10/10, see SPLITS) a hex digest falls in: the one rule for the corpus's groups and for
    the files of a folder without a manifest."""
    bucket = int(digest[:8], 16) % 100
    return next(name for name, upper in SPLITS if bucket < upper)


def split_of(group: str) -> str:
    """The split of a group of pieces (all versions of a work or melody land in one split)."""
    return split_of_digest(hashlib.sha1(group.encode()).hexdigest())


# ------------------------------------------------------------------------------------------- variants

Word = tuple[int, int]


@dataclass(frozen=True)
class Variant:
    """An evaluation tune and a piece elsewhere in the corpus whose melody is a close variant of it."""

    eval_index: int  # indices into the list of melodies given to find_variants
    other_index: int
    distance: float  # edits between their melody words (see _banded_distance)


def melody_words(piece: Piece) -> tuple[Word, ...]:
    """The melody of a piece as transposition- and tempo-free words: (interval, duration ratio) per note.

    The melody is the first track's top line (the highest note at each onset); a word is the interval from
    the previous note in semitones and the ratio of the inter-onset times, in quarter-octaves of log2.
    """
    first = piece.notes[0].track if piece.notes else 0
    top: dict[float, int] = {}
    for n in piece.notes:
        if n.track == first:
            top[n.start] = max(top.get(n.start, -1), n.pitch)
    onsets = sorted(top)
    if len(onsets) < 2:
        return ()
    last = max(n.end for n in piece.notes if n.track == first)
    spans = [b - a for a, b in itertools.pairwise([*onsets, last])]
    words: list[Word] = []
    for i in range(1, len(onsets)):
        ratio = spans[i] / spans[i - 1] if spans[i - 1] > 0 and spans[i] > 0 else 1.0
        words.append((top[onsets[i]] - top[onsets[i - 1]], max(-8, min(8, round(4 * math.log2(ratio))))))
    return tuple(words)


def _banded_distance(a: tuple[Word, ...], b: tuple[Word, ...], band: float) -> float:
    """Edit distance of two melodies' words, or more than ``band`` when it exceeds it (only a band is filled).

    Inserting, deleting or changing an interval costs 1; a word whose interval agrees and whose rhythm
    differs costs ½ (versions of a tune differ in rhythm, passing eighths or a held last note, more than in
    pitch).  Computed in half-edits so the table stays in integers.
    """
    limit = int(2 * band)
    width = int(band)
    if abs(len(a) - len(b)) > width:
        return band + 1
    far = limit + 1
    previous = [2 * j if j <= width else far for j in range(len(b) + 1)]
    for i in range(1, len(a) + 1):
        current = [far] * (len(b) + 1)
        if i <= width:
            current[0] = 2 * i
        for j in range(max(1, i - width), min(len(b), i + width) + 1):
            x, y = a[i - 1], b[j - 1]
            cost = 0 if x == y else 1 if x[0] == y[0] else 2
            current[j] = min(previous[j - 1] + cost, previous[j] + 2, current[j - 1] + 2, far)
        if min(current) > limit:
            return band + 1
        previous = current
    return previous[len(b)] / 2 if previous[len(b)] <= limit else band + 1


def _contained_distance(short: tuple[Word, ...], long: tuple[Word, ...], band: float) -> float:
    """Edits to find ``short`` anywhere inside ``long`` (a tune and a version with its repeats written out, or
    with a second strain), costed as in :func:`_banded_distance`; more than ``band`` when it exceeds it."""
    limit = int(2 * band)
    far = limit + 1
    previous = [0] * (len(long) + 1)  # the match may start anywhere in the longer melody
    for i in range(1, len(short) + 1):
        current = [min(2 * i, far)] + [far] * len(long)
        x = short[i - 1]
        for j in range(1, len(long) + 1):
            y = long[j - 1]
            cost = 0 if x == y else 1 if x[0] == y[0] else 2
            current[j] = min(previous[j - 1] + cost, previous[j] + 2, current[j - 1] + 2, far)
        if min(current) > limit:
            return band + 1
        previous = current
    best = min(previous)  # ... and end anywhere
    return best / 2 if best <= limit else band + 1


def variant_band(length: int) -> int:
    """The most edits two melodies of this (longer) length may differ by and be variants."""
    return max(VARIANT_MIN_EDITS, int(VARIANT_SHARE * length))


def find_variants(melodies: list[tuple[Word, ...]], evaluation: list[int], others: list[int]) -> list[Variant]:
    """Every (evaluation tune, other piece) pair whose melodies are close variants.

    Close means: the whole melodies within :func:`variant_band` edits (:func:`_banded_distance`), or the
    shorter found inside the longer within the shorter's band (:func:`_contained_distance`).  A cheap
    prefilter first (shared shingles of VARIANT_SHINGLE intervals, through an index of the others), then the
    alignments on the few candidates, so thousands × hundreds of comparisons stay fast.
    """
    index: dict[tuple[int, ...], list[int]] = {}
    shingles: dict[int, set[tuple[int, ...]]] = {}

    def shingles_of(i: int) -> set[tuple[int, ...]]:
        if i not in shingles:
            steps = tuple(interval for interval, _ in melodies[i])
            shingles[i] = {steps[k : k + VARIANT_SHINGLE] for k in range(len(steps) - VARIANT_SHINGLE + 1)}
        return shingles[i]

    for o in others:
        if len(melodies[o]) >= VARIANT_MIN_WORDS:
            for sh in shingles_of(o):
                index.setdefault(sh, []).append(o)
    found: list[Variant] = []
    for e in evaluation:
        m = melodies[e]
        if len(m) < VARIANT_MIN_WORDS:
            continue
        shared: dict[int, int] = {}
        for sh in shingles_of(e):
            for o in index.get(sh, ()):
                shared[o] = shared.get(o, 0) + 1
        for o, count in shared.items():
            if o == e or count < VARIANT_SHINGLE_SHARE * min(len(shingles_of(e)), len(shingles_of(o))):
                continue
            short, long = sorted((m, melodies[o]), key=len)
            band = variant_band(len(long))
            distance = _banded_distance(m, melodies[o], band)
            if distance > band and len(long) <= VARIANT_LONGEST * len(short):
                band = variant_band(len(short))
                distance = _contained_distance(short, long, band)
            if distance <= band:
                found.append(Variant(e, o, distance))
    return found


# ------------------------------------------------------------------------------------------- building


def _union_find(keys: list[list[str]]) -> list[str]:
    """For each item's list of identity keys, the smallest key of its connected group."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for ks in keys:
        for k in ks[1:]:
            a, b = find(ks[0]), find(k)
            if a != b:
                parent[max(a, b)] = min(a, b)
    return [find(ks[0]) for ks in keys]


def build(
    out: Path,
    *,
    workers: int | None = None,
    limit: int | None = None,
    progress: bool = True,
    pop909: Path | None = None,
    skip: tuple[str, ...] = (),
) -> dict[str, object]:
    """Build the corpus into ``out`` (replacing its MIDI folders, manifest and lists); returns a summary.

    ``pop909``: the POP909 folder to derive ``out/pop909/`` from; without it, the POP909 files already in
    ``out/pop909/`` are kept (read back and listed again).  Everything is written into a temporary folder
    beside ``out`` and swapped in at the end, so a failed build (a malformed POP909 folder raises
    InputError before anything is written) leaves the existing corpus untouched.
    """
    from tqdm import tqdm

    started = time.perf_counter()
    songs = pop909_songs(pop909) if pop909 is not None else sorted((out / POP909).glob("[0-9][0-9][0-9].mid"))
    if limit and pop909 is not None:
        songs = songs[:limit]
    licence = pop909 / "LICENSE" if pop909 is not None else out / POP909 / "LICENSE"
    jobs = _jobs(limit, skip) + [("pop909", str(p)) for p in songs]
    workers = workers or max(1, min(len(jobs), os.cpu_count() or 1))
    results: list[tuple[list[_Item], list[str]]] = [([], [])] * len(jobs)
    ctx = get_context("fork" if os.name == "posix" else "spawn")
    with ctx.Pool(workers) as pool:
        iterator: Iterable[tuple[int, tuple[list[_Item], list[str]]]] = pool.imap_unordered(
            _indexed_job, list(enumerate(jobs)), chunksize=1
        )
        if progress:
            iterator = tqdm(iterator, total=len(jobs), desc="parsing the corpus", unit="file")
        for index, result in iterator:
            results[index] = result
    for job, (_, errors) in zip(jobs, results, strict=True):
        if job[0] == "pop909" and errors and pop909 is not None:
            song = Path(str(job[1])).stem
            reason = errors[0].split(": ", 2)[-1]
            raise InputError(f"POP909 song {song} in {pop909} cannot be read ({reason}); the corpus is unchanged.")
    items = [item for r in results for item in r[0]]
    errors = [e for r in results for e in r[1]]
    old = _old_training(out)
    building = out.parent / f".{out.name}.building-{os.getpid()}"
    shutil.rmtree(building, ignore_errors=True)
    try:
        summary = _write(building, items, errors, old)
        if songs and licence.is_file():
            (building / POP909).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(licence, building / POP909 / "LICENSE")
        _swap(building, out)
    finally:
        shutil.rmtree(building, ignore_errors=True)
    summary["build_seconds"] = round(time.perf_counter() - started, 1)
    return summary


def _swap(building: Path, out: Path) -> None:
    """Move a finished build's collection folders and lists into ``out`` (other files there are kept)."""
    out.mkdir(parents=True, exist_ok=True)
    for sub in _PRIORITY:
        if (building / sub).exists() or sub != POP909:
            shutil.rmtree(out / sub, ignore_errors=True)
        if (building / sub).exists():
            os.replace(building / sub, out / sub)
    for name in (MANIFEST, "build-errors.txt", VARIANTS):
        os.replace(building / name, out / name)


def _old_training(out: Path) -> dict[str, str]:
    """The existing manifest's split per path, with "train" only for pieces training on "train" used.

    A training piece grouped with an evaluation tune is left out by ``--exclude-eval``: it is listed as
    "train (grouped with an evaluation tune)".  Empty when ``out`` has no manifest.
    """
    try:
        entries = read_manifest(out)
    except (FileNotFoundError, TypeError, KeyError, ValueError):
        return {}
    eval_groups = {e.group for e in entries if e.eval_set}
    return {
        e.path: "train (grouped with an evaluation tune)" if e.split == "train" and e.group in eval_groups else e.split
        for e in entries
        if not e.eval_set
    }


def _indexed_job(indexed: tuple[int, tuple[str, object]]) -> tuple[int, tuple[list[_Item], list[str]]]:
    index, job = indexed
    return index, _run_job(job)


_PRIORITY = {
    "bach-chorales": 0,
    "bach-soprano": 1,
    "essen": 2,
    "oneills1850": 3,
    "ryans-mammoth": 4,
    "palestrina": 5,
    "monteverdi": 6,
    "trecento": 7,
    "quartets": 8,
    "piano": 9,
    POP909: 10,
}


def _write(out: Path, items: list[_Item], errors: list[str], old: dict[str, str]) -> dict[str, object]:
    # Evaluation pieces first, so that a duplicate elsewhere is the one dropped.
    items.sort(key=lambda it: (it.eval_set == "", _PRIORITY[it.collection], it.source, it.name))
    usable, encoded = [], []
    for it in items:
        try:
            it.piece = quantize(it.piece)  # refuses what the encoding cannot hold
            encoded.append(encode(it.piece))
            usable.append(it)
        except Exception as error:  # one odd piece must not sink an eight-minute build
            errors.append(f"{it.source}: {type(error).__name__}: {error}")
    items = usable
    quantized = [it.piece for it in items]
    hashes = [content_hash(e) for e in encoded]
    melodies = [
        melody_key(e) if it.collection != "bach-chorales" else None for it, e in zip(items, encoded, strict=True)
    ]
    chorale_melodies = {m for it, m in zip(items, melodies, strict=True) if it.collection == "bach-soprano" and m}
    kinder_melodies = {m for it, m in zip(items, melodies, strict=True) if it.eval_set == KINDER_EVAL and m}
    seen: set[str] = set()
    keep: list[int] = []
    dropped = {"duplicate": 0, "chorale melody": 0, "kinder melody": 0}
    for i, it in enumerate(items):
        if hashes[i] in seen and it.collection != "bach-soprano":
            dropped["duplicate"] += 1
            continue
        m = melodies[i]
        if it.collection not in ("bach-chorales", "bach-soprano") and m in chorale_melodies:
            dropped["chorale melody"] += 1
            continue
        is_chorale = it.collection in ("bach-chorales", "bach-soprano")
        if it.eval_set != KINDER_EVAL and not is_chorale and m in kinder_melodies:
            dropped["kinder melody"] += 1
            continue
        seen.add(hashes[i])
        keep.append(i)

    # Close variants of an evaluation tune join its group: one split, and --exclude-eval leaves them out.
    words = [melody_words(quantized[i]) for i in keep]
    evaluation = [n for n, i in enumerate(keep) if items[i].eval_set]
    others = [n for n, i in enumerate(keep) if not items[i].eval_set]
    variants = [
        v
        for v in find_variants(words, evaluation, others)
        if items[keep[v.eval_index]].work != items[keep[v.other_index]].work
    ]
    links: dict[int, list[str]] = {}
    for v in variants:
        links.setdefault(v.other_index, []).append(f"work:{items[keep[v.eval_index]].work}")
    groups = _union_find(
        [
            [f"work:{items[i].work}"] + ([f"melody:{melodies[i]}"] if melodies[i] else []) + links.get(n, [])
            for n, i in enumerate(keep)
        ]
    )
    # A chorale's four-voice version has no melody key of its own; it joins its soprano through the work.
    entries: list[Entry] = []
    for n, i in enumerate(keep):
        it, q = items[i], quantized[i]
        group = hashlib.sha1(groups[n].encode()).hexdigest()[:12]
        rel = f"{it.collection}/{it.name}.mid"
        entries.append(
            Entry(
                path=rel,
                collection=it.collection,
                source=_short_source(it.source),
                title=it.title,
                key=q.key_name or "",
                meter=str(q.time_signature),
                notes=len(q.notes),
                content_hash=hashes[i],
                group=group,
                split=split_of(group),
                eval_set=it.eval_set,
                licence=it.licence,
                tracks=len(q.tracks),
                dynamics="yes" if q.has_dynamics else "no",
            )
        )

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entry, i in zip(entries, keep, strict=True):
        target = out / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            write_midi(quantized[i], target)
            written.append(entry)
        except Exception as error:
            errors.append(f"{entry.source}: not written: {type(error).__name__}: {error}")
    if not written:
        first = errors[-1] if errors else "no pieces"
        raise InputError(f"No piece of the corpus could be written ({first}); the corpus is unchanged.")
    found = _write_variants(out, variants, entries, old)
    entries = written
    entries.sort(key=lambda e: e.path)
    with open(out / MANIFEST, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(entries[0])))
        writer.writeheader()
        for e in entries:
            writer.writerow(asdict(e))
    (out / "build-errors.txt").write_text("\n".join(errors) + ("\n" if errors else ""), encoding="utf-8")
    return {
        "pieces": len(entries),
        "dropped": dropped,
        "variants": found,
        "errors": len(errors),
        **counts(entries),
    }


def _write_variants(out: Path, variants: list[Variant], entries: list[Entry], old: dict[str, str]) -> dict[str, object]:
    """``eval-variants.csv``: each evaluation tune's close variants, with the variant's split in the previous
    build (``old_split``), so the protocols can be scored with and without the tunes that had a variant in
    training.  Returns per evaluation set how many tunes have a variant, and how many had one in training."""
    pairs = ((entries[v.eval_index], entries[v.other_index], v.distance) for v in variants)
    rows = sorted(pairs, key=lambda row: (row[0].path, row[1].path))  # an evaluation tune may have several
    with open(out / VARIANTS, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["eval_path", "eval_set", "variant_path", "distance", "split", "old_split"])
        for e, o, d in rows:
            writer.writerow([e.path, e.eval_set, o.path, d, o.split, old.get(o.path, "")])
    summary: dict[str, object] = {}
    for name in sorted({e.eval_set for e, _, _ in rows}):
        tunes = {e.path for e, _, _ in rows if e.eval_set == name}
        before = {e.path for e, o, _ in rows if e.eval_set == name and old.get(o.path) == "train"}
        summary[name] = {"tunes_with_variant": len(tunes), "had_variant_in_old_training": len(before)}
    return summary


def _short_source(path: str) -> str:
    marker = "/corpus/"
    return path[path.index(marker) + len(marker) :] if marker in path else path


# ------------------------------------------------------------------------------------------- reading


def read_manifest(root: Path) -> list[Entry]:
    """The manifest's rows as entries (raises FileNotFoundError when the folder has none)."""
    with open(root / MANIFEST, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [
        Entry(**{**row, "notes": int(row["notes"]), "tracks": int(row.get("tracks") or 1)})  # type: ignore[arg-type]
        for row in rows
    ]


@dataclass(frozen=True)
class CollectionCount:
    """One collection's size: pieces, notes, track tables and how many pieces have dynamics."""

    pieces: int
    notes: int
    tracks: dict[int, int]  # track count → pieces with that many tracks
    with_dynamics: int


def collection_table(entries: Iterable[Entry]) -> dict[str, dict[str, object]]:
    """Per collection: pieces, notes, pieces per track count and pieces with dynamics (for ``corpus stats``)."""
    rows: dict[str, list[Entry]] = {}
    for e in entries:
        rows.setdefault(e.collection, []).append(e)
    table: dict[str, dict[str, object]] = {}
    for name, es in sorted(rows.items()):
        tracks: dict[int, int] = {}
        for e in es:
            tracks[e.tracks] = tracks.get(e.tracks, 0) + 1
        count = CollectionCount(
            len(es), sum(e.notes for e in es), dict(sorted(tracks.items())), sum(e.dynamics == "yes" for e in es)
        )
        table[name] = asdict(count)
    return table


def counts(entries: Iterable[Entry]) -> dict[str, object]:
    """Pieces and notes per split, per collection and per evaluation set."""
    out: dict[str, dict[str, dict[str, int]]] = {"by_split": {}, "by_collection": {}, "by_eval_set": {}}
    for e in entries:
        for table, name in (("by_split", e.split), ("by_collection", e.collection), ("by_eval_set", e.eval_set)):
            if table == "by_eval_set" and not name:
                continue
            row = out[table].setdefault(name, {"pieces": 0, "notes": 0})
            row["pieces"] += 1
            row["notes"] += e.notes
    return out  # type: ignore[return-value]
