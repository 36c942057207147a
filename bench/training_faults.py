"""Training faults: ``kill -9`` then ``--resume``; a full or unwritable ``--out``; truncated checkpoints.

    python bench/training_faults.py [--seed 0] [--random 5] [--epochs 6]     # about 4 minutes on 2 busy cores

A tiny model (1 layer × 32) trains on a real slice of the corpus (the 349 chorale soprano lines of midi_data/ with
their split, copied to a temporary folder) for a few epochs.  One uninterrupted run is the reference; then each
scenario runs the same command, kills it with SIGKILL (at a seeded random step, during start-up, right after a
checkpoint lands, or at a precise point inside a checkpoint write), resumes it with ``--resume`` (killed again in
some scenarios) until it finishes, and compares the final weights, optimizer state and metrics with the reference.
Every command runs through this file's ``--child`` mode, which only observes (one line per optimizer step into a
progress file) or kills its own process with SIGKILL at the chosen point; it changes no computation.

Then the output folder is broken: a real full disk (a small tmpfs, where ``unshare -m`` may mount one), a real
write error from the kernel (RLIMIT_FSIZE), a full disk while best.safetensors is written (the exception
safetensors raises on a real full disk, injected), an --out under a regular file, an --out on a read-only mount;
and real checkpoints are cut at several offsets and fed to load_model, ``train --resume`` and ``generate --model``.
Results: bench/results/training_faults.json and the Markdown section bench/results/reliability-training.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import errno
import io
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from composer.atomic import atomic_write
from composer.testing.benchmark import write_reliability, write_result
from composer.testing.training import cli_train_args

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
COLLECTION = "bach-soprano"  # 349 short real melodies: a real slice that trains in seconds
ENOSPC_TEXT = "Error while serializing: I/O error: No space left on device (os error 28)"  # safetensors, full tmpfs


# ------------------------------------------------------------------------------ the child: composer train, observed


def child(argv: list[str]) -> int:
    """``composer`` with two optional hooks (environment): FAULT_PROGRESS, a file that gets each optimizer step's
    index as it starts; FAULT_KILL, ``WHERE:NAME:N`` — SIGKILL this process at the N-th write of NAME.safetensors:
    ``mid-write`` (the temporary file half written), ``before-replace`` (written and synced, not yet in place),
    ``before-json`` (in place, its JSON copy not yet), or ``enospc`` (raise what safetensors raises on a full disk).
    """
    import composer.train as train_module
    from composer import atomic
    from composer.cli import main

    progress = os.environ.get("FAULT_PROGRESS")
    if progress:
        fd = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        real_lr_at = train_module.lr_at

        def lr_at(step: int, total: int, cfg: Any) -> float:  # called once per step, before its forward pass
            os.write(fd, f"{step}\n".encode())
            return real_lr_at(step, total, cfg)

        train_module.lr_at = lr_at
    spec = os.environ.get("FAULT_KILL")
    if spec:
        where, name, count = spec.split(":")
        wanted, seen = int(count), [0]

        def hit(filename: str | os.PathLike, expected: str) -> bool:
            if Path(filename).name != expected:
                return False
            seen[0] += 1
            return seen[0] == wanted

        tmp_name = f".{name}.safetensors.{os.getpid()}.tmp"  # composer.atomic's temporary name
        target = f"{name}.safetensors" if where == "before-replace" else f"{name}.json"

        # composer.atomic's view of os (checkpoints are written through atomic_write): the same, but fsync and
        # replace can fail or die first
        class _Os:
            def __getattr__(self, attr: str) -> Any:
                return getattr(os, attr)

            @staticmethod
            def fsync(fd: int) -> None:
                # checkpoint.save writes the serialized bytes to its temporary file, then syncs it: the moment
                # to cut the file in half and die ("mid-write"), or to report a full disk ("enospc").
                path = os.readlink(f"/proc/self/fd/{fd}")
                if where in ("mid-write", "enospc") and hit(path, tmp_name):
                    if where == "enospc":
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                    os.ftruncate(fd, os.fstat(fd).st_size // 2)
                    os.kill(os.getpid(), signal.SIGKILL)
                os.fsync(fd)

            @staticmethod
            def replace(src: Any, dst: Any) -> None:
                if where in ("before-replace", "before-json") and hit(dst, target):
                    os.kill(os.getpid(), signal.SIGKILL)
                os.replace(src, dst)

        atomic.os = _Os()  # type: ignore[assignment]
    return main(argv)


# ------------------------------------------------------------------------------------------------ the parent


def make_data(folder: Path) -> Path:
    """The chorale soprano lines of midi_data/ with their manifest rows (so the split is the corpus's own)."""
    source = ROOT / "midi_data"
    folder.mkdir(parents=True, exist_ok=True)
    with open(source / "manifest.csv", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = [row for row in reader if row["collection"] == COLLECTION]
        names = reader.fieldnames or []
    for row in rows:
        (folder / row["path"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / row["path"], folder / row["path"])
    with open(folder / "manifest.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        writer.writerows(rows)
    return folder


class Bench:
    def __init__(self, work: Path, data: Path, epochs: int) -> None:
        self.work, self.data, self.epochs = work, data, epochs
        self.env = {
            **os.environ,
            "COMPOSER_CACHE": str(work / "cache"),
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        self.legs = 0

    def args(self, out: Path, ckpt: float, *extra: str) -> list[str]:
        return cli_train_args(
            self.data, out, *extra, epochs=self.epochs, batch_events=1024, max_len=64, checkpoint_seconds=ckpt
        )

    def command(self, argv: list[str]) -> list[str]:
        return [sys.executable, str(Path(__file__).resolve()), "--child", *argv]

    def leg(self, out: Path, ckpt: float, *, resume: bool, kill: dict[str, Any] | None) -> dict[str, Any]:
        """Run one ``composer train`` (``--resume`` after the first leg), killing it as ``kill`` says."""
        self.legs += 1
        logs = out.parent / f"{out.name}-leg{self.legs}"
        progress = Path(f"{logs}.progress")
        env = {**self.env, "FAULT_PROGRESS": str(progress)}
        if kill and kill["how"] == "self":
            env["FAULT_KILL"] = kill["spec"]
        argv = self.args(out, ckpt, *(["--resume"] if resume else []))
        started, started_wall = time.perf_counter(), time.time()
        with open(f"{logs}.stdout", "w") as stdout, open(f"{logs}.stderr", "w") as stderr:
            proc = subprocess.Popen(self.command(argv), env=env, stdout=stdout, stderr=stderr)
            first_step_at = None
            mtime = _mtime(out / "last.safetensors")
            changes = 0
            while proc.poll() is None:
                steps = _steps(progress)
                if steps and first_step_at is None:
                    first_step_at = time.perf_counter() - started
                plan = kill or {}
                how = plan.get("how")
                if how == "startup" and time.perf_counter() - started >= plan["after_s"]:
                    _sigkill(proc)
                elif how == "step" and steps and steps[-1] >= plan["step"]:
                    time.sleep(plan["delay_s"])
                    _sigkill(proc)
                elif how == "mtime":
                    now = _mtime(out / "last.safetensors")
                    if now != mtime:
                        mtime, changes = now, changes + 1
                        if changes >= plan["change"]:
                            _sigkill(proc)
                time.sleep(0.001)
            proc.wait()
        killed_at = time.time()
        steps = _steps(progress)
        stdout_text = Path(f"{logs}.stdout").read_text()
        resumed_from = None
        for line in stdout_text.splitlines():
            if line.startswith("resuming at epoch"):
                resumed_from = int(line.rsplit("step", 1)[1])
        record: dict[str, Any] = {
            "resume": resume,
            "kill": kill,
            "returncode": proc.returncode,
            "killed": proc.returncode == -signal.SIGKILL,
            "resumed_from_step": resumed_from,
            "steps_started": steps[-1] + 1 if steps else None,
            "seconds": round(time.perf_counter() - started, 3),
            "first_step_after_s": None if first_step_at is None else round(first_step_at, 3),
        }
        if record["killed"]:
            ckpt_step = _checkpoint_step(out / "last.safetensors")
            started_steps = record["steps_started"] if steps else (resumed_from or 0)
            record["checkpoint_step_on_disk"] = ckpt_step
            record["steps_redone"] = max(0, started_steps - (ckpt_step or 0))
            landed = _mtime(out / "last.safetensors")
            record["seconds_since_last_checkpoint"] = (  # only for a checkpoint this leg wrote
                round(killed_at - landed / 1e9, 3) if landed is not None and landed / 1e9 >= started_wall else None
            )
        else:
            record["summary"] = _summary(stdout_text)
            if proc.returncode != 0:
                record["stderr_tail"] = Path(f"{logs}.stderr").read_text()[-1500:]
        return record


def _sigkill(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _steps(progress: Path) -> list[int]:
    try:
        text = progress.read_text()
    except FileNotFoundError:
        return []
    return [int(line) for line in text.splitlines()[: text.count("\n")] if line]


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None


def _checkpoint_step(path: Path) -> int | None:
    from composer import checkpoint

    if not path.exists():
        return None
    return int(checkpoint.read(path)[1]["state"]["step"])


def _summary(stdout: str) -> dict[str, Any] | None:
    start = stdout.find("{\n")
    return json.loads(stdout[start:]) if start >= 0 else None


def _max_abs_diff(a: Path, b: Path) -> float | None:
    from composer import checkpoint

    ta, tb = checkpoint.read(a)[0], checkpoint.read(b)[0]
    if ta.keys() != tb.keys():
        return None
    return max(float((ta[k].double() - tb[k].double()).abs().max()) if ta[k].numel() else 0.0 for k in ta)


def _history(run: Path) -> list[dict[str, Any]]:
    return json.loads((run / "last.json").read_text())["state"]["history"]


def compare(run: Path, ref: Path, summary: dict[str, Any] | None, ref_summary: dict[str, Any]) -> dict[str, Any]:
    history, ref_history = _history(run), _history(ref)
    epochs_match = [h["step"] for h in history] == [h["step"] for h in ref_history]
    return {
        "last_max_abs_diff": _max_abs_diff(run / "last.safetensors", ref / "last.safetensors"),  # weights + AdamW
        "best_max_abs_diff": _max_abs_diff(run / "best.safetensors", ref / "best.safetensors"),
        "best_bits_diff": None
        if summary is None
        else abs(summary["best_valid_bits_per_note"] - ref_summary["best_valid_bits_per_note"]),
        "history_max_bits_diff": max(
            abs(h["bits_per_note"] - r["bits_per_note"]) for h, r in zip(history, ref_history, strict=False)
        )
        if epochs_match
        else None,
        "steps_equal": summary is not None and summary["steps"] == ref_summary["steps"],
        "epochs_equal": summary is not None and summary["epochs"] == ref_summary["epochs"],
        "stray_files": sorted(
            p.name
            for p in run.iterdir()
            if p.name not in ("best.safetensors", "best.json", "last.safetensors", "last.json")
        ),
    }


def scenarios(rng: random.Random, steps: int, per_epoch: int, n_random: int) -> list[dict[str, Any]]:
    """The kill plans: each a checkpoint interval and one kill per leg (the last leg runs to the end)."""
    plans: list[dict[str, Any]] = [
        {"name": "during start-up", "ckpt": 0.1, "kills": [{"how": "startup", "after_s": None}]}
    ]
    for i in range(n_random):
        first = rng.randrange(1, steps - 2)
        kills = [{"how": "step", "step": first, "delay_s": round(rng.uniform(0, 0.03), 4)}]
        if i >= n_random - 2:  # the last two are killed twice
            kills.append(
                {"how": "step", "step": rng.randrange(first + 1, steps), "delay_s": round(rng.uniform(0, 0.03), 4)}
            )
        plans.append(
            {
                "name": f"random step{'s' if len(kills) > 1 else ''} "
                f"{', '.join(str(k['step']) for k in kills)} (+ 0–30 ms)",
                "ckpt": 0.1,
                "kills": kills,
            }
        )
    change = rng.randrange(2, steps - 1)
    plans.append(
        {
            "name": f"right after checkpoint {change} lands (last.safetensors' mtime changes)",
            "ckpt": 0.0,
            "kills": [{"how": "mtime", "change": change}],
        }
    )
    for where in ("mid-write", "before-replace", "before-json"):
        n = rng.randrange(2, steps - 1)
        plans.append(
            {
                "name": f"last.safetensors write {n}: {where}",
                "ckpt": 0.0,
                "kills": [{"how": "self", "spec": f"{where}:last:{n}"}],
            }
        )
    epoch = rng.randrange(2, max(3, steps // per_epoch))
    plans.append(
        {
            "name": f"best.safetensors write {epoch}: mid-write",
            "ckpt": 0.0,
            "kills": [{"how": "self", "spec": f"mid-write:best:{epoch}"}],
        }
    )
    return plans


# ------------------------------------------------------------------------------------- full and unwritable --out


def _error_record(proc: subprocess.CompletedProcess) -> dict[str, Any]:
    err = proc.stderr.strip()
    return {
        "returncode": proc.returncode,
        "traceback": "Traceback" in err,
        "message": err.splitlines()[-1] if err else "",
        "one_clear_line": proc.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1,
    }


def _same_files(folder: Path, snapshot: dict[str, bytes]) -> bool:
    return all((folder / n).exists() and (folder / n).read_bytes() == b for n, b in snapshot.items())


def _loads(path: Path) -> bool:
    from composer import checkpoint

    try:
        checkpoint.load_model(path)
    except Exception:
        return False
    return True


def _can_unshare_mount() -> bool:
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


def resumed_equals_reference(bench: Bench, run: Path, ref: Path, ref_summary: dict[str, Any]) -> bool:
    """After the fault: --resume (the folder writable again) runs to the end and equals the uninterrupted run."""
    leg = bench.leg(run, 0.0, resume=True, kill=None)
    if leg["returncode"] != 0:
        return False
    c = compare(run, ref, leg["summary"], ref_summary)
    return c["last_max_abs_diff"] == 0.0 and c["best_max_abs_diff"] == 0.0 and c["steps_equal"]


def disk_and_permission_faults(bench: Bench, ref: Path, ref_summary: dict[str, Any]) -> dict[str, Any]:
    work = bench.work / "faults"
    work.mkdir()
    out: dict[str, Any] = {}
    mounts = _can_unshare_mount()
    out["unshare_mount_available"] = mounts
    python = bench.command([])
    last_size = (ref / "last.safetensors").stat().st_size
    best_size = (ref / "best.safetensors").stat().st_size

    # (a) a real full disk: a tmpfs that holds one last.safetensors but not a second beside it.
    if mounts:
        mnt, keep = work / "tmpfs", work / "tmpfs-copy"
        mnt.mkdir()
        size_k = int(last_size * 1.5 / 1024) + 8
        argv = " ".join(bench.args(mnt / "run", 0.0))
        script = (
            f"mount -t tmpfs -o size={size_k}k tmpfs {mnt} && {' '.join(python)} {argv}; rc=$?; "
            f"cp -a {mnt}/run {keep}; exit $rc"
        )
        proc = subprocess.run(["unshare", "-m", "sh", "-c", script], env=bench.env, capture_output=True, text=True)
        record = _error_record(proc)
        record["tmpfs_kib"] = size_k
        record["checkpoint_step_kept"] = _checkpoint_step(keep / "last.safetensors")
        record["last_loads"] = _loads(keep / "last.safetensors")
        record["files_left"] = sorted(p.name for p in keep.iterdir())
        record["resumed_equals_reference"] = resumed_equals_reference(bench, keep, ref, ref_summary)
        out["full_disk_tmpfs"] = record

    # (b) a real write error from the kernel (RLIMIT_FSIZE between best's and last's size) on --resume.
    run = work / "fsize"
    subprocess.run(python + bench.args(run, 0.0, "--max-steps", "3"), env=bench.env, capture_output=True, check=True)
    snapshot = {n: (run / n).read_bytes() for n in ("last.safetensors", "best.safetensors")}
    limit = (best_size + last_size) // 2
    wrapper = (
        f"import os, resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit})); "
        "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", wrapper, *python[1:], *bench.args(run, 0.0, "--resume")],
        env=bench.env,
        capture_output=True,
        text=True,
    )
    out["write_error_rlimit_fsize"] = {
        **_error_record(proc),
        "limit_bytes": limit,
        "previous_checkpoints_byte_identical": _same_files(run, snapshot),
        "files_left": sorted(p.name for p in run.iterdir()),
    }
    out["write_error_rlimit_fsize"]["resumed_equals_reference"] = resumed_equals_reference(bench, run, ref, ref_summary)

    # (c) a full disk while best.safetensors is written (epoch 2; safetensors' own error, injected).
    run = work / "best-enospc"
    proc = subprocess.run(
        python + bench.args(run, 0.0), env={**bench.env, "FAULT_KILL": "enospc:best:2"}, capture_output=True, text=True
    )
    out["full_disk_writing_best_injected"] = {
        **_error_record(proc),
        "best_loads": _loads(run / "best.safetensors"),
        "best_epoch_kept": json.loads((run / "best.json").read_text())["metrics"]["epoch"],
        "files_left": sorted(p.name for p in run.iterdir()),
    }
    out["full_disk_writing_best_injected"]["resumed_equals_reference"] = resumed_equals_reference(
        bench, run, ref, ref_summary
    )

    # (d) unwritable --out: under a regular file, a regular file itself, on a read-only mount (new and existing).
    regular = work / "a-file"
    regular.write_text("not a folder\n")
    for name, target in (("out_under_a_regular_file", regular / "run"), ("out_is_a_regular_file", regular)):
        proc = subprocess.run(
            python + bench.args(target, 0.0, "--max-steps", "1"), env=bench.env, capture_output=True, text=True
        )
        out[name] = _error_record(proc)
    if mounts:
        ro = work / "ro"
        (ro / "existing").mkdir(parents=True)
        for name, target in (
            ("new_out_on_a_read_only_mount", ro / "new"),
            ("existing_out_on_a_read_only_mount", ro / "existing"),
        ):
            argv = " ".join(bench.args(target, 0.0, "--max-steps", "1"))
            script = f"mount --bind -o ro {ro} {ro} && exec {' '.join(python)} {argv}"
            proc = subprocess.run(["unshare", "-m", "sh", "-c", script], env=bench.env, capture_output=True, text=True)
            out[name] = _error_record(proc)
    return out


# ------------------------------------------------------------------------------------------- truncated checkpoints


def truncation(bench: Bench, ref: Path) -> list[dict[str, Any]]:
    from composer import checkpoint
    from composer.cli import main
    from composer.errors import InputError

    os.environ["COMPOSER_CACHE"] = bench.env["COMPOSER_CACHE"]
    seed = next(bench.data.rglob("*.mid"))
    rows = []
    for name in ("last.safetensors", "best.safetensors"):
        data = (ref / name).read_bytes()
        header = int.from_bytes(data[:8], "little")
        cuts = {
            "empty": 0,
            "inside the length prefix": 5,
            "length prefix only": 8,
            "middle of the JSON header": 8 + header // 2,
            "header only, no tensors": 8 + header,
            "middle of the tensors": 8 + header + (len(data) - 8 - header) // 2,
            "last byte missing": len(data) - 1,
        }
        for where, cut in cuts.items():
            run = bench.work / "truncated" / f"{name.split('.')[0]}-{cut}"
            shutil.copytree(ref, run)
            (run / name).write_bytes(data[:cut])
            row: dict[str, Any] = {"file": name, "where": where, "bytes_kept": cut, "of": len(data)}
            try:
                checkpoint.load_model(run / name)
                row["load_model"] = "LOADED"
            except InputError as error:
                row["load_model"] = str(error)
            if name == "last.safetensors":
                row["train_resume"] = _in_process(main, bench.args(run, 0.0, "--resume"))
            else:
                row["generate_model"] = _in_process(
                    main, ["generate", str(seed), "--out", str(run / "takes"), "--model", str(run / name), "--quiet"]
                )
            rows.append(row)
    return rows


def _in_process(main: Any, argv: list[str]) -> dict[str, Any]:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except Exception as error:  # a traceback: the finding
        return {"returncode": "exception", "message": f"{type(error).__name__}: {error}"}
    lines = err.getvalue().strip().splitlines()
    return {"returncode": code, "message": lines[-1] if lines else "", "lines": len(lines)}


# ------------------------------------------------------------------------------------------------- the report


def markdown(result: dict[str, Any]) -> str:
    ref = result["reference"]
    rows = []
    for s in result["scenarios"]:
        kills = [leg for leg in s["legs"] if leg["killed"]]
        c = s["comparison"]
        resumed = ", ".join(
            "none" if k["checkpoint_step_on_disk"] is None else str(k["checkpoint_step_on_disk"]) for k in kills
        )
        rows.append(
            f"| {s['name']} | {s['checkpoint_seconds']:g} | {len(kills)} | {resumed} | "
            f"{', '.join(str(k['steps_redone']) for k in kills)} | {_num(c['last_max_abs_diff'])} | "
            f"{_num(c['best_bits_diff'])} | {'yes' if c['steps_equal'] and c['epochs_equal'] else 'NO'} |"
        )
    t = result["totals"]
    leftovers = (
        f"{', '.join(t['stray_files'])} (hidden temporary names that nothing loads)" if t["stray_files"] else "none"
    )
    lines = [
        "## Training faults (`python bench/training_faults.py`, results in `bench/results/training_faults.json`)",
        "",
        f"A tiny model (1 × 32, {ref['parameters']:,} parameters) trains for {ref['summary']['epochs']} epochs "
        f"({ref['summary']['steps']} steps) on the {result['data']['pieces']} chorale soprano lines of midi_data/ "
        f"(their own split), `--threads 1`, on CPU. Each scenario runs the same command, kills it with SIGKILL, "
        "resumes it with `--resume` until it finishes, and compares the final last.safetensors (weights and AdamW "
        "state), best.safetensors and metrics with one uninterrupted run. Kills inside a checkpoint write are made "
        "by the process itself at that exact point (`--child` hooks that only observe or kill).",
        "",
        "| kill | checkpoint every (s) | kills | resumed from step | steps redone | max abs diff, weights + optimizer "
        "| best bits/note diff | steps, epochs equal |",
        "|---|---:|---:|---|---|---:|---:|---|",
        *rows,
        "",
        f"**{t['kills']} kills in {t['scenarios']} runs: every resumed run equals the uninterrupted one exactly** "
        f"(largest difference {_num(t['max_abs_diff'])} in any weight or optimizer tensor, "
        f"{_num(t['max_best_bits_diff'])} bits/note in the best validation score; the stated tolerance is 0 — "
        "bit-identical — on CPU with a fixed thread count, because batches, transpositions and dropout masks are "
        "functions of (seed, epoch, batch)). "
        f"A kill costs the steps since the last checkpoint: {t['steps_redone_max']} at most "
        f"({t['steps_redone_mean']:.1f} on average) with a checkpoint every 0.1 s (about "
        f"{t['steps_per_tenth_second']:.0f} steps here, and always one at the end of an epoch), at most "
        f"{t['steps_redone_max_checkpoint_every_step']} with one after every step"
        f"{'; a kill before the first checkpoint starts the run again' if t['startup_before_checkpoint'] else ''}. "
        f"Leftovers after kills: {leftovers}.",
        "",
        "Broken output folders and files:",
        "",
        "| fault | exit code | traceback | checkpoints before it | then `--resume` | what the user reads |",
        "|---|---:|---|---|---|---|",
    ]
    for name, rec in result["faults"].items():
        if isinstance(rec, dict) and "returncode" in rec:
            kept = (
                (
                    "intact"
                    if rec.get("last_loads", True)
                    and rec.get("best_loads", True)
                    and rec.get("previous_checkpoints_byte_identical", True)
                    else "DAMAGED"
                )
                if "files_left" in rec
                else "(none yet)"
            )
            after = {True: "equals the uninterrupted run", False: "DIFFERS", None: "—"}[
                rec.get("resumed_equals_reference")
            ]
            lines.append(
                f"| {FAULTS.get(name, name)} | {rec['returncode']} | {'YES' if rec['traceback'] else 'no'} "
                f"| {kept} | {after} | {_short(rec['message'])} |"
            )
    broken = [
        FAULTS.get(name, name)
        for name, rec in result["faults"].items()
        if isinstance(rec, dict) and rec.get("traceback")
    ]
    lines += [
        "",
        "The checkpoints written before a fault stay intact, load, and no temporary file is left beside "
        "them. "
        + (
            f"Ending in a traceback (exit 1) instead of one sentence (exit 2): {'; '.join(broken)} "
            "— tests/test_training_faults.py states the wanted behaviour (xfail until fixed)."
            if broken
            else "Every case is one sentence and exit code 2."
        ),
    ]
    lines += ["", "| truncated checkpoint | load_model | `train --resume` / `generate --model` |", "|---|---|---|"]
    for row in result["truncation"]:
        cli = row.get("train_resume") or row.get("generate_model")
        lines.append(
            f"| {row['file']}: {row['where']} ({row['bytes_kept']:,} of {row['of']:,} bytes) | "
            f"{'refused' if row['load_model'] != 'LOADED' else 'LOADED'} | exit {cli['returncode']} |"
        )
    refused = all(
        r["load_model"] != "LOADED" and (r.get("train_resume") or r.get("generate_model"))["returncode"] == 2
        for r in result["truncation"]
    )
    lines += [
        "",
        f"{'Every truncation is refused' if refused else 'NOT every truncation is refused'}; in the middle "
        f"of the tensors the message reads: *{result['truncation'][-2]['load_model']}*",
        "",
        "```bash",
        "python bench/training_faults.py        # " + f"{result['seconds']:.0f} s on this machine",
        "```",
        "",
    ]
    return "\n".join(lines)


FAULTS = {
    "full_disk_tmpfs": "disk full: a real tmpfs with room for one checkpoint (a fresh run)",
    "write_error_rlimit_fsize": "a write refused by the kernel (RLIMIT_FSIZE, EFBIG) on `--resume`",
    "full_disk_writing_best_injected": "disk full while best.safetensors is written (safetensors' error, injected)",
    "out_under_a_regular_file": "`--out` under a regular file",
    "out_is_a_regular_file": "`--out` is a regular file",
    "new_out_on_a_read_only_mount": "a new `--out` folder on a read-only mount",
    "existing_out_on_a_read_only_mount": "an existing `--out` folder on a read-only mount",
}


def _short(message: str) -> str:
    """The message with the bench's temporary folder written as WORK (and no table-breaking bars)."""
    return re.sub(re.escape(tempfile.gettempdir()) + r"/training-faults-[^/]+", "WORK", message).replace("|", "/")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=0, help="the kill points")
    parser.add_argument("--random", type=int, default=5, help="scenarios killed at random steps (two killed twice)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="training-faults-"))
    try:
        data = make_data(work / "data")
        bench = Bench(work, data, args.epochs)
        from composer.dataset import load_songs

        os.environ["COMPOSER_CACHE"] = bench.env["COMPOSER_CACHE"]
        load_songs(data)  # the event cache, so that start-up is the same for every run
        bench.leg(work / "warm-up", 0.0, resume=False, kill=None)  # the first start of torch is slower
        ref = work / "reference"
        reference = bench.leg(ref, 0.0, resume=False, kill=None)
        ref_summary = reference["summary"]
        steps = ref_summary["steps"]
        per_epoch = steps // ref_summary["epochs"]
        print(
            f"reference: {steps} steps in {reference['seconds']:.1f} s (first step after "
            f"{reference['first_step_after_s']:.1f} s)",
            flush=True,
        )
        rng = random.Random(args.seed)
        results = []
        for i, plan in enumerate(scenarios(rng, steps, per_epoch, args.random)):
            out = work / f"scenario-{i:02d}"
            legs = []
            for j, kill in enumerate(plan["kills"]):
                if kill["how"] == "startup":
                    kill["after_s"] = round(rng.uniform(0.1, 0.7) * reference["first_step_after_s"], 3)
                legs.append(bench.leg(out, plan["ckpt"], resume=j > 0, kill=kill))
                if kill["how"] == "startup":
                    steps_in = legs[-1]["steps_started"]
                    plan["name"] += (
                        f", {kill['after_s']:.1f} s after launch "
                        f"({'before the first step' if steps_in is None else f'{steps_in} steps in'})"
                    )
            legs.append(bench.leg(out, plan["ckpt"], resume=True, kill=None))
            final = legs[-1]
            comparison = compare(out, ref, final.get("summary"), ref_summary)
            results.append(
                {"name": plan["name"], "checkpoint_seconds": plan["ckpt"], "legs": legs, "comparison": comparison}
            )
            print(
                f"{plan['name']}: kills {sum(leg['killed'] for leg in legs)}, redone "
                f"{[leg.get('steps_redone') for leg in legs if leg['killed']]}, max diff "
                f"{comparison['last_max_abs_diff']}, final rc {final['returncode']}",
                flush=True,
            )
        kills = [leg for s in results for leg in s["legs"] if leg["killed"]]
        timed = [
            leg["steps_redone"] for s in results if s["checkpoint_seconds"] > 0 for leg in s["legs"] if leg["killed"]
        ]
        diffs = [s["comparison"]["last_max_abs_diff"] for s in results] + [
            s["comparison"]["best_max_abs_diff"] for s in results
        ]
        totals = {
            "scenarios": len(results),
            "kills": len(kills),
            "not_killed": [s["name"] for s in results if not any(leg["killed"] for leg in s["legs"][:-1])],
            "max_abs_diff": None if None in diffs else max(diffs),
            "max_best_bits_diff": max((s["comparison"]["best_bits_diff"] or 0.0) for s in results),
            "all_equal": all(d == 0.0 for d in diffs)
            and all(
                s["comparison"]["steps_equal"]
                and s["comparison"]["epochs_equal"]
                and s["comparison"]["best_bits_diff"] == 0.0
                for s in results
            ),
            "steps_redone_max": max(leg["steps_redone"] for leg in kills),
            "steps_redone_mean": sum(timed) / max(1, len(timed)),
            "steps_redone_max_checkpoint_every_step": max(
                (
                    leg["steps_redone"]
                    for s in results
                    if s["checkpoint_seconds"] == 0
                    for leg in s["legs"]
                    if leg["killed"]
                ),
                default=0,
            ),
            "stray_files": sorted({f for s in results for f in s["comparison"]["stray_files"]}),
            "steps_per_tenth_second": 0.1 * steps / reference["summary"]["train_seconds"],
            "startup_before_checkpoint": results[0]["legs"][0]["checkpoint_step_on_disk"] is None,
        }
        print(json.dumps(totals), flush=True)
        faults = disk_and_permission_faults(bench, ref, ref_summary)
        print(json.dumps(faults, indent=1), flush=True)
        truncated = truncation(bench, ref)
        from composer.checkpoint import read

        result = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
            "data": {"collection": COLLECTION, "pieces": sum(1 for _ in data.rglob("*.mid"))},
            "command": bench.args(Path("OUT"), 0.0),
            "reference": {**reference, "parameters": read(ref / "best.safetensors")[1]["parameters"]},
            "scenarios": results,
            "totals": totals,
            "faults": faults,
            "truncation": truncated,
            "seconds": round(time.perf_counter() - started, 1),
        }
        RESULTS.mkdir(parents=True, exist_ok=True)
        write_result(RESULTS / "training_faults.json", result)
        atomic_write(RESULTS / "reliability-training.md", markdown(result).encode("utf-8"))
        write_reliability(RESULTS)
        print(markdown(result))
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2:]))
    main()
