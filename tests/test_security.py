"""Security: nothing is ever unpickled; no path a user supplies reaches the filesystem; Gradio serves no file
outside its own cache (``allowed_paths`` stays empty); session files are checked against their schema and
size-capped; models load only as safetensors + JSON.

Three layers, cheapest first: the source itself (parsed, not grepped, so comments and strings do not count),
the handlers called directly, and ``python app.py`` on a free port attacked over HTTP the way any client could.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import signal
import sqlite3
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from composer import checkpoint
from composer.errors import InputError
from composer.studio import desk, ui
from composer.studio.store import MAX_SESSION_BYTES, MAX_SESSION_NODES, MAX_TITLE, Store
from composer.testing import smf
from composer.testing.network import find_free_port

ROOT = Path(__file__).resolve().parent.parent
OWNER, PIECE, STATUS, PIECES, REPORT, SUMMARY, ROLL, TREE = range(8)  # as in test_studio_e2e.py
SLOT, SLOT_SIZE = 8, 6

# ------------------------------------------------------------------------------------------- no pickle

# Modules whose loading runs pickle (or is pickle under another name).  Spelled so that this file's own
# source never looks like a use of them to the scanner below: it reads code, not strings.
PICKLING_MODULES = {"pickle", "_pickle", "cPickle", "dill", "cloudpickle", "joblib", "shelve"}
PICKLING_CALLS = {"torch.load", "torch.jit.load", "torch.serialization.load", "pandas.read_pickle"}
NUMPY_LOADS = {"numpy.load"}


def python_files() -> list[Path]:
    """Every Python file of the repository (package, app, benchmarks, tests, CI scripts)."""
    skip = {".venv", ".git", ".pytest_cache", ".ruff_cache", ".hypothesis", "node_modules", "composer.egg-info"}
    found = []
    for path in ROOT.rglob("*.py"):
        if not skip & set(path.relative_to(ROOT).parts):
            found.append(path)
    return sorted(found)


def pickle_uses(source: str) -> list[str]:
    """Where ``source`` imports a pickling module, calls torch.load (or another loader built on pickle), calls
    numpy.load without ``allow_pickle=False``, or passes ``allow_pickle=True`` anywhere → "line: what"."""
    tree = ast.parse(source)
    aliases: dict[str, str] = {}  # local name → dotted name it stands for
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[(a.asname or a.name).split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
                if a.name.split(".")[0] in PICKLING_MODULES:
                    found.append(f"{node.lineno}: import {a.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            if node.module.split(".")[0] in PICKLING_MODULES:
                found.append(f"{node.lineno}: from {node.module} import …")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func, aliases)
        keywords = {k.arg: k.value for k in node.keywords}
        if name in PICKLING_CALLS or (name or "").endswith((".read_pickle", ".to_pickle")):
            found.append(f"{node.lineno}: {name}(…)")
        flag = keywords.get("allow_pickle")
        if name in NUMPY_LOADS:
            if not (isinstance(flag, ast.Constant) and flag.value is False):
                found.append(f"{node.lineno}: {name}(…) without allow_pickle=False")
        elif isinstance(flag, ast.Constant) and flag.value is not False:
            found.append(f"{node.lineno}: allow_pickle={flag.value!r}")
        if (
            name in ("__import__", "importlib.import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and str(node.args[0].value).split(".")[0] in PICKLING_MODULES
        ):
            found.append(f"{node.lineno}: {name}({node.args[0].value!r})")
    return found


def _dotted(func: ast.expr, aliases: dict[str, str]) -> str | None:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name):
        return None
    parts.append(aliases.get(func.id, func.id))
    dotted = ".".join(reversed(parts))
    return "numpy" + dotted[2:] if dotted.startswith("np.") else dotted


@pytest.mark.parametrize(
    "code",
    [
        "import pickle",
        "import pickle as pk",
        "from pickle import loads",
        "import _pickle",
        "import dill",
        "import cloudpickle",
        "from joblib import load",
        "import shelve",
        "import torch\ntorch.load('m.pt')",
        "from torch import load\nload('m.pt')",
        "import torch as t\nt.load(f)",
        "import numpy as np\nnp.load(p)",
        "import numpy\nnumpy.load(p, allow_pickle=True)",
        "from numpy import load\nload(p)",
        "np.load(p, mmap_mode='r')",
        "import pandas as pd\npd.read_pickle(p)",
        "x.to_pickle(p)",
        "__import__('pickle')",
        "import importlib\nimportlib.import_module('dill')",
        "np.savez(p, a=a, allow_pickle=True)",
    ],
)
def test_the_scanner_finds_pickle_use(code):
    assert pickle_uses(code), code


@pytest.mark.parametrize(
    "code",
    [
        "import numpy as np\nnp.load(p, allow_pickle=False)",
        "pickle_like = tmp / 'p.safetensors'",
        "'''import pickle'''",
        "# torch.load(x)\nx = 'torch.load(x)'",
        "from safetensors import safe_open",
        "import json\njson.load(f)",
    ],
)
def test_the_scanner_lets_safe_code_through(code):
    assert pickle_uses(code) == []


def test_no_pickle_anywhere_in_the_repository():
    files = python_files()
    assert ROOT / "composer" / "dataset.py" in files and ROOT / "app.py" in files and Path(__file__) in files
    found = {str(p.relative_to(ROOT)): uses for p in files if (uses := pickle_uses(p.read_text()))}
    assert found == {}


def test_the_events_cache_is_read_without_pickle(tmp_path):
    """composer.dataset caches as .npz read with allow_pickle=False: an object array (which only pickle can
    hold) is refused with ValueError — which load_songs treats as a damaged cache and rebuilds."""
    from composer import dataset

    source = (ROOT / "composer" / "dataset.py").read_text()
    assert "np.load(path, allow_pickle=False)" in source
    # A .npy member declaring an object array, its data bytes shaped like a pickle (never a real one).
    header = repr({"descr": "|O", "fortran_order": False, "shape": (1,)}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\x80\x04\x95" + bytes(40) + b"."
    cache = tmp_path / "events-0000.npz"
    with zipfile.ZipFile(cache, "w") as z:
        z.writestr("ids.npy", member)
    with pytest.raises(ValueError, match="allow_pickle=False"):
        dataset._read_cache(cache)


# ------------------------------------------------------------------------------------------- models


def test_checkpoints_are_read_with_safetensors_never_torch_load():
    source = (ROOT / "composer" / "checkpoint.py").read_text()
    calls = {_dotted(n.func, {"torch": "torch"}) for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Call)}
    assert "torch.load" not in calls and "safe_open" in calls and "json.loads" in calls
    assert pickle_uses(source) == []


@pytest.mark.parametrize(
    "content",
    [
        b"PK\x03\x04" + bytes(200),  # torch.save's default: a zip of pickles
        b"\x80\x00\x00\x00\x00\x00\x00\x00"
        + b"\x80\x02}q\x00(X\x05\x00\x00\x00model"
        + bytes(200),  # a plausible length
        b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19." + bytes(200),  # torch's legacy pickle magic
        b"(dp0\nS'model'\np1\n." + bytes(100),  # protocol 0, all text
    ],
    ids=["zip", "plausible-length", "legacy-torch", "protocol-0"],
)
def test_pickle_files_named_safetensors_are_refused(tmp_path, monkeypatch, content):
    import torch

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("torch.load was called")

    monkeypatch.setattr(torch, "load", never)
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(InputError, match="safetensors"):
        checkpoint.load_model(path)
    folder = tmp_path / "only-pickles"  # a folder of pickled weights holds no model
    folder.mkdir()
    for name in ("model.pt", "pytorch_model.bin", "model.ckpt", "model.pkl"):
        (folder / name).write_bytes(content)
    with pytest.raises(InputError, match="holds no model"):
        checkpoint.load_model(folder)


def test_no_pickled_weights_are_shipped():
    shipped = [p for p in (ROOT / "composer").rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert {p.suffix for p in shipped if "models" in p.parts} <= {".safetensors", ".json", ".md"}
    assert not [p for p in shipped if p.suffix in {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin", ".joblib"}]


def test_the_model_picker_offers_only_safetensors_and_takes_no_paths(tmp_path):
    models = tmp_path / "models"
    (models / "sub").mkdir(parents=True)
    for name in ("evil.pt", "evil.pkl", "pytorch_model.bin", "sub/good.safetensors"):
        (models / name).write_bytes(b"\x80\x04\x95" + bytes(20))
    with Store(":memory:") as store:
        studio = desk.StudioApp(store, tmp_path / "files", models)
        assert studio.models() == [desk.SHIPPED, "sub/good.safetensors"]
        for name in (
            "evil.pt",
            "../../etc/passwd",
            "/etc/passwd",
            str(models / "sub" / "good.safetensors"),
            "sub/../evil.pt",
            str(ROOT / "composer" / "models" / "shipped" / "model.safetensors"),
        ):
            with pytest.raises(InputError, match="no model called"):
                studio.composer(name)
        with pytest.raises(InputError, match="safetensors"):  # listed, loaded, refused: not a composer checkpoint
            studio.composer("sub/good.safetensors")


# ------------------------------------------------------------------------------------------- session files


@pytest.fixture
def studio(tmp_path: Path) -> Iterator[desk.StudioApp]:
    with Store(tmp_path / "studio.sqlite3") as store:
        yield desk.StudioApp(store, tmp_path / "files")


def everything(store: Store) -> list[tuple]:
    """Every row of the database, to compare before and after a refused request."""
    with store._lock:
        return [
            tuple(row)
            for table in ("pieces", "nodes")
            for row in store._db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
        ]


@pytest.fixture
def session(studio: desk.StudioApp) -> dict:
    """An exported session: one piece, its seed and two takes (no generation: takes made by the store)."""
    owner = studio.start(None).owner
    piece = studio.example(owner, None, "hicks-hornpipe").piece_id
    assert piece is not None
    record = studio.store.piece(owner, piece)
    seed = studio.store.node(owner, record.root_id)
    studio.store.add_takes(owner, piece, seed.id, [(seed.midi, 4.0, {"round": "1"}, {}) for _ in range(2)])
    return studio.store.export_session(owner)


def damaged(session: dict, how: str) -> str | bytes:
    """The session as file text, damaged in a way tests/test_studio.py does not already cover."""
    s = copy.deepcopy(session)
    nodes = s["pieces"][0]["nodes"]
    if how == "top-level list":
        return json.dumps([s])
    if how == "null":
        return "null"
    if how == "deeply nested":
        return "[" * 200_000 + "]" * 200_000
    if how == "NaN":
        return json.dumps(s).replace('"created": ' + json.dumps(s["pieces"][0]["created"]), '"created": NaN', 1)
    if how == "Infinity join":
        nodes[1]["join"] = 1e400
    if how == "version as text":
        s["version"] = "1"
    if how == "version as bool":
        s["version"] = True
    if how == "piece not an object":
        s["pieces"] = ["piece"]
    if how == "nodes not a list":
        s["pieces"][0]["nodes"] = {"a": 1}
    if how == "kind":
        nodes[1]["kind"] = "admin"
    if how == "long label":
        nodes[1]["label"] = "x" * (MAX_TITLE + 1)
    if how == "long title":
        s["pieces"][0]["title"] = "x" * (MAX_TITLE + 1)
    if how == "duplicate ids":
        nodes[2]["id"] = nodes[1]["id"]
    if how == "current elsewhere":
        s["pieces"][0]["current_id"] = "not-in-this-piece"
    if how == "midi not text":
        nodes[1]["midi"] = [77, 84, 104, 100]
    if how == "too many takes":
        nodes.extend(dict(nodes[1], id=f"extra-{i}") for i in range(MAX_SESSION_NODES))
    if how == "title not text":
        s["pieces"][0]["title"] = {"$ne": None}
    return json.dumps(s)


DAMAGED = {
    "top-level list": "not a composer session",
    "null": "not a composer session",
    "deeply nested": "not valid JSON",
    "NaN": "'created' is not a finite number",
    "Infinity join": "'join' is not a finite number",
    "version as text": "'version' is not a finite number",
    "version as bool": "'version' is not a finite number",
    "piece not an object": "not an object",
    "nodes not a list": "'nodes' is not a list",
    "kind": "neither 'seed' nor 'take'",
    "long label": f"longer than {MAX_TITLE} characters",
    "long title": f"longer than {MAX_TITLE} characters",
    "duplicate ids": "two takes with the same id",
    "current elsewhere": "current take that is not in",
    "midi not text": "'midi' is not a str",
    "too many takes": f"more than {MAX_SESSION_NODES} takes",
    "title not text": "'title' is not a str",
}


@pytest.mark.parametrize("how", list(DAMAGED))
def test_damaged_session_files_are_refused_through_the_app(studio, session, tmp_path, how):
    owner = studio.start(None).owner
    studio.example(owner, None, "hicks-hornpipe")
    before = everything(studio.store)
    path = tmp_path / "session.json"
    data = damaged(session, how)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    view = studio.import_session(owner, None, str(path))
    assert DAMAGED[how] in view.status and "Imported" not in view.status, view.status
    assert everything(studio.store) == before


def test_an_oversized_session_file_is_refused_before_it_is_read(studio, tmp_path, monkeypatch):
    owner = studio.start(None).owner
    before = everything(studio.store)
    path = tmp_path / "huge.json"
    with path.open("wb") as f:  # sparse: the size is all that matters
        f.truncate(MAX_SESSION_BYTES + 1)
    read: list[Path] = []
    real = Path.read_bytes

    def spy(self: Path) -> bytes:
        read.append(self)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    view = studio.import_session(owner, None, str(path))
    assert f"above {MAX_SESSION_BYTES:,} bytes" in view.status and path not in read
    assert everything(studio.store) == before


def test_a_session_label_never_becomes_a_path(studio, session, tmp_path):
    target = tmp_path / "outside" / "written-by-a-label"  # no dots: the app turns dots into dashes
    target.parent.mkdir()
    for node in session["pieces"][0]["nodes"]:
        if node["kind"] == "take":
            node["label"] = str(target)
    path = tmp_path / "session.json"
    path.write_text(json.dumps(session))
    owner = studio.start(None).owner
    view = studio.import_session(owner, None, str(path))
    assert "slash" in view.status and view.pieces == []  # refused before anything is written
    assert not target.with_suffix(".mid").exists()
    # A label already in a database (written by an older version) still only names a file in the files folder.
    seed = studio.example(owner, None, "hicks-hornpipe")
    (take,) = studio.store.add_takes(
        owner, seed.piece_id, seed.current, [(studio.store.node(owner, seed.current).midi, 0.0, {}, {})]
    )
    studio.store._db.execute("UPDATE nodes SET label = ? WHERE id = ?", (str(target), take.id))
    made = Path(studio._named_midi(studio.store.node(owner, take.id)))
    assert not target.with_suffix(".mid").exists()
    assert made.resolve().is_relative_to(studio.files.resolve())


# ------------------------------------------------------------------------------------------- allowed_paths


def test_the_studio_passes_no_allowed_paths():
    ui_py = ROOT / "composer" / "studio" / "ui.py"  # where the studio launches (app.py only calls it)
    calls = [n for n in ast.walk(ast.parse(ui_py.read_text())) if isinstance(n, ast.Call)]
    keywords = [k.arg for call in calls for k in call.keywords]
    assert any(isinstance(c.func, ast.Attribute) and c.func.attr == "launch" for c in calls)
    assert "allowed_paths" not in keywords and "blocked_paths" not in keywords
    for path in (ROOT / "app.py", ui_py, ROOT / "run.sh"):
        assert "GRADIO_ALLOWED_PATHS" not in path.read_text()


def test_the_launched_studio_allows_no_extra_paths(tmp_path, monkeypatch):
    """``ui.serve()`` (``python app.py``, ``composer studio``) as it runs, with launch() caught: the arguments it
    passes, then the real launch with them (on a free port, not blocking) and the app's allowed paths afterwards."""
    import gradio as gr
    import torch

    monkeypatch.delenv("GRADIO_ALLOWED_PATHS", raising=False)
    monkeypatch.setenv("COMPOSER_STUDIO_DB", str(tmp_path / "studio.sqlite3"))
    monkeypatch.setenv("COMPOSER_MODELS", str(tmp_path / "models"))
    seen: dict[str, Any] = {}
    real_launch = gr.Blocks.launch

    def launch(self: Any, **kwargs: Any) -> None:
        seen.update(kwargs)
        real_launch(self, **{**kwargs, "server_port": find_free_port(), "prevent_thread_lock": True, "quiet": True})
        try:
            seen["allowed"] = list(self.allowed_paths)
            with httpx.Client(base_url=self.local_url, timeout=10) as client:
                seen["passwd"] = client.get("/gradio_api/file=/etc/passwd").status_code
        finally:
            self.close()

    monkeypatch.setattr(gr.Blocks, "launch", launch)
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda self: None)  # serve() serves until stopped; not here
    threads, handler = torch.get_num_threads(), signal.getsignal(signal.SIGTERM)
    try:
        ui.serve()
    finally:  # serve() sets these for the server process; this is the test process
        torch.set_num_threads(threads)
        signal.signal(signal.SIGTERM, handler)
    assert "allowed_paths" not in seen and seen["allowed"] == [] and seen["passwd"] == 403


# ------------------------------------------------------------------------------------------- over HTTP


def serve(port: int, folder: Path) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("GRADIO_ALLOWED_PATHS", None)
    return ui.serve_in_subprocess(
        port,
        folder / "studio.sqlite3",
        folder / "server.log",
        env=env,
        wait=90,
        command=(sys.executable, str(ROOT / "app.py")),
        cwd=ROOT,
    )


class Studio:
    """A running ``python app.py``, a gradio_client on it, one owner with a piece and two takes."""

    def __init__(self, url: str, folder: Path) -> None:
        from gradio_client import Client

        self.url, self.folder, self.db = url, folder, folder / "studio.sqlite3"
        self.client = Client(url, verbose=False, download_files=False)
        self.owner = self.client.predict("", "", api_name="/start")[OWNER]
        self.piece = self.client.predict(self.owner, "", "hicks-hornpipe", api_name="/example")[PIECE]
        self.generated = self.client.predict(
            self.owner, self.piece, 1, 2, 1.0, 0.95, 3, False, False, desk.SHIPPED, api_name="/generate"
        )
        self.takes = [node for _, node in self.generated[TREE]["choices"][1:]]

    def rows(self) -> list[tuple]:
        with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True) as db:
            return [tuple(r) for t in ("pieces", "nodes") for r in db.execute(f"SELECT * FROM {t} ORDER BY id")]

    def call(self, api_name: str, data: list[Any]) -> tuple[str, str]:
        """A raw call of the queue API (what any HTTP client can send) → (SSE event name, its data)."""
        with httpx.Client(base_url=self.url, timeout=60) as http:
            event = http.post(f"/gradio_api/call/{api_name}", json={"data": data})
            if event.status_code >= 400:  # refused before it was queued
                return "error", event.text
            text = http.get(f"/gradio_api/call/{api_name}/{event.json()['event_id']}").text
        finals = [block for block in text.strip().split("\n\n") if block.startswith("event: ")]
        name, _, body = finals[-1].partition("\n")
        return name.removeprefix("event: "), body.removeprefix("data: ")


@pytest.fixture(scope="module")
def studio_server(tmp_path_factory) -> Iterator[Studio]:
    folder = tmp_path_factory.mktemp("studio")
    port = find_free_port()
    server = serve(port, folder)
    try:
        yield Studio(f"http://127.0.0.1:{port}/", folder)
    finally:
        server.terminate()
        server.wait(10)


def test_the_file_route_serves_only_gradios_cache(studio_server):
    s = studio_server
    served = s.generated[SLOT + 2]["url"]  # a take's MIDI, as the page links it: served
    with httpx.Client(base_url=s.url, timeout=10) as http:
        assert http.get(served).content[:4] == b"MThd"
        secret = s.db.with_name(s.db.name + ".secret")
        assert secret.exists()  # the key that encrypts owner ids in browsers
        for target in (
            "/etc/passwd",
            str(ROOT / "app.py"),
            "app.py",
            "../../../../etc/passwd",
            str(s.db),
            str(secret),
            str(ROOT / "composer" / "models" / "shipped" / "model.safetensors"),
            str(s.folder / "server.log"),
            "%2Fetc%2Fpasswd",
            "file:///etc/passwd",
            "http://127.0.0.1:1/x",
        ):
            response = http.get(f"/gradio_api/file={target}")
            assert response.status_code in (403, 404), (target, response.status_code)
            assert b"root:" not in response.content and b"SQLite" not in response.content
        outside = http.get("/file=/etc/passwd")  # the pre-/gradio_api route
        assert b"root:" not in outside.content


@pytest.mark.parametrize(
    "path",
    [
        "/etc/passwd",
        "../../app.py",
        str(ROOT / "app.py"),
        "app.py",
        "/tmp/gradio/../../etc/passwd",
        "file:///etc/passwd",
        "{db}",
        "http://127.0.0.1:{port}/gradio_api/file=/etc/passwd",
    ],
)
def test_upload_takes_only_files_the_client_uploaded(studio_server, path):
    s = studio_server
    path = path.format(db=s.db, port=s.url.rsplit(":", 1)[1].rstrip("/"))
    before = s.rows()
    for payload in ({"path": path, "meta": {"_type": "gradio.FileData"}}, {"path": path, "orig_name": "x.mid"}):
        event, body = s.call("upload", [s.owner, s.piece, payload])
        assert event == "error", (payload, event, body[:300])
    assert s.rows() == before  # no piece was made


def test_upload_of_a_real_file_still_works(studio_server, tmp_path):
    """The control for the test above: the same raw call with a file the client did upload is read."""
    from gradio_client import handle_file

    s = studio_server
    with httpx.Client(base_url=s.url, timeout=30) as http:
        uploaded = http.post("/gradio_api/upload", files={"files": ("raw.mid", smf.simple_file(bpm=99))})
    [path] = uploaded.json()
    event, body = s.call("upload", [s.owner, s.piece, {"path": path, "meta": {"_type": "gradio.FileData"}}])
    assert event == "complete" and "Read 8 notes from raw.mid" in body
    seed = tmp_path / "seed.mid"
    seed.write_bytes(smf.simple_file([60, 64, 67, 72] * 2, bpm=101))
    out = s.client.predict(s.owner, s.piece, handle_file(str(seed)), api_name="/upload")
    assert "Read 8 notes" in out[STATUS] and "101 BPM" in out[REPORT]


@pytest.mark.parametrize(
    "model",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "models/../../../etc/passwd",
        str(ROOT / "composer" / "models" / "shipped" / "model.safetensors"),
        "model.pt",
    ],
)
def test_generate_takes_no_model_path(studio_server, model):
    from gradio_client.exceptions import AppError

    s = studio_server
    before = s.rows()
    try:
        out = s.client.predict(s.owner, s.piece, 1, 1, 1.0, 0.95, 1, False, False, model, api_name="/generate")
    except AppError as error:  # Gradio itself: the dropdown's value must be one of its choices
        assert "not in the list of choices" in str(error)
    else:
        assert "There is no model called" in out[STATUS]
    assert s.rows() == before


@pytest.mark.parametrize(
    "model",
    [
        "../../etc/passwd",
        "/etc/passwd",
        str(ROOT / "app.py"),
        "model.pt",
        str(ROOT / "composer" / "models" / "shipped" / "model.safetensors"),
    ],
)
def test_the_generate_handler_takes_no_model_path(studio, model):
    owner = studio.start(None).owner
    piece = studio.example(owner, None, "hicks-hornpipe").piece_id
    before = everything(studio.store)
    views = list(studio.generate(owner, piece, 1, 1, 1.0, 0.95, 1, False, False, model))
    assert len(views) == 1 and "There is no model called" in views[0].status
    assert everything(studio.store) == before


HOSTILE_IDS = [
    "../x",
    "../../etc/passwd",
    "' OR 1=1 --",
    "x' OR 'a'='a",
    "%",
    "*",
    "1; DROP TABLE nodes",
    "\x00",
    "a" * 10_000,
]


@pytest.mark.parametrize("node", HOSTILE_IDS)
def test_keep_jump_undo_refuse_hostile_ids(studio_server, node):
    from gradio_client.exceptions import AppError

    s = studio_server
    before = s.rows()
    out = s.client.predict(s.owner, s.piece, node, api_name="/keep")
    assert "no take" in out[STATUS] and out[PIECE] == s.piece
    try:
        out = s.client.predict(s.owner, s.piece, node, api_name="/jump")
    except AppError as error:  # the history dropdown accepts only its own choices
        assert "not in the list of choices" in str(error)
    else:
        assert "no take" in out[STATUS]
    out = s.client.predict(s.owner, node, api_name="/undo")
    assert "no piece" in out[STATUS] and out[PIECE] == ""
    assert s.rows() == before


@pytest.mark.parametrize("owner", ["' OR 1=1 --", "%", "*", "../x"])
def test_sql_shaped_owners_see_nothing(studio_server, owner):
    s = studio_server
    out = s.client.predict(owner, s.piece, api_name="/start")
    assert out[PIECES]["choices"] == [] and out[PIECE] == ""
    out = s.client.predict(owner, s.piece, s.takes[0], api_name="/keep")
    assert "no take" in out[STATUS]


def test_another_owners_take_is_refused(studio_server):
    s = studio_server
    other = s.client.predict("", "", api_name="/start")[OWNER]
    before = s.rows()
    out = s.client.predict(other, s.piece, s.takes[0], api_name="/keep")
    assert "no take" in out[STATUS] and out[PIECE] == ""
    out = s.client.predict(other, s.piece, api_name="/undo")
    assert "no piece" in out[STATUS]
    status, files = s.client.predict(other, s.piece, api_name="/export_piece")
    assert "no piece" in status and not files
    assert s.rows() == before


def test_hostile_session_import_over_http(studio_server, tmp_path):
    """A session file travels like any upload; a path instead of an upload is refused, a bad file says why."""
    from gradio_client import handle_file

    s = studio_server
    before = s.rows()
    event, _ = s.call("import_session", [s.owner, s.piece, {"path": str(s.db), "meta": {"_type": "gradio.FileData"}}])
    assert event == "error"
    bad = tmp_path / "session.json"
    bad.write_text('{"format": "composer-session", "version": 1, "pieces": [1]}')
    out = s.client.predict(s.owner, s.piece, handle_file(str(bad)), api_name="/import_session")
    assert "not an object" in out[STATUS]
    assert s.rows() == before
