"""Reading and writing MIDI files: the only module that touches pretty_midi (and mido).

Reading is guarded.  pretty_midi (through mido) raises many exception types on malformed files,
accepts some garbage silently, and is slow and memory-hungry on huge ones, so every file first goes
through :func:`scan_smf`, a cheap structural walk over the bytes that refuses what would fail or hang
with one sentence saying what is wrong, before the full parse.  Limits (stated in the README):

* at most ``MAX_FILE_BYTES`` bytes, checked before the file is read;
* at most ``MAX_EVENTS`` MIDI events and ``MAX_NOTES`` notes, counted by the scan, which stops as soon
  as a limit is passed;
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
from dataclasses import dataclass, field
from pathlib import Path

from composer.errors import InputError
from composer.piece import Note, Piece, TimeSignature, Track, key_name, signature_for_beats

MAX_FILE_BYTES = 2_000_000
MAX_EVENTS = 100_000
MAX_NOTES = 40_000
MAX_MESSAGE_BYTES = 1_000_000  # mido's own cap on one sysex or meta message
MAX_TICKS = 10_000_000  # pretty_midi's own cap on a file's last tick
PARSE_SECONDS = 1.5
# Pitches the model knows: the 88 keys of a piano, A0 to C8.  Notes outside are dropped on reading.
PITCH_LOW, PITCH_HIGH = 21, 108
DRUM_CHANNEL = 9
DEFAULT_TEMPO = 120.0


@dataclass
class TrackScan:
    name: str = ""
    notes: int = 0
    drum_notes: int = 0
    programs: set[int] = field(default_factory=set)


@dataclass
class SmfScan:
    """What the cheap scan learned: enough to refuse a file and to describe its tracks."""

    format: int
    ticks_per_beat: int
    tracks: list[TrackScan]
    events: int
    notes: int
    spans: list[tuple[int, int]] = field(default_factory=list)  # (start, end) of the header and each MTrk chunk


def _fail(name: str, what: str) -> InputError:
    return InputError(f"{name} {what}")


def scan_smf(data: bytes, name: str = "the file") -> SmfScan:
    """Walk a Standard MIDI File's bytes and refuse, with one sentence, anything the parser would choke on.

    Checks the header (magic, format, ticks per beat, SMPTE), every chunk length against the file size,
    every event's structure (delta times, running status, data bytes, meta and sysex lengths), the values
    of tempo, time-signature and key-signature events, and the event and note counts.
    """
    n = len(data)
    if n == 0:
        raise _fail(name, "is empty (0 bytes); choose a MIDI file (.mid) that contains music.")
    if data[:4] != b"MThd":
        kind = _guess_kind(data)
        raise _fail(name, f"is not a MIDI file ({kind}); choose a Standard MIDI File (.mid), which starts with 'MThd'.")
    if n < 14:
        raise _fail(name, "is truncated inside its MIDI header; export the file again from its source.")
    header_len = int.from_bytes(data[4:8], "big")
    if header_len < 6 or 8 + header_len > n:
        raise _fail(name, f"has a MIDI header whose length ({header_len}) is wrong; export the file again.")
    fmt = int.from_bytes(data[8:10], "big")
    division = int.from_bytes(data[12:14], "big")
    if fmt not in (0, 1):
        if fmt == 2:
            raise _fail(
                name,
                "is a type-2 MIDI file (independent sequences), which composer does not read; "
                "export it as type 0 or type 1.",
            )
        raise _fail(name, f"declares MIDI format {fmt}, which does not exist; export the file again as type 0 or 1.")
    if division & 0x8000:
        raise _fail(
            name,
            "uses SMPTE (frames per second) timing instead of beats, so it has no beat grid; "
            "export it with musical (ticks per quarter note) timing.",
        )
    if division == 0:
        raise _fail(name, "declares 0 ticks per beat, so its timing is undefined; export the file again.")

    tracks: list[TrackScan] = []
    spans = [(0, 8 + header_len)]
    events = notes = 0
    pos = 8 + header_len
    while pos < n:
        if pos + 8 > n:
            # Trailing junk shorter than a chunk header: harmless padding is common, ignore it.
            break
        chunk_type = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        start, end = pos + 8, pos + 8 + length
        if end > n:
            what = "track" if chunk_type == b"MTrk" else "chunk"
            raise _fail(
                name,
                f"is truncated or has a {what} length that lies ({length} bytes declared, "
                f"{n - start} left); export the file again.",
            )
        if chunk_type != b"MTrk":
            pos = end
            continue  # unknown chunks are allowed by the standard and skipped (and left out of the parse)
        spans.append((pos, end))
        pos = end
        track = TrackScan()
        tracks.append(track)
        running = 0
        i = start
        ticks = 0
        while i < end:
            delta, i = _varlen(data, i, end, name, len(tracks), "delta time")
            ticks += delta
            if ticks > MAX_TICKS:
                raise _fail(
                    name,
                    f"has events more than {MAX_TICKS:,} ticks from its start ({MAX_TICKS // division:,} "
                    "beats), far apart for music and likely corrupt; export the file again.",
                )
            if i >= end:
                raise _fail(
                    name,
                    f"has a track that ends in the middle of an event (track {len(tracks)}); export the file again.",
                )
            status = data[i]
            if status >= 0x80:
                i += 1
            elif running:
                status = running
            else:
                raise _fail(
                    name,
                    f"has a data byte where a status byte must be (track {len(tracks)}), so it "
                    "is corrupt; export the file again.",
                )
            events += 1
            if events > MAX_EVENTS:
                raise _fail(
                    name,
                    f"has more than {MAX_EVENTS:,} MIDI events, above composer's limit; "
                    "use a shorter excerpt as the seed.",
                )
            if status < 0xF0:
                running = status
                kind = status & 0xF0
                size = 1 if kind in (0xC0, 0xD0) else 2
                if i + size > end:
                    raise _fail(
                        name,
                        f"has a track that ends in the middle of an event (track {len(tracks)}); "
                        "export the file again.",
                    )
                d0 = data[i]
                d1 = data[i + 1] if size == 2 else 0
                if d0 >= 0x80 or d1 >= 0x80:
                    raise _fail(
                        name,
                        f"has a MIDI message with a data byte above 127 (track {len(tracks)}), so "
                        "it is corrupt; export the file again.",
                    )
                i += size
                if kind == 0x90 and d1 > 0:
                    if status & 0x0F == DRUM_CHANNEL:
                        track.drum_notes += 1
                    else:
                        track.notes += 1
                    notes += 1
                    if notes > MAX_NOTES:
                        raise _fail(
                            name,
                            f"has more than {MAX_NOTES:,} notes, above composer's limit; use a "
                            "shorter excerpt as the seed.",
                        )
                elif kind == 0xC0:
                    track.programs.add(d0)
                continue
            if status == 0xFF:
                if i >= end:
                    raise _fail(
                        name,
                        f"has a track that ends in the middle of an event (track {len(tracks)}); "
                        "export the file again.",
                    )
                meta = data[i]
                start_body, i = _message_body(data, i + 1, end, name, len(tracks), "meta event")
                body = data[start_body:i]
                _check_meta(meta, body, name)
                if meta == 0x03 and not track.name:
                    track.name = body.decode("latin-1", "replace").strip()
                # An end-of-track meta does not end the scan: the parser (mido) reads on to the chunk's end, so
                # events hidden after it count against the limits too.
                continue
            if status in (0xF0, 0xF7):
                _, i = _message_body(data, i, end, name, len(tracks), "system-exclusive message")
                running = 0  # a system-exclusive message cancels running status (the parser agrees)
                continue
            raise _fail(
                name,
                f"has an event with status byte 0x{status:02X}, which a MIDI file may not "
                f"contain (track {len(tracks)}); export the file again.",
            )
    if not tracks:
        raise _fail(name, "has a MIDI header but no tracks; export the file again.")
    return SmfScan(format=fmt, ticks_per_beat=division, tracks=tracks, events=events, notes=notes, spans=spans)


def _message_body(data: bytes, i: int, end: int, name: str, track: int, what: str) -> tuple[int, int]:
    """A length-prefixed body (meta or sysex) at ``i`` → (start of the body, index after it), checked."""
    length, i = _varlen(data, i, end, name, track)
    if length > MAX_MESSAGE_BYTES:
        raise _fail(
            name,
            f"has a {what} of {length:,} bytes, far larger than any MIDI file needs; export the file again without it.",
        )
    if i + length > end:
        raise _fail(
            name, f"has a {what} whose length runs past the end of its track (track {track}); export the file again."
        )
    return i, i + length


def _varlen(data: bytes, i: int, end: int, name: str, track: int, what: str = "length field") -> tuple[int, int]:
    """A MIDI variable-length quantity (at most 4 bytes) at ``i`` → (value, index after it)."""
    value = 0
    for _ in range(4):
        if i >= end:
            raise _fail(
                name, f"has a track that ends in the middle of an event (track {track}); export the file again."
            )
        b = data[i]
        i += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, i
    raise _fail(name, f"has a {what} longer than 4 bytes in track {track}, so it is corrupt; export the file again.")


def _check_meta(meta: int, body: bytes, name: str) -> None:
    if meta == 0x51:  # set tempo: microseconds per quarter note
        if len(body) != 3:
            raise _fail(name, "has a tempo event of the wrong size; export the file again.")
        if int.from_bytes(body, "big") == 0:
            raise _fail(
                name,
                "sets a tempo of 0 microseconds per beat (an infinite tempo); set a real tempo "
                "in your editor and export again.",
            )
    elif meta == 0x58:  # time signature: nn dd cc bb
        if len(body) != 4:
            raise _fail(name, "has a time-signature event of the wrong size; export the file again.")
        if body[0] == 0 or body[1] > 6:
            raise _fail(
                name,
                f"has an invalid time signature ({body[0]}/2^{body[1]}); fix the meter in your "
                "editor and export again.",
            )
    elif meta == 0x59:  # key signature: sf (signed, -7..7) mi (0 major, 1 minor)
        if len(body) != 2:
            raise _fail(name, "has a key-signature event of the wrong size; export the file again.")
        sharps = body[0] - 256 if body[0] > 127 else body[0]
        if not -7 <= sharps <= 7 or body[1] not in (0, 1):
            raise _fail(
                name,
                f"has an invalid key signature ({sharps} sharps, mode {body[1]}); fix the key in "
                "your editor and export again.",
            )


_MAGIC = (
    (b"RIFF", "it looks like a RIFF file, such as WAV audio"),
    (b"ID3", "it looks like MP3 audio"),
    (b"OggS", "it looks like Ogg audio"),
    (b"fLaC", "it looks like FLAC audio"),
    (b"%PDF", "it looks like a PDF document"),
    (b"PK\x03\x04", "it looks like a ZIP archive, perhaps compressed MusicXML"),
    (b"\x89PNG", "it looks like a PNG image"),
    (b"<?xml", "it looks like XML, perhaps MusicXML"),
    (b"X:", "it looks like ABC notation text"),
)


def _guess_kind(data: bytes) -> str:
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    head = data[:512]
    if head and all(32 <= c < 127 or c in (9, 10, 13) for c in head):
        return "it looks like a text file"
    return "it does not start with 'MThd'"


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
            if not PITCH_LOW <= n.pitch <= PITCH_HIGH:
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


def read_for_storing(data: bytes, name: str, max_notes: int = MAX_SEED_NOTES) -> tuple[Piece, Piece, bytes]:
    """Read a seed's bytes and write it as composer stores pieces: → (the piece as read, the stored copy as it
    reads back, the stored bytes).  A file that reads but whose copy does not (notes shorter than the stored
    grid, a last note beyond the reading limits once written at 480 ticks a beat) is refused here, so that
    nothing unreadable is ever stored.  A plain function of bytes: a worker process can run it, where the
    parse time limit holds.  At most ``max_notes`` notes (counted before parsing): reading, writing and
    reading back a longer file would keep a studio user waiting for seconds."""
    piece = read_seed(data, name, max_notes)
    stored = piece_to_midi_bytes(piece)
    try:
        copy = read_midi(stored, name)
    except InputError as error:
        reason = str(error).removeprefix(f"{name} ").split(";")[0]
        raise _fail(
            name,
            f"reads, but composer cannot store it as a seed (written back as MIDI it {reason}); "
            "quantize or trim it in your program first.",
        ) from None
    return piece, copy, stored


def write_midi(piece: Piece, path: str | os.PathLike[str]) -> None:
    """Write the piece as a MIDI file; the file appears whole or not at all."""
    data = piece_to_midi_bytes(piece)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
