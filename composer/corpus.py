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
import os
import re
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from composer.encoding import PITCH, SHIFT, Events, encode, quantize
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


@dataclass
class _Item:
    collection: str
    name: str
    source: str
    title: str
    work: str  # pieces of one work share a group
    piece: Piece
    eval_set: str = ""


# ---------------------------------------------------------------------------------------------- jobs
# One job per source file, run in worker processes; each returns the pieces it found (or an error).


def _chorale_job(path: str) -> tuple[list[_Item], list[str]]:
    from music21 import corpus

    from composer.score import piece_from_score

    stem = Path(path).name.split(".mxl")[0].split(".krn")[0]
    number = int(re.match(r"bwv(\d+)", stem).group(1))  # type: ignore[union-attr]
    score = corpus.parse(path)
    title = (score.metadata.bestTitle if score.metadata else "") or stem
    full = piece_from_score(score, default_tempo=80.0, program=0)
    soprano = piece_from_score(score, parts=[0], default_tempo=80.0, program=0)
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
            piece = piece_from_score(score, default_tempo=120.0, program=0)
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


def _run_job(job: tuple[str, object]) -> tuple[list[_Item], list[str]]:
    kind, arg = job
    try:
        if kind == "chorale":
            return _chorale_job(arg)  # type: ignore[arg-type]
        return _abc_job(arg)  # type: ignore[arg-type]
    except Exception as error:
        return [], [f"{arg}: {type(error).__name__}: {error}"]


def _jobs(limit: int | None = None) -> list[tuple[str, object]]:
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
    if limit:
        # A small but complete sample for tests: a few of each kind, kinder included.
        picked = [j for j in jobs if j[0] == "chorale"][:limit]
        abc = [j for j in jobs if j[0] == "abc"]
        picked += [j for j in abc if "kinder0" in str(j[1])]
        picked += [j for j in abc if "oneills1850" in str(j[1])][:1]
        picked += [j for j in abc if "ryansMammoth" in str(j[1])][:limit]
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
    out: Path, *, workers: int | None = None, limit: int | None = None, progress: bool = True
) -> dict[str, object]:
    """Build the corpus into ``out`` (replacing its MIDI files and manifest); returns a summary."""
    from tqdm import tqdm

    started = time.perf_counter()
    jobs = _jobs(limit)
    workers = workers or max(1, min(len(jobs), os.cpu_count() or 1))
    results: list[tuple[list[_Item], list[str]]] = [([], [])] * len(jobs)
    ctx = get_context("fork" if os.name == "posix" else "spawn")
    with ctx.Pool(workers) as pool:
        iterator: Iterable[tuple[int, tuple[list[_Item], list[str]]]] = pool.imap_unordered(
            _indexed_job, list(enumerate(jobs)), chunksize=1
        )
        if progress:
            iterator = tqdm(iterator, total=len(jobs), desc="parsing music21 corpus", unit="file")
        for index, result in iterator:
            results[index] = result
    items = [item for r in results for item in r[0]]
    errors = [e for r in results for e in r[1]]
    summary = _write(out, items, errors)
    summary["build_seconds"] = round(time.perf_counter() - started, 1)
    return summary


def _indexed_job(indexed: tuple[int, tuple[str, object]]) -> tuple[int, tuple[list[_Item], list[str]]]:
    index, job = indexed
    return index, _run_job(job)


_PRIORITY = {"bach-chorales": 0, "bach-soprano": 1, "essen": 2, "oneills1850": 3, "ryans-mammoth": 4}


def _write(out: Path, items: list[_Item], errors: list[str]) -> dict[str, object]:
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

    groups = _union_find([[f"work:{items[i].work}"] + ([f"melody:{melodies[i]}"] if melodies[i] else []) for i in keep])
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
            )
        )

    for sub in _PRIORITY:
        shutil.rmtree(out / sub, ignore_errors=True)
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
    entries = written
    entries.sort(key=lambda e: e.path)
    with open(out / MANIFEST, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(asdict(entries[0])))
        writer.writeheader()
        for e in entries:
            writer.writerow(asdict(e))
    (out / "build-errors.txt").write_text("\n".join(errors) + ("\n" if errors else ""), encoding="utf-8")
    return {"pieces": len(entries), "dropped": dropped, "errors": len(errors), **counts(entries)}


def _short_source(path: str) -> str:
    marker = "/corpus/"
    return path[path.index(marker) + len(marker) :] if marker in path else path


# ------------------------------------------------------------------------------------------- reading


def read_manifest(root: Path) -> list[Entry]:
    """The manifest's rows as entries (raises FileNotFoundError when the folder has none)."""
    with open(root / MANIFEST, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    return [Entry(**{**row, "notes": int(row["notes"])}) for row in rows]  # type: ignore[arg-type]


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
