"""Standard MIDI File bytes built by hand, for tests that need files no library would write."""

from __future__ import annotations

from composer.smf import MAX_NOTES


def vlq(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def header(fmt: int = 1, ntracks: int = 1, division: int = 480) -> bytes:
    return (
        b"MThd"
        + (6).to_bytes(4, "big")
        + fmt.to_bytes(2, "big")
        + ntracks.to_bytes(2, "big")
        + division.to_bytes(2, "big")
    )


def track(events: list[bytes], end: bool = True) -> bytes:
    body = b"".join(events) + (b"\x00\xff\x2f\x00" if end else b"")
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def smf(tracks: list[bytes], fmt: int | None = None, division: int = 480) -> bytes:
    if fmt is None:
        fmt = 0 if len(tracks) == 1 else 1
    return header(fmt, len(tracks), division) + b"".join(tracks)


def meta(kind: int, body: bytes, delta: int = 0) -> bytes:
    return vlq(delta) + bytes([0xFF, kind]) + vlq(len(body)) + body


def tempo(bpm: float, delta: int = 0) -> bytes:
    return meta(0x51, round(60_000_000 / bpm).to_bytes(3, "big"), delta)


def time_signature(numerator: int, denominator_power: int, delta: int = 0) -> bytes:
    return meta(0x58, bytes([numerator, denominator_power, 24, 8]), delta)


def key_signature(sharps: int, minor: int = 0, delta: int = 0) -> bytes:
    return meta(0x59, bytes([sharps & 0xFF, minor]), delta)


def program(value: int, channel: int = 0, delta: int = 0) -> bytes:
    return vlq(delta) + bytes([0xC0 | channel, value])


def note(pitch: int, length: int, delta: int = 0, channel: int = 0, velocity: int = 80) -> list[bytes]:
    """Note-on after ``delta`` ticks and its note-off ``length`` ticks later."""
    return [vlq(delta) + bytes([0x90 | channel, pitch, velocity]), vlq(length) + bytes([0x80 | channel, pitch, 0])]


def melody(pitches: list[int], length: int = 480, channel: int = 0) -> list[bytes]:
    events: list[bytes] = []
    for p in pitches:
        events += note(p, length, channel=channel)
    return events


def simple_file(pitches: list[int] | None = None, bpm: float = 120.0) -> bytes:
    """A valid type-0 file: tempo, 4/4, C major, and a short melody."""
    pitches = pitches or [60, 62, 64, 65, 67, 65, 64, 62]
    return smf([track([tempo(bpm), time_signature(4, 2), key_signature(0), *melody(pitches)])])


# ------------------------------------------------------------------------------------------ bad files

WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40)

# Files composer.smf's scan refuses → a phrase of its sentence (tests/test_py; test_midi_io reads them through a
# path, as part of BAD).
REFUSALS = {
    "empty": (b"", "is empty"),
    "wav renamed": (WAV, "not a MIDI file (it looks like a RIFF file"),
    "text renamed": (b"hello, this is not music\n" * 4, "not a MIDI file (it looks like a text file"),
    "truncated header": (simple_file()[:10], "truncated inside its MIDI header"),
    "truncated track": (simple_file()[:-9], "truncated or has a track length that lies"),
    "chunk length lies": (simple_file()[:18] + (10_000).to_bytes(4, "big") + simple_file()[22:], "length that lies"),
    "smpte": (smf([track(melody([60]))], division=0xE728), "SMPTE"),
    "zero ticks": (smf([track(melody([60]))], division=0), "0 ticks per beat"),
    "zero tempo": (smf([track([meta(81, b"\x00\x00\x00"), *melody([60])])]), "tempo of 0"),
    "time signature 0/4": (
        smf([track([time_signature(0, 2), *melody([60])])]),
        "invalid time signature",
    ),
    "key with 9 sharps": (smf([track([key_signature(9), *melody([60])])]), "invalid key signature"),
    "key mode 5": (smf([track([key_signature(1, 5), *melody([60])])]), "invalid key signature"),
    "type 2": (smf([track(melody([60]))], fmt=2), "type-2"),
    "status byte 0xF4": (smf([track([b"\x00\xf4", *melody([60])])]), "status byte 0xF4"),
    "data byte >127": (smf([track([b"\x00\x90\x3c\xff"])]), "data byte above 127"),
    "running status first": (smf([track([b"\x00\x3c\x40"])]), "data byte where a status byte"),
    "no tracks": (header(1, 0), "no tracks"),
    "sysex runs past track": (smf([track([b"\x00\xf0\x7f\x01"], end=False)]), "system-exclusive"),
    "too many notes": (smf([track(melody([60] * (MAX_NOTES + 1), length=1))]), "more than 40,000 notes"),
}

# The scan's refusals (REFUSALS) and the reader's own, each read from a path: one sentence naming the file.
BAD = {
    **REFUSALS,
    "no notes": (smf([track([tempo(100)])]), "contains no notes"),
    "only drums": (smf([track(melody([36, 38], channel=9))]), "only drum tracks"),
}
