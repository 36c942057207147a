"""The seed report a musician reads before generating: what composer understood of a MIDI file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from composer.encoding import decode, encode, quantize_with_report
from composer.midi_io import read_midi, write_midi
from composer.piece import Piece, key_name


@dataclass
class SeedReport:
    file: str
    notes: int
    bars: int
    tempo: float
    time_signature: str
    pickup_beats: float
    key: str | None
    key_number: int | None  # the same key as a number (0-11 major, 12-23 minor), for the generator
    key_source: str  # "stated" in the file, "estimated" by music21, or "none"
    seconds: float  # length of the music at its tempo
    events: int  # length of the encoded sequence (notes plus rest events)
    tracks_kept: list[dict[str, object]] = field(default_factory=list)
    tracks_dropped: list[dict[str, object]] = field(default_factory=list)
    remarks: list[str] = field(default_factory=list)
    quantization: dict[str, float | int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def to_text(self) -> str:
        q = self.quantization
        key = f"{self.key} ({self.key_source})" if self.key else "unknown"
        pickup = f", pickup of {self.pickup_beats:g} beat(s)" if self.pickup_beats else ""
        lines = [
            f"{self.file}",
            f"  notes {self.notes}, bars {self.bars}, {self.seconds:.1f} s",
            f"  tempo {self.tempo:.4g} BPM, time signature {self.time_signature}{pickup}, key {key}",
            "  tracks kept: " + (", ".join(f"{t['name']} ({t['notes']} notes)" for t in self.tracks_kept) or "none"),
        ]
        if self.tracks_dropped:
            lines.append("  tracks dropped: " + ", ".join(f"{t['name']} ({t['reason']})" for t in self.tracks_dropped))
        lines.append(
            f"  quantization (1/{12} beat grid): largest onset shift {q['max_onset_shift_beats']:.3f} beats, "
            f"mean {q['mean_onset_shift_beats']:.4f}; merged {q['notes_merged']}, cut at a repeated pitch "
            f"{q['notes_shortened']}, long notes capped {q['durations_capped']}, long rests shortened "
            f"{q['rests_shortened']}"
        )
        lines += [f"  note: {r}" for r in self.remarks]
        return "\n".join(lines)


def seed_report(piece: Piece, name: str, *, estimate_key: bool = True) -> SeedReport:
    """Report on a piece as read from a file (before quantization)."""
    quantized, q = quantize_with_report(piece)
    key, source = piece.key, "stated"
    if key is None:
        source = "none"
        if estimate_key:
            from composer.score import estimate_key as estimate

            key, source = estimate(piece), "estimated"
    return SeedReport(
        file=name,
        notes=len(quantized.notes),
        bars=quantized.bars,
        tempo=round(piece.tempo, 3),
        time_signature=str(piece.time_signature),
        pickup_beats=quantized.bar_start,
        key=key_name(key),
        key_number=key,
        key_source=source,
        seconds=round(quantized.end * 60.0 / piece.tempo, 2),
        events=len(encode(quantized)),
        tracks_kept=[{"name": t.name, "program": int(t.program), "notes": t.notes} for t in piece.tracks if t.kept],
        tracks_dropped=[
            {"name": t.name, "program": int(t.program), "notes": t.notes, "reason": t.reason}
            for t in piece.tracks
            if not t.kept
        ],
        remarks=list(piece.remarks),
        quantization={
            "max_onset_shift_beats": round(q.max_onset_shift, 4),
            "mean_onset_shift_beats": round(q.mean_onset_shift, 5),
            "notes_merged": q.notes_merged,
            "notes_shortened": q.notes_shortened,
            "durations_capped": q.durations_capped,
            "rests_shortened": q.rests_shortened,
        },
    )


def inspect_file(path: Path, *, roundtrip_dir: Path | None = None, estimate_key: bool = True) -> SeedReport:
    """Read, report, and optionally write ``decode(encode(file))`` to ``roundtrip_dir/<file name>``.

    Raises :class:`~composer.errors.InputError` for a file that cannot be used.
    """
    piece = read_midi(path)
    report = seed_report(piece, str(path), estimate_key=estimate_key)
    if roundtrip_dir is not None:
        write_midi(decode(encode(piece)), Path(roundtrip_dir) / Path(path).name)
    return report
