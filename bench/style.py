"""Teach it your style, measured: a folder of MIDI files → a lesson of N minutes from the shipped model, run as the
studio runs it (:mod:`composer.studio.style`: the same upload checks, hold-out, fine-tuning settings and background
process with one torch thread) → the held-out pieces' bits per note before and after, and the checks between.

    python bench/style.py FOLDER [--minutes 5] [--lr 5e-4] [--batch-events 4096] [--out bench/results/style.json]
    python bench/style.py runs/quartets-midi --from-music21 quartets --minutes 5

``--from-music21 COLLECTION`` first writes one of the corpus's multi-voice collections of music21's bundled scores
(:data:`composer.corpus.SCORE_COLLECTIONS`; ``quartets``, the Haydn, Mozart and Beethoven string quartets, is left
out of midi_data's build) into FOLDER as MIDI, read exactly as ``composer corpus build`` reads scores (about 20 s a
quartet movement, on one core; files already there are kept).  The lesson then learns from FOLDER's MIDI files
(and zips), at most 200 (the studio's limit), holding one in five out.  The ratio after / before is the figure to
compare: both are measured in the same run, on the same held-out pieces.  Those pieces also choose the lesson's best
check, so "after" is slightly optimistic.  Writes ``bench/results/style.json``, stamped with commit, date, machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from composer.studio.style import MAX_FILES, MAX_MINUTES, FineTuning, StyleStudio
from composer.testing.benchmark import RESULTS, write_result

OWNER = "bench"


def from_music21(collection: str, folder: Path, limit: int | None = None) -> list[str]:
    """Write the scores of one of the corpus's multi-voice collections into ``folder`` as MIDI (the ones not
    there yet), read as ``composer corpus build`` reads them; → the sources written or found."""
    from music21 import corpus as m21

    from composer.corpus import SCORE_COLLECTIONS, _score_job, _score_jobs
    from composer.midi_io import write_midi

    if collection not in {c for _, c in SCORE_COLLECTIONS}:
        names = ", ".join(sorted({c for _, c in SCORE_COLLECTIONS}))
        raise SystemExit(f"--from-music21 takes one of {names}; got {collection!r}.")
    jobs = [args for kind, args in _score_jobs(sorted(str(p) for p in m21.getCorePaths())) if kind == "score"]
    chosen = [args for args in jobs if args[0] == collection][:limit]  # type: ignore[index]
    folder.mkdir(parents=True, exist_ok=True)
    done = []
    for i, args in enumerate(chosen, 1):
        source = str(args[1])  # type: ignore[index]
        items, errors = _score_job(args)  # type: ignore[arg-type]
        for item in items:
            target = folder / f"{item.name}.mid"
            if not target.exists():
                write_midi(item.piece, target)
            done.append(item.source)
        for error in errors:
            print(f"skipped: {error}")
        print(f"[{i}/{len(chosen)}] {source}", flush=True)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="a folder of MIDI files (or zips) in one style")
    parser.add_argument("--minutes", type=float, default=5.0, help=f"the lesson's budget (at most {MAX_MINUTES:g})")
    parser.add_argument("--base", type=Path, help="the checkpoint to start from (default: the shipped model)")
    parser.add_argument("--lr", type=float, default=FineTuning.lr)
    parser.add_argument("--batch-events", type=int, default=FineTuning.batch_events)
    parser.add_argument("--from-music21", metavar="COLLECTION", help="write this corpus collection into FOLDER first")
    parser.add_argument("--limit", type=int, help="with --from-music21: only the first N scores")
    parser.add_argument("--out", type=Path, default=RESULTS / "style.json")
    args = parser.parse_args(argv)

    if args.from_music21:
        from_music21(args.from_music21, args.folder, args.limit)
    files = sorted(str(p) for p in args.folder.rglob("*") if p.suffix.lower() in (".mid", ".midi", ".zip"))
    if len(files) > MAX_FILES:
        print(f"{len(files)} files: the lesson takes the first {MAX_FILES} by name")
    training = FineTuning(lr=args.lr, batch_events=args.batch_events)
    with tempfile.TemporaryDirectory(prefix="style-bench-") as tmp:
        studio = StyleStudio(Path(tmp), args.base, training)
        started = time.monotonic()
        view = studio.learn(OWNER, files, args.folder.name, args.minutes)
        print(view.status, flush=True)
        if not view.running:
            return 2
        while view.running:
            time.sleep(5)
            view = studio.status(OWNER)
            print(f"{time.monotonic() - started:6.0f} s  {view.status}", flush=True)
        learned = studio.styles(OWNER)
        if not learned:
            return 1
        card = json.loads(learned[0].path.with_suffix(".json").read_text())
    lesson: dict[str, Any] = card["style"]
    before, after = lesson["before"], lesson["after"]
    result = {
        "folder": str(args.folder),
        "from_music21": args.from_music21,
        "files": len(files),
        "minutes": args.minutes,
        "base": str(args.base or "shipped model"),
        "fine_tuning": asdict(training),
        "pieces": len(lesson["pieces"]),
        "held_out": lesson["held_out"],
        "held_out_notes": before["notes"],
        "steps": lesson["steps"],
        "seconds": round(lesson["seconds"], 1),
        "before_bits_per_note": before["bits_per_note"],
        "after_bits_per_note": after["bits_per_note"],
        "after_over_before": after["bits_per_note"] / before["bits_per_note"],
        "per_field": {
            key: {"before": before[key], "after": after[key]}
            for key in before
            if key.endswith("_bits") or key == "bits_per_note_without_velocity"
        },
        "checks": lesson["checks"],
        "status": view.status,
    }
    write_result(args.out, result)
    print(
        f"held-out {result['before_bits_per_note']:.3f} → {result['after_bits_per_note']:.3f} bits/note "
        f"(× {result['after_over_before']:.3f}) after {result['steps']} steps in {result['seconds']:.0f} s; "
        f"wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
