"""The seed report a musician reads before generating: what composer understood of a MIDI file."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from composer.encoding import decode, encode, quantize_with_report
from composer.midi_io import instrument_name, read_midi, track_label, write_midi
from composer.piece import Piece, key_name


@dataclass
class TrackReport:
    """One track of the seed's table as the musician reads it: who plays, how many notes, how loud."""

    name: str  # the track's name, or its instrument's when it has none
    program: int
    instrument: str  # the General MIDI name of the program
    channel: int
    notes: int  # after quantization
    velocity_low: int
    velocity_high: int

    def describe(self, dynamics: bool) -> str:
        if not self.notes:
            loudness = "no notes"
        elif not dynamics:
            loudness = f"no dynamics (all {self.velocity_low})"
        elif self.velocity_low == self.velocity_high:
            loudness = f"velocity {self.velocity_low}"
        else:
            loudness = f"velocity {self.velocity_low}–{self.velocity_high}"
        return (
            f"{self.name} ({self.instrument}, program {self.program}, channel {self.channel + 1}): "
            f"{self.notes} notes, {loudness}"
        )


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
    has_dynamics: bool = False  # whether the notes' velocities differ (else they say nothing about loudness)
    tracks: list[TrackReport] = field(default_factory=list)  # the track table, in order
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
            f"  tracks ({len(self.tracks)}):",
            *(f"    {i}. {t.describe(self.has_dynamics)}" for i, t in enumerate(self.tracks, start=1)),
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
    # Notes counted as the model sees them (quantized); loudness as the file plays it (quantizing rounds it).
    counts = [0 for _ in piece.tracks]
    for n in quantized.notes:
        if 0 <= n.track < len(counts):
            counts[n.track] += 1
    velocities: list[list[int]] = [[] for _ in piece.tracks]
    for n in piece.notes:
        if 0 <= n.track < len(velocities):
            velocities[n.track].append(n.velocity)
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
        has_dynamics=piece.has_dynamics,
        tracks=[
            TrackReport(
                name=track_label(track),
                program=int(track.program),
                instrument=instrument_name(track.program),
                channel=int(track.channel),
                notes=counts[index],
                velocity_low=min(velocities[index], default=0),
                velocity_high=max(velocities[index], default=0),
            )
            for index, track in enumerate(piece.tracks)
        ],
        tracks_kept=[{"name": t.name, "program": int(t.program), "notes": t.notes} for t in piece.found if t.kept],
        tracks_dropped=[
            {"name": t.name, "program": int(t.program), "notes": t.notes, "reason": t.reason}
            for t in piece.found
            if not t.kept and t.notes  # an empty track (a conductor track, lyrics) held no music to drop
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
