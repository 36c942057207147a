"""`composer inspect`'s work on every file of the embedded corpus: time per file and round-trip error.

Reports, over all files: seconds per file (mean, p50, p95, max) for read + seed report, as a ratio to
a reference measured in the same run (encoding one typical piece 100 times), the number of files
whose ``decode(encode(piece))`` differs from the quantized piece (must be 0), and the quantization
error of the stored files (0: they are stored on the grid).

    python bench/inspect_corpus.py        # writes bench/results/inspect_corpus.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from composer.corpus import read_manifest
from composer.encoding import decode, encode, quantize
from composer.midi_io import read_midi
from composer.report import seed_report
from composer.testing.benchmark import write_result

DATA = Path(__file__).resolve().parent.parent / "midi_data"


def main() -> None:
    entries = read_manifest(DATA)
    seconds, mismatches, max_shift, merged = [], 0, 0.0, 0
    for e in entries:
        started = time.perf_counter()
        piece = read_midi(DATA / e.path)
        report = seed_report(piece, e.path, estimate_key=False)
        seconds.append(time.perf_counter() - started)
        if decode(encode(piece)) != quantize(piece):
            mismatches += 1
        max_shift = max(max_shift, report.quantization["max_onset_shift_beats"])
        merged += int(report.quantization["notes_merged"])
    typical = read_midi(DATA / entries[len(entries) // 2].path)
    started = time.perf_counter()
    for _ in range(100):
        encode(typical)
    reference = (time.perf_counter() - started) / 100
    s = np.array(seconds)
    result = {
        "files": len(entries),
        "roundtrip_mismatches": mismatches,
        "max_onset_shift_beats": max_shift,
        "notes_merged": merged,
        "seconds_per_file": {
            "mean": round(float(s.mean()), 5),
            "p50": round(float(np.median(s)), 5),
            "p95": round(float(np.percentile(s, 95)), 5),
            "max": round(float(s.max()), 5),
        },
        "reference_encode_seconds": round(reference, 6),
        "mean_ratio_to_reference": round(float(s.mean()) / reference, 1),
    }
    print(json.dumps(result, indent=2))
    write_result(Path(__file__).parent / "results" / "inspect_corpus.json", result)


if __name__ == "__main__":
    main()
