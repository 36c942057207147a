"""Reading and writing MIDI files: the only module that touches pretty_midi (and mido).

Reading is guarded.  pretty_midi (through mido) raises many exception types on malformed files,
accepts some garbage silently, and is slow and memory-hungry on huge ones, so every file first goes
through :func:`composer.smf.scan_smf`, a cheap structural walk over the bytes that refuses what would fail
or hang with one sentence saying what is wrong, before the full parse.  Limits (stated in the README):

* at most ``MAX_FILE_BYTES`` bytes, checked before the file is read;
* at most ``smf.MAX_EVENTS`` MIDI events and ``smf.MAX_NOTES`` notes, counted by the scan, which stops as
  soon as a limit is passed;
* the full parse runs under a time limit where the platform allows it (main thread, POSIX).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import signal
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

from composer.atomic import atomic_write
from composer.errors import InputError
from composer.piece import PIANO_HIGH, PIANO_LOW, Note, Piece, TimeSignature, Track, key_name, signature_for_beats
from composer.smf import SmfScan, scan_smf

MAX_FILE_BYTES = 2_000_000
PARSE_SECONDS = 1.5
DEFAULT_TEMPO = 120.0


def _fail(name: str, what: str) -> InputError:
    return InputError(f"{name} {what}")


class _ParseTimeout(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after ``seconds`` where signals allow (POSIX, main thread); else no limit.

    The scan's event and note caps already bound the parse; this is a second fence.
    """
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _ParseTimeout

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def read_midi(
    source: str | os.PathLike[str] | bytes, name: str | None = None, *, max_notes: int | None = None
) -> Piece:
    """Read a MIDI file (a path, or its bytes) into a :class:`Piece`, or raise :class:`InputError`.

    ``max_notes``: a lower note limit for this use (a seed to continue), checked by the scan before the parse.

    All tracks are merged into one polyphonic stream; each note keeps its track's program.  Drum
    tracks, empty tracks and notes outside the piano range are dropped and said so in ``remarks``.
    The first tempo, time signature and key signature are carried; later changes are reported.
    """
    if isinstance(source, bytes):
        data = source
        label = name or "the uploaded file"
    else:
        path = Path(source)
        label = name or path.name
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise _fail(label, "does not exist; check the path.") from None
        except OSError as error:
            raise _fail(label, f"cannot be opened ({error.strerror}); check the path and its permissions.") from None
        if path.is_dir():
            raise _fail(label, "is a folder, not a MIDI file; name the .mid files inside it.")
        if size > MAX_FILE_BYTES:
            raise _fail(
                label,
                f"is {size:,} bytes, above composer's limit of {MAX_FILE_BYTES:,}; use a shorter excerpt as the seed.",
            )
        try:
            data = path.read_bytes()
        except OSError as error:
            raise _fail(label, f"cannot be read ({error.strerror}); check its permissions.") from None
    if len(data) > MAX_FILE_BYTES:
        raise _fail(
            label,
            f"is {len(data):,} bytes, above composer's limit of {MAX_FILE_BYTES:,}; use a shorter excerpt as the seed.",
        )
    scan = scan_smf(data, label)
    if max_notes is not None and scan.notes > max_notes:
        raise _fail(
            label,
            f"has more than {max_notes:,} notes, more than a seed needs; use a shorter excerpt "
            "(its last bars are what the model continues).",
        )
    import pretty_midi  # the parse proper; imported here so that a refusal stays cheap

    if sum(b - a for a, b in scan.spans) != len(data):
        # The parser stops at chunks it does not know, and stumbles on trailing padding: give it the header
        # and the tracks alone, as the standard says a reader should take them.
        data = b"".join(data[a:b] for a, b in scan.spans)
    try:
        with _time_limit(PARSE_SECONDS), warnings.catch_warnings():
            # pretty_midi warns on stderr about meta events outside the first track; it reads them anyway.
            warnings.simplefilter("ignore", RuntimeWarning)
            midi = pretty_midi.PrettyMIDI(io.BytesIO(data))
    except _ParseTimeout:
        raise _fail(
            label,
            f"took more than {PARSE_SECONDS:g} s to parse, so composer gave up; use a shorter excerpt as the seed.",
        ) from None
    except Exception as error:  # mido raises many types on corrupt input; none may escape as a traceback
        raise _fail(
            label, f"is damaged: {_parse_failure(error)}; export it again from the program that made it."
        ) from None
    return _piece_from_midi(midi, scan, label)


def _parse_failure(error: Exception) -> str:
    """What a parser exception means for the musician, in words (never the exception's name: it helps no one)."""
    text = str(error)
    if isinstance(error, EOFError):
        return (
            "it ends in the middle of a track (the file was cut short, or its header counts more tracks than it holds)"
        )
    if "MTrk" in text:
        return "a track does not start where its header says"
    if "data byte" in text:
        return "a note or controller event carries a value above 127"
    if "largest tick" in text:
        return "a note lies implausibly far into the file"
    return "its events do not fit together"


def _piece_from_midi(midi: object, scan: SmfScan, label: str) -> Piece:
    import pretty_midi

    assert isinstance(midi, pretty_midi.PrettyMIDI)
    resolution = midi.resolution
    remarks: list[str] = []

    def ticks(seconds: float) -> int:
        return int(midi.time_to_tick(seconds))

    def beats(seconds: float) -> float:
        return ticks(seconds) / resolution

    notes: list[Note] = []
    tracks: list[Track] = []
    dropped_range = zero_length = 0
    for instrument in midi.instruments:
        label_track = instrument.name.strip() or pretty_midi.program_to_instrument_name(instrument.program)
        if instrument.is_drum:
            tracks.append(
                Track(
                    label_track,
                    int(instrument.program),
                    True,
                    len(instrument.notes),
                    False,
                    "drums (channel 10) carry no pitches to continue",
                )
            )
            continue
        kept = 0
        for n in instrument.notes:
            start, end = ticks(n.start), ticks(n.end)
            if end <= start:
                zero_length += 1
                continue
            if not PIANO_LOW <= n.pitch <= PIANO_HIGH:  # the 88 keys the model knows
                dropped_range += 1
                continue
            # Beats as tick ratios (not a difference of floats), so that grid positions come back exactly.
            notes.append(
                Note(
                    start / resolution,
                    (end - start) / resolution,
                    int(n.pitch),
                    max(1, int(n.velocity)),
                    int(instrument.program),
                )
            )
            kept += 1
        if kept:
            tracks.append(Track(label_track, int(instrument.program), False, kept, True))
        else:
            tracks.append(
                Track(label_track, int(instrument.program), False, len(instrument.notes), False, "no playable notes")
            )
    # Tracks with no notes at all (conductor tracks, lyrics) never become pretty_midi instruments;
    # list them from the scan so the report names every track.
    for index, t in enumerate(scan.tracks):
        if t.notes == 0 and t.drum_notes == 0:
            title = t.name or f"track {index + 1}"
            tracks.append(Track(title, min(t.programs, default=0), False, 0, False, "empty (no notes)"))
    if dropped_range:
        remarks.append(f"{dropped_range} note(s) outside the piano range A0–C8 were dropped.")
    # The parser silently drops notes whose note-off comes at the same tick or never: count them too.
    parsed = sum(len(i.notes) for i in midi.instruments if not i.is_drum)
    zero_length += max(0, sum(t.notes for t in scan.tracks) - parsed)
    if zero_length:
        remarks.append(f"{zero_length} note(s) of zero length or with no note-off were dropped.")
    drum_tracks = [t for t in tracks if t.is_drum]
    if drum_tracks:
        remarks.append(f"{len(drum_tracks)} drum track(s) were dropped: composer continues pitched music.")
    if not notes:
        if drum_tracks and not any(t.notes for t in tracks if not t.is_drum):
            raise _fail(
                label,
                "contains only drum tracks; composer continues melodies and chords, so choose a "
                "file with a pitched instrument.",
            )
        if dropped_range:
            raise _fail(label, "has no notes inside the piano range A0–C8; transpose it into range and export again.")
        raise _fail(label, "contains no notes; choose a MIDI file with at least one note.")
    notes.sort(key=lambda n: (n.start, -n.pitch, n.duration, n.velocity, n.program))

    tempo_times, tempi = midi.get_tempo_changes()
    # MIDI stores microseconds per beat, so 90 BPM comes back as 90.00009: round to a thousandth.
    tempo = round(float(tempi[0]), 3) if len(tempi) else DEFAULT_TEMPO
    if tempo_times.size and beats(float(tempo_times[0])) > 0:
        tempo = DEFAULT_TEMPO  # the file sets no tempo at its start: MIDI's default applies until then
    changes = sum(1 for a, b in itertools.pairwise(tempi) if abs(a - b) > 1e-6)
    if changes:
        remarks.append(
            f"The tempo changes {changes} time(s); the first tempo, {tempo:.4g} BPM, is carried "
            "(note positions stay on the beat grid)."
        )

    time_signature, bar_start = TimeSignature(4, 4), 0.0
    signatures = sorted(midi.time_signature_changes, key=lambda s: s.time)
    signatures = [s for i, s in enumerate(signatures) if i + 1 == len(signatures) or signatures[i + 1].time > s.time]
    if signatures and beats(signatures[0].time) == 0:
        first = signatures[0]
        time_signature = TimeSignature(first.numerator, first.denominator)
        rest = signatures[1:]
        if rest:
            pickup = beats(rest[0].time)
            follow = TimeSignature(rest[0].numerator, rest[0].denominator)
            # A pickup written as one short bar in its own meter, then the real meter.
            if 0 < pickup < follow.bar_beats and abs(pickup - time_signature.bar_beats) < 1e-9:
                time_signature, bar_start, rest = follow, pickup, rest[1:]
        later = [
            f"{s.numerator}/{s.denominator}"
            for s in rest
            if (s.numerator, s.denominator) != (time_signature.numerator, time_signature.denominator)
        ]
        if later:
            remarks.append(
                f"The time signature changes {len(later)} time(s) (to {', '.join(later[:3])}); "
                f"{time_signature} is carried."
            )
    elif signatures:
        first = signatures[0]
        time_signature = TimeSignature(first.numerator, first.denominator)
        bar_start = beats(first.time) % time_signature.bar_beats
        remarks.append(
            f"The first time signature comes after the start; {time_signature} is assumed from the beginning."
        )

    key = None
    if midi.key_signature_changes:
        ks = sorted(midi.key_signature_changes, key=lambda k: k.time)
        key = int(ks[0].key_number)
        others = {int(k.key_number) for k in ks[1:]} - {key}
        if others:
            remarks.append(f"The key signature changes; the first, {key_name(key)}, is carried.")
    return Piece(
        notes=tuple(notes),
        tempo=tempo,
        time_signature=time_signature,
        bar_start=bar_start,
        key=key,
        tracks=tuple(tracks),
        remarks=tuple(remarks),
    )


def piece_to_midi_bytes(piece: Piece, resolution: int = 480) -> bytes:
    """A type-1 Standard MIDI File of the piece: one track per program, its tempo, meter and key.

    A pickup is written the way notation programs export one: a first bar in a short meter (1/4 for a
    one-beat pickup in 4/4) followed by the real meter, so that reading the file gives the same ``bar_start``.
    """
    import pretty_midi

    # A MIDI tempo is at most 0xFFFFFF µs a beat (3.58 BPM); a slower one read from a file is written at that.
    tempo = max(piece.tempo, 60e6 / 0xFFFFFF * (1 + 1e-9))
    midi = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=tempo)
    seconds_per_beat = 60.0 / tempo
    by_program: dict[int, list[Note]] = {}
    for n in piece.notes:
        by_program.setdefault(n.program, []).append(n)
    for program in sorted(by_program):
        instrument = pretty_midi.Instrument(program=program, name=pretty_midi.program_to_instrument_name(program))
        for n in by_program[program]:
            instrument.notes.append(
                pretty_midi.Note(
                    velocity=int(n.velocity),
                    pitch=int(n.pitch),
                    start=n.start * seconds_per_beat,
                    end=n.end * seconds_per_beat,
                )
            )
        midi.instruments.append(instrument)
    ts = piece.time_signature.midi_compatible()
    pickup = signature_for_beats(piece.bar_start) if piece.bar_start > 0 else None
    if pickup:
        midi.time_signature_changes.append(pretty_midi.TimeSignature(pickup[0], pickup[1], 0.0))
        midi.time_signature_changes.append(
            pretty_midi.TimeSignature(ts.numerator, ts.denominator, piece.bar_start * seconds_per_beat)
        )
    else:
        midi.time_signature_changes.append(pretty_midi.TimeSignature(ts.numerator, ts.denominator, 0.0))
    if piece.key is not None:
        midi.key_signature_changes.append(pretty_midi.KeySignature(piece.key, 0.0))
    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


MAX_SEED_NOTES = 10_000  # a seed to continue: the model conditions on its last 512 events anyway


def read_seed(
    source: str | os.PathLike[str] | bytes, name: str | None = None, max_notes: int = MAX_SEED_NOTES
) -> Piece:
    """:func:`read_midi` for a seed to continue: at most ``max_notes`` notes (the model conditions on the last
    512 events anyway, and reading more keeps a user waiting)."""
    return read_midi(source, name, max_notes=max_notes)


def write_midi(piece: Piece, path: str | os.PathLike[str]) -> None:
    """Write the piece as a MIDI file; the file appears whole or not at all."""
    atomic_write(path, piece_to_midi_bytes(piece))
