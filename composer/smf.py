"""Standard MIDI File bytes: the cheap structural scan that guards reading.

pretty_midi (through mido) raises many exception types on malformed files, accepts some garbage silently, and
is slow and memory-hungry on huge ones.  :func:`scan_smf` walks a file's bytes first, in three steps — the
header (:func:`read_header`), the chunks (:func:`chunks`), each track's events (:func:`scan_track_events`) —
and refuses anything the parser would choke on or take too long over, with one sentence saying what is wrong
and what to do.  It stops as soon as a limit is passed:

* at most ``MAX_EVENTS`` MIDI events and ``MAX_NOTES`` notes in the whole file;
* no meta or system-exclusive message over ``MAX_MESSAGE_BYTES`` bytes, no event beyond ``MAX_TICKS`` ticks.

Pure: bytes in, an :class:`SmfScan` or an :class:`InputError` out; no MIDI library.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from composer.errors import InputError

MAX_EVENTS = 100_000
MAX_NOTES = 40_000
MAX_MESSAGE_BYTES = 1_000_000  # mido's own cap on one sysex or meta message
MAX_TICKS = 10_000_000  # pretty_midi's own cap on a file's last tick
DRUM_CHANNEL = 9  # channel 10 as musicians count


@dataclass
class TrackScan:
    """One track (MTrk chunk) as the scan saw it: its first name, its notes on pitched and drum channels, and
    the programs it selects."""

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


@dataclass(frozen=True)
class Header:
    """A checked MThd chunk: format 0 or 1, musical timing, and ``end``, the index of the first chunk after it."""

    format: int
    ticks_per_beat: int
    end: int


@dataclass(frozen=True)
class Chunk:
    """A chunk whose declared length fits in the file: its 4-byte type, and ``data[start:end]`` is the whole
    chunk (the 8-byte type and length, then the body)."""

    kind: bytes
    start: int
    end: int

    @property
    def body(self) -> int:
        """Index of the body's first byte."""
        return self.start + 8


def _fail(name: str, what: str) -> InputError:
    return InputError(f"{name} {what}")


def scan_smf(data: bytes, name: str = "the file") -> SmfScan:
    """Walk a Standard MIDI File's bytes and refuse, with one sentence, anything the parser would choke on.

    Checks the header (magic, format, ticks per beat, SMPTE), every chunk length against the file size,
    every event's structure (delta times, running status, data bytes, meta and sysex lengths), the values
    of tempo, time-signature and key-signature events, and the event and note counts.  Chunks of unknown
    type are skipped, as the standard says; ``spans`` lists the header and the tracks, what a parser needs.
    """
    header = read_header(data, name)
    tally = Tally()
    tracks: list[TrackScan] = []
    spans = [(0, header.end)]
    for chunk in chunks(data, header.end, name):
        if chunk.kind != b"MTrk":
            continue  # unknown chunks are allowed by the standard and skipped (and left out of the parse)
        spans.append((chunk.start, chunk.end))
        tracks.append(scan_track_events(data, chunk, tally, TrackRef(name, len(tracks) + 1, header.ticks_per_beat)))
    if not tracks:
        raise _fail(name, "has a MIDI header but no tracks; export the file again.")
    return SmfScan(header.format, header.ticks_per_beat, tracks, tally.events, tally.notes, spans)


# ------------------------------------------------------------------------------------------ the header


def read_header(data: bytes, name: str) -> Header:
    """The MThd chunk at the start of ``data``, checked: a MIDI file at all, whole, of format 0 or 1, timed in
    ticks per beat."""
    if not data:
        raise _fail(name, "is empty (0 bytes); choose a MIDI file (.mid) that contains music.")
    if data[:4] != b"MThd":
        kind = _guess_kind(data)
        raise _fail(name, f"is not a MIDI file ({kind}); choose a Standard MIDI File (.mid), which starts with 'MThd'.")
    if len(data) < 14:
        raise _fail(name, "is truncated inside its MIDI header; export the file again from its source.")
    length = int.from_bytes(data[4:8], "big")
    if length < 6 or 8 + length > len(data):
        raise _fail(name, f"has a MIDI header whose length ({length}) is wrong; export the file again.")
    fmt = int.from_bytes(data[8:10], "big")
    division = int.from_bytes(data[12:14], "big")
    _check_format(fmt, name)
    _check_division(division, name)
    return Header(fmt, division, 8 + length)


def _check_format(fmt: int, name: str) -> None:
    if fmt == 2:
        raise _fail(
            name,
            "is a type-2 MIDI file (independent sequences), which composer does not read; "
            "export it as type 0 or type 1.",
        )
    if fmt not in (0, 1):
        raise _fail(name, f"declares MIDI format {fmt}, which does not exist; export the file again as type 0 or 1.")


def _check_division(division: int, name: str) -> None:
    if division & 0x8000:
        raise _fail(
            name,
            "uses SMPTE (frames per second) timing instead of beats, so it has no beat grid; "
            "export it with musical (ticks per quarter note) timing.",
        )
    if division == 0:
        raise _fail(name, "declares 0 ticks per beat, so its timing is undefined; export the file again.")


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
    """What a file that is not MIDI seems to be, in words, from its first bytes."""
    for magic, what in _MAGIC:
        if data.startswith(magic):
            return what
    head = data[:512]
    if head and all(32 <= c < 127 or c in (9, 10, 13) for c in head):
        return "it looks like a text file"
    return "it does not start with 'MThd'"


# ------------------------------------------------------------------------------------------ the chunks


def chunks(data: bytes, start: int, name: str) -> Iterator[Chunk]:
    """The chunks from ``start`` to the end of ``data``, one at a time, each checked to fit in the file when it
    is reached (so a track before a lying chunk is scanned, and refused first, as before).  Trailing bytes too
    few for a chunk header are padding, common and harmless: they end the walk."""
    n = len(data)
    pos = start
    while pos + 8 <= n:
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        end = pos + 8 + length
        if end > n:
            what = "track" if kind == b"MTrk" else "chunk"
            raise _fail(
                name,
                f"is truncated or has a {what} length that lies ({length} bytes declared, "
                f"{n - pos - 8} left); export the file again.",
            )
        yield Chunk(kind, pos, end)
        pos = end


# ------------------------------------------------------------------------------------------ the events


@dataclass(slots=True)
class Tally:
    """Events and notes counted so far across the file's tracks, for the file-wide limits."""

    events: int = 0
    notes: int = 0


@dataclass(frozen=True)
class TrackRef:
    """Where the event walk is, for the refusal sentences: the file's name, the track's number (MTrk chunks
    counted from 1) and the file's ticks per beat."""

    file: str
    number: int
    ticks_per_beat: int

    def fail(self, what: str) -> InputError:
        return _fail(self.file, what)

    def cut_short(self) -> InputError:
        return self.fail(
            f"has a track that ends in the middle of an event (track {self.number}); export the file again."
        )

    def corrupt(self, what: str) -> InputError:
        return self.fail(f"has {what} (track {self.number}), so it is corrupt; export the file again.")


def scan_track_events(data: bytes, chunk: Chunk, tally: Tally, where: TrackRef) -> TrackScan:
    """Walk one track's events → what they hold, counting on in ``tally``; or refuse the file.

    Reads past an end-of-track meta to the chunk's end, as the parser (mido) does: events hidden after it count
    against the limits too.  The scan's hot loop: a one-byte delta time is read inline, one call per event."""
    track = TrackScan()
    i, end = chunk.body, chunk.end
    ticks = running = 0
    events = tally.events
    while i < end:
        delta = data[i]
        if delta < 0x80:
            i += 1
        else:
            delta, i = _varlen(data, i, end, where, "delta time")
        ticks += delta
        if ticks > MAX_TICKS:
            raise where.fail(
                f"has events more than {MAX_TICKS:,} ticks from its start ({MAX_TICKS // where.ticks_per_beat:,} "
                "beats), far apart for music and likely corrupt; export the file again."
            )
        if i >= end:
            raise where.cut_short()
        status = data[i]
        if status >= 0x80:
            i += 1
        elif running:
            status = running
        else:
            raise where.corrupt("a data byte where a status byte must be")
        events += 1
        if events > MAX_EVENTS:
            raise where.fail(
                f"has more than {MAX_EVENTS:,} MIDI events, above composer's limit; use a shorter excerpt as the seed."
            )
        if status < 0xF0:
            running = status
            i = _channel_message(data, i, end, status, track, tally, where)
        else:
            i, running = _system_event(data, i, end, status, running, track, where)
    tally.events = events
    return track


def _channel_message(
    data: bytes, i: int, end: int, status: int, track: TrackScan, tally: Tally, where: TrackRef
) -> int:
    """The data bytes of a channel message at ``i`` → the index after them; notes and programs counted."""
    kind = status & 0xF0
    if kind in (0xC0, 0xD0):  # program change, channel pressure: one data byte
        if i >= end:
            raise where.cut_short()
        if data[i] >= 0x80:
            raise where.corrupt("a MIDI message with a data byte above 127")
        if kind == 0xC0:
            track.programs.add(data[i])
        return i + 1
    if i + 2 > end:
        raise where.cut_short()
    if data[i] >= 0x80 or data[i + 1] >= 0x80:
        raise where.corrupt("a MIDI message with a data byte above 127")
    if kind == 0x90 and data[i + 1]:  # a note-on of velocity 0 is a note-off
        _count_note(status, track, tally, where)
    return i + 2


def _count_note(status: int, track: TrackScan, tally: Tally, where: TrackRef) -> None:
    if status & 0x0F == DRUM_CHANNEL:
        track.drum_notes += 1
    else:
        track.notes += 1
    tally.notes += 1
    if tally.notes > MAX_NOTES:
        raise where.fail(
            f"has more than {MAX_NOTES:,} notes, above composer's limit; use a shorter excerpt as the seed."
        )


def _system_event(
    data: bytes, i: int, end: int, status: int, running: int, track: TrackScan, where: TrackRef
) -> tuple[int, int]:
    """A meta or system-exclusive event whose body starts at ``i`` → (index after it, running status after it)."""
    if status == 0xFF:
        return _meta_event(data, i, end, track, where), running
    if status in (0xF0, 0xF7):
        _, i = _message_body(data, i, end, where, "system-exclusive message")
        return i, 0  # a system-exclusive message cancels running status (the parser agrees)
    raise where.fail(
        f"has an event with status byte 0x{status:02X}, which a MIDI file may not "
        f"contain (track {where.number}); export the file again."
    )


def _meta_event(data: bytes, i: int, end: int, track: TrackScan, where: TrackRef) -> int:
    """A meta event's type and body at ``i`` → the index after it; its values checked, the track name kept."""
    if i >= end:
        raise where.cut_short()
    meta = data[i]
    start, i = _message_body(data, i + 1, end, where, "meta event")
    body = data[start:i]
    check = _META_CHECKS.get(meta)
    if check:
        check(body, where.file)
    if meta == 0x03 and not track.name:
        track.name = body.decode("latin-1", "replace").strip()
    return i


def _message_body(data: bytes, i: int, end: int, where: TrackRef, what: str) -> tuple[int, int]:
    """A length-prefixed body (meta or sysex) at ``i`` → (start of the body, index after it), checked."""
    length, i = _varlen(data, i, end, where)
    if length > MAX_MESSAGE_BYTES:
        raise where.fail(
            f"has a {what} of {length:,} bytes, far larger than any MIDI file needs; export the file again without it."
        )
    if i + length > end:
        raise where.fail(
            f"has a {what} whose length runs past the end of its track (track {where.number}); export the file again."
        )
    return i, i + length


def _varlen(data: bytes, i: int, end: int, where: TrackRef, what: str = "length field") -> tuple[int, int]:
    """A MIDI variable-length quantity (at most 4 bytes) at ``i`` → (value, index after it)."""
    value = 0
    for _ in range(4):
        if i >= end:
            raise where.cut_short()
        b = data[i]
        i += 1
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, i
    raise where.fail(
        f"has a {what} longer than 4 bytes in track {where.number}, so it is corrupt; export the file again."
    )


# ------------------------------------------------------------------------------------------ meta values


def _check_tempo(body: bytes, name: str) -> None:
    """Set tempo: microseconds per quarter note, three bytes, not zero."""
    if len(body) != 3:
        raise _fail(name, "has a tempo event of the wrong size; export the file again.")
    if int.from_bytes(body, "big") == 0:
        raise _fail(
            name,
            "sets a tempo of 0 microseconds per beat (an infinite tempo); set a real tempo "
            "in your editor and export again.",
        )


def _check_time_signature(body: bytes, name: str) -> None:
    """Time signature: nn dd cc bb, a numerator above 0 and a denominator of at most 2^6."""
    if len(body) != 4:
        raise _fail(name, "has a time-signature event of the wrong size; export the file again.")
    if body[0] == 0 or body[1] > 6:
        raise _fail(
            name,
            f"has an invalid time signature ({body[0]}/2^{body[1]}); fix the meter in your editor and export again.",
        )


def _check_key_signature(body: bytes, name: str) -> None:
    """Key signature: sf (signed, -7..7 sharps) mi (0 major, 1 minor)."""
    if len(body) != 2:
        raise _fail(name, "has a key-signature event of the wrong size; export the file again.")
    sharps = body[0] - 256 if body[0] > 127 else body[0]
    if not -7 <= sharps <= 7 or body[1] not in (0, 1):
        raise _fail(
            name,
            f"has an invalid key signature ({sharps} sharps, mode {body[1]}); fix the key in "
            "your editor and export again.",
        )


_META_CHECKS: dict[int, Callable[[bytes, str], None]] = {
    0x51: _check_tempo,
    0x58: _check_time_signature,
    0x59: _check_key_signature,
}
