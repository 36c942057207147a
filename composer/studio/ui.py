"""The studio's page (Gradio): bring a seed, hear takes, keep one, continue, fill bars, accompany, undo,
branch, export.

``python app.py``, ``./run.sh studio`` and ``composer studio`` all call :func:`serve`: it serves on
127.0.0.1:7860, offline.  The standard Gradio variables (GRADIO_SERVER_NAME, GRADIO_SERVER_PORT) override
host and port; ``COMPOSER_STUDIO_DB`` sets the SQLite file, ``COMPOSER_MODELS`` the folder of extra checkpoints.

The handlers live in :mod:`composer.studio.desk` (plain values, no gradio); this module lays out the page
around them (:func:`build_ui`: layout first, events wired at the bottom, every handler with an ``api_name`` for
``gradio_client``) and serves it.  The pieces a browser makes are keyed by an owner id it keeps in its
localStorage (``gr.BrowserState``), so they survive a reload and a server restart, and each browser sees only
its own.  The only module that imports gradio (lazily, so the handlers load without it).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.atomic import atomic_write
from composer.piece import PIANO_HIGH, PIANO_LOW
from composer.studio.desk import (
    MAX_BARS,
    MAX_TAKES,
    SHIPPED,
    StudioApp,
    TakeView,
    View,
    default_app,
)
from composer.studio.roll import ROLL_SCRIPT
from composer.studio.style import DEFAULT_MINUTES, MAX_FILES, MAX_MINUTES, MIN_FILES, StyleView

if TYPE_CHECKING:
    import gradio as gr
    from gradio.blocks import Block


def browser_secret(db: str) -> str:
    """The key that encrypts the owner id in the browser's storage: kept beside the database, so that a
    restarted server still reads the ids its browsers hold (a fresh one for an in-memory database)."""
    if db == ":memory:" or db.startswith("file:"):
        return secrets.token_hex(16)
    path = Path(db).with_name(Path(db).name + ".secret")
    if not path.exists():
        atomic_write(path, secrets.token_hex(16).encode(), mode=0o600)
    return path.read_text().strip()


# ------------------------------------------------------------------------------------------- the page


@dataclass
class TakeSlot:
    """One take's place on the page: its components, and the values that show a take in them."""

    box: gr.Column
    title: gr.Markdown
    audio: gr.Audio
    midi: gr.File
    roll: gr.Image
    score: gr.HTML
    metrics: gr.Markdown
    keep: gr.Button  # an input, not an output: its click keeps the take

    def outputs(self) -> list[Block]:
        """The components a view updates, in the order of :meth:`show`'s values."""
        return [self.box, self.title, self.audio, self.midi, self.roll, self.score, self.metrics]

    def show(self, take: TakeView | None) -> list[Any]:
        """The values that show ``take`` in this slot, or hide the slot for None."""
        import gradio as gr

        if take is None:
            return [gr.update(visible=False), "", None, None, None, "", ""]
        return [
            gr.update(visible=True),
            f"### {take.title}",
            take.audio,
            take.midi,
            take.roll,
            score_html(take.score),
            take.metrics,
        ]

    def files(self, take: TakeView) -> list[Any]:
        """The values that bring ``take``'s audio and score into this slot, leaving the rest as it is."""
        import gradio as gr

        return [gr.skip(), gr.skip(), take.audio, gr.skip(), gr.skip(), score_html(take.score), gr.skip()]

    def unchanged(self) -> list[Any]:
        """The values that leave the slot as it is."""
        import gradio as gr

        return [gr.skip() for _ in self.outputs()]

    def label(self, take: TakeView | None) -> Any:
        """The value of its Keep button for ``take``: the take by its node, "Keep take 1.3" (unchanged when empty)."""
        import gradio as gr

        return gr.update(value=take.keep_label) if take is not None else gr.skip()


def score_html(svg: str) -> str:
    """A take's engraved score fitted to its column, or a line saying it is on its way."""
    if not svg:
        return '<p class="score-pending" style="color:#666">Audio and score are being rendered…</p>'
    return '<div class="score">' + svg.replace("<svg ", '<svg style="max-width:100%;height:auto" ', 1) + "</div>"


# A click on a node of the drawn history (or Enter on a focused one) sends the node's id as the click's data.
HISTORY_CLICKS = """
const go = (target) => {
  const node = target && target.closest ? target.closest('[data-node]') : null;
  if (node && element.contains(node)) trigger('click', {node: node.getAttribute('data-node')});
};
element.addEventListener('click', (event) => go(event.target));
element.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' || event.key === ' ') { event.preventDefault(); go(event.target); }
});
"""


def history_html(svg: str) -> str:
    """The drawn history (:func:`composer.studio.history.history_svg`) under its caption; nothing without a piece."""
    if not svg:
        return ""
    return (
        '<p style="margin:0 0 6px">History: every take ever made, the way to where you are in orange, takes never '
        "kept in grey dashes. Click a take to go there.</p>" + svg
    )


def cancel_shown(visible: bool) -> Any:
    """Cancel's visibility: shown while takes are being made, hidden otherwise."""
    import gradio as gr

    return gr.update(visible=visible)


def build_ui(app: StudioApp | None = None) -> gr.Blocks:
    """The page, its layout built first and its events wired at the bottom, around ``app`` (by default
    :func:`default_app`)."""
    import gradio as gr

    from composer import examples
    from composer.form import FORM_MEANINGS

    app = app or default_app()
    # The takes' rendered files are served where they lie (not copied into Gradio's cache for every message),
    # and so the roll's player can fetch the piece's audio by its path: that folder holds nothing else.
    gr.set_static_paths([app.served])
    with gr.Blocks(title="composer studio") as demo:
        secret = browser_secret(app.store.path)
        owner = gr.BrowserState("", storage_key="composer-owner", secret=secret)
        piece = gr.BrowserState("", storage_key="composer-piece", secret=secret)
        shown = gr.State([])  # node ids of the takes on screen, for the Keep buttons
        gr.Markdown(
            "# composer studio\nBring a melody, listen to takes that continue it, keep the one you like "
            "and go on from there. Everything you make is saved in this browser's session."
        )
        status = gr.Markdown(elem_id="status")
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tab("Upload"):  # a button, not a drop zone: the tab stays as small as the others
                    upload = gr.UploadButton(
                        "Upload a seed MIDI file (.mid)",
                        file_types=[".mid", ".midi"],
                        type="filepath",
                        elem_id="upload",
                        size="md",
                    )
                with gr.Tab("Examples"):
                    example = gr.Dropdown(
                        [(e.title, e.name) for e in examples.EXAMPLES],
                        label="Example seed",
                        value=examples.EXAMPLES[0].name,
                    )
                    use_example = gr.Button("Start from this example")
                with gr.Tab("ABC"):
                    abc_text = gr.Textbox(
                        lines=6,
                        label="Melody in ABC notation",
                        placeholder="X:1\nT:My tune\nM:6/8\nL:1/8\nK:G\nGAB c2d|e2d cBA|",
                    )
                    use_abc = gr.Button("Start from this melody")
                pieces = gr.Dropdown([], label="Your pieces", elem_id="pieces")
                report = gr.Markdown(elem_id="report")
            with gr.Column(scale=1):
                bars = gr.Slider(1, MAX_BARS, value=8, step=1, label="Length (bars)")
                takes = gr.Slider(1, MAX_TAKES, value=4, step=1, label="Takes")
                temperature = gr.Slider(0.1, 2.0, value=1.0, step=0.05, label="Temperature")
                top_p = gr.Slider(0.05, 1.0, value=0.95, step=0.01, label="Top-p (1 = off)")
                with gr.Row():
                    seed = gr.Number(value=0, precision=0, label="Random seed", minimum=0)
                    random_seed = gr.Checkbox(value=True, label="Random")
                key_lock = gr.Checkbox(label="Key lock (stay in the key of the seed's last bars)")
                form = gr.Dropdown(
                    [(f"{name}: {meaning}", name) for name, meaning in FORM_MEANINGS.items()],
                    value="auto",
                    label="Form (how the takes stand to the seed's last phrase)",
                )
                with gr.Row():  # the piano's whole range: no limit
                    lowest = gr.Slider(PIANO_LOW, PIANO_HIGH, value=PIANO_LOW, step=1, label="Lowest note (MIDI)")
                    highest = gr.Slider(PIANO_LOW, PIANO_HIGH, value=PIANO_HIGH, step=1, label="Highest note (MIDI)")
                model = gr.Dropdown(app.models(), value=SHIPPED, label="Model")
                with gr.Row():
                    go = gr.Button("Generate takes", variant="primary", elem_id="generate")
                    stop = gr.Button("Cancel", variant="stop", visible=False, elem_id="cancel")  # while making takes
                # Fill some bars anew, or add an accompaniment: the takes, sampling, seed, key lock and model
                # above apply; Cancel stops these too.
                with gr.Accordion("Fill or accompany", open=True, elem_id="fill-or-accompany"):
                    with gr.Row():
                        fill_bars = gr.Textbox(
                            label="Bars (e.g. 5-8; to accompany, empty: all)", placeholder="5-8", max_lines=1, scale=1
                        )
                        fill_tracks = gr.Textbox(
                            label="Tracks (names or numbers; empty: all)", placeholder="Melody, 2", max_lines=1, scale=2
                        )
                    fill = gr.Button("Fill these bars", elem_id="fill")
                    with gr.Row():
                        style = gr.Dropdown(
                            [("piano", "piano"), ("chorale (alto, tenor, bass)", "chorale")],
                            value="piano",
                            label="Style",
                            scale=2,
                        )
                        accompany = gr.Button("Accompany", elem_id="accompany", scale=1)
        with gr.Group():
            summary = gr.Markdown(elem_id="summary")
            # The piece as an interactive roll (composer.studio.roll): select bars, edit notes and instruments, play
            # it with mute / solo per track.  Its PNG stays an output, hidden, so that scripts reading the outputs by
            # position still can.
            piano_roll = gr.HTML(elem_id="roll", js_on_load=ROLL_SCRIPT, padding=True)
            roll = gr.Image(label="The piece so far", type="filepath", interactive=False, height=220, visible=False)
        with gr.Row(equal_height=False):  # buttons at their own height, not stretched to the tree's
            history = gr.HTML(
                label="History", elem_id="history", js_on_load=HISTORY_CLICKS, max_height=320, padding=True, scale=6
            )
            undo = gr.Button("Undo", elem_id="undo", scale=0, min_width=90)
        # The history as a list and its "go there", for scripts (/jump takes a node id from its choices): hidden,
        # the drawn tree is the page's way there.
        tree = gr.Dropdown([], label="History (every take ever made)", visible=False)
        goto = gr.Button("Go to this point", visible=False)
        slots: list[TakeSlot] = []
        for row in range(MAX_TAKES // 2):  # two takes side by side
            with gr.Row(equal_height=False):
                for i in (2 * row, 2 * row + 1):
                    with gr.Column(visible=False, min_width=420) as box:
                        title = gr.Markdown()
                        audio = gr.Audio(type="filepath", label="Listen", interactive=False)
                        picture = gr.Image(type="filepath", interactive=False, show_label=False, height=190)
                        score = gr.HTML()
                        metrics = gr.Markdown()
                        with gr.Row():
                            midi = gr.File(label="MIDI", interactive=False, elem_id=f"take-midi-{i + 1}", scale=2)
                            keep = gr.Button(f"Keep take {i + 1}", elem_id=f"keep-{i + 1}", variant="primary", scale=1)
                    slots.append(TakeSlot(box, title, audio, midi, picture, score, metrics, keep))
        with gr.Accordion("Export and sessions", open=True):
            with gr.Row():
                export = gr.Button("Export the piece (MIDI, MusicXML, WAV)", elem_id="export")
                export_sess = gr.Button("Export session (JSON)")
            exported = gr.File(
                label="Exported files", file_count="multiple", interactive=False, elem_id="exported", height=150
            )
            session_file = gr.UploadButton(
                "Import a session (.json)", file_types=[".json"], type="filepath", elem_id="import-session"
            )
        style_panel(app, demo, owner, model)  # Teach it your style: laid out and wired on its own
        node_box = gr.Textbox(visible=False)  # the API's way to name a take for keep
        edits_box = gr.Textbox(visible=False)  # the API's way to send edits (a JSON list, composer.edit)

        view_outputs = [
            owner,
            piece,
            shown,
            status,
            pieces,
            report,
            summary,
            roll,
            tree,
            *[c for slot in slots for c in slot.outputs()],
            # added after the first API: last, so that scripts reading the outputs above by position still can
            history,
            *[slot.keep for slot in slots],
            piano_roll,
        ]

        def show(view: View, files: tuple[int, ...] = (), page: bool = True) -> list[Any]:
            """A view as the outputs' values.  ``files``: only these take slots' audio and score are sent (the
            rest of the page keeps what it shows); ``page=False``: the piece's picture, report and piece list
            are left as they are — a generation's progress updates resend nothing already on screen."""
            keep = gr.skip()
            out: list[Any] = [
                view.owner,
                view.piece_id or "",
                [t.node_id for t in view.takes],
                view.status,
                gr.update(choices=view.pieces, value=view.piece_id) if page else keep,
                view.report if page else keep,
                view.summary,
                view.roll if page else keep,
                gr.update(choices=view.tree, value=view.current),
            ]
            labels = []
            for i, slot in enumerate(slots):
                take = view.takes[i] if i < len(view.takes) else None
                if files:
                    out += slot.files(take) if take is not None and i in files else slot.unchanged()
                    labels.append(gr.skip())
                else:
                    out += slot.show(take)
                    labels.append(slot.label(take))
            return [*out, history_html(view.history), *labels, view.piano_roll if page else keep]

        def on_load(o: str, p: str) -> list[Any]:
            return show(app.start(o, p or None))

        def stream(views: Iterator[View]) -> Iterator[list[Any]]:
            """A request's views (generate, fill, accompany) as the outputs' values: the takes as soon as their
            notes exist, then each take's audio and score as they are rendered."""
            for view in views:
                if not view.takes:  # the request's start, or a refusal: the whole page, takes cleared
                    yield show(view)
                elif view.arrived and not view.done:  # a take's audio or score, rendered
                    yield show(view, files=view.arrived, page=False)
                else:  # every take: first without its files, last whole (an API caller gets it in one message)
                    yield show(view, page=False)

        # Generator functions, not lambdas: Gradio streams the views of a generator function only.
        def on_generate(o: str, p: str, *args: Any) -> Iterator[list[Any]]:
            yield from stream(app.generate(o, p or None, *args))

        def on_fill(o: str, p: str, *args: Any) -> Iterator[list[Any]]:
            yield from stream(app.fill(o, p or None, *args))

        def on_accompany(o: str, p: str, *args: Any) -> Iterator[list[Any]]:
            yield from stream(app.accompany(o, p or None, *args))

        def on_history(o: str, p: str, evt: gr.EventData) -> list[Any]:
            return show(app.jump(o, p or None, getattr(evt, "node", None)))

        def on_bars(evt: gr.EventData) -> str:  # a bar range dragged on the roll's ruler → the Bars box
            return str(getattr(evt, "bars", "") or "")

        def on_edit(o: str, p: str, evt: gr.EventData) -> list[Any]:  # a note or an instrument edited in the roll
            return show(app.edit(o, p or None, getattr(evt, "edits", None)))

        # Gradio finds the click's data by this annotation, which it reads with typing.get_type_hints: gradio is
        # imported here, not at the module's top, so the annotation is set as the class itself.
        for handler in (on_history, on_bars, on_edit):
            handler.__annotations__["evt"] = gr.EventData

        demo.load(on_load, [owner, piece], view_outputs, api_name="start")
        upload.upload(
            lambda o, p, f: show(app.upload(o, p or None, f)), [owner, piece, upload], view_outputs, api_name="upload"
        )
        use_example.click(
            lambda o, p, n: show(app.example(o, p or None, n)),
            [owner, piece, example],
            view_outputs,
            api_name="example",
        )
        use_abc.click(
            lambda o, p, t: show(app.abc(o, p or None, t)), [owner, piece, abc_text], view_outputs, api_name="abc"
        )
        pieces.input(lambda o, p: show(app.switch(o, p)), [owner, pieces], view_outputs, api_name="switch")
        # Cancel shows while generate, fill or accompany runs, and hides when it ends or is cancelled.
        making = [
            button.click(lambda: cancel_shown(True), None, stop, queue=False, api_visibility="private")
            for button in (go, fill, accompany)
        ]
        running = making[0].then(
            on_generate,
            # form last: scripts that send the earlier inputs alone get its default (auto), as before forms
            [owner, piece, bars, takes, temperature, top_p, seed, random_seed, key_lock, model, lowest, highest, form],
            view_outputs,
            api_name="generate",
            concurrency_limit=2,
            concurrency_id="generate",
        )
        shared = [takes, temperature, top_p, seed, random_seed, key_lock, model]  # what generate reads too
        filling = making[1].then(
            on_fill,
            [owner, piece, fill_bars, *shared, fill_tracks],
            view_outputs,
            api_name="infill",
            concurrency_limit=2,  # one queue with generate: they share the same CPUs
            concurrency_id="generate",
        )
        accompanying = making[2].then(
            on_accompany,
            [owner, piece, style, *shared, fill_bars],  # the Bars box last: a selection, or empty for all
            view_outputs,
            api_name="accompany",
            concurrency_limit=2,
            concurrency_id="generate",
        )
        for made in (running, filling, accompanying):
            made.then(lambda: cancel_shown(False), None, stop, queue=False, api_visibility="private")
        stop.click(
            lambda: "Cancelled; takes already rendered are kept in the history.",
            None,
            status,
            cancels=[running, filling, accompanying],
            api_name="cancel",
        ).then(lambda: cancel_shown(False), None, stop, queue=False, api_visibility="private")
        for i, slot in enumerate(slots):
            slot.keep.click(
                lambda o, p, ids, i=i: show(app.keep(o, p or None, ids[i] if i < len(ids) else None)),
                [owner, piece, shown],
                view_outputs,
                api_visibility="private",
            )
        keep_api = gr.Button(visible=False)
        keep_api.click(
            lambda o, p, n: show(app.keep(o, p or None, n)), [owner, piece, node_box], view_outputs, api_name="keep"
        )
        undo.click(lambda o, p: show(app.undo(o, p or None)), [owner, piece], view_outputs, api_name="undo")
        goto.click(lambda o, p, n: show(app.jump(o, p or None, n)), [owner, piece, tree], view_outputs, api_name="jump")
        history.click(on_history, [owner, piece], view_outputs, api_visibility="private")
        piano_roll.select(on_bars, None, fill_bars, api_visibility="private", queue=False)
        piano_roll.submit(on_edit, [owner, piece], view_outputs, api_visibility="private")
        edit_api = gr.Button(visible=False)
        edit_api.click(
            lambda o, p, e: show(app.edit(o, p or None, e)), [owner, piece, edits_box], view_outputs, api_name="edit"
        )
        export.click(
            lambda o, p: app.export_piece(o, p or None), [owner, piece], [status, exported], api_name="export_piece"
        )
        export_sess.click(lambda o: app.export_session(o), [owner], [status, exported], api_name="export_session")
        session_file.upload(
            lambda o, p, f: show(app.import_session(o, p or None, f)),
            [owner, piece, session_file],
            view_outputs,
            api_name="import_session",
        )
    return demo


# ------------------------------------------------------------------------------------------- teach it your style


def style_panel(app: StudioApp, demo: gr.Blocks, owner: gr.BrowserState, model: gr.Dropdown) -> None:
    """Teach it your style (:mod:`composer.studio.style`): upload MIDI files or a zip, name the style, learn for
    at most N minutes, stop; a progress bar the page polls while a lesson runs; a learned style joins this
    browser's Model list.  Laid out where it is called inside :func:`build_ui`, its events wired here, so that
    the panel stays one block.  API: ``/learn_style`` (owner, files, name, minutes), ``/style_status`` (owner),
    ``/cancel_style`` (owner); each returns the panel's status sentence first."""
    import gradio as gr

    with gr.Accordion("Teach it your style", open=False, elem_id="style"):
        gr.Markdown(
            f"Upload {MIN_FILES}–{MAX_FILES} MIDI files in your style (or a zip of them). The studio goes on "
            "training its model on them for a few minutes, holding one piece in five back to measure what it "
            "learned (bits per note: lower is better); the result joins your Model list."
        )
        files = gr.File(
            label="Your MIDI files (.mid, or a .zip)",
            file_count="multiple",
            file_types=[".mid", ".midi", ".zip"],
            type="filepath",
            elem_id="style-files",
        )
        with gr.Row():
            name = gr.Textbox(label="Name of the style", placeholder="my style", max_lines=1, elem_id="style-name")
            minutes = gr.Slider(1, MAX_MINUTES, value=DEFAULT_MINUTES, step=1, label="At most (minutes)")
        with gr.Row():
            learn = gr.Button("Learn my style", variant="primary", elem_id="style-learn")
            stop = gr.Button("Stop the lesson", variant="stop", visible=False, elem_id="style-cancel")
        bar = gr.HTML(elem_id="style-progress")
        status = gr.Markdown(elem_id="style-status")
        status_api = gr.Button(visible=False)  # the API's way to ask where a lesson stands
    timer = gr.Timer(1.0, active=False)  # asks while a lesson runs, then stops

    def show(o: str, view: StyleView, select: bool = True) -> list[Any]:
        choices = app.models(o or None)
        chosen = view.learned if select and view.learned in choices else None
        return [
            view.status,
            _style_bar(view),
            gr.update(choices=choices, value=chosen) if chosen else gr.update(choices=choices),
            gr.update(visible=view.running),
            gr.Timer(active=view.running),
        ]

    outputs = [status, bar, model, stop, timer]
    learn.click(
        lambda o, f, n, m: show(o, app.styles.learn(o, f, n, m)),
        [owner, files, name, minutes],
        outputs,
        api_name="learn_style",
        concurrency_limit=1,
        concurrency_id="style",
    )
    # A poll never waits behind generation: it reads a small file.
    status_api.click(
        lambda o: show(o, app.styles.status(o)), [owner], outputs, api_name="style_status", concurrency_limit=None
    )
    timer.tick(
        lambda o: show(o, app.styles.status(o)),
        [owner],
        outputs,
        api_visibility="private",
        concurrency_limit=None,
    )
    stop.click(
        lambda o: show(o, app.styles.cancel(o)), [owner], outputs, api_name="cancel_style", concurrency_limit=None
    )
    # A returning browser: its styles in the Model list, and its lesson's progress if one runs.
    demo.load(
        lambda o: show(o, app.styles.status(o), select=False),
        [owner],
        outputs,
        api_visibility="private",
        concurrency_limit=None,
    )


def _style_bar(view: StyleView) -> str:
    """A lesson's progress as a bar of its time (empty when none runs)."""
    if not view.running:
        return ""
    percent = round(100 * view.fraction)
    return (
        f'<div role="progressbar" aria-valuenow="{percent}" aria-valuemin="0" aria-valuemax="100" '
        'style="background:#e5e7eb;border-radius:4px;height:10px;overflow:hidden">'
        f'<div style="width:{percent}%;height:10px;background:#f97316"></div></div>'
    )


def serve(db: Path | None = None) -> None:
    """Serve the studio until stopped: ``python app.py``, ``./run.sh studio`` and ``composer studio`` all come
    here.  ``db``: the SQLite file (by default ``COMPOSER_STUDIO_DB``, else the user's data folder)."""
    import torch

    if db is not None:
        os.environ["COMPOSER_STUDIO_DB"] = str(db)
    # One thread per generation: at batch 1-8 the step is too small to share, and the queue runs two
    # generations at once on this 2-core machine while worker processes render.
    torch.set_num_threads(1)
    app = default_app()
    # SIGTERM (a service manager's stop) ends the server through SystemExit, so the render workers stop with it.
    stopped: list[bool] = []

    def stop(*_: object) -> None:
        stopped.append(True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        demo = build_ui(app).queue(default_concurrency_limit=2, max_size=64)
        demo.launch(
            prevent_thread_lock=True,  # serve first, then warm the render workers (they compete for the CPU)
            server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
            server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
            # Gradio keeps each browser session's State in memory; the pieces live in SQLite, so a bounded
            # number of live sessions is enough (bench/load.py measured ~0.26 MB a session).
            state_session_capacity=2000,
        )  # no allowed_paths: the take files live in the temp folder, whose returned files Gradio serves
        app.warm_up()
        demo.block_thread()
    finally:
        app.styles.close()  # a lesson running stops with the server
        if app.pool is not None:
            app.pool.shutdown(wait=False, cancel_futures=True)
        if stopped:
            # Stopped by the signal: leave now.  The interpreter's exit would join the render workers, which may be
            # mid warm-up (seconds after a fresh start); they follow their parent out by themselves.
            os._exit(0)


def serve_in_subprocess(
    port: int,
    db: Path,
    log: Path | None = None,
    *,
    env: dict[str, str] | None = None,
    wait: float = 120.0,
    command: Sequence[str] = (sys.executable, "-m", "composer.cli", "studio"),
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start the studio as its own process on ``port`` with the database ``db``, and return once it answers
    HTTP 200 (the end-to-end tests and the benchmarks drive it so).  ``command``: how to start it (by default
    ``composer studio`` through the interpreter running this; ``python app.py`` is the other way), run in
    ``cwd`` (by default this process's).  Output goes to ``log``; as `./run.sh studio` does, MALLOC_ARENA_MAX is
    2 unless ``env`` or the environment says otherwise."""
    import urllib.request

    settings = {
        "MALLOC_ARENA_MAX": "2",
        **os.environ,
        **(env or {}),
        "GRADIO_SERVER_PORT": str(port),
        "COMPOSER_STUDIO_DB": str(db),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "HF_HUB_OFFLINE": "1",
    }
    out = log.open("wb") if log else subprocess.DEVNULL
    server = subprocess.Popen(list(command), cwd=cwd, env=settings, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.5)
        if server.poll() is not None:
            raise RuntimeError(f"the studio stopped at start: {log.read_text()[-3000:] if log else ''}")
    server.kill()
    raise RuntimeError(f"the studio did not answer within {wait:g} s")
