"""The studio's desk: every handler on plain values in and out, testable without a server or a browser.

:class:`StudioApp` holds only what every user shares read-only: the store connection, the loaded models, the
folder of rendered files.  Everything a musician makes lives in the SQLite :class:`composer.studio.store.Store`,
keyed by an owner id the browser keeps; a handler takes that id and returns a :class:`View` of the page.
Refusals (:class:`composer.errors.InputError`) become the page as it was plus one sentence in its status line.
No gradio here: :mod:`composer.studio.ui` lays the page out around these handlers.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import multiprocessing
import os
import secrets
import tempfile
import textwrap
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.atomic import atomic_write
from composer.errors import InputError
from composer.midi_io import MAX_FILE_BYTES, piece_to_midi_bytes, track_label
from composer.piece import PIANO_HIGH, PIANO_LOW, Piece
from composer.studio.history import history_svg, node_detail
from composer.studio.render import TAKE_FILES, render_take_files, render_wav, stem_file, stem_tracks, warm_up
from composer.studio.seed import read_for_storing
from composer.studio.store import MAX_SESSION_BYTES, Node, PieceRecord, Store, default_store_path
from composer.studio.style import StyleStudio, styles_folder

if TYPE_CHECKING:
    from composer.generate import Composer, Settings, Take

# The checkout's models/ folder (beside the package), whose checkpoints the model picker offers; an installed
# package has none there, and COMPOSER_MODELS names another.
CHECKOUT = Path(__file__).resolve().parents[2]
MAX_TAKES = 8
MAX_BARS = 32
REQUEST_SECONDS = 120  # per-request cap on generating: the generator's deadline (Gradio's time_limit is for streams)
SHIPPED = "shipped model"
# Without render workers, a piece's audio for the roll's player is rendered in the handler only up to this much
# MIDI (about 2,000 notes, a few tenths of a second); a longer one in a thread aside, so that no view waits.
SYNC_PIECE_BYTES = 16_000
MAX_EDIT_CHARS = 200_000  # an /edit request's JSON: ~500 edits with room to spare
REPORT_WIDTH = 64  # characters a line of the seed report may take: the page's half-width column shows ~75

# ------------------------------------------------------------------------------------------- plain views


@dataclass
class TakeView:
    """One take as shown: files to listen to and download, pictures, and its metrics.  A take is shown as soon as
    its notes exist (MIDI, piano roll, metrics: milliseconds); its audio and engraved score follow from the render
    workers, None and "" until they do."""

    node_id: str
    title: str
    audio: str | None
    midi: str
    roll: str
    score: str  # SVG markup ("" while it is being engraved)
    metrics: str  # Markdown

    @property
    def rendered(self) -> bool:
        """Whether its audio and score are here (a take just made shows without them for a moment)."""
        return self.audio is not None and bool(self.score)

    @property
    def keep_label(self) -> str:
        """Its Keep button's words: the take by its node ("Keep take 1.3"), never by its place on the page."""
        return f"Keep {self.title}"


@dataclass
class View:
    """Everything the page shows for one owner: the status line, their pieces, the current piece and its tree,
    and the takes offered from the current point."""

    owner: str
    status: str
    piece_id: str | None = None
    pieces: list[tuple[str, str]] = field(default_factory=list)  # (title, id), newest first
    report: str = ""  # the seed report (Markdown)
    summary: str = ""  # the current point of the piece (Markdown)
    roll: str | None = None  # piano roll of the piece up to the current point (a PNG, for scripts)
    piano_roll: str = ""  # the same piece as the page's interactive roll (HTML, composer.studio.roll)
    tree: list[tuple[str, str]] = field(default_factory=list)  # (indented label, node id)
    history: str = ""  # the same tree drawn (SVG markup, each node's id in data-node)
    current: str | None = None  # the current node's id
    takes: list[TakeView] = field(default_factory=list)
    done: bool = False  # the last view of a generation: every take is in it, with its audio and score
    # A generation's views between the takes' first showing and the last: the takes (by index) whose audio or
    # score this view brings; empty on the view that first shows them, without their files.
    arrived: tuple[int, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)  # a generation's seconds: generation, audio, images


@dataclass
class _Request:
    """What generate, fill or accompany asks the composer for, checked before any work is done."""

    settings: Settings
    progress: str  # the status line while the takes are made
    params: dict[str, Any]  # what made the takes beside the shared settings ("command" first), stored with each
    make: Callable[[Composer, Settings, int | None, float], list[Take]]  # (composer, settings, key, deadline)
    join: Callable[[Take], float]  # the store's join of a take: the beat where its new part begins


# ------------------------------------------------------------------------------------------- the handlers


def _refusals_keep_the_page(handler: Callable[..., View]) -> Callable[..., View]:
    """A handler ``(self, owner, piece_id, …) → View`` whose bad input (an InputError) becomes the page as it
    was, with the sentence in the status line: nothing the musician had is lost."""

    @functools.wraps(handler)
    def wrapped(self: StudioApp, owner: str, piece_id: str | None, *args: Any) -> View:
        try:
            return handler(self, owner, piece_id, *args)
        except InputError as error:
            return self.view(owner, piece_id, str(error))

    return wrapped


class StudioApp:
    """The studio's handlers.  Every method takes the owner id (and the piece being viewed) and returns a
    :class:`View`; bad input becomes the view as it was, with one sentence in ``status``."""

    def __init__(
        self,
        store: Store,
        files: Path,
        models: Path | None = None,
        *,
        render_workers: int = 0,
        styles: StyleStudio | None = None,
    ) -> None:
        self.store = store
        # Teach it your style: lessons, and each owner's learned styles beside the database (composer.studio.style).
        self.styles = styles or StyleStudio(styles_folder(store.path, files / "styles"))
        self.render_workers = render_workers
        # Rendering (soundfont audio, music21 + verovio scores) is CPU-bound Python that holds the GIL: worker
        # processes let one request's takes use every core.  0: render in the calling thread (tests).
        self.pool: ProcessPoolExecutor | None = (
            ProcessPoolExecutor(
                render_workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=warm_up,
                initargs=(os.getpid(),),
            )
            if render_workers
            else None
        )
        self.files = files
        self.served.mkdir(parents=True, exist_ok=True)
        self.models_dir = models
        self._composers: OrderedDict[str, Composer] = OrderedDict()  # path → Composer, read-only once loaded
        self._lock = threading.Lock()
        self._playing: dict[str, Future[dict[str, float]]] = {}  # node id → its piece audio being rendered

    def warm_up(self) -> None:
        """Start (and warm) the render workers now rather than at the first user's request."""
        if self.pool is not None:
            for _ in range(self.render_workers):
                self.pool.submit(int)

    # ---------------------------------------------------------------------------------------- models
    def models(self, owner: str | None = None) -> list[str]:
        """The model picker's choices: the shipped model, checkpoints in the models folder, then the styles
        ``owner`` has taught (their own only)."""
        found = []
        if self.models_dir and self.models_dir.is_dir():
            found = sorted(str(p.relative_to(self.models_dir)) for p in self.models_dir.rglob("*.safetensors"))
        return [SHIPPED, *found, *(s.label for s in self.styles.styles(owner))]

    def composer(self, name: str | None = None, owner: str | None = None) -> Composer:
        """The composer of the picker's ``name`` (the owner's learned styles among them), loaded once."""
        from composer.generate import Composer

        style = self.styles.path(owner, name)
        if style is not None:  # a checkpoint like any other: safetensors only
            path = str(style)
        elif name and name != SHIPPED:
            if name not in self.models():
                raise InputError(f"There is no model called {name!r}; pick one from the list.")
            path = str(self.models_dir / name) if self.models_dir else name
        else:
            path = ""
        with self._lock:  # load each model once, keep the last four
            if path not in self._composers:
                self._composers[path] = Composer(path or None)
                while len(self._composers) > 4:
                    self._composers.popitem(last=False)
            self._composers.move_to_end(path)
            return self._composers[path]

    # ---------------------------------------------------------------------------------------- views
    def start(self, owner: str | None, piece_id: str | None = None) -> View:
        """Page load: a new browser gets a fresh owner id; a known one gets its pieces back."""
        if not owner or not isinstance(owner, str) or len(owner) > 64:
            owner = secrets.token_hex(16)
        pieces = self.store.pieces(owner)
        if piece_id not in {p.id for p in pieces}:
            piece_id = pieces[0].id if pieces else None
        return self.view(
            owner,
            piece_id,
            "Welcome back." if pieces else "Bring a seed: upload a MIDI file, pick an example or type ABC.",
        )

    def view(self, owner: str, piece_id: str | None, status: str = "", takes: list[str] | None = None) -> View:
        """The page for ``piece_id``; ``takes`` (node ids) are the takes offered, by default the newest round
        of takes made from the current node (any of them kept once and left by an undo or a jump included)."""
        pieces = self.store.pieces(owner)
        if piece_id is None or piece_id not in {p.id for p in pieces}:
            return View(owner=owner, status=status, pieces=[(p.title, p.id) for p in pieces])
        record = self.store.piece(owner, piece_id)
        tree = self.store.tree(owner, piece_id)
        by_id = {n.id: n for n in tree}
        current = by_id[record.current_id]
        root = by_id[record.root_id]
        if takes is None:  # kept ones too: a reload offers what an undo offers, the round's takes in their order
            offered = [n for n in tree if n.parent_id == current.id and not n.is_edit]
            newest = max((n.settings.get("round", "") for n in offered), default="")
            takes = [n.id for n in offered if n.settings.get("round", "") == newest]
        try:  # read once: the summary and the roll both show it
            piece: Piece | InputError = current.piece()
        except InputError as error:  # stored by an older version or imported: said, the page keeps working
            piece = error
        return View(
            owner=owner,
            status=status,
            piece_id=piece_id,
            pieces=[(p.title, p.id) for p in pieces],
            report=_wrapped_report(root.metrics.get("report", "")),
            summary=_summary(record, current, by_id, piece),
            roll=self._picture(current),
            piano_roll="" if isinstance(piece, InputError) else self._piano_roll(current, piece),
            tree=_tree_choices(tree, current.id),
            history=history_svg(tree, current.id),
            current=current.id,
            takes=[self._take_view(by_id[t]) for t in takes if t in by_id],
        )

    # ---------------------------------------------------------------------------------------- files
    @property
    def served(self) -> Path:
        """The folder of the takes' rendered files, which the page serves as they are (Gradio static paths:
        not copied into its cache for every message, and the roll's player can ask for the piece's audio by
        its path).  Nothing else lives there: no exports, no uploads, no learned styles."""
        return self.files / "takes"

    def _node_dir(self, node: Node) -> Path:
        folder = self.served / node.id
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _asset(self, node: Node, kind: str) -> str:
        """A rendered file of a node (made once, then reused): "roll", "audio", "score" or "piece" (the whole
        piece's audio, for the roll's player)."""
        path = self._node_dir(node) / TAKE_FILES[kind]
        if not path.exists():
            render_take_files(node.midi, node.join, node.label, str(path.parent), (kind,))
        return str(path)

    def _piano_roll(self, node: Node, piece: Piece) -> str:
        """The page's interactive roll of a node's ``piece``, its player playing the piece's audio and, for mute
        and solo, a stem per track (:meth:`_stems`)."""
        from composer.studio.roll import roll_html

        return roll_html(piece, self._piece_audio(node), self._stems(node, piece))

    def _piece_audio(self, node: Node) -> str:
        """Where the whole piece's audio up to ``node`` is (or will be) for the roll's player: rendered here
        without render workers; with them, started in the background (a click on Play before it is written is
        told to wait), so that no view waits for it."""
        path = self._node_dir(node) / TAKE_FILES["piece"]
        if not path.exists():
            if self.pool is None and len(node.midi) <= SYNC_PIECE_BYTES:
                with contextlib.suppress(InputError):  # an unreadable stored point (see _summary) has no audio
                    self._asset(node, "piece")
            else:  # in a worker, or (a long piece without workers) in a thread aside
                self._aside(node, "piece")
        return str(path)

    def _stems(self, node: Node, piece: Piece) -> dict[int, str]:
        """Where each track's stem of the piece up to ``node`` is (or will be), for the roll's mute and solo:
        track → path; none for a piece of one track or too long (:func:`composer.studio.render.stem_tracks`).
        Always rendered in the background, after the piece's audio: they cost what the piece's audio costs once
        per track, and a generation's takes must not wait for them."""
        folder = self._node_dir(node)
        stems = {track: folder / stem_file(track) for track in stem_tracks(piece)}
        if not all(path.exists() for path in stems.values()):
            self._aside(node, "stems")
        return {track: str(path) for track, path in stems.items()}

    def _aside(self, node: Node, kind: str) -> None:
        """Render ``kind`` of a node's files (``TAKE_FILES``, or "stems") in the background, once at a time: in a
        worker process when there are some (one job, so that the other workers stay free for takes), else in a
        thread."""
        with self._lock:
            key = f"{node.id}/{kind}"
            if key in self._playing and not self._playing[key].done():
                return
            if self.pool is not None:
                self._playing[key] = self._render(node, (kind,))
            else:
                aside: Future[dict[str, float]] = Future()
                self._playing[key] = aside
                threading.Thread(target=self._render_aside, args=(node, kind, aside), daemon=True).start()
            while len(self._playing) > 64:  # the oldest, long done
                self._playing.pop(next(iter(self._playing)))

    def _render_aside(self, node: Node, kind: str, done: Future[dict[str, float]]) -> None:
        try:
            with contextlib.suppress(InputError, OSError):  # an unreadable stored point has no audio
                render_take_files(node.midi, node.join, node.label, str(self._node_dir(node)), (kind,))
        finally:
            done.set_result({})

    def _picture(self, node: Node) -> str | None:
        try:
            return self._asset(node, "roll")
        except InputError:  # an unreadable stored point (see _summary) has no picture
            return None

    def _render(self, node: Node, kinds: tuple[str, ...]) -> Future[dict[str, float]]:
        """Render ``kinds`` of a node's files (``TAKE_FILES``) — in a worker process when there are some, so
        that the takes of one request are drawn on all cores — and return the future of the seconds spent per
        kind."""
        folder = str(self._node_dir(node))
        if self.pool is None:
            done: Future[dict[str, float]] = Future()
            done.set_result(render_take_files(node.midi, node.join, node.label, folder, kinds))
            return done
        return self.pool.submit(render_take_files, node.midi, node.join, node.label, folder, kinds)

    def _take_view(self, node: Node, render: bool = True) -> TakeView:
        """A take as shown; ``render=False``: without waiting for its audio and score (None and "" until the
        workers have written them)."""
        m = node.metrics
        share = "—" if m.get("share_in_key") is None else f"{100 * m['share_in_key']:.0f} %"
        # the key heard in the seed's last bars (the one key lock keeps); takes made before it was recorded: "key"
        key = m.get("key") if isinstance(m.get("key"), str) else "key"
        repeat = m.get("longest_repeat") or {}
        rng = m.get("pitch_range")
        lines = [
            f"{m.get('notes', 0)} new notes over {m.get('bars', 0)} bars · {share} in {key} · "
            f"{m.get('bits_per_note', 0):.2f} bits/note",
            f"range {rng[0]}–{rng[1]}" if rng else "no notes",
            *(
                [f"new notes on: {', '.join(str(name) for name in m['tracks_with_new_notes']) or 'no track'}"]
                if isinstance(m.get("tracks_with_new_notes"), list)
                else []
            ),
            _repeat_line(repeat),
            # takes made before forms, and fills (they restate nothing by design): no line
            *([_restates_line(m["restates"])] if "restates" in m and _continues(node.settings) else []),
        ]
        s = node.settings
        lines.append(
            f"settings: {_made_by(s)}, temperature {s.get('temperature')}, top-p {s.get('top_p')}, "
            f"seed {s.get('seed')}{', key lock' if s.get('key_lock') else ''}"
            + (f", form {s['form']}" if s.get("form", "auto") != "auto" else "")
            + (f", notes {s['pitch_range'][0]}–{s['pitch_range'][1]}" if s.get("pitch_range") else "")
            + f", {s.get('model', SHIPPED)}"
        )
        if m.get("context"):
            lines.append(str(m["context"]))
        folder = self._node_dir(node)
        audio, score = folder / TAKE_FILES["audio"], folder / TAKE_FILES["score"]
        if render:
            audio, score = Path(self._asset(node, "audio")), Path(self._asset(node, "score"))
        return TakeView(
            node_id=node.id,
            title=node.label,
            audio=str(audio) if audio.exists() else None,
            midi=self._named_midi(node),
            roll=self._asset(node, "roll"),  # ~10 ms, drawn here: the take is seen at once
            score=score.read_text() if score.exists() else "",
            metrics=" · ".join(lines[:1]) + "\n\n" + "\n\n".join(lines[1:]),
        )

    def _named_midi(self, node: Node) -> str:
        # The label may come from an imported session file: only letters, digits, '-' and '_' reach the name.
        path = self._node_dir(node) / f"{_file_stem(node.label.replace('.', '-'))}.mid"
        if not path.exists():
            atomic_write(path, node.midi)
        return str(path)

    # ---------------------------------------------------------------------------------------- seeds
    @_refusals_keep_the_page
    def upload(self, owner: str, piece_id: str | None, file_path: str | None) -> View:
        """A MIDI file (checked by content and size, not by name) becomes a new piece."""
        if not file_path:
            raise InputError("Choose a MIDI file (.mid) as the seed first.")
        path = Path(file_path)
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InputError(
                f"The file has {size:,} bytes, above the studio's limit of {MAX_FILE_BYTES:,}; "
                "upload a shorter excerpt."
            )
        return self._new_piece(owner, path.stem, path.read_bytes(), path.name)

    @_refusals_keep_the_page
    def example(self, owner: str, piece_id: str | None, name: str | None) -> View:
        """A bundled example seed becomes a new piece."""
        from composer import examples

        if not name:
            raise InputError("Pick an example from the list first.")
        chosen = {e.name: e for e in examples.EXAMPLES}.get(name)
        if chosen is None:
            raise InputError(f"There is no example called {name!r}; pick one from the list.")
        return self._new_piece(owner, chosen.title, examples.example_path(name).read_bytes(), chosen.name + ".mid")

    @_refusals_keep_the_page
    def abc(self, owner: str, piece_id: str | None, text: str | None) -> View:
        """A melody typed in ABC notation becomes a new piece."""
        from composer.score import piece_from_abc

        piece = piece_from_abc(text or "")
        title = next((line[2:].strip() for line in (text or "").splitlines() if line.startswith("T:")), "")
        return self._new_piece(owner, title or "ABC melody", piece_to_midi_bytes(piece), "ABC melody")

    def _new_piece(self, owner: str, title: str, data: bytes, name: str) -> View:
        """A seed's MIDI bytes → a new piece.  Read (and its stored copy checked) in a render worker when there
        are some: there the reader's parse time limit holds, which it cannot in a server's handler thread."""
        from composer.report import seed_report

        if self.pool is None:
            piece, _, stored = read_for_storing(data, name)
        else:
            piece, _, stored = self.pool.submit(read_for_storing, data, name).result()
        # The same seed under the same title again (a second click on "Start from this melody", the same example
        # or file once more) opens the piece made from it, with its history, rather than a copy of it.
        titled = " ".join(title.split()) or "Untitled"  # as the store writes titles
        for record in self.store.pieces(owner):
            if record.title == titled and self.store.node(owner, record.root_id).midi == stored:
                return self.view(
                    owner,
                    record.id,
                    f"You started {record.title} from this seed already: here it is, with its history (click its "
                    "seed in the history to start again from there).",
                )
        report = seed_report(piece, name)
        text = report.to_text()
        # An estimated key goes in the metrics (the generator's key); the stored seed stays as given.
        record = self.store.new_piece(
            owner, title, stored, {"report": "```\n" + text + "\n```", "key": report.key_number}
        )
        return self.view(owner, record.id, f"Read {report.notes} notes from {name}. Now generate takes.")

    # ---------------------------------------------------------------------------------------- generation
    def generate(
        self,
        owner: str,
        piece_id: str | None,
        bars: float,
        takes: float,
        temperature: float,
        top_p: float,
        seed: float | None,
        random_seed: bool,
        key_lock: bool,
        model: str | None,
        lowest: float | None = PIANO_LOW,
        highest: float | None = PIANO_HIGH,
        form: str | None = "auto",
    ) -> Iterator[View]:
        """K takes continuing the current point.  Yields a progress view, then the takes as each is rendered
        (a cancelled request stops between takes; finished takes are already saved).  ``lowest`` and
        ``highest`` bound the new notes' pitches (MIDI numbers, inclusive); the piano's whole range, the
        default, sets no limit.  ``form``: how the takes stand to the seed's last phrase (``Settings.form``;
        empty: auto)."""

        def ask(piece: Piece) -> _Request:
            length = _whole(bars, "The number of bars")
            settings = _settings(
                takes,
                temperature,
                top_p,
                seed,
                random_seed,
                key_lock,
                bars=length,
                pitch_range=_pitch_range(lowest, highest),
                form=form or "auto",
            )
            if length > MAX_BARS:
                raise InputError(f"The studio continues by 1 to {MAX_BARS} bars at a time; {length} was asked for.")
            return _Request(
                settings=settings,
                progress=f"Generating {_count(settings.variations, 'take')} of {_count(length, 'bar')}…",
                params={
                    "command": "continue",
                    "bars": settings.bars,
                    "pitch_range": list(settings.pitch_range) if settings.pitch_range else None,
                    "form": settings.form,
                },
                make=lambda composer, made, key, deadline: composer.continue_piece(
                    piece, made, key=key, deadline=deadline
                ),
                join=lambda take: _join(take, piece),
            )

        return self._takes(owner, piece_id, model, ask)

    def fill(
        self,
        owner: str,
        piece_id: str | None,
        bars_text: str | None,
        takes: float,
        temperature: float,
        top_p: float,
        seed: float | None,
        random_seed: bool,
        key_lock: bool,
        model: str | None,
        tracks_text: str | None = None,
    ) -> Iterator[View]:
        """K takes of the current point with bars A–B (``bars_text``, "5-8" or "5"; a pickup is bar 0, bar 1
        the first whole bar) written anew on the tracks named in ``tracks_text`` (names or numbers from 1,
        comma-separated; empty: every track).  Every other note is kept exactly.  Yields views as
        :meth:`generate` does."""
        from composer.encoding import STEPS_PER_BEAT, bar_steps, encode
        from composer.fill import gap_span

        def ask(piece: Piece) -> _Request:
            first, last = _bars(bars_text)
            tracks = _tracks(piece, tracks_text)
            settings = _settings(takes, temperature, top_p, seed, random_seed, key_lock)
            # The bars checked against the piece now, before any work (infill checks them the same way).
            events = encode(piece)
            start, _ = gap_span(events, bar_steps(events.time_signature), first, last)
            gap = f"{first}-{last}" if first != last else f"{first}"
            # The store keeps one join a take, the beat where its new part begins: the piano roll's line (notes
            # before it in the seed's shade) and where listening starts (two bars before).  A fill's new part
            # begins at the gap, for every take alike; the kept notes after the gap are drawn as new ones.
            at = start / STEPS_PER_BEAT
            return _Request(
                settings=settings,
                progress=f"Filling {'bars' if first != last else 'bar'} {gap}: {_count(settings.variations, 'take')}…",
                params={
                    "command": "infill",
                    "bars": gap,
                    "tracks": [i + 1 for i in tracks],  # numbers from 1, as the Tracks box takes them
                    "track_names": [track_label(piece.tracks[i]) for i in tracks],
                },
                make=lambda composer, made, key, deadline: composer.infill(
                    piece, (first, last), made, tracks=tracks, key=key, deadline=deadline
                ),
                join=lambda take: at,
            )

        return self._takes(owner, piece_id, model, ask)

    def accompany(
        self,
        owner: str,
        piece_id: str | None,
        style: str | None,
        takes: float,
        temperature: float,
        top_p: float,
        seed: float | None,
        random_seed: bool,
        key_lock: bool,
        model: str | None,
        bars_text: str | None = None,
    ) -> Iterator[View]:
        """K takes of the current point with an accompaniment added (``style``: piano — one piano track;
        chorale — alto, tenor and bass under the melody), its own notes kept exactly: over the whole piece, or
        over the bars selected (``bars_text``, "5-8"; a piece accompanied before in this style has its
        accompaniment refilled there).  Yields views as :meth:`generate` does."""
        from composer.encoding import STEPS_PER_BEAT, bar_steps, encode
        from composer.fill import gap_span
        from composer.generate import STYLES

        def ask(piece: Piece) -> _Request:
            if style not in STYLES:
                raise InputError(f"The accompaniment style must be {' or '.join(STYLES)}; got {style!r}.")
            settings = _settings(takes, temperature, top_p, seed, random_seed, key_lock)
            chosen = _bars(bars_text) if (bars_text or "").strip() else None
            params: dict[str, Any] = {"command": "accompany", "style": style}
            at = 0.0
            if chosen is not None:
                events = encode(piece)  # the bars checked against the piece now, as accompany checks them
                start, _ = gap_span(events, bar_steps(events.time_signature), *chosen)
                at = start / STEPS_PER_BEAT
                params["bars"] = f"{chosen[0]}-{chosen[1]}" if chosen[0] != chosen[1] else f"{chosen[0]}"
            where = f" bars {params['bars']}" if chosen is not None else ""
            return _Request(
                settings=settings,
                progress=f"Accompanying{where} ({style}): {_count(settings.variations, 'take')}…",
                params=params,
                make=lambda composer, made, key, deadline: composer.accompany(
                    piece, made, style=style, bars=chosen, key=key, deadline=deadline
                ),
                # The whole piece's accompaniment runs from the first bar: the join is the piece's start, so
                # that listening and the score take in the whole piece; a selection's, where the selection starts.
                join=lambda take: at,
            )

        return self._takes(owner, piece_id, model, ask)

    def _takes(
        self, owner: str, piece_id: str | None, model: str | None, ask: Callable[[Piece], _Request]
    ) -> Iterator[View]:
        """The path generate, fill and accompany share: ``ask`` checks the request against the current point's
        piece (an InputError: the page as it was, with its sentence); then a progress view, the takes saved as
        children of the current node, and a view per take as it is rendered (:meth:`_reveal`)."""
        started = time.monotonic()
        try:
            if not piece_id:
                raise InputError("Bring a seed first: upload a MIDI file, pick an example or type ABC.")
            record = self.store.piece(owner, piece_id)
            current = self.store.node(owner, record.current_id)
            root = self.store.node(owner, record.root_id)
            request = ask(current.piece())
            composer = self.composer(model, owner)
        except InputError as error:
            yield self.view(owner, piece_id, str(error))
            return
        yield self.view(owner, piece_id, request.progress, takes=[])
        key = root.metrics.get("key")
        settings = request.settings
        try:
            made = request.make(composer, settings, key, started + REQUEST_SECONDS)
        except InputError as error:
            yield self.view(owner, piece_id, str(error))
            return
        common = {
            **request.params,
            "takes": settings.variations,
            "temperature": settings.temperature,
            "top_p": settings.top_p,
            "seed": settings.seed,
            "key_lock": settings.key_lock,
            "model": model or SHIPPED,
            "round": f"{time.time():.6f}",
        }
        nodes = self.store.add_takes(
            owner,
            piece_id,
            current.id,
            [
                (
                    piece_to_midi_bytes(t.piece),
                    request.join(t),
                    {**common, "take": i + 1},
                    {**t.metrics.to_dict(), "tracks_with_new_notes": tracks_with_new_notes(t.continuation)},
                )
                for i, t in enumerate(made)
            ],
        )
        generated = time.monotonic() - started
        yield from self._reveal(owner, piece_id, nodes, started, generated, settings.seed)

    def _reveal(
        self, owner: str, piece_id: str, nodes: list[Node], started: float, generated: float, seed: int
    ) -> Iterator[View]:
        """The takes on screen as soon as their notes exist (MIDI, piano roll, metrics), then a view as each
        take's audio or score comes from the render workers (every take's audio first: listening comes before
        reading), the last with every take whole (``done``).  The page around the takes (pieces, tree, the
        piece's picture) is read once."""
        page = self.view(owner, piece_id, "", takes=[])
        timings = {"generation": generated, "audio": 0.0, "images": 0.0}
        jobs: dict[Future[dict[str, float]], int] = {}

        def render() -> None:  # all at once: the workers share them out
            for kind in ("audio", "score"):
                jobs.update({self._render(node, (kind,)): i for i, node in enumerate(nodes)})

        try:
            if self.pool is not None:  # started before the takes are sent; without workers, after
                render()
            takes = [self._take_view(node, render=False) for node in nodes]
            timings["on_screen"] = time.monotonic() - started
            yield replace(
                page,
                status=f"{_count(len(nodes), 'take')} made in {timings['on_screen']:.1f} s (generation "
                f"{generated:.2f} s, random seed {seed}); rendering their audio and scores…",
                takes=list(takes),
                timings=dict(timings),
            )
            if not jobs:
                render()
            # As they finish (without workers they are done already: in their order, audio first).
            for ready, future in enumerate(as_completed(jobs) if self.pool is not None else list(jobs), 1):
                for kind, seconds in future.result().items():
                    timings[kind] += seconds
                i = jobs[future]
                takes[i] = self._take_view(nodes[i], render=False)
                if ready < len(jobs):
                    yield replace(
                        page,
                        status=f"Rendering the takes' audio and scores: {ready} of {len(jobs)} ready…",
                        takes=list(takes),
                        arrived=(i,),
                        timings=dict(timings),
                    )
            timings["files"] = time.monotonic() - started
            yield replace(
                page,
                status=f"{_count(len(nodes), 'take')} ready in {timings['files']:.1f} s (generation "
                f"{generated:.2f} s, random seed {seed}). Keep one to continue from it.",
                takes=[self._take_view(node) for node in nodes],
                done=True,
                timings=dict(timings),
            )
        finally:  # a cancelled request (the generator closed early) leaves no renders queued behind it
            for future in jobs:
                future.cancel()

    # ---------------------------------------------------------------------------------------- the tree
    @_refusals_keep_the_page
    def keep(self, owner: str, piece_id: str | None, node_id: str | None) -> View:
        """Keep a take: it joins the piece, and the next round continues from it."""
        if not node_id:
            raise InputError("Generate takes first, then keep the one you like.")
        record = self.store.keep(owner, node_id)
        label = self.store.node(owner, node_id).label
        return self.view(record.owner, record.id, f"Kept {label}; the next takes continue from it.")

    @_refusals_keep_the_page
    def undo(self, owner: str, piece_id: str | None) -> View:
        """Step back to the point before the last kept take (its takes are offered again)."""
        if not piece_id:
            raise InputError("There is no piece to undo in; bring a seed first.")
        before = self.store.piece(owner, piece_id).current_id
        record = self.store.undo(owner, piece_id)
        left = self.store.node(owner, before)
        if left.is_edit:  # the point before the edit, with the takes a reload would offer there
            return self.view(owner, record.id, f"Undid {left.label} ({left.settings.get('summary', 'an edit')}).")
        same_round = [
            n.id
            for n in self.store.children(owner, record.current_id)
            if n.settings.get("round") == left.settings.get("round")
        ]
        return self.view(owner, record.id, f"Undid {left.label}.", takes=same_round)

    @_refusals_keep_the_page
    def edit(self, owner: str, piece_id: str | None, edits: str | list[Any] | None) -> View:
        """The musician's edits of the current point (a JSON list in :mod:`composer.edit`'s format: add, move,
        delete, velocity, a track's instrument) become a new point of the history, the current one; Undo steps
        back over it.  Notes of one pitch that come to overlap on one track are settled as the reader settles
        them; an edit that cannot be done refuses the whole list in one sentence, and nothing changes."""
        from composer.edit import apply_edits

        if not piece_id:
            raise InputError("There is no piece to edit yet; bring a seed first.")
        if isinstance(edits, str):
            if len(edits) > MAX_EDIT_CHARS:
                raise InputError(f"The edits are above {MAX_EDIT_CHARS:,} characters; send fewer at a time.")
            try:
                edits = json.loads(edits) if edits.strip() else None
            except json.JSONDecodeError:
                raise InputError('The edits are not JSON; send a list such as [{"op": "delete", ...}].') from None
        record = self.store.piece(owner, piece_id)
        current = self.store.node(owner, record.current_id)
        edited = apply_edits(current.piece(), edits)
        node = self.store.add_edit(
            owner,
            piece_id,
            current.id,
            piece_to_midi_bytes(edited.piece),
            edited.first_beat,
            {"edits": edits, "summary": edited.summary, "merged": edited.merged},
        )
        was = "was" if edited.merged == 1 else "were"
        merged = (
            f" {_count(edited.merged, 'overlapping note')} of one pitch on one track {was} joined, as MIDI holds "
            "one such note at a time."
            if edited.merged
            else ""
        )
        return self.view(
            owner,
            piece_id,
            f"{edited.summary[:1].upper()}{edited.summary[1:]} ({node.label}); Undo takes it back.{merged}",
            takes=[],
        )

    @_refusals_keep_the_page
    def jump(self, owner: str, piece_id: str | None, node_id: str | None) -> View:
        """Go to any point of the history tree (a branch); the next takes continue from there."""
        if not node_id:
            raise InputError("Pick a point in the history first.")
        record = self.store.jump(owner, node_id)
        return self.view(owner, record.id, f"Now at {self.store.node(owner, node_id).label}.")

    @_refusals_keep_the_page
    def switch(self, owner: str, piece_id: str | None) -> View:
        if not piece_id:
            raise InputError("Pick one of your pieces.")
        record = self.store.piece(owner, piece_id)
        return self.view(owner, record.id, f"Opened {record.title}.")

    # ---------------------------------------------------------------------------------------- export / import
    def export_piece(self, owner: str, piece_id: str | None) -> tuple[str, list[str]]:
        """The piece up to its current point as MIDI, MusicXML and WAV → (status, file paths)."""
        from composer.score import musicxml_of_piece

        try:
            if not piece_id:
                raise InputError("There is no piece to export yet; bring a seed first.")
            record = self.store.piece(owner, piece_id)
            node = self.store.node(owner, record.current_id)
            piece = node.piece()
            folder = Path(tempfile.mkdtemp(prefix="export-", dir=self.files))
            stem = _file_stem(record.title)
            paths = [folder / f"{stem}.mid", folder / f"{stem}.musicxml", folder / f"{stem}.wav"]
            paths[0].write_bytes(node.midi)
            score = musicxml_of_piece(piece, record.title)
            paths[1].write_bytes(score.data)
            paths[2].write_bytes(render_wav(piece).wav)
            status = f"Exported {record.title} ({len(piece.notes)} notes) as MIDI, MusicXML and WAV."
            return (f"{status} {score.rounded}" if score.rounded else status), [str(p) for p in paths]
        except InputError as error:
            return str(error), []

    def export_session(self, owner: str) -> tuple[str, str | None]:
        """All of this browser's pieces and their history as one JSON file → (status, path)."""
        data = self.store.export_session(owner)
        folder = Path(tempfile.mkdtemp(prefix="session-", dir=self.files))
        path = folder / f"composer-session-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}.json"
        path.write_text(json.dumps(data))
        return f"Exported {len(data['pieces'])} piece(s) with their history.", str(path)

    @_refusals_keep_the_page
    def import_session(self, owner: str, piece_id: str | None, file_path: str | None) -> View:
        """A session file (from Export session) adds its pieces, with their history, to this browser's."""
        if not file_path:
            raise InputError("Choose a session file (.json) exported from the studio.")
        path = Path(file_path)
        if path.stat().st_size > MAX_SESSION_BYTES:
            raise InputError(f"The session file is above {MAX_SESSION_BYTES:,} bytes; export fewer pieces.")
        records = self.store.import_session(owner, path.read_bytes())
        return self.view(
            owner, records[0].id if records else piece_id, f"Imported {len(records)} piece(s) with their history."
        )


# ------------------------------------------------------------------------------------------- helpers


def _summary(record: PieceRecord, current: Node, by_id: dict[str, Node], piece: Piece | InputError) -> str:
    """The line above the roll: the piece, where in its history the page is, and what it holds (or why the
    point cannot be read)."""
    if isinstance(piece, InputError):
        return f"**{record.title}** — at *{current.label}*, which cannot be read ({piece})."
    path = []
    node: Node | None = current
    while node is not None:
        path.append(node.label)
        node = by_id.get(node.parent_id) if node.parent_id else None
    return (
        f"**{record.title}** — at *{current.label}* ({' → '.join(reversed(path))}): {len(piece.notes)} "
        f"notes, {piece.bars} bars, {piece.tempo:.4g} BPM, {piece.time_signature}"
    )


def _repeat_line(repeat: dict[str, Any]) -> str:
    """A take's longest phrase heard back to back (``TakeMetrics.longest_repeat``) in words; none is said so,
    not as a phrase of 0 notes heard once."""
    notes, times = int(repeat.get("phrase_notes") or 0), int(repeat.get("times_in_a_row") or 1)
    if notes == 0 or times < 2:
        return "no repeated phrase"
    return f"longest repeat: {notes} notes × {times}"


def _wrapped_report(report: str) -> str:
    """The seed report (Markdown: text in a code block) with its long lines wrapped at :data:`REPORT_WIDTH`,
    each continuation indented under its line, so that none runs out of the page's column.  Done when shown,
    so that reports stored before wrapping read the same."""
    out = []
    for line in report.splitlines():
        if len(line) <= REPORT_WIDTH:
            out.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")) + 2)
        out += textwrap.wrap(line, REPORT_WIDTH, subsequent_indent=indent, break_long_words=False, drop_whitespace=True)
    return "\n".join(out)


def _restates_line(restates: dict[str, Any] | None) -> str:
    """A take's restatement of the seed (``TakeMetrics.restates``) in words."""
    if not restates:
        return "restates: no phrase of the seed"
    return (
        f"restates: the seed's bars {restates.get('bars')} ({100 * float(restates.get('share', 0)):.0f} % of its notes)"
    )


def _continues(settings: dict[str, Any]) -> bool:
    """Whether a take's settings made a continuation (takes made before fills record no command: they did)."""
    return settings.get("command", "continue") == "continue"


def _made_by(settings: dict[str, Any]) -> str:
    """What a take's settings asked for, in words: a continuation's length, a fill's bars and tracks, or an
    accompaniment's style (takes made before fills record no command: continuations)."""
    command = settings.get("command")
    if command == "infill":
        names = settings.get("track_names") or []
        return f"bars {settings.get('bars')} filled" + (f" on {', '.join(str(n) for n in names)}" if names else "")
    if command == "accompany":
        where = f" in bars {settings['bars']}" if settings.get("bars") else ""
        return f"{settings.get('style')} accompaniment{where}"
    if command == "edit":
        return f"edited: {settings.get('summary')}"
    return f"{settings.get('bars')} bars"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _whole(value: float | None, what: str) -> int:
    """``value`` as an int; ``what`` begins the refusal's sentence ("The number of bars")."""
    if value is None or not float(value).is_integer():
        raise InputError(f"{what} must be a whole number; got {value}.")
    return int(value)


def _settings(
    takes: float,
    temperature: float,
    top_p: float,
    seed: float | None,
    random_seed: bool,
    key_lock: bool,
    **more: Any,
) -> Settings:
    """The settings every request shares (the takes, sampling, random seed and key lock) and ``more`` of
    ``Settings``' fields, checked; a random seed is drawn when asked for or none is given."""
    from composer.generate import Settings

    if random_seed or seed is None:
        seed = secrets.randbelow(2**31)
    if not float(seed).is_integer() or not 0 <= seed < 2**63:
        raise InputError(f"The random seed must be a whole number from 0; got {seed}.")
    count = _whole(takes, "The number of takes")
    settings = Settings(
        variations=count,
        temperature=float(temperature),
        top_p=float(top_p),
        seed=int(seed),
        key_lock=bool(key_lock),
        **more,
    ).validate()
    if count > MAX_TAKES:
        raise InputError(f"Ask for 1 to {MAX_TAKES} takes; {count} was asked for.")
    return settings


def _bars(text: str | None) -> tuple[int, int]:
    """The Bars box ("5-8", or one bar "5") → (first, last); the piece checks them later (``gap_span``)."""
    from composer.fill import parse_bars

    if not (text or "").strip():
        raise InputError("Give the bars to fill, e.g. 5-8 (bar 1 is the first whole bar, a pickup bar 0).")
    try:
        return parse_bars(str(text))
    except InputError:  # its sentence names the command line's --bars: say it in the page's words
        raise InputError(
            f"The bars {str(text).strip()!r} are not a range like 5-8: give the first and last bar to fill "
            "(bar 1 is the first whole bar, a pickup bar 0)."
        ) from None


def _tracks(piece: Piece, text: str | None) -> list[int]:
    """The Tracks box (names or numbers from 1, comma-separated; empty: every track) → track indices.  A track
    without a name goes by its instrument's, as the page shows it (``track_label``), where that names one."""
    from composer.fill import regenerated_tracks

    names = [name.strip() for name in (text or "").split(",") if name.strip()]
    if not names:
        return regenerated_tracks(piece, None)
    listed = ", ".join(f"{i + 1} {track_label(t)}" for i, t in enumerate(piece.tracks))

    def one(name: str) -> list[int]:  # one name at a time, so that a refusal names the one that is not a track
        try:
            return regenerated_tracks(piece, name)
        except InputError:  # its sentence names the command line's --tracks: the page says it in its words
            labelled = [i for i, t in enumerate(piece.tracks) if track_label(t).strip().lower() == name.lower()]
            if len(labelled) == 1:
                return labelled
            if labelled:
                raise InputError(
                    f"Several tracks are called {name!r}; give the numbers of those to fill (its tracks: {listed})."
                ) from None
            raise InputError(
                f"The piece has no track {name!r}; name its tracks or give their numbers (its tracks: {listed})."
            ) from None

    return sorted({i for name in names for i in one(name)})


def _pitch_range(lowest: float | None, highest: float | None) -> tuple[int, int] | None:
    """The lowest and highest note asked for → ``Settings.pitch_range``: None for the piano's whole range."""
    low = PIANO_LOW if lowest is None else _whole(lowest, "The lowest note")
    high = PIANO_HIGH if highest is None else _whole(highest, "The highest note")
    if not PIANO_LOW <= low <= high <= PIANO_HIGH:
        raise InputError(
            f"The lowest and highest notes must lie within the piano's {PIANO_LOW}–{PIANO_HIGH} (A0–C8), the "
            f"lowest not above the highest; got {low}–{high}."
        )
    return None if (low, high) == (PIANO_LOW, PIANO_HIGH) else (low, high)


def tracks_with_new_notes(continuation: Piece) -> list[str]:
    """The names of the tracks a take put new notes on, in the table's order (a track without a name: its
    instrument's)."""
    used = {n.track for n in continuation.notes}
    return [track_label(t) for i, t in enumerate(continuation.tracks) if i in used]


def _join(take: Take, seed: Piece) -> float:
    """Where a take's new notes begin (the seed's end when it added none)."""
    new = take.continuation.notes
    return min(n.start for n in new) if new else seed.end


def _tree_choices(tree: list[Node], current: str) -> list[tuple[str, str]]:
    """The history as indented dropdown choices, depth first, the current point marked."""
    children: dict[str | None, list[Node]] = {}
    for n in tree:
        children.setdefault(n.parent_id, []).append(n)
    out: list[tuple[str, str]] = []

    def walk(node: Node, depth: int) -> None:
        mark = " ◀ current" if node.id == current else (" (kept)" if node.kept and node.parent_id else "")
        out.append((f"{'  ' * depth}{'└ ' if depth else ''}{node.label}{node_detail(node)}{mark}", node.id))
        for child in children.get(node.id, []):
            walk(child, depth + 1)

    for root in children.get(None, []):
        walk(root, 0)
    return out


def _file_stem(title: str) -> str:
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in title).strip("-")[:60]
    return stem or "piece"


def files_folder(db: Path) -> Path:
    """Where a studio on the database ``db`` keeps its rendered take files (in the temp folder, so Gradio serves
    them without allowed_paths; one folder per database)."""
    return Path(tempfile.gettempdir()) / "composer-studio" / hashlib.sha1(str(db).encode()).hexdigest()[:12]


def default_app() -> StudioApp:
    db = default_store_path()
    models = Path(os.environ.get("COMPOSER_MODELS", CHECKOUT / "models"))
    return StudioApp(Store(db), files_folder(db), models, render_workers=min(2, os.cpu_count() or 1))
