"""Hostile input, the full run: every file of the generated corpus through `composer inspect`, `composer generate`
and the studio's upload handler, plus ≥ 10,000 fuzz cases of the reader.

The claim checked: each file either works or is refused with one clear sentence, within 2 s and 1 GB, never
with a traceback or a hang.  Corpus: ``composer/testing/hostile.py`` (≥ 300 files, built by rules, seeded).

How each file is run:

* In a worker process that handles one (file, path) at a time, so that time and memory are per file: before
  each call the kernel's peak-RSS mark is reset (``/proc/self/clear_refs``), after it ``VmHWM`` is read; the
  figure reported is the peak above the RSS before the call (and the absolute peak).  A call that does not
  answer within ``HANG_SECONDS`` is a hang: the worker is killed and a fresh one takes the next file.
* ``inspect`` and ``generate`` are ``composer.cli.main([...])`` in the worker's main thread, as the command line
  runs (``generate --bars 1 --variations 1``; the shipped model is loaded once per worker and handed to every
  call, so the figure is reading + generating + writing, not the model load, which is reported apart).
* ``upload`` is ``StudioApp.upload`` run in a separate thread, as Gradio runs handlers, with render worker
  processes as the served studio has (it reads seeds in one of them, where the SIGALRM parse time limit holds;
  it cannot in a thread).  Memory counts that worker's peak too.
* Outcome: accepted; refused (the sentence is judged by ``hostile.sentence_problem``); or crashed: an exception
  other than InputError escaped, a traceback was printed, the exit code was neither 0 nor 2, or the worker died.

The fuzz: hypothesis drives ``read_midi`` on mutated good files, random structured SMF bytes and random bytes
after an ``MThd``; each case must give a Piece or an InputError, never another exception, within 2 s.

    python bench/hostile.py                       # writes bench/results/hostile.json and reliability-hostile.md
    python bench/hostile.py --fuzz 300 --only near_caps,tempo   # a quick look
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import platform
import re
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from composer.atomic import atomic_write
from composer.testing import hostile, smf
from composer.testing.benchmark import write_reliability, write_result

ROOT = Path(__file__).resolve().parent.parent

PATHS = ("inspect", "generate", "upload")
LIMIT_SECONDS = 2.0
LIMIT_MB = 1024.0
RENDER_WORKERS = 2  # as ui.default_app gives the served studio on this machine
HANG_SECONDS = 60.0  # a call still running after this is a hang (killed); anything past LIMIT_SECONDS is too slow
FUZZ_CASES = 10_000
RESULTS = ROOT / "bench" / "results"


# ------------------------------------------------------------------------------------------ the worker


def _status_kb(key: str, pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def _reset_peak(pid: int | str = "self") -> bool:
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)
        return True
    except OSError:
        return False


def _message_after(prefix: str, text: str) -> str:
    for line in text.splitlines():
        if line.startswith(prefix):
            return line[len(prefix) :]
    return ""


class _Worker:
    """Runs one (file, path) at a time; lives in its own process (see :func:`worker_main`)."""

    def __init__(self, scratch: Path) -> None:
        import torch

        torch.set_num_threads(1)  # as the studio does (ui.serve); the machine has 2 shared cores
        import composer.generate
        from composer.studio import desk
        from composer.studio.store import Store

        started = time.perf_counter()
        self.composer = composer.generate.Composer()
        self.model_load_seconds = time.perf_counter() - started
        composer.generate.Composer = lambda *args, **kwargs: self.composer  # type: ignore[misc,assignment]
        self.scratch = scratch
        self.store = Store(scratch / "studio.sqlite3")
        # Render workers as the served studio has them (ui.default_app): seeds are read in one of those processes.
        self.studio = desk.StudioApp(self.store, scratch / "files", render_workers=RENDER_WORKERS)
        self.can_reset_peak = _reset_peak()

    def _pool_pids(self) -> list[int]:
        pool = getattr(self.studio, "pool", None)
        return list(getattr(pool, "_processes", None) or {})

    def run(self, path: str, kind: str) -> dict[str, Any]:
        from composer.cli import main

        out, err = io.StringIO(), io.StringIO()
        result: dict[str, Any] = {"exit": None, "message": "", "error": ""}
        owner = self.studio.start(None).owner if kind == "upload" else ""
        gen_out = self.scratch / "generate-out"
        shutil.rmtree(gen_out, ignore_errors=True)
        _reset_peak()
        rss_before = _status_kb("VmRSS")
        helpers = {pid: _status_kb("VmRSS", pid) for pid in self._pool_pids() if kind == "upload" and _reset_peak(pid)}
        started = time.perf_counter()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                if kind == "inspect":
                    result["exit"] = main(["inspect", path])
                elif kind == "generate":
                    result["exit"] = main(
                        ["generate", path, "--out", str(gen_out), "--bars", "1", "--variations", "1", "--quiet"]
                    )
                else:
                    box: dict[str, Any] = {}

                    def handler() -> None:
                        try:
                            view = self.studio.upload(owner, None, path)
                            box["view"] = view
                        except BaseException:
                            box["error"] = traceback.format_exc()

                    thread = threading.Thread(target=handler, name="gradio-like-handler")
                    thread.start()
                    thread.join()
                    if "error" in box:
                        raise RuntimeError(box["error"])
                    view = box["view"]
                    result["exit"] = 0 if view.piece_id else 2
                    result["message"] = view.status
                    if not view.piece_id and self.store.pieces(owner):
                        # Refused, yet stored: the page opens on the newest piece, so see whether it still loads.
                        try:
                            self.studio.start(owner)
                            after = "the page still loads"
                        except Exception as error:
                            after = f"the owner's page no longer loads: start() raises {type(error).__name__}: {error}"
                        result["error"] = f"refused ({view.status}), but the piece was stored anyway; {after}"
        except BaseException:
            result["error"] = traceback.format_exc()
        result["seconds"] = time.perf_counter() - started
        result["peak_kb"] = _status_kb("VmHWM")
        result["extra_kb"] = max(0, result["peak_kb"] - rss_before) if self.can_reset_peak else None
        for pid, before in helpers.items():  # the render worker that read the seed, if its peak was higher
            with contextlib.suppress(OSError):
                peak = _status_kb("VmHWM", pid)
                if result["extra_kb"] is not None and peak - before > result["extra_kb"]:
                    result["extra_kb"], result["peak_kb"] = peak - before, peak
        text = out.getvalue() + err.getvalue()
        if kind in ("inspect", "generate") and result["exit"] == 2:
            result["message"] = _message_after("refused: ", err.getvalue()) or _message_after("error: ", err.getvalue())
        if kind == "generate" and result["exit"] == 0:
            takes = list(gen_out.glob("*/take-01.mid"))
            if len(takes) != 1:
                result["error"] = f"exit 0 but {len(takes)} take files were written"
        result["traceback_printed"] = "Traceback (most recent call last)" in text
        result["warnings_printed"] = sorted(set(re.findall(r"\b(\w+Warning): ", text)))
        return result


def worker_main(result_fd: int, scratch: str) -> None:
    """Read ``kind\\tpath`` lines on stdin; write one JSON line per task to ``result_fd``."""
    out = os.fdopen(result_fd, "w", buffering=1)
    worker = _Worker(Path(scratch))
    out.write(
        json.dumps(
            {"ready": True, "model_load_seconds": worker.model_load_seconds, "peak_reset": worker.can_reset_peak}
        )
        + "\n"
    )
    for line in sys.stdin:
        kind, path = line.rstrip("\n").split("\t", 1)
        out.write(json.dumps(worker.run(path, kind)) + "\n")


class WorkerProcess:
    """The parent's handle on a worker: send a task, wait for its answer with a hang guard."""

    def __init__(self, scratch: Path, log: Path) -> None:
        self.scratch = scratch
        self.log = log
        self.proc: subprocess.Popen[str] | None = None
        self.model_load_seconds = 0.0
        self.peak_reset = False
        self.starts = 0

    def start(self) -> None:
        read_fd, write_fd = os.pipe()
        cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(write_fd), str(self.scratch)]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                cmd, stdin=subprocess.PIPE, stdout=log, stderr=log, text=True, pass_fds=(write_fd,), cwd=ROOT
            )
        os.close(write_fd)
        self.results = os.fdopen(read_fd, "r")
        self.starts += 1
        hello = self._read(300.0)
        if hello is None or not hello.get("ready"):
            raise RuntimeError(f"the worker did not start; see {self.log}")
        self.model_load_seconds = hello["model_load_seconds"]
        self.peak_reset = hello["peak_reset"]

    def _read(self, timeout: float) -> dict[str, Any] | None:
        ready, _, _ = select.select([self.results], [], [], timeout)
        if not ready:
            return None
        line = self.results.readline()
        return json.loads(line) if line else {"died": True}

    def run(self, kind: str, path: Path) -> dict[str, Any]:
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        assert self.proc is not None and self.proc.stdin is not None
        started = time.perf_counter()
        self.proc.stdin.write(f"{kind}\t{path}\n")
        self.proc.stdin.flush()
        answer = self._read(HANG_SECONDS)
        if answer is None or answer.get("died"):
            hung = answer is None
            self.stop()
            return {
                "exit": None,
                "message": "",
                "seconds": time.perf_counter() - started,
                "peak_kb": None,
                "extra_kb": None,
                "traceback_printed": False,
                "warnings_printed": [],
                "error": f"no answer within {HANG_SECONDS:g} s (killed)"
                if hung
                else f"the worker process died (exit {self.proc_returncode})",
            }
        return answer

    proc_returncode: int | None = None

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None and self.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()  # end of tasks: the worker (and its render workers) exit
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(10)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc_returncode = self.proc.returncode
            self.results.close()
            self.proc = None


# ------------------------------------------------------------------------------------------ judging


def judge(kind: str, r: dict[str, Any]) -> tuple[str, str | None]:
    """(outcome, problem): outcome accepted / refused / crashed / hung; problem a short note or None."""
    if r.get("error", "").startswith("no answer within"):
        return "hung", r["error"]
    if r.get("error") or r.get("traceback_printed") or r.get("exit") not in (0, 2):
        return "crashed", (r.get("error") or f"exit {r.get('exit')}, traceback printed")[-3000:]
    if r["exit"] == 0:
        return "accepted", None
    problem = hostile.sentence_problem(r["message"])
    return "refused", (f"unclear refusal ({problem}): {r['message']}" if problem else None)


def _typical_read_seconds() -> float:
    from composer.midi_io import read_midi

    data = smf.simple_file([60, 62, 64, 65, 67, 69, 71, 72] * 4)
    best = float("inf")
    for _ in range(20):
        started = time.perf_counter()
        read_midi(data, name="typical.mid")
        best = min(best, time.perf_counter() - started)
    return best


# ------------------------------------------------------------------------------------------ the fuzz


def run_fuzz(cases: int) -> dict[str, Any]:
    """``cases`` hypothesis examples of read_midi on hostile bytes; every failure is collected, not just the
    first (hypothesis is told not to shrink or stop)."""
    from hypothesis import HealthCheck, Phase, given, settings

    from composer.errors import InputError
    from composer.midi_io import read_midi
    from composer.studio.seed import read_for_storing

    tally: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    examples: dict[str, list[tuple[int, str, str]]] = {}  # kind → the shortest inputs that show it
    worst_seconds, worst_head = 0.0, ""

    def attempt(call: Any, accepted: str, refused: str, who: str) -> tuple[Any, str | None]:
        """Run ``call``; count it as accepted, refused (judging the sentence) or crashed → (result, problem)."""
        try:
            result = call()
        except InputError as error:
            tally[refused] += 1
            unclear = hostile.sentence_problem(str(error))
            if unclear:
                tally["unclear"] += 1
                return None, f"unclear refusal{who} ({unclear}): {error}"
            return None, None
        except Exception:
            tally["crashed"] += 1
            return None, f"{who.strip() or 'read_midi'} crashed: " + traceback.format_exc(limit=4)
        tally[accepted] += 1
        return result, None

    @settings(
        max_examples=cases,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(hostile.fuzz_bytes())
    def case(data: bytes) -> None:
        nonlocal worst_seconds, worst_head
        started = time.perf_counter()
        piece, problem = attempt(lambda: read_midi(data, name="fuzz.mid"), "piece", "refused", "")
        if piece is not None:
            # What the studio then does with it: store the piece written out again, or refuse it.
            copy_problem = hostile.stored_copy_problem(piece, same_notes=True)
            if copy_problem and "notes instead of" in copy_problem:
                tally["stored_copy_lossy"] += 1
            elif copy_problem:
                tally["stored_copy"] += 1
            _, problem = attempt(
                lambda: read_for_storing(data, "fuzz.mid"), "studio_stores", "studio_refuses", " by the studio"
            )
        seconds = time.perf_counter() - started
        if seconds > worst_seconds:
            worst_seconds, worst_head = seconds, data[:64].hex()
        if seconds > LIMIT_SECONDS:
            tally["over_2s"] += 1
            problem = problem or f"took {seconds:.2f} s"
        if problem:
            # The kind of failure: its last line with the numbers blurred.
            kind = re.sub(r"\d[\d,.]*", "N", problem.strip().splitlines()[-1])[:160]
            kinds[kind] += 1
            shortest = examples.setdefault(kind, [])
            if any(hexed == data.hex() for _, _, hexed in shortest):
                return
            shortest.append((len(data), problem[-1500:], data.hex()))
            shortest.sort(key=lambda e: e[0])
            del shortest[2:]

    started = time.perf_counter()
    case()
    total = sum(tally[k] for k in ("piece", "refused", "crashed"))
    return {
        "cases": total,
        "pieces": tally["piece"],
        "refused": tally["refused"],
        "crashed": tally["crashed"],
        "unclear_refusals": tally["unclear"],
        "stored_copy_failures": tally["stored_copy"],
        "stored_copy_loses_notes": tally["stored_copy_lossy"],
        "studio_stores": tally["studio_stores"],
        "studio_refuses": tally["studio_refuses"],
        "over_2s": tally["over_2s"],
        "worst_seconds": round(worst_seconds, 4),
        "worst_case_head_hex": worst_head,
        "seconds": round(time.perf_counter() - started, 1),
        "failures": [
            {
                "kind": kind,
                "count": n,
                "examples": [
                    {"problem": problem, "length": length, "bytes_hex": hexed}
                    for length, problem, hexed in examples[kind]
                ],
            }
            for kind, n in kinds.most_common()
        ],
    }


def thread_guard_check(files: dict[str, Path]) -> dict[str, Any]:
    """Does read_midi's parse time limit hold where the studio calls it (a worker thread)?  Lower the limit to
    50 ms and read a 39,990-note file (a 1 s parse here) in the main thread and in another thread."""
    import composer.midi_io as midi_io
    from composer.errors import InputError

    data = files["near_caps-000-39990-notes.mid"].read_bytes()

    def attempt() -> tuple[str, float]:
        started = time.perf_counter()
        try:
            piece = midi_io.read_midi(data, name="big.mid")
            outcome = f"read {len(piece.notes)} notes"
        except InputError as error:
            outcome = f"refused: {error}"
        return outcome, round(time.perf_counter() - started, 3)

    saved = midi_io.PARSE_SECONDS
    midi_io.PARSE_SECONDS = 0.05
    try:
        main_outcome = attempt()
        box: list[tuple[str, float]] = []
        thread = threading.Thread(target=lambda: box.append(attempt()))
        thread.start()
        thread.join()
    finally:
        midi_io.PARSE_SECONDS = saved
    return {
        "parse_limit_patched_to_seconds": 0.05,
        "main_thread": main_outcome,
        "other_thread": box[0],
        "guard_holds_in_threads": box[0][0].startswith("refused"),
    }


# ------------------------------------------------------------------------------------------ the run


def _row_mb(kb: int | None) -> float | None:
    return None if kb is None else round(kb / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fuzz", type=int, default=FUZZ_CASES, help="fuzz cases (hypothesis examples)")
    parser.add_argument("--only", help="comma-separated categories (a partial run writes no results)")
    parser.add_argument("--paths", default=",".join(PATHS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=Path, help="also write every (file, path) row as JSON here")
    args = parser.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    partial = bool(args.only) or paths != list(PATHS) or args.fuzz < FUZZ_CASES

    run_started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="composer-hostile-"))
    try:
        started = time.perf_counter()
        listing = hostile.generate(tmp / "corpus", seed=args.seed)
        generation_seconds = time.perf_counter() - started
        files = {name: tmp / "corpus" / name for name, _ in listing}
        if args.only:
            keep = set(args.only.split(","))
            listing = [(n, c) for n, c in listing if c in keep]
        reference = _typical_read_seconds()
        print(
            f"corpus: {len(listing)} files in {generation_seconds:.1f} s; typical seed read in "
            f"{reference * 1000:.2f} ms",
            flush=True,
        )

        (tmp / "scratch").mkdir()
        worker = WorkerProcess(tmp / "scratch", tmp / "worker.log")
        rows: list[dict[str, Any]] = []
        try:
            for i, (name, category) in enumerate(listing):
                for kind in paths:
                    r = worker.run(kind, files[name])
                    outcome, problem = judge(kind, r)
                    if outcome == "accepted" and r["seconds"] > LIMIT_SECONDS:
                        problem = f"accepted but took {r['seconds']:.2f} s"
                    elif outcome == "refused" and r["seconds"] > LIMIT_SECONDS and not problem:
                        problem = f"refused but took {r['seconds']:.2f} s"
                    if r.get("extra_kb") and r["extra_kb"] / 1024 > LIMIT_MB:
                        problem = (problem or "") + f" used {r['extra_kb'] / 1024:.0f} MB"
                    rows.append(
                        {
                            "file": name,
                            "category": category,
                            "path": kind,
                            "outcome": outcome,
                            "seconds": round(r["seconds"], 4),
                            "extra_mb": _row_mb(r.get("extra_kb")),
                            "peak_mb": _row_mb(r.get("peak_kb")),
                            "message": r.get("message", ""),
                            "warnings": r.get("warnings_printed", []),
                            "problem": problem,
                        }
                    )
                    if problem:
                        tail = " | ".join(problem.strip().splitlines()[-2:])
                        print(f"  {kind:8} {name}: {outcome}, {r['seconds']:.2f} s — {tail[:300]}", flush=True)
                if (i + 1) % 50 == 0:
                    print(f"{i + 1}/{len(listing)} files, {time.perf_counter() - run_started:.0f} s", flush=True)
        finally:
            worker.stop()
        worker_log = (tmp / "worker.log").read_text(errors="replace")

        guard = thread_guard_check(files)
        print(
            f"parse time limit in a worker thread: {'holds' if guard['guard_holds_in_threads'] else 'NOT applied'}"
            f" (main thread: {guard['main_thread'][0][:60]}…; other thread: {guard['other_thread'][0][:40]})"
        )
        print(f"fuzz: {args.fuzz} cases …", flush=True)
        fuzz = run_fuzz(args.fuzz)
        print(
            f"fuzz: {fuzz['cases']} cases, {fuzz['pieces']} read, {fuzz['refused']} refused, {fuzz['crashed']} "
            f"crashed, {fuzz['unclear_refusals']} unclear refusals, worst {fuzz['worst_seconds']:.3f} s"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    if args.rows:
        args.rows.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n")
    result = summarize(rows, listing, paths, generation_seconds, reference, worker, guard, fuzz, worker_log)
    result["run_seconds"] = round(time.perf_counter() - run_started)
    print_summary(result)
    text = markdown(result)
    if partial:
        print("(partial run: results not written)")
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    write_result(RESULTS / "hostile.json", result)
    atomic_write(RESULTS / "reliability-hostile.md", text.encode("utf-8"))
    write_reliability(RESULTS)
    print(f"wrote {RESULTS / 'hostile.json'}, {RESULTS / 'reliability-hostile.md'} and reliability.md")


def summarize(
    rows: list[dict[str, Any]],
    listing: list[tuple[str, str]],
    paths: list[str],
    generation_seconds: float,
    reference: float,
    worker: WorkerProcess,
    guard: dict[str, Any],
    fuzz: dict[str, Any],
    worker_log: str,
) -> dict[str, Any]:
    outcomes = ("accepted", "refused", "crashed", "hung")
    per_path: dict[str, Any] = {}
    for kind in paths:
        mine = [r for r in rows if r["path"] == kind]
        counts = collections.Counter(r["outcome"] for r in mine)
        slowest = max(mine, key=lambda r: r["seconds"])
        hungriest = max(mine, key=lambda r: r["extra_mb"] or 0)
        per_path[kind] = {
            "tried": len(mine),
            **{o: counts[o] for o in outcomes},
            "unclear_refusals": sum(1 for r in mine if r["problem"] and r["problem"].startswith("unclear")),
            "over_2s": sum(1 for r in mine if r["seconds"] > LIMIT_SECONDS),
            "over_1GB": sum(1 for r in mine if (r["extra_mb"] or 0) > LIMIT_MB),
            "printed_python_warnings": sum(1 for r in mine if r["warnings"]),
            "worst_seconds": {"file": slowest["file"], "seconds": slowest["seconds"], "outcome": slowest["outcome"]},
            "worst_extra_mb": {
                "file": hungriest["file"],
                "mb": hungriest["extra_mb"],
                "peak_rss_mb": hungriest["peak_mb"],
            },
            "max_peak_rss_mb": max((r["peak_mb"] or 0) for r in mine),
            "slowest": [
                {"file": r["file"], "seconds": r["seconds"], "outcome": r["outcome"]}
                for r in sorted(mine, key=lambda r: -r["seconds"])[:10]
            ],
        }
    per_category: dict[str, Any] = {}
    for category in hostile.CATEGORIES:
        mine = [r for r in rows if r["category"] == category]
        if not mine:
            continue
        per_category[category] = {"files": sum(1 for _, c in listing if c == category)}
        for kind in paths:
            counts = collections.Counter(r["outcome"] for r in mine if r["path"] == kind)
            per_category[category][kind] = {o: counts[o] for o in outcomes if counts[o]}
            per_category[category][kind]["worst_seconds"] = max(r["seconds"] for r in mine if r["path"] == kind)
    messages: collections.Counter[str] = collections.Counter()
    for r in rows:
        if r["outcome"] == "refused":
            messages[r["message"].replace(r["file"], "FILE")] += 1
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other jobs)",
        "python": platform.python_version(),
        "limits": {"seconds": LIMIT_SECONDS, "extra_mb": LIMIT_MB, "hang_seconds": HANG_SECONDS},
        "corpus": {
            "files": len(listing),
            "generation_seconds": round(generation_seconds, 2),
            "categories": dict(collections.Counter(c for _, c in listing)),
        },
        "reference_typical_read_seconds": round(reference, 5),
        "model_load_seconds": round(worker.model_load_seconds, 3),
        "worker_starts": worker.starts,
        "memory_method": "per-call peak RSS above the RSS before the call (VmHWM reset through /proc/self/clear_refs)"
        if worker.peak_reset
        else "ru_maxrss (no per-call reset available): extra_mb not measured",
        "paths": per_path,
        "categories": per_category,
        "problems": _problems(rows),
        "refusal_messages": [{"count": n, "message": m} for m, n in messages.most_common()],
        "python_warnings_printed": sorted({f"{r['path']}: {w}" for r in rows for w in r["warnings"]}),
        "worker_log_tracebacks": worker_log.count("Traceback (most recent call last)"),
        "thread_guard": guard,
        "fuzz": fuzz,
    }


def _problems(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per file and problem, naming the paths that show it (a refusal sentence is the same on all)."""
    grouped: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        if not r["problem"]:
            continue
        crashed = r["outcome"] in ("crashed", "hung")
        text = r["problem"][-1500:] if crashed else r["problem"][:400]
        key = (r["file"], text if crashed or "took" in text else re.sub(r"^(unclear refusal \([^)]*\)).*", r"\1", text))
        entry = grouped.setdefault(
            key, {"file": r["file"], "category": r["category"], "outcome": r["outcome"], "problem": text, "paths": {}}
        )
        entry["paths"][r["path"]] = {"seconds": r["seconds"], "extra_mb": r["extra_mb"]}
    return list(grouped.values())


def print_summary(result: dict[str, Any]) -> None:
    print(
        f"\n{'path':9} {'tried':>5} {'accepted':>8} {'refused':>7} {'crashed':>7} {'hung':>4} {'unclear':>7} "
        f"{'>2 s':>4} {'worst s':>8} {'worst MB':>8}"
    )
    for kind, p in result["paths"].items():
        print(
            f"{kind:9} {p['tried']:>5} {p['accepted']:>8} {p['refused']:>7} {p['crashed']:>7} {p['hung']:>4} "
            f"{p['unclear_refusals']:>7} {p['over_2s']:>4} {p['worst_seconds']['seconds']:>8.2f} "
            f"{p['worst_extra_mb']['mb'] or 0:>8.0f}"
        )
    f = result["fuzz"]
    print(
        f"fuzz: {f['cases']} cases, {f['crashed']} crashed, {f['unclear_refusals']} unclear, worst "
        f"{f['worst_seconds']:.3f} s; of {f['pieces']} read the studio stores {f['studio_stores']}, refuses "
        f"{f['studio_refuses']} ({f['stored_copy_failures']} whose stored copy would not read back)"
    )


def markdown(result: dict[str, Any]) -> str:
    paths = list(result["paths"])
    lines = [
        "## Hostile input",
        "",
        f"A corpus of {result['corpus']['files']} files generated by `composer/testing/hostile.py` (seeded, built by "
        "rules, not picked to pass; categories below), each run through `composer inspect`, `composer generate "
        "--bars 1 --variations 1` and the studio's upload handler (in a separate thread, as Gradio calls it, with "
        f"{RENDER_WORKERS} render worker processes as served), one file at a time in a worker process. "
        f"Limits: {LIMIT_SECONDS:g} s and {LIMIT_MB / 1024:g} GB per file "
        f"(memory: peak RSS above the RSS before the call); a call with no answer after {HANG_SECONDS:g} s counts "
        f"as a hang. Machine: {result['machine']}; a typical 32-note seed reads in "
        f"{result['reference_typical_read_seconds'] * 1000:.2f} ms in the same run, the model loads in "
        f"{result['model_load_seconds']:.2f} s (once per worker, not counted per file).",
        "",
        "| path | tried | accepted | refused | crashed | hung | unclear refusals | over 2 s | worst time | "
        "worst memory |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for kind, p in result["paths"].items():
        w, m = p["worst_seconds"], p["worst_extra_mb"]
        lines.append(
            f"| {kind} | {p['tried']} | {p['accepted']} | {p['refused']} | {p['crashed']} | {p['hung']} | "
            f"{p['unclear_refusals']} | {p['over_2s']} | {w['seconds']:.2f} s (`{w['file']}`) | "
            f"{m['mb'] or 0:.0f} MB (`{m['file']}`) |"
        )
    f = result["fuzz"]
    lines += [
        "",
        f"Fuzz of `read_midi` (hypothesis: mutated good files, random structured SMF, well-formed files with extreme "
        f"values, random bytes): {f['cases']:,} cases, {f['pieces']:,} read, {f['refused']:,} refused, "
        f"{f['crashed']} crashed, {f['unclear_refusals']} unclear refusals, {f['over_2s']} over 2 s; worst "
        f"{f['worst_seconds']:.3f} s. Of the pieces read, the studio (`read_for_storing`) stores "
        f"{f['studio_stores']:,} and refuses {f['studio_refuses']:,}: {f['stored_copy_failures']} because their copy "
        f"written at 480 ticks a beat would not read back, {f['studio_refuses'] - f['stored_copy_failures']} for "
        "other reasons (the studio's seed note limit); "
        f"{f['stored_copy_loses_notes']} stored copies lost notes shorter than 1/480 beat.",
        "",
        "| category | files | " + " | ".join(f"{k}: refused / accepted" for k in paths) + " | crashed or hung | "
        "worst time |",
        "|---|---:|" + "---|" * len(paths) + "---:|---:|",
    ]
    for category, c in result["categories"].items():
        cells = [f"{c.get(k, {}).get('refused', 0)} / {c.get(k, {}).get('accepted', 0)}" for k in paths]
        bad = sum(c.get(k, {}).get(o, 0) for k in paths for o in ("crashed", "hung"))
        worst = max(c.get(k, {}).get("worst_seconds", 0) for k in paths)
        lines.append(f"| {category} | {c['files']} | " + " | ".join(cells) + f" | {bad or ''} | {worst:.2f} s |")
    g = result["thread_guard"]
    lines += [
        "",
        "What fails (each file and path is listed under `problems` in `bench/results/hostile.json`, every distinct "
        "refusal sentence under `refusal_messages`):",
        "",
    ]
    crashes = sorted(
        {(p["file"], ", ".join(p["paths"])) for p in result["problems"] if p["outcome"] in ("crashed", "hung")}
    )
    if crashes:
        lines.append("- Crashed or hung: " + ", ".join(f"`{file}` ({paths})" for file, paths in crashes) + ".")
    slow = sorted(
        (
            (v["seconds"], p["file"], path)
            for p in result["problems"]
            for path, v in p["paths"].items()
            if v["seconds"] > LIMIT_SECONDS
        ),
        reverse=True,
    )
    if slow:
        lines.append(
            "- Over 2 s: " + ", ".join(f"`{file}` {path} {seconds:.1f} s" for seconds, file, path in slow) + "."
        )
    leaks = collections.Counter(
        m.group(1)
        for p in result["problems"]
        if p["problem"].startswith("unclear")
        for m in [re.search(r"\((\w+: [^)]{0,40})", p["problem"].split("): ", 1)[-1])]
        if m
    )
    if leaks:
        lines.append(
            f"- Refusals that name a parser exception instead of the problem ({sum(leaks.values())} files): "
            + "; ".join(f"`{k}` ×{n}" for k, n in leaks.most_common())
            + "."
        )
    if not g["guard_holds_in_threads"]:
        lines.append(
            f"- `read_midi`'s parse time limit (SIGALRM) does not apply outside the main thread: with the "
            f"limit lowered to {g['parse_limit_patched_to_seconds']:g} s, a 39,990-note file is refused in "
            f"the main thread after {g['main_thread'][1]:.2f} s and read in another thread in "
            f"{g['other_thread'][1]:.2f} s. The served studio reads seeds in a render worker process (its "
            "main thread), where the limit holds; a `StudioApp` without render workers reads them in the "
            "handler's thread, without it."
        )
    lines += [
        "",
        f"Rerun: `.venv/bin/python bench/hostile.py` ({result['run_seconds'] / 60:.0f} minutes here; writes "
        "`bench/results/hostile.json` and this section; `--only CATEGORY,…` and `--fuzz N` for a quick look, which "
        "writes nothing). CI runs `tests/test_hostile.py`: the whole corpus through inspect and upload, a sample "
        "through generate, 300 fuzz cases of the reader and 300 of the studio's stored copy.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker_main(int(sys.argv[2]), sys.argv[3])
    else:
        main()
