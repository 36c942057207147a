"""End to end: `python app.py` serving on a free port, driven through gradio_client as a script would —
upload → generate → keep → continue → undo → export, then the same pieces after a server restart."""

import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from composer.midi_io import read_midi
from composer.studio import ui
from composer.testing import smf

ROOT = Path(__file__).resolve().parent.parent
# Outputs of every view endpoint as gradio_client returns them (session State is not sent):
OWNER, PIECE, STATUS, PIECES, REPORT, SUMMARY, ROLL, TREE = range(8)
SLOT = 8  # then per take slot (its layout box is not sent): title, audio, midi, picture, score, metrics
SLOT_SIZE = 6


def take_midi(out, i):
    return out[SLOT + i * SLOT_SIZE + 2]


def serve(port: int, db: Path) -> subprocess.Popen:
    return ui.serve_in_subprocess(
        port, db, db.with_suffix(".log"), wait=90, command=(sys.executable, str(ROOT / "app.py")), cwd=ROOT
    )


@pytest.fixture
def studio_server(tmp_path, free_port) -> Iterator[str]:
    server = serve(free_port, tmp_path / "studio.sqlite3")
    yield f"http://127.0.0.1:{free_port}/"
    server.terminate()
    server.wait(10)


def test_a_script_drives_the_whole_loop_through_gradio_client(studio_server, tmp_path):
    from gradio_client import Client, handle_file

    client = Client(studio_server, verbose=False)
    out = client.predict("", "", api_name="/start")
    owner = out[OWNER]
    assert len(owner) == 32 and "Bring a seed" in out[STATUS]

    seed = tmp_path / "seed.mid"
    seed.write_bytes(smf.simple_file([60, 62, 64, 65, 67, 69, 71, 72] * 2, bpm=90))
    out = client.predict(owner, "", handle_file(str(seed)), api_name="/upload")
    piece = out[PIECE]
    assert "Read 16 notes" in out[STATUS] and "90 BPM" in out[REPORT]

    out = client.predict(owner, piece, 2, 3, 1.0, 0.95, 7, False, False, "shipped model", api_name="/generate")
    assert "3 takes ready" in out[STATUS]
    takes = [read_midi(take_midi(out, i)) for i in range(3)]
    assert all(t.notes[:16] == read_midi(str(seed)).notes and len(t.notes) > 16 for t in takes)
    tree = out[TREE]["choices"]
    assert [label.strip() for label, _ in tree][1].startswith("└ take 1.1")
    take_ids = [node for _, node in tree[1:]]

    out = client.predict(owner, piece, take_ids[2], api_name="/keep")
    assert "Kept take 1.3" in out[STATUS]
    out = client.predict(owner, piece, 2, 2, 1.0, 0.95, 8, False, True, "shipped model", api_name="/generate")
    kept = takes[2].notes
    assert read_midi(take_midi(out, 0)).notes[: len(kept)] == kept  # the next round continues the kept take

    out = client.predict(owner, piece, api_name="/undo")
    assert "Undid take 1.3" in out[STATUS]
    status, files = client.predict(owner, piece, api_name="/export_piece")
    assert "Exported" in status and sorted(Path(f["path"] if isinstance(f, dict) else f).suffix for f in files) == [
        ".mid",
        ".musicxml",
        ".wav",
    ]

    bad = tmp_path / "fake.mid"
    bad.write_text("not a midi file")
    out = client.predict(owner, piece, handle_file(str(bad)), api_name="/upload")
    assert "is not a MIDI file" in out[STATUS] and out[PIECE] == piece  # the piece is untouched

    other = client.predict("", "", api_name="/start")
    assert other[OWNER] != owner and other[PIECES]["choices"] == []  # another browser sees none of it


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                pass
    return found


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
@pytest.mark.parametrize("stop", ["terminate", "kill"])
def test_render_workers_leave_with_the_server(tmp_path, free_port, stop):
    from gradio_client import Client

    server = serve(free_port, tmp_path / "studio.sqlite3")
    client = Client(f"http://127.0.0.1:{free_port}/", verbose=False)
    owner = client.predict("", "", api_name="/start")[OWNER]
    piece = client.predict(owner, "", "hicks-hornpipe", api_name="/example")[PIECE]
    client.predict(owner, piece, 1, 2, 1.0, 0.95, 1, False, False, "shipped model", api_name="/generate")
    workers = _children(server.pid)
    assert len(workers) >= 2  # the render pool (and gradio's own helpers, if any)
    getattr(server, stop)()
    server.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.2)
    left = [
        w
        for w in workers
        if Path(f"/proc/{w}").exists() and "zombie" not in Path(f"/proc/{w}/status").read_text().lower()
    ]
    assert left == []


def _gone(pids: list[int], seconds: float) -> list[int]:
    """Of ``pids``, those still running (not zombies) after waiting up to ``seconds`` for them to leave."""
    deadline = time.monotonic() + seconds
    left = pids
    while True:
        left = [
            p
            for p in pids
            if Path(f"/proc/{p}").exists() and "zombie" not in Path(f"/proc/{p}/status").read_text().lower()
        ]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process table from /proc")
def test_render_workers_still_starting_when_the_server_stops_leave_too():
    """A spawned render worker imports for seconds before it starts: a server stopped meanwhile (as `composer
    studio` stopped right after its page was served) left its workers waiting for work forever, each taking
    init, its new parent, for the server."""
    script = (
        "import multiprocessing, os\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from composer.studio.render import warm_up\n"
        "spawn = multiprocessing.get_context('spawn')\n"
        "pool = ProcessPoolExecutor(2, mp_context=spawn, initializer=warm_up, initargs=(os.getpid(),))\n"
        "pool.submit(int), pool.submit(int)\n"
        "print(' '.join(str(p) for p in pool._processes), flush=True)\n"
        "os._exit(0)\n"  # the server gone at once, its workers still importing
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    workers = [int(p) for p in out.stdout.split()]
    assert workers  # started as work came (one each while none is idle)
    assert _gone(workers, 60) == []


def test_pieces_survive_a_server_restart(tmp_path, free_port):
    from gradio_client import Client

    db = tmp_path / "studio.sqlite3"
    server = serve(free_port, db)
    try:
        client = Client(f"http://127.0.0.1:{free_port}/", verbose=False)
        owner = client.predict("", "", api_name="/start")[OWNER]
        out = client.predict(owner, "", "hicks-hornpipe", api_name="/example")
        piece = out[PIECE]
    finally:
        server.terminate()
        server.wait(10)
    server = serve(free_port, db)
    try:
        out = Client(f"http://127.0.0.1:{free_port}/", verbose=False).predict(owner, piece, api_name="/start")
        assert out[PIECE] == piece and "Welcome back" in out[STATUS] and "Hornpipe" in out[SUMMARY]
    finally:
        server.terminate()
        server.wait(10)


def test_a_long_generation_can_be_cancelled(studio_server, tmp_path):
    from gradio_client import Client
    from gradio_client.utils import Status

    client = Client(studio_server, verbose=False)
    owner = client.predict("", "", api_name="/start")[OWNER]
    piece = client.predict(owner, "", "bach-bwv269", api_name="/example")[PIECE]
    job = client.submit(owner, piece, 32, 8, 1.0, 0.95, 5, False, False, "shipped model", api_name="/generate")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("Rendering the takes" in str(o[STATUS]) for o in job.outputs()):
        time.sleep(0.05)
    assert job.cancel() or job.status().code == Status.CANCELLED
    started = time.monotonic()
    while not job.done() and time.monotonic() - started < 30:
        time.sleep(0.1)
    assert not any("8 takes ready" in str(o[STATUS]) for o in job.outputs())  # it stopped part-way
    # The server is free again at once (no renders of the cancelled request queued ahead).
    started = time.monotonic()
    out = client.predict(owner, piece, 1, 1, 1.0, 0.95, 6, False, False, "shipped model", api_name="/generate")
    assert "1 take ready" in out[STATUS] and time.monotonic() - started < 15


def test_composer_studio_serves_from_any_folder(tmp_path, free_port):
    """`composer studio` calls the package's entry itself (no app.py, no path into a checkout), so it serves the
    page when run from another folder, as an installed package runs."""
    installed = Path(sys.executable).with_name("composer")  # the console script beside this interpreter
    command = (str(installed), "studio") if installed.exists() else (sys.executable, "-m", "composer.cli", "studio")
    log = tmp_path / "studio.log"
    server = ui.serve_in_subprocess(free_port, tmp_path / "studio.sqlite3", log, wait=90, command=command, cwd=tmp_path)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/", timeout=10) as response:
            assert response.status == 200 and b"composer studio" in response.read()
        assert (tmp_path / "studio.sqlite3").exists()
    finally:
        server.terminate()
        server.wait(10)
