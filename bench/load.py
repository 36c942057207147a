"""The studio under load: 20 simulated users at once, each driving its own gradio_client over loopback.

``python app.py`` runs on a free port with a fresh SQLite file.  Each user is a thread with its own
``gradio_client.Client`` and its own owner id (``/start`` with ""), and makes 10 requests in an order drawn
from a seeded random generator among the moves that make sense at that point: ``/upload`` (a MIDI file built
in code that only this user has — its own tempo and pitches, its name in the title), ``/example``,
``/generate`` (2 bars × 2 takes, the shipped model: small, so that 20 users fit a 2-core machine in minutes),
``/keep`` (a candidate of the current point, read from the history choices) and ``/undo``.  In the middle of
its run every user also tries three moves on another user's piece (keep and jump to their take, undo their
piece), which must be refused.

Checked on every response: no exception, the status line is the one that request gives when it works
(a refusal where none is expected is an error), the owner is the caller's, and the piece list holds exactly
the caller's own pieces — a piece id another user made never appears.  After each round, with the server quiet:
ten users try the same three moves on another's piece while the victim's page is compared before and after
(unchanged), and the SQLite file is read directly: every piece belongs to the user who made it, and every node
id a user saw is in one of that user's pieces.

Memory: the resident set (VmRSS) of the server and of its child processes (the render workers) is sampled
every second from /proc; the baseline is taken after a warm-up request (model loaded, render workers started).
The same round runs three times with fresh users: growth in the later rounds shows whether memory levels off.

    python bench/load.py          # writes bench/results/load.json and bench/results/reliability-load.md
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from composer.atomic import atomic_write
from composer.studio import ui
from composer.testing import smf
from composer.testing.benchmark import write_reliability, write_result

ROOT = Path(__file__).resolve().parent.parent

USERS = 20
REQUESTS = 10  # per user, not counting /start and the three cross-user attempts
BARS, TAKES = 2, 2
ROUNDS = 3  # the same round with fresh users each time: does memory level off?
QUIET_PAIRS = 10  # cross-user attempts made after each round, with the victim's page compared before and after
SEED = 20240601
REQUEST_TIMEOUT = 240  # seconds; a request that takes longer counts as an error
MODEL = "shipped model"
# Outputs of every view endpoint as gradio_client returns them (see tests/test_studio_e2e.py).
OWNER, PIECE, STATUS, PIECES, REPORT, SUMMARY, ROLL, TREE = range(8)
SLOT, SLOT_SIZE = 8, 6
# What the status line says when each request works.
EXPECTED = {
    "start": ("Bring a seed",),
    "upload": ("Read ",),
    "example": ("Read ",),
    "generate": ("takes ready",),
    "keep": ("Kept take",),
    "undo": ("Undid ",),
}
REFUSED = "in this browser session"  # the store's answer for another owner's piece or take


# ------------------------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(port: int, db: Path, log: Path) -> subprocess.Popen:
    return ui.serve_in_subprocess(port, db, log)  # as `./run.sh studio` serves it (MALLOC_ARENA_MAX=2)


def descendants(pid: int) -> list[int]:
    """The process and every process below it (the render workers and whatever multiprocessing starts)."""
    parents: dict[int, list[int]] = defaultdict(list)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):  # gone meanwhile
                parents[int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])].append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(parents.get(p, []))
    return found


def rss_mb(pid: int) -> dict[str, float]:
    """VmRSS in MB: the server process, its children together, and the total."""
    server = children = 0.0
    for p in descendants(pid):
        try:
            line = next(x for x in Path(f"/proc/{p}/status").read_text().splitlines() if x.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue  # gone, or a zombie
        mb = int(line.split()[1]) / 1024
        if p == pid:
            server = mb
        else:
            children += mb
    return {
        "server": round(server, 1),
        "children": round(children, 1),
        "total": round(server + children, 1),
        "processes": len(descendants(pid)),
    }


class Sampler(threading.Thread):
    """Samples the server's RSS every second until stopped."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.stopped = pid, threading.Event()
        self.samples: list[dict[str, float]] = []

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopped.wait(1.0):
            self.samples.append({"t": round(time.monotonic() - started, 1), **rss_mb(self.pid)})


# ------------------------------------------------------------------------------------------- one user


def refused_by_gradio(error: Exception) -> bool:
    """Gradio itself refuses a /jump to a node that is not among the choices it last sent this session."""
    return "not in the list of choices" in str(error)


def other(index: int, offset: int) -> int:
    """Another user's index (never the same user, whatever the number of users)."""
    return (index + (offset % (USERS - 1) or 1)) % USERS


def choices(update: Any) -> list[tuple[str, str]]:
    """(label, value) pairs of a dropdown update as gradio_client returns it."""
    return [(str(label), str(value)) for label, value in (update or {}).get("choices", [])]


def candidates(tree: list[tuple[str, str]]) -> list[str]:
    """Node ids of the current node's children in the indented history choices (what /keep accepts)."""

    def depth(label: str) -> int:
        return (len(label) - len(label.lstrip(" "))) // 2  # two spaces a level (ui._tree_choices)

    at = next((i for i, (label, _) in enumerate(tree) if label.endswith("◀ current")), None)
    if at is None:
        return []
    found, d = [], depth(tree[at][0])
    for label, node in tree[at + 1 :]:
        if depth(label) <= d:
            break
        if depth(label) == d + 1:
            found.append(node)
    return found


class User:
    """One simulated browser: its client, its owner id, and everything it has made (to check isolation)."""

    def __init__(self, index: int, round_no: int, url: str, folder: Path, shared: Shared) -> None:
        from gradio_client import Client

        self.index, self.round, self.shared, self.folder = index, round_no, shared, folder
        self.rng = random.Random(SEED + index)  # the same moves in every round
        self.bpm = 70 + 3 * index  # this user's uploads are recognisable by tempo and title
        self.client = Client(url, verbose=False, download_files=False)
        self.owner = ""
        self.piece = ""
        self.pieces: set[str] = set()  # piece ids this user made
        self.nodes: set[str] = set()  # node ids this user has seen in its own history
        self.tree: list[tuple[str, str]] = []
        self.at_seed = True
        self.uploads = 0
        self.latencies: list[tuple[str, float]] = []
        self.errors: list[dict[str, Any]] = []
        self.checks: defaultdict[str, int] = defaultdict(int)

    # ---------------------------------------------------------------------------------------- a request
    def call(self, endpoint: str, *args: Any, expect: tuple[str, ...] | None = None) -> list[Any] | None:
        started = time.perf_counter()
        name = f"{endpoint} (cross-user)" if expect == (REFUSED,) else endpoint
        try:
            out = list(self.client.submit(*args, api_name=f"/{endpoint}").result(timeout=REQUEST_TIMEOUT))
        except Exception as error:  # any client exception is a failed request ...
            self.latencies.append((name, time.perf_counter() - started))
            if expect == (REFUSED,) and refused_by_gradio(error):  # ... but for Gradio's own refusal of a node
                self.checks["cross-user jumps refused by Gradio's choice check"] += 1
                return None
            self.error(endpoint, f"{type(error).__name__}: {error}")
            return None
        self.latencies.append((name, time.perf_counter() - started))
        status = str(out[STATUS])
        wanted = expect or EXPECTED[endpoint]
        if not any(w in status for w in wanted):
            self.error(endpoint, f"status {status!r}, expected one of {wanted}")
        self.check_isolation(endpoint, out)
        return out

    def error(self, endpoint: str, what: str) -> None:
        self.errors.append({"user": self.index, "endpoint": endpoint, "error": what[:300]})

    def check_isolation(self, endpoint: str, out: list[Any]) -> None:
        """The response is this user's page: its owner, exactly its own pieces, nothing another user made."""
        self.checks["responses checked for isolation"] += 1
        if self.owner and out[OWNER] != self.owner:
            self.error(endpoint, f"owner changed from {self.owner} to {out[OWNER]}")
        if endpoint in ("upload", "example") and out[PIECE] and "Read " in str(out[STATUS]):
            self.pieces.add(out[PIECE])
        if out[PIECE] and out[PIECE] not in self.pieces:
            self.error(endpoint, f"the page shows piece {out[PIECE]}, which this user did not make")
        if not (isinstance(out[PIECES], dict) and "choices" in out[PIECES]):
            return  # a generation's last message leaves the piece list as it was (gr.skip)
        listed = {value for _, value in choices(out[PIECES])}
        if listed != self.pieces:
            self.error(endpoint, f"piece list {sorted(listed)} is not this user's own {sorted(self.pieces)}")
        if self.shared.foreign_pieces(self.index, listed):
            self.error(endpoint, "another user's piece is in this user's list")
        if any("user" in label and f"user{self.index:02d}" not in label for label, _ in choices(out[PIECES])):
            self.error(endpoint, "a piece titled after another user's upload is listed")

    def absorb(self, out: list[Any]) -> None:
        """Remember the page: the current piece, its history, whether it is at its seed."""
        self.piece = out[PIECE] or self.piece
        self.tree = choices(out[TREE])
        self.nodes.update(node for _, node in self.tree)
        self.at_seed = bool(self.tree) and self.tree[0][0].endswith("◀ current")
        self.shared.publish(self.index, self.pieces, self.nodes, self.piece, self.tree)

    # ---------------------------------------------------------------------------------------- moves
    def start(self) -> None:
        out = self.call("start", "", "")
        if out:
            self.owner = out[OWNER]

    def upload(self) -> None:
        self.uploads += 1
        base = 48 + self.index + self.uploads  # pitches of this user (and this upload) only
        path = self.folder / f"user{self.index:02d}-round{self.round}-upload{self.uploads}.mid"
        path.write_bytes(
            smf.simple_file([base, base + 2, base + 4, base + 7, base + 9, base + 7, base + 4, base], bpm=self.bpm)
        )
        from gradio_client import handle_file

        out = self.call("upload", self.owner, self.piece, handle_file(str(path)))
        if out:
            if f"{self.bpm} BPM" not in str(out[REPORT]):
                self.error("upload", f"the seed report does not show this user's tempo ({self.bpm} BPM)")
            self.checks["uploads recognised by tempo"] += 1
            self.absorb(out)

    def example(self) -> None:
        from composer.examples import EXAMPLES

        out = self.call("example", self.owner, self.piece, self.rng.choice(EXAMPLES).name)
        if out:
            self.absorb(out)

    def generate(self) -> None:
        out = self.call(
            "generate", self.owner, self.piece, BARS, TAKES, 1.0, 0.95, self.rng.randrange(2**31), False, False, MODEL
        )
        if out:
            made = [out[SLOT + i * SLOT_SIZE + 2] for i in range(TAKES)]
            if not all(made):
                self.error("generate", "a take came back without its MIDI file")
            self.absorb(out)

    def keep(self) -> None:
        node = self.rng.choice(candidates(self.tree))
        out = self.call("keep", self.owner, self.piece, node)
        if out:
            self.absorb(out)

    def undo(self) -> None:
        out = self.call("undo", self.owner, self.piece)
        if out:
            self.absorb(out)

    def next_move(self, step: int) -> str:
        if step == 0 or not self.piece:
            return "upload"
        moves = {"upload": 1.0, "example": 1.0, "generate": 3.5}
        if candidates(self.tree):
            moves["keep"] = 2.5
        if not self.at_seed:
            moves["undo"] = 2.0
        names = sorted(moves)
        return self.rng.choices(names, weights=[moves[n] for n in names])[0]

    def cross_user(self, victim: int) -> None:
        """Keep and jump to another user's take, undo another user's piece: each must be refused."""
        theirs = self.shared.snapshot(victim)
        if theirs is None:
            return
        node = (candidates(theirs["tree"]) or [n for _, n in theirs["tree"]])[0]
        for endpoint, args in (
            ("keep", (self.owner, self.piece, node)),
            ("jump", (self.owner, self.piece, node)),
            ("undo", (self.owner, theirs["piece"])),
        ):
            out = self.call(endpoint, *args, expect=(REFUSED,))
            if out is not None:
                if out[PIECE] and out[PIECE] not in self.pieces:
                    self.error(endpoint, "a cross-user request showed the other user's piece")
                self.checks["cross-user attempts refused (under load)"] += 1

    def run(self, barrier: threading.Barrier) -> None:
        barrier.wait()
        for step in range(REQUESTS):
            if step == REQUESTS // 2:
                self.cross_user(other(self.index, 7))
            getattr(self, self.next_move(step))()


class Shared:
    """What each user has made, for the cross-user moves and the foreign-piece check (read-only between users)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pieces: dict[int, set[str]] = {}
        self.nodes: dict[int, set[str]] = {}
        self.pages: dict[int, dict[str, Any]] = {}

    def publish(self, user: int, pieces: set[str], nodes: set[str], piece: str, tree: list) -> None:
        with self.lock:
            self.pieces[user], self.nodes[user] = set(pieces), set(nodes)
            self.pages[user] = {"piece": piece, "tree": list(tree)}

    def snapshot(self, user: int) -> dict[str, Any] | None:
        with self.lock:
            return dict(self.pages[user]) if user in self.pages else None

    def foreign_pieces(self, user: int, listed: set[str]) -> set[str]:
        with self.lock:
            return listed & set().union(*(p for u, p in self.pieces.items() if u != user))


# ------------------------------------------------------------------------------------------- a round


def page(client: Any, owner: str, piece: str) -> tuple:
    out = client.predict(owner, piece, api_name="/start")
    return out[OWNER], out[PIECE], out[PIECES], out[SUMMARY], out[TREE]


def quiet_checks(users: list[User]) -> tuple[int, list[str]]:
    """With the server quiet: cross-user keep / jump / undo are refused and the victim's page does not change."""
    attempts, problems = 0, []
    for attacker in users[:QUIET_PAIRS]:
        victim = users[other(attacker.index, 3)]
        before = page(victim.client, victim.owner, victim.piece)
        node = (candidates(victim.tree) or [n for _, n in victim.tree])[0]
        for endpoint, args in (
            ("keep", (attacker.owner, attacker.piece, node)),
            ("jump", (attacker.owner, attacker.piece, node)),
            ("undo", (attacker.owner, victim.piece)),
        ):
            attempts += 1
            try:
                out = attacker.client.predict(*args, api_name=f"/{endpoint}")
            except Exception as error:
                if endpoint != "jump" or not refused_by_gradio(error):
                    problems.append(f"user {attacker.index} {endpoint} on user {victim.index}: {error}")
                continue
            if REFUSED not in str(out[STATUS]) or out[OWNER] != attacker.owner or out[PIECE] == victim.piece:
                problems.append(f"user {attacker.index} {endpoint} on user {victim.index}: {out[STATUS]!r}")
        if page(victim.client, victim.owner, victim.piece) != before:
            problems.append(f"user {victim.index}'s page changed after user {attacker.index}'s attempts")
    return attempts, problems


def database_checks(db: Path, users: list[User]) -> tuple[int, list[str]]:
    """Read the SQLite file directly: pieces belong to their makers, seen nodes to the seer's pieces."""
    problems, checked = [], 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        for user in users:
            owned = {row[0] for row in con.execute("SELECT id FROM pieces WHERE owner = ?", (user.owner,))}
            if owned != user.pieces:
                problems.append(f"user {user.index}: database pieces {sorted(owned)} != made {sorted(user.pieces)}")
            for node in user.nodes:
                row = con.execute(
                    "SELECT p.owner FROM nodes n JOIN pieces p ON p.id = n.piece_id WHERE n.id = ?", (node,)
                ).fetchone()
                checked += 1
                if row is None or row[0] != user.owner:
                    problems.append(f"user {user.index}: node {node} belongs to {row and row[0]}")
    return checked, problems


def percentiles(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(float(np.percentile(values, 50)), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
        "max": round(max(values), 3),
    }


def one_round(round_no: int, url: str, pid: int, db: Path, folder: Path) -> dict[str, Any]:
    shared = Shared()
    users = [User(i, round_no, url, folder, shared) for i in range(USERS)]
    for user in users:
        user.start()
    before = rss_mb(pid)
    sampler = Sampler(pid)
    sampler.start()
    barrier = threading.Barrier(USERS)
    threads = [threading.Thread(target=u.run, args=(barrier,), daemon=True) for u in users]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(REQUESTS * REQUEST_TIMEOUT)
    wall = time.monotonic() - started
    sampler.stopped.set()
    sampler.join()
    time.sleep(2)  # let finished requests release what they held
    after = rss_mb(pid)
    quiet_attempts, quiet_problems = quiet_checks(users)
    db_checked, db_problems = database_checks(db, users)
    errors = [e for u in users for e in u.errors]
    if any(t.is_alive() for t in threads):
        errors.append({"user": None, "endpoint": None, "error": "a user thread did not finish"})
    latencies = [x for u in users for x in u.latencies]
    by_endpoint: defaultdict[str, list[float]] = defaultdict(list)
    for endpoint, seconds in latencies:
        by_endpoint[endpoint].append(seconds)
    checks: defaultdict[str, int] = defaultdict(int)
    for u in users:
        for k, v in u.checks.items():
            checks[k] += v
    checks["cross-user attempts refused (quiet, victim's page unchanged)"] = quiet_attempts - len(quiet_problems)
    checks["nodes checked against the database"] = db_checked
    peak = max(sampler.samples, key=lambda s: s["total"]) if sampler.samples else after
    return {
        "round": round_no,
        "wall_seconds": round(wall, 1),
        "requests": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:20],
        "isolation_problems": quiet_problems + db_problems,
        "checks": dict(checks),
        "moves": {k: len(v) for k, v in sorted(by_endpoint.items())},
        "latency_seconds": {
            "overall": percentiles([s for _, s in latencies]),
            **{k: percentiles(v) for k, v in sorted(by_endpoint.items())},
        },
        "rss_mb": {
            "before": before,
            "peak_during": peak,
            "after": after,
            "growth_total": round(after["total"] - before["total"], 1),
            "samples": sampler.samples,
        },
    }


def main() -> None:
    global USERS, REQUESTS, ROUNDS, QUIET_PAIRS
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=USERS)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="folder for the results")
    args = parser.parse_args()
    USERS, REQUESTS, ROUNDS = args.users, args.requests, args.rounds
    QUIET_PAIRS = min(QUIET_PAIRS, USERS)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        port, db = free_port(), folder / "studio.sqlite3"
        server = serve(port, db, folder / "server.log")
        url = f"http://127.0.0.1:{port}/"
        try:
            cold = rss_mb(server.pid)
            # Warm-up: load the model and start the render workers, so the baseline is the server at work.
            from gradio_client import Client

            warm = Client(url, verbose=False, download_files=False)
            owner = warm.predict("", "", api_name="/start")[OWNER]
            piece = warm.predict(owner, "", "hicks-hornpipe", api_name="/example")[PIECE]
            warm.predict(owner, piece, BARS, TAKES, 1.0, 0.95, 1, False, False, MODEL, api_name="/generate")
            warmed = rss_mb(server.pid)
            rounds = [one_round(r + 1, url, server.pid, db, folder) for r in range(ROUNDS)]
        finally:
            server.terminate()
            server.wait(20)
    result = {
        "config": {
            "users": USERS,
            "requests_per_user": REQUESTS,
            "cross_user_attempts_per_user": 3,
            "quiet_cross_user_pairs": QUIET_PAIRS,
            "bars": BARS,
            "takes": TAKES,
            "model": MODEL,
            "rounds": ROUNDS,
            "seed": SEED,
            "cpus": os.cpu_count(),
            "mix": "first move upload; then weighted random: upload 1, example 1, generate 3.5, "
            "keep 2.5 (when the current point has takes), undo 2 (when not at the seed)",
        },
        "rss_mb": {
            "cold_start": cold,
            "after_warm_up": warmed,
            "growth_per_round": [r["rss_mb"]["growth_total"] for r in rounds],
            "growth_per_round_server": [growth(r, "server") for r in rounds],
            "growth_per_round_workers": [growth(r, "children") for r in rounds],
        },
        "errors": sum(r["errors"] for r in rounds),
        "isolation_problems": sum(len(r["isolation_problems"]) for r in rounds),
        "rounds": rounds,
    }
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    write_result(out / "load.json", result)
    atomic_write(out / "reliability-load.md", markdown(result).encode("utf-8"))
    write_reliability(out)  # reliability.md, where the other sections are there too
    print(summary(result))


def growth(one: dict[str, Any], part: str) -> float:
    return round(one["rss_mb"]["after"][part] - one["rss_mb"]["before"][part], 1)


def summary(result: dict[str, Any]) -> str:
    lines = [
        f"errors {result['errors']}, isolation problems {result['isolation_problems']}; RSS MB cold "
        f"{result['rss_mb']['cold_start']['total']}, after warm-up {result['rss_mb']['after_warm_up']['total']}"
    ]
    for r in result["rounds"]:
        lat = r["latency_seconds"]
        lines.append(
            f"round {r['round']}: {r['requests']} requests in {r['wall_seconds']} s, {r['errors']} errors; "
            f"RSS {r['rss_mb']['before']['total']} → {r['rss_mb']['after']['total']} MB "
            f"(peak {r['rss_mb']['peak_during']['total']}); "
            + ", ".join(f"{k} p50 {v['p50']} / p95 {v['p95']} s" for k, v in lat.items())
        )
    return "\n".join(lines)


def markdown(result: dict[str, Any]) -> str:
    c = result["config"]
    endpoints = list(result["rounds"][0]["latency_seconds"])
    head = (
        "| | "
        + " | ".join(f"round {r['round']}" for r in result["rounds"])
        + " |\n|---|"
        + "---:|" * len(result["rounds"])
        + "\n"
    )
    rows: list[tuple[str, Callable[..., str]]] = [  # a row of a round; some bind their key as a default
        ("requests", lambda r: str(r["requests"])),
        ("wall time (s)", lambda r: str(r["wall_seconds"])),
        ("errors", lambda r: str(r["errors"])),
        ("isolation problems", lambda r: str(len(r["isolation_problems"]))),
    ]
    rows += [(f"{k} (checks)", lambda r, k=k: str(r["checks"].get(k, 0))) for k in result["rounds"][0]["checks"]]
    rows += [
        (
            f"{e}: p50 / p95 (s), n",
            lambda r, e=e: (
                f"{r['latency_seconds'][e]['p50']} / {r['latency_seconds'][e]['p95']}, {r['latency_seconds'][e]['n']}"
                if e in r["latency_seconds"]
                else "—"
            ),
        )
        for e in endpoints
    ]
    rows += [
        (
            "RSS before / peak / after (MB)",
            lambda r: (
                f"{r['rss_mb']['before']['total']} / "
                f"{r['rss_mb']['peak_during']['total']} / "
                f"{r['rss_mb']['after']['total']}"
            ),
        ),
        ("RSS growth in the round (MB)", lambda r: str(r["rss_mb"]["growth_total"])),
    ]
    table = head + "".join(f"| {name} | " + " | ".join(f(r) for r in result["rounds"]) + " |\n" for name, f in rows)
    m = result["rss_mb"]
    return (
        "## The studio under load\n\n"
        f"{c['users']} simulated users at once, each its own `gradio_client.Client` over loopback and its own owner, "
        f"{c['requests_per_user']} requests each in a seeded random mix of `/upload` (a MIDI file only that user has), "
        f"`/example`, `/generate` ({c['bars']} bars × {c['takes']} takes, shipped model), `/keep` and `/undo`, plus "
        f"{c['cross_user_attempts_per_user']} attempts per user to keep / jump to / undo another user's work, which "
        f"must be refused; after each round, with the server quiet, {c['quiet_cross_user_pairs']} users make the same "
        "three attempts on another user's piece, whose page is compared before and after, and the SQLite file is "
        "read directly (every piece and every node a user saw belongs to that user). "
        f"{c['rounds']} identical rounds with fresh users, on {c['cpus']} CPU cores shared with other jobs. RSS is "
        "the server's plus its render workers' (VmRSS from /proc, sampled every second), measured after a warm-up "
        "request.\n\n"
        f"**{result['errors']} errors, {result['isolation_problems']} isolation problems.** RSS: "
        f"{m['cold_start']['total']} MB at start, {m['after_warm_up']['total']} MB after warm-up; growth per "
        f"round {' / '.join(f'{g} MB' for g in m['growth_per_round'])} (the server process "
        f"{' / '.join(str(g) for g in m['growth_per_round_server'])}, the render workers "
        f"{' / '.join(str(g) for g in m['growth_per_round_workers'])}).\n\n"
        + table
        + "\nLatency is per request as the client sees it, queueing included: each endpoint runs at most two "
        "requests at a time (generation too) on two cores, so with 20 users a generation mostly waits its turn.\n\n"
        "Where the server's growth goes (two diagnostic runs, not repeated by this script): with `MALLOC_ARENA_MAX=2` "
        "in the server's environment the server grew 64 / 25 / 40 MB in the three rounds instead of 174 / 77 / 39 — "
        "a large part is glibc's per-thread malloc arenas, which level off; and 200 fresh sessions that only "
        "`/start` and `/example` grew the server by about 0.26 MB each, while 100 more requests in one session grew "
        "it by 0.1 MB in all: Gradio keeps each session's state (updated components, `gr.State`) in memory for up "
        "to `state_session_capacity` sessions (10,000 by default), so RSS climbs with the number of distinct "
        "sessions until that cap.\n\n"
        "Rerun: `.venv/bin/python bench/load.py` (about 3 minutes here; `--users`, `--requests` and `--rounds` "
        "scale it; writes `bench/results/load.json` and this file).\n"
    )


if __name__ == "__main__":
    main()
