"""Studio latency: from a "Generate takes" request to all takes ready (4 takes × 8 bars, shipped model).

Two measurements, 20 requests each (the bundled example seeds in turn, a new random seed each time):

1. In process, through :meth:`StudioApp.generate` with two render worker processes as the server has: the
   wall time, and the seconds spent on generation (the model), audio (soundfont rendering) and images (piano
   roll + engraved score) — the last two summed over the workers, which run side by side.
2. Over HTTP: ``python app.py`` on a free port (its render worker processes included), driven by
   ``gradio_client`` — queueing and serialisation included: until the message with every take arrives (a browser
   then fetches pictures in parallel and audio when played), and, separately, until the client has also
   downloaded every file of every take (12 files, one after another).

Target: p95 ≤ 2 s on this machine (2 cores).  A first request (model load, imports) is made before timing.

    python bench/studio.py        # writes bench/results/studio.json
"""

from __future__ import annotations

import json
import socket
import tempfile
import time
from pathlib import Path

import numpy as np

from composer.examples import EXAMPLES
from composer.studio import desk, ui
from composer.studio.store import Store
from composer.testing.benchmark import write_result

ROOT = Path(__file__).resolve().parent.parent

REQUESTS = 20
BARS, TAKES = 8, 4


def percentiles(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(values, 50)), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
        "max": round(max(values), 3),
    }


def in_process(folder: Path) -> dict:
    studio = desk.StudioApp(Store(folder / "studio.sqlite3"), folder / "files", render_workers=2)  # as the server
    owner = studio.start(None).owner
    pieces = [studio.example(owner, None, e.name).piece_id for e in EXAMPLES]
    list(studio.generate(owner, pieces[0], BARS, TAKES, 1.0, 0.95, 0, False, False, desk.SHIPPED))  # warm up
    rows = []
    for i in range(REQUESTS):
        started = time.perf_counter()
        views = list(
            studio.generate(owner, pieces[i % len(pieces)], BARS, TAKES, 1.0, 0.95, 100 + i, False, False, desk.SHIPPED)
        )
        rows.append({"total": time.perf_counter() - started, **views[-1].timings})
        assert len(views[-1].takes) == TAKES, views[-1].status
    if studio.pool is not None:
        studio.pool.shutdown()
    return {k: percentiles([r[k] for r in rows]) for k in rows[0]}


def over_http(folder: Path) -> dict:
    from gradio_client import Client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ui.serve_in_subprocess(port, folder / "http.sqlite3")
    try:
        url = f"http://127.0.0.1:{port}/"
        result = {}
        for name, client in (
            ("until_all_takes_arrive", Client(url, verbose=False, download_files=False)),
            ("with_every_file_downloaded", Client(url, verbose=False)),
        ):
            owner = client.predict("", "", api_name="/start")[0]
            pieces = [client.predict(owner, "", e.name, api_name="/example")[1] for e in EXAMPLES]
            client.predict(
                owner, pieces[0], BARS, TAKES, 1.0, 0.95, 0, False, False, desk.SHIPPED, api_name="/generate"
            )
            totals = []
            for i in range(REQUESTS):
                started = time.perf_counter()
                out = client.predict(
                    owner,
                    pieces[i % len(pieces)],
                    BARS,
                    TAKES,
                    1.0,
                    0.95,
                    100 + i,
                    False,
                    False,
                    desk.SHIPPED,
                    api_name="/generate",
                )
                totals.append(time.perf_counter() - started)
                assert f"{TAKES} takes ready" in out[2], out[2]
            result[name] = percentiles(totals)
        return result
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = {
            "requests": REQUESTS,
            "takes": TAKES,
            "bars": BARS,
            "seeds": [e.name for e in EXAMPLES],
            "in_process_seconds": in_process(Path(tmp)),
            "over_http_seconds": over_http(Path(tmp)),
            "target": "p95 <= 2 s",
        }
    print(json.dumps(result, indent=2))
    write_result(ROOT / "bench" / "results" / "studio.json", result)


if __name__ == "__main__":
    main()
