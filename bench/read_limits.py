"""How long reading takes at composer's limits: the files just inside and just outside each cap.

The claim checked: any file is answered (read or refused) within 2 seconds.  Absolute times on this
machine wobble, so each figure is also given as a ratio to a reference measured in the same run:
reading a typical 8-bar seed.

    python bench/read_limits.py            # prints a table and writes bench/results/read_limits.json
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from composer.errors import InputError
from composer.midi_io import MAX_FILE_BYTES, read_midi
from composer.smf import MAX_EVENTS, MAX_NOTES
from composer.testing import smf
from composer.testing.benchmark import write_result


def timed(data: bytes, repeat: int = 3) -> tuple[float, str]:
    best = float("inf")
    outcome = ""
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            piece = read_midi(data, name="bench.mid")
            outcome = f"read, {len(piece.notes)} notes"
        except InputError as error:
            outcome = "refused: " + str(error).split(";")[0]
        best = min(best, time.perf_counter() - started)
    return best, outcome


def cases() -> dict[str, bytes]:
    notes_ok = MAX_NOTES // 2 - 10  # note-on + note-off per note: stay under the event cap too
    max_notes = min(MAX_NOTES, MAX_EVENTS // 2 - 10)
    controllers = [smf.vlq(1) + bytes([0xB0, 7, i % 128]) for i in range(MAX_EVENTS - 10)]
    sysex_body = bytes(MAX_FILE_BYTES - 200)
    return {
        "typical seed (32 notes)": smf.simple_file([60, 62, 64, 65, 67, 69, 71, 72] * 4),
        f"{notes_ok:,} notes": smf.smf([smf.track(smf.melody([60 + i % 12 for i in range(notes_ok)], 60))]),
        f"{max_notes:,} notes (at the caps)": smf.smf(
            [smf.track(smf.melody([60 + i % 12 for i in range(max_notes)], 60))]
        ),
        f"{MAX_EVENTS - 10:,} controller events": smf.smf([smf.track(controllers + smf.melody([60]))]),
        f"{MAX_NOTES + 5_000:,} notes (over the note cap)": smf.smf(
            [smf.track(smf.melody([60 + i % 12 for i in range(MAX_NOTES + 5_000)], 1))]
        ),
        "1,000,000 notes (refused)": smf.smf([smf.track(smf.melody([60] * 1_000_000, 1))]),
        "sysex filling the byte cap": smf.smf(
            [smf.track([b"\x00\xf0" + smf.vlq(len(sysex_body)) + sysex_body, *smf.melody([60])])]
        ),
        # a delta time holds at most 2^28-1 ticks: four of them with empty text events make a 10^9-tick gap
        "10^9-tick gap": smf.smf(
            [smf.track(smf.note(60, 480) + [smf.meta(0x01, b"", 250_000_000)] * 4 + smf.note(62, 480))]
        ),
    }


@dataclass(frozen=True)
class Row:
    """One case of the table and of read_limits.json's ``rows``."""

    case: str
    bytes: int
    seconds: float
    ratio_to_typical: float
    outcome: str


def main() -> None:
    rows = []
    reference, _ = timed(cases()["typical seed (32 notes)"], repeat=5)
    for name, data in cases().items():
        seconds, outcome = timed(data)
        rows.append(Row(name, len(data), round(seconds, 4), round(seconds / reference, 1), outcome))
    worst = max(r.seconds for r in rows)
    result = {
        "machine": platform.processor() or platform.machine(),
        "reference_seconds": round(reference, 5),
        "worst_seconds": worst,
        "within_2s": worst < 2.0,
        "rows": [asdict(r) for r in rows],
    }
    print(f"{'case':40} {'bytes':>10} {'seconds':>8} {'x typical':>9}  outcome")
    for r in rows:
        print(f"{r.case:40} {r.bytes:>10,} {r.seconds:>8.3f} {r.ratio_to_typical:>9}  {r.outcome}")
    print(f"worst {worst:.3f} s; within 2 s: {worst < 2.0}")
    out = Path(__file__).parent / "results" / "read_limits.json"
    write_result(out, result)


if __name__ == "__main__":
    main()
