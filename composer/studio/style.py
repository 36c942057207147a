"""Teach it your style: a musician's own MIDI files fine-tune the shipped model in a background lesson.

Three parts, in the order a lesson meets them:

* :func:`check_uploads` — the files (or zips of them) as uploaded, checked cheaply in the request: size, the
  ``MThd`` header, duplicates, how many.  Every file left out is named, in sentences that group files left out
  for one reason; fewer than :data:`MIN_FILES` good files refuses the lesson.
* :func:`run_lesson` — the lesson itself, in a spawned process with one torch thread (the server stays
  responsive, the MIDI reader's parse time limit holds in that process's main thread): read each file (the
  reader's refusals are named too), hold out one piece in five (at least one, at most :data:`MAX_HELD_OUT`),
  measure the base model's bits per note on them, fine-tune from it for what is left of the time budget
  (:class:`composer.train.TrainConfig`'s ``max_seconds``; validated on the held-out pieces every so often, the
  best point kept), and write the best as safetensors into the owner's folder.  It reports through a small
  JSON file (:class:`Progress`) and stops between steps when the parent's cancel event is set.
* :class:`StyleStudio` — the desk's side, plain values in and out: start a lesson (:meth:`~StyleStudio.learn`),
  say where it stands (:meth:`~StyleStudio.status`), stop it (:meth:`~StyleStudio.cancel`), and list an owner's
  learned styles for the model picker (:meth:`~StyleStudio.styles`).  One lesson at a time on the whole server
  (it takes a core for minutes): a second is refused in one sentence.

The held-out pieces also choose the best point of the lesson, so "after" is the best of a few checks on the very
pieces it is reported on: a little optimistic, where five uploaded files leave nothing else to hold out.
A learned style is a checkpoint like any other (:func:`composer.checkpoint.load_model`: safetensors only, never
a pickle); it lives beside the studio's database, in a folder per owner (a hash of the owner id).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import multiprocessing
import os
import re
import shutil
import threading
import time
import traceback
import uuid
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.atomic import atomic_write
from composer.errors import InputError
from composer.midi_io import MAX_FILE_BYTES

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.synchronize import Event

    from composer.dataset import Song
    from composer.train import TrainConfig

MIN_FILES = 5  # fewer pieces teach nothing a held-out piece could show
MAX_FILES = 200  # a lesson of minutes cannot read more than this many pieces well anyway
MAX_UPLOAD_BYTES = 64_000_000  # all files of one lesson together (a zip's contents counted unpacked)
MAX_ZIP_ENTRIES = 10 * MAX_FILES  # a zip's entries looked at; the rest are counted as left out
DEFAULT_MINUTES = 5.0
MAX_MINUTES = 15.0  # a lesson holds one of the server's cores for this long at most
HOLD_OUT_EVERY = 5  # one piece in five is held out to measure the lesson
MAX_HELD_OUT = 20  # …at most this many: measuring them is time the lesson does not learn
# …and only their openings, this many notes in all: the shipped model scores ~2,000 notes a second on one core,
# and a lesson of minutes measures them at the start, every so often, and at the end.
HELD_OUT_NOTES = 12_000
MAX_NAME = 40
STYLE_SUFFIX = " (your style)"  # a learned style's name in the model picker ends so
LESSON_SECONDS_AFTER_CANCEL = 30.0  # a cancelled lesson still running after this is killed


@dataclass(frozen=True)
class FineTuning:
    """How a lesson fine-tunes: the knobs of :class:`composer.train.TrainConfig` a lesson sets (the rest are
    fixed in :meth:`config`).  Tests give a tiny model's sizes; bench/style.py compares settings."""

    batch_events: int = 4096  # half of training's batch: more steps in a few minutes, on a few pieces
    max_len: int = 256
    lr: float = 5e-4  # a quarter of training's peak: move toward the style without forgetting music
    warmup_steps: int = 10
    patience: int = 8  # epochs without a better held-out score; a few pieces make short epochs
    validate_seconds: float | None = None  # None: see _lesson (a sixth of the lesson, at least 15 s)

    def config(self, init: str, out: str, seconds: float, validate_seconds: float) -> TrainConfig:
        """The run of a lesson from ``init`` into ``out``, stopped after ``seconds``, validated at least every
        ``validate_seconds``."""
        from composer.train import TrainConfig

        return TrainConfig(
            out=out,
            init=init,
            epochs=100_000,  # the clock ends a lesson, or early stopping; never the epochs
            batch_events=self.batch_events,
            max_len=self.max_len,
            lr=self.lr,
            min_lr_ratio=1.0,  # a constant rate after the warm-up: the lesson's length is not known in steps
            warmup_steps=self.warmup_steps,
            weight_decay=0.0,  # decay would pull the shipped weights toward zero, not toward the style
            patience=self.patience,
            checkpoint_seconds=math.inf,  # no resumable state: a lesson is never resumed
            save_last=False,
            max_seconds=seconds,
            validate_seconds=validate_seconds,
            device="cpu",
            threads=1,  # the server's other core serves the page and generates
            progress=False,
            log=False,
        )


# ------------------------------------------------------------------------------------------- uploads


@dataclass(frozen=True)
class Upload:
    """One file accepted for a lesson: its name as the musician knows it (a zip's member: "zip: member")."""

    name: str
    data: bytes


@dataclass
class Checked:
    """What :func:`check_uploads` made of an upload: the files a lesson may read, and one sentence per reason
    some were left out (each file left out named in one)."""

    files: list[Upload] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


def check_uploads(paths: Sequence[str | os.PathLike[str]]) -> Checked:
    """The uploaded files (MIDI files, or zips of them) → the files a lesson may read and the sentences naming
    those left out: not MIDI files, longer than :data:`MAX_FILE_BYTES`, a damaged header, the same file twice,
    beyond :data:`MAX_FILES` or :data:`MAX_UPLOAD_BYTES`.  Only sizes and headers are read here; the lesson
    reads the music (:func:`run_lesson`) and names the files its reader refuses."""
    from composer.smf import read_header

    checked = Checked()
    not_midi: list[str] = []
    too_large: list[str] = []
    unopened: list[str] = []
    too_many: list[str] = []
    seen: dict[str, str] = {}  # content hash → the first name it came under
    total = 0

    def take(name: str, size: int, read: Callable[[], bytes]) -> None:
        nonlocal total
        if len(checked.files) >= MAX_FILES or total + min(size, MAX_FILE_BYTES) > MAX_UPLOAD_BYTES:
            too_many.append(name)
            return
        if size > MAX_FILE_BYTES:
            too_large.append(name)
            return
        try:
            data = read()
        except (OSError, RuntimeError, EOFError, NotImplementedError, zipfile.BadZipFile, zlib.error):
            unopened.append(name)  # an encrypted or damaged zip member, a file gone from the upload folder
            return
        if len(data) > MAX_FILE_BYTES:  # a zip's stated size may lie
            too_large.append(name)
            return
        if data[:4] != b"MThd":
            not_midi.append(name)
            return
        try:
            read_header(data, name)
        except InputError as error:
            checked.left_out.append(_left_out(name, error))
            return
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:
            checked.left_out.append(f"Left out {name}: it is the same file as {seen[digest]}.")
            return
        seen[digest] = name
        total += len(data)
        checked.files.append(Upload(name, data))

    for item in paths:
        path = Path(item)
        try:
            size = path.stat().st_size
            is_zip = path.is_file() and zipfile.is_zipfile(path)
        except OSError:
            unopened.append(path.name)
            continue
        if not is_zip and path.suffix.lower() == ".zip":
            unopened.append(path.name)  # a damaged zip
            continue
        if not is_zip:
            take(path.name, size, path.read_bytes)
            continue
        try:
            with zipfile.ZipFile(path) as archive:
                members = [
                    m
                    for m in archive.infolist()
                    if not m.is_dir() and not any(part.startswith((".", "__MACOSX")) for part in Path(m.filename).parts)
                ]
                for i, member in enumerate(members):
                    name = f"{path.name}: {member.filename}"
                    if i >= MAX_ZIP_ENTRIES:
                        too_many.append(name)
                        continue
                    take(name, member.file_size, functools.partial(_read_member, archive, member))
        except (OSError, zipfile.BadZipFile, zlib.error):
            unopened.append(path.name)
    megabytes = MAX_FILE_BYTES // 1_000_000
    for names, one, several in (
        (not_midi, "it is not a MIDI file", "they are not MIDI files"),
        (unopened, "it could not be opened", "they could not be opened"),
        (
            too_large,
            f"it is larger than {megabytes} MB, the most one piece may be (split it into shorter pieces)",
            f"they are larger than {megabytes} MB, the most one piece may be (split them into shorter pieces)",
        ),
    ):
        if names:
            checked.left_out.append(f"Left out {_listed(names)}: {one if len(names) == 1 else several}.")
    if too_many:
        checked.left_out.append(
            f"Left out {_listed(too_many)}: a lesson learns from at most {MAX_FILES} pieces "
            f"({MAX_UPLOAD_BYTES // 1_000_000} MB) at a time, the first ones as given."
        )
    return checked


def _read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bytes:
    with archive.open(member) as f:
        return f.read(MAX_FILE_BYTES + 1)  # never more than one byte past the limit, whatever the zip says


def _listed(names: list[str], most: int = 8) -> str:
    """Names as a list in a sentence: "a.mid", "a.mid and b.mid", "a.mid, b.mid, … and 12 more"."""
    if len(names) == 1:
        return names[0]
    shown = names[:most]
    rest = len(names) - len(shown)
    if rest:
        return f"{', '.join(shown)} and {rest} more"
    return f"{', '.join(shown[:-1])} and {shown[-1]}"


def _left_out(name: str, error: InputError) -> str:
    """A reader's refusal of ``name`` ("NAME is …; do …") as a lesson says it: "Left out NAME: it is …"."""
    reason = str(error).removeprefix(f"{name} ").split(";")[0].rstrip(".")
    return f"Left out {name}: it {reason}."


# ------------------------------------------------------------------------------------------- the lesson


@dataclass
class Progress:
    """Where a lesson stands, as its process writes it (``progress.json``) and the desk reads it."""

    phase: str = "starting"  # starting, reading, measuring, learning, saving; then done, refused, failed, cancelled
    pieces: int = 0  # pieces it learns from
    held_out: int = 0  # pieces it measures on
    steps: int = 0
    before: float | None = None  # the base model's bits per note on the held-out pieces
    now: float | None = None  # the newest check's
    best: float | None = None  # the best check's (the model kept)
    left_out: list[str] = field(default_factory=list)  # sentences: files the reader refused
    message: str = ""  # the last phase's sentence (refused, failed)
    seconds: float = 0.0  # how long the lesson took, once done

    @property
    def ended(self) -> bool:
        return self.phase in ("done", "refused", "failed", "cancelled")

    @classmethod
    def read(cls, path: Path) -> Progress:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls()
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def write(self, path: Path) -> None:
        atomic_write(path, json.dumps(asdict(self)).encode())


@dataclass(frozen=True)
class LessonSpec:
    """What a lesson's process is given: picklable, no open handles."""

    work: str  # the lesson's own folder: inputs and progress.json, removed when it ends
    files: list[tuple[str, str]]  # (name as the musician knows it, file in work)
    name: str  # the style's name
    target: str  # the folder the learned style becomes (written beside it, then renamed into place)
    base: str  # the checkpoint it starts from
    started: float  # time.time() when it was asked for: the budget counts from there
    seconds: float  # the budget
    training: FineTuning = field(default_factory=FineTuning)


def run_lesson(spec: LessonSpec, cancel: Event) -> None:
    """The lesson's process: read, hold out, measure, fine-tune, save (see the module's docstring).  Every
    outcome ends in ``progress.json``: done, refused (too few readable pieces), cancelled, or failed (its
    sentence; a traceback on stderr, the server's log, for anything not an InputError)."""
    import torch

    torch.set_num_threads(1)
    work = Path(spec.work)
    report = _Reporter(work / "progress.json")
    try:
        _lesson(spec, cancel, report)
    except InputError as error:
        report.end("failed", str(error))
    except OSError as error:  # the disk full or read-only under the studio's data
        report.end("failed", f"The lesson could not write its files ({error.strerror or error}); nothing was kept.")
    except Exception as error:  # a bug of ours: the musician gets a sentence, the log the traceback
        traceback.print_exc()
        report.end("failed", f"The lesson failed ({type(error).__name__}: {error}); nothing was kept.")


def _lesson(spec: LessonSpec, cancel: Event, report: _Reporter) -> None:
    import torch

    from composer import checkpoint
    from composer.dataset import song_from_piece
    from composer.midi_io import read_midi
    from composer.train import evaluate_songs, train

    work = Path(spec.work)
    deadline = spec.started + spec.seconds
    report.update(phase="reading")
    songs: list[Song] = []
    for name, file in spec.files:
        if cancel.is_set():
            report.end("cancelled")
            return
        try:
            songs.append(song_from_piece(read_midi(work / file, name), name))
        except InputError as error:
            report.progress.left_out.append(_left_out(name, error))
    if len(songs) < MIN_FILES:
        report.end("refused", _too_few(len(songs)))
        return
    held, learned = hold_out(songs)
    held = openings(held, HELD_OUT_NOTES)
    report.update(phase="measuring", pieces=len(learned), held_out=len(held))
    measuring = time.time()
    base, _ = checkpoint.load_model(Path(spec.base))
    before_valid = evaluate_songs(base, held, torch.device("cpu"))
    before = before_valid["bits_per_note"]
    del base
    measured = time.time() - measuring
    report.update(phase="learning", before=before)
    # The lesson's last check and the save fit in its budget: about one measurement, and a little.
    seconds = max(0.0, deadline - time.time() - measured - 1.0)
    # Checks every sixth of the lesson, at least 15 s apart, and at most a quarter of its time measuring.
    every = spec.training.validate_seconds or max(15.0, spec.seconds / 6, 4 * measured)
    cfg = spec.training.config(spec.base, str(work / "run"), seconds, every)

    checks: list[dict[str, float]] = []  # each held-out check: seconds into the lesson, step, bits per note

    def on_progress(state: Any) -> None:
        now = float(state.history[-1]["bits_per_note"]) if state.history else None
        if now is not None and len(state.history) > len(checks):
            row = state.history[-1]
            checks.append({"seconds": time.time() - spec.started, "step": row["step"], "bits_per_note": now})
        report.update(steps=state.step, now=now, best=state.best if math.isfinite(state.best) else None)

    train(cfg, songs=(learned, held), cancel=cancel.is_set, on_progress=on_progress)
    if cancel.is_set():
        report.end("cancelled")
        return
    report.update(phase="saving")
    best = work / "run" / "best.safetensors"
    after_valid = json.loads(best.with_suffix(".json").read_text())["metrics"]["valid"]
    after = after_valid["bits_per_note"]
    target = Path(spec.target)
    partial = target.with_name(f".{target.name}.partial")
    checkpoint.export(
        best,
        partial,
        extra={
            "name": spec.name,
            "exported_from": f"a style lesson from {Path(spec.base).name}",
            "style": {
                "name": spec.name,
                "learned": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "pieces": [s.name for s in learned],
                "held_out": [s.name for s in held],
                "before_bits_per_note": before,
                "after_bits_per_note": after,
                "steps": report.progress.steps,
                "seconds": time.time() - spec.started,
                "before": before_valid,  # per field, on the held-out pieces
                "after": after_valid,
                "checks": checks,
                "fine_tuning": asdict(spec.training),
            },
        },
    )
    partial.rename(target)  # the style appears in the picker whole
    report.update(best=after, seconds=time.time() - spec.started)
    report.end("done")


def hold_out(songs: list[Song]) -> tuple[list[Song], list[Song]]:
    """(held out, learned from): one piece in :data:`HOLD_OUT_EVERY`, at least one and at most
    :data:`MAX_HELD_OUT`, chosen by a hash of their notes (the same files hold out the same pieces)."""
    ranked = sorted(songs, key=lambda s: hashlib.sha1(s.ids.tobytes()).hexdigest())
    n = max(1, min(MAX_HELD_OUT, len(songs) // HOLD_OUT_EVERY))
    held = {id(s) for s in ranked[:n]}
    return [s for s in songs if id(s) in held], [s for s in songs if id(s) not in held]


def openings(songs: list[Song], notes: int) -> list[Song]:
    """Each song cut to its opening so that all together hold at most about ``notes`` events (each at least
    256 of them, or all it has)."""
    each = max(256, notes // max(1, len(songs)))
    return [s if len(s) <= each else replace(s, ids=s.ids[:each], _features=None) for s in songs]


def _too_few(good: int) -> str:
    return (
        f"Only {good} of your files {'is a piece' if good == 1 else 'are pieces'} the studio can learn from; "
        f"a lesson needs at least {MIN_FILES}, so add more pieces in your style."
    )


class _Reporter:
    """The lesson's side of :class:`Progress`: written at most twice a second, and at every change of phase."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.progress = Progress()
        self.written = 0.0

    def update(self, **changes: Any) -> None:
        phase = changes.get("phase", self.progress.phase) != self.progress.phase
        checked = "now" in changes and changes["now"] != self.progress.now
        self.progress = replace(self.progress, **changes)
        if phase or checked or time.monotonic() - self.written > 0.5:
            self.progress.write(self.path)
            self.written = time.monotonic()

    def end(self, phase: str, message: str = "") -> None:
        self.update(phase=phase, message=message)


# ------------------------------------------------------------------------------------------- the desk's side


@dataclass(frozen=True)
class LearnedStyle:
    """A style an owner taught: its name in the picker, its checkpoint, and what the lesson measured."""

    label: str  # the picker's entry: "NAME (your style)"
    path: Path  # its model.safetensors
    learned: str  # when (ISO 8601)
    before: float
    after: float
    pieces: int


@dataclass
class StyleView:
    """The style panel for one owner: its status sentences and progress, and whether a lesson of theirs is
    under way (the page keeps asking while it is)."""

    status: str
    running: bool = False
    phase: str = ""
    fraction: float = 0.0  # of the lesson's time
    steps: int = 0
    seconds_left: float = 0.0
    before: float | None = None
    now: float | None = None
    learned: str | None = None  # the picker label of a style this view announces as just learned


@dataclass
class _Lesson:
    id: str
    owner: str
    name: str
    spec: LessonSpec
    process: BaseProcess
    cancel: Event
    left_out: list[str]  # the upload checks' sentences
    cancelled_at: float | None = None


class StyleStudio:
    """Lessons and learned styles for the studio's desk (see the module's docstring).  ``root``: where learned
    styles live (a folder per owner) and lessons work; ``base``: the checkpoint lessons start from;
    ``training``: how they fine-tune (tests give a tiny model's settings)."""

    def __init__(self, root: Path, base: Path | None = None, training: FineTuning | None = None) -> None:
        self.root = Path(root)
        self.base = Path(base) if base else None  # None: the shipped model
        self.training = training or FineTuning()
        self._lesson: _Lesson | None = None
        self._ended: dict[str, StyleView] = {}  # owner → how their last lesson ended (until they start another)
        self._lock = threading.Lock()
        self._lessons_dir = self.root / "lessons"
        # A server stopped mid-lesson leaves its work folder (the learned styles are whole or absent).
        with contextlib.suppress(OSError):
            for old in self._lessons_dir.iterdir():
                if time.time() - old.stat().st_mtime > 3600:
                    shutil.rmtree(old, ignore_errors=True)

    # ---------------------------------------------------------------------------------------- learned styles
    def owner_folder(self, owner: str) -> Path:
        """An owner's styles: a hash of the id names the folder (the id itself is the browser's secret)."""
        return self.root / "owners" / hashlib.sha256(owner.encode()).hexdigest()[:24]

    def styles(self, owner: str | None) -> list[LearnedStyle]:
        """The owner's learned styles, oldest first (a style whose files are incomplete is skipped)."""
        if not owner:
            return []
        found = []
        folder = self.owner_folder(owner)
        for model in folder.glob("*/model.safetensors") if folder.is_dir() else []:
            if model.parent.name.startswith("."):  # a lesson still writing it
                continue
            try:
                style = json.loads(model.with_suffix(".json").read_text())["style"]
                found.append(
                    LearnedStyle(
                        label=str(style["name"]) + STYLE_SUFFIX,
                        path=model,
                        learned=str(style["learned"]),
                        before=float(style["before_bits_per_note"]),
                        after=float(style["after_bits_per_note"]),
                        pieces=len(style["pieces"]),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return sorted(found, key=lambda s: s.learned)

    def path(self, owner: str | None, label: str | None) -> Path | None:
        """The checkpoint of the owner's style called ``label`` in the picker, or None."""
        return next((s.path for s in self.styles(owner) if s.label == label), None)

    # ---------------------------------------------------------------------------------------- lessons
    def learn(
        self, owner: str, paths: Sequence[str | os.PathLike[str]] | None, name: str | None, minutes: float | None
    ) -> StyleView:
        """Start a lesson on the uploaded files (MIDI or zips), named ``name``, for at most ``minutes``."""
        with self._lock:
            self._reap()
            if self._lesson is not None:
                return self._view(owner, busy=True)
            try:
                if not owner:
                    raise InputError("Open the studio's page first: a lesson belongs to a browser.")
                seconds = _seconds(minutes)
                title = _style_name(name, [s.label for s in self.styles(owner)])
                if not paths:
                    raise InputError(
                        f"Choose {MIN_FILES} to {MAX_FILES} MIDI files in your style (or a zip of them) first."
                    )
                checked = check_uploads(paths)
                if len(checked.files) < MIN_FILES:
                    raise InputError(" ".join([_too_few(len(checked.files)), *checked.left_out]))
            except InputError as error:
                return StyleView(status=str(error))
            self._ended.pop(owner, None)
            lesson_id = uuid.uuid4().hex[:12]
            work = self._lessons_dir / lesson_id
            (work / "in").mkdir(parents=True)
            files = []
            for i, upload in enumerate(checked.files):
                (work / "in" / f"{i:03d}.mid").write_bytes(upload.data)
                files.append((upload.name, f"in/{i:03d}.mid"))
            target = self.owner_folder(owner) / lesson_id
            target.parent.mkdir(parents=True, exist_ok=True)
            spec = LessonSpec(
                work=str(work),
                files=files,
                name=title,
                target=str(target),
                base=str(self.base or _shipped()),
                started=time.time(),
                seconds=seconds,
                training=self.training,
            )
            context = multiprocessing.get_context("spawn")
            cancel = context.Event()
            # daemon: a server that stops takes its lesson with it (what was learned so far is not kept)
            process = context.Process(target=run_lesson, args=(spec, cancel), daemon=True, name="style-lesson")
            process.start()
            self._lesson = _Lesson(lesson_id, owner, title, spec, process, cancel, checked.left_out)
            return self._view(owner)

    def status(self, owner: str | None) -> StyleView:
        """Where the owner's lesson stands, how their last one ended, or nothing to say."""
        with self._lock:
            self._reap()
            return self._view(owner or "")

    def cancel(self, owner: str | None) -> StyleView:
        """Stop the owner's lesson between two steps; nothing it learned is kept."""
        with self._lock:
            lesson = self._lesson
            if lesson is None or lesson.owner != owner:
                self._reap()
                view = self._view(owner or "")
                return replace(view, status=f"No lesson of yours is running. {view.status}".strip())
            lesson.cancel.set()
            lesson.cancelled_at = lesson.cancelled_at or time.monotonic()
            lesson.process.join(3.0)  # most lessons stop within a step; the page asks again otherwise
            self._reap()
            return self._view(owner)

    def close(self) -> None:
        """Stop a running lesson (a server shutting down)."""
        with self._lock:
            if self._lesson is not None:
                self._lesson.cancel.set()
                self._lesson.process.join(5.0)
                if self._lesson.process.is_alive():
                    self._lesson.process.kill()
                self._reap()

    def _reap(self) -> None:
        """An ended lesson's outcome is read and its work folder removed; a cancelled one that does not stop
        is killed."""
        lesson = self._lesson
        if lesson is None:
            return
        if lesson.process.is_alive():
            if lesson.cancelled_at and time.monotonic() - lesson.cancelled_at > LESSON_SECONDS_AFTER_CANCEL:
                lesson.process.kill()
                lesson.process.join(5.0)
            else:
                return
        progress = Progress.read(Path(lesson.spec.work) / "progress.json")
        self._ended[lesson.owner] = self._ended_view(lesson, progress)
        shutil.rmtree(lesson.spec.work, ignore_errors=True)
        partial = Path(lesson.spec.target).with_name(f".{Path(lesson.spec.target).name}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        self._lesson = None

    def _ended_view(self, lesson: _Lesson, progress: Progress) -> StyleView:
        left_out = [*lesson.left_out, *progress.left_out]
        label = lesson.name + STYLE_SUFFIX
        if lesson.cancelled_at is not None:
            status = f"Stopped the lesson of *{label}*; nothing it learned was kept."
            return StyleView(status=status, phase="cancelled")
        if progress.phase == "done" and Path(lesson.spec.target).is_dir():
            minutes = progress.seconds / 60
            status = (
                f"Learned *{label}* from {_count(progress.pieces, 'piece')} in {minutes:.1f} min: "
                f"{_count(progress.held_out, 'held-out piece')} went from {_bits(progress.before)} to "
                f"{_bits(progress.best)} bits per note"
                + ("" if (progress.best or 0) < (progress.before or 0) else " (no better than before)")
                + ". It is in the Model list now."
            )
            view = StyleView(status=" ".join([status, *left_out]), phase="done", fraction=1.0, learned=label)
            return replace(view, steps=progress.steps, before=progress.before, now=progress.best)
        if progress.phase in ("refused", "failed"):
            return StyleView(status=" ".join([progress.message, *left_out]), phase=progress.phase)
        code = lesson.process.exitcode
        return StyleView(
            status=f"The lesson of *{label}* stopped unexpectedly (exit code {code}); nothing was kept. Try again.",
            phase="failed",
        )

    def _view(self, owner: str, busy: bool = False) -> StyleView:
        """The panel for ``owner``: their running lesson, their last one's end, or (``busy``) a refusal."""
        lesson = self._lesson
        if lesson is not None and lesson.owner == owner:
            view = self._running_view(lesson)
            if busy:
                view.status = (
                    f"Your lesson *{lesson.name}{STYLE_SUFFIX}* is still running; wait for it to end or stop it "
                    "before starting another. " + view.status
                )
            return view
        if lesson is not None and busy:
            left = max(0.0, lesson.spec.started + lesson.spec.seconds - time.time())
            return StyleView(
                status=f"Another musician's lesson is using the studio's time for about {_clock(left)} more; "
                "start yours then."
            )
        return self._ended.get(owner, StyleView(status=""))

    def _running_view(self, lesson: _Lesson) -> StyleView:
        progress = Progress.read(Path(lesson.spec.work) / "progress.json")
        elapsed = time.time() - lesson.spec.started
        left = max(0.0, lesson.spec.seconds - elapsed)
        label = f"*{lesson.name}{STYLE_SUFFIX}*"
        if lesson.cancelled_at is not None:
            status = f"Stopping the lesson of {label}…"
        elif progress.phase in ("starting", "reading"):
            status = f"Reading your {_count(len(lesson.spec.files), 'file')} for {label}…"
        elif progress.phase == "measuring":
            status = (
                f"Measuring the model on {_count(progress.held_out, 'held-out piece')} before the lesson of {label}…"
            )
        else:
            status = (
                f"Learning {label} from {_count(progress.pieces, 'piece')}: step {progress.steps}, {_clock(left)} "
                f"left; held-out {_bits(progress.before)} → {_bits(progress.now)} bits per note"
                + ("." if progress.now is not None else " (measured again soon).")
            )
        return StyleView(
            status=" ".join([status, *lesson.left_out, *progress.left_out]),
            running=True,
            phase=progress.phase,
            fraction=min(1.0, elapsed / lesson.spec.seconds),
            steps=progress.steps,
            seconds_left=left,
            before=progress.before,
            now=progress.now,
        )


def styles_folder(db: str | os.PathLike[str], fallback: Path) -> Path:
    """Where a studio on the database ``db`` keeps learned styles: beside it (``studio-styles/`` for
    ``studio.sqlite3``), with the musicians' other data; ``fallback`` for an in-memory database."""
    text = str(db)
    if text == ":memory:" or text.startswith("file:"):
        return fallback
    path = Path(text)
    return path.with_name(f"{path.stem}-styles")


def _shipped() -> Path:
    from composer.checkpoint import SHIPPED_MODEL  # imports torch: not before a lesson needs it

    return SHIPPED_MODEL


def _seconds(minutes: float | None) -> float:
    value = DEFAULT_MINUTES if minutes is None else float(minutes)
    if not 0 < value <= MAX_MINUTES:
        raise InputError(f"A lesson lasts more than 0 and at most {MAX_MINUTES:g} minutes; {value:g} was asked for.")
    return 60 * value


def _style_name(name: str | None, taken: list[str]) -> str:
    """The musician's name for the style, tidied (printable, one line, at most MAX_NAME characters), made
    distinct from their other styles' by a number."""
    text = "".join(c for c in re.sub(r"\s+", " ", name or "") if c.isprintable()).strip()[:MAX_NAME].strip()
    text = text or "my style"
    candidate, n = text, 2
    while candidate + STYLE_SUFFIX in taken:
        candidate, n = f"{text} {n}", n + 1
    return candidate


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _bits(value: float | None) -> str:
    return "…" if value is None else f"{value:.2f}"


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"
