"""Benchmark results: every JSON stamped with the commit, date and machine that made it; reliability.md built
from the sections the benchmarks write.

    write_result(RESULTS / "studio.json", result)     # {"stamp": {...}, **result}, written whole or not at all
    write_reliability(RESULTS)                         # reliability.md from reliability-{hostile,training,load}.md

``python -m composer.testing.benchmark [RESULTS_FOLDER]`` rebuilds reliability.md (default ``bench/results``).
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from composer.atomic import atomic_write

# The checkout this module lives in (composer/testing/benchmark.py → the repository root), where git can say
# which commit ran; an installed package has no checkout and says so.
CHECKOUT = Path(__file__).resolve().parents[2]
RESULTS = CHECKOUT / "bench" / "results"
UNSTAMPED_MACHINE = "not recorded (run before results were stamped)"


@dataclass(frozen=True)
class Machine:
    """Where a benchmark ran: what its figures depend on besides the code."""

    cpu: str  # the CPU model as the kernel names it
    cores: int  # cores the machine has
    usable_cores: int  # cores this process may run on (a container or taskset may allow fewer)
    torch: str
    python: str
    platform: str


@dataclass(frozen=True)
class Stamp:
    """Which code, when and where a result was made.

    ``commit`` is the full hash, with ``-dirty`` appended when tracked files differed from it (as
    ``git describe --dirty`` says); ``date`` is ISO 8601 with its offset; ``machine`` is a :class:`Machine`, or a
    sentence where the machine was not recorded.
    """

    commit: str
    date: str
    machine: Machine | str

    def to_dict(self) -> dict[str, Any]:
        machine = asdict(self.machine) if isinstance(self.machine, Machine) else self.machine
        return {"commit": self.commit, "date": self.date, "machine": machine}


def _git(*args: str) -> str | None:
    """git's answer in the checkout, or None where there is no git or no checkout."""
    try:
        done = subprocess.run(["git", *args], cwd=CHECKOUT, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def current_commit() -> str:
    """The commit of the checkout, ``-dirty`` when tracked files have uncommitted changes (other than the results
    themselves: a series of benchmarks rewrites them as it goes)."""
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return "unknown (not run from a git checkout)"
    changes = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)bench/results")
    return f"{commit}-dirty" if changes else commit


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def this_machine() -> Machine:
    """The machine this process runs on."""
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    return Machine(
        cpu=cpu_model(),
        cores=cores,
        usable_cores=usable,
        torch=_version("torch"),
        python=platform.python_version(),
        platform=platform.platform(),
    )


def stamp() -> Stamp:
    """The stamp of a result made now, by this checkout, on this machine."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return Stamp(commit=current_commit(), date=now, machine=this_machine())


def write_result(path: str | os.PathLike[str], data: dict[str, Any], *, indent: int = 2) -> Stamp:
    """Write a benchmark's result as JSON to ``path``, whole or not at all, with ``"stamp"`` as its first key.

    ``data`` must not carry a ``"stamp"`` of its own.  Returns the stamp written.
    """
    if "stamp" in data:
        raise ValueError("the result already has a 'stamp' key; write_result adds it")
    made = stamp()
    text = json.dumps({"stamp": made.to_dict(), **data}, indent=indent, ensure_ascii=False) + "\n"
    atomic_write(path, text.encode("utf-8"))
    return made


# ------------------------------------------------------------------------------------------- reliability.md

RELIABILITY = "reliability.md"
# The sections, in the order reliability.md shows them; each is written by its benchmark.
RELIABILITY_PARTS = ("reliability-hostile.md", "reliability-training.md", "reliability-load.md")
RELIABILITY_HEADER = (
    "# Reliability\n"
    "\n"
    "Hostile files, crashes mid-training and many users at once: what was tried and what happened. Each section "
    "is written by its benchmark; rerun the commands to refresh them. This file is assembled from "
    + ", ".join(f"`{part}`" for part in RELIABILITY_PARTS)
    + " by `python -m composer.testing.benchmark` (each of those benchmarks runs it after writing its section);"
    " edit the parts' generators, not this file.\n"
)


def reliability_report(results: Path) -> str:
    """reliability.md's text: the header, then each part from ``results`` in order, one blank line apart.

    Raises :class:`FileNotFoundError` where a part is missing (see :func:`missing_parts`).
    """
    sections = [RELIABILITY_HEADER.rstrip("\n")]
    for part in RELIABILITY_PARTS:
        sections.append((results / part).read_text(encoding="utf-8").strip("\n"))
    return "\n\n".join(sections) + "\n"


def missing_parts(results: Path) -> list[str]:
    """The parts of reliability.md that ``results`` lacks (their benchmarks have not run there)."""
    return [part for part in RELIABILITY_PARTS if not (results / part).is_file()]


def write_reliability(results: Path = RESULTS) -> Path | None:
    """Rebuild ``results/reliability.md`` from its parts and return its path; where a part is missing (a
    benchmark run with its own ``--out`` folder) write nothing and return None."""
    if missing_parts(results):
        return None
    target = results / RELIABILITY
    atomic_write(target, reliability_report(results).encode("utf-8"))
    return target


def main(argv: list[str] | None = None) -> int:
    """``python -m composer.testing.benchmark [RESULTS_FOLDER]``: rebuild reliability.md."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        print("usage: python -m composer.testing.benchmark [RESULTS_FOLDER]", file=sys.stderr)
        return 2
    results = Path(args[0]) if args else RESULTS
    written = write_reliability(results)
    if written is None:
        missing = ", ".join(missing_parts(results))
        print(f"error: {results} lacks {missing}; run the benchmark that writes it first.", file=sys.stderr)
        return 2
    print(f"wrote {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
