"""Standard MIDI File bytes built by hand, for tests that need files no library would write."""

from __future__ import annotations


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
