"""A hostile-input corpus: MIDI (and not-MIDI) files built in code to break a reader, not picked to pass.

Every file is made by a rule, not by hand: good files truncated at every chunk boundary and at spread-out
byte offsets, random bit flips of good files (seeded), and systematic sweeps over each thing a Standard MIDI
File can get wrong (header, chunk lengths, division, running status, meta and sysex lengths, tick gaps,
tempo, key and time signatures, track counts, drums, zero-length and overlapping notes, huge note counts),
plus files of other kinds named ``.mid``.  The same seed gives the same bytes.

    from composer.testing.hostile import generate
    files = generate(Path("/tmp/hostile"))      # [(file name, category), ...], ≥ 300 files

Also here, shared by ``tests/test_hostile.py`` (CI) and ``bench/hostile.py`` (the full run with times and
memory): :func:`sentence_problem`, the judge of a refusal sentence; :func:`stored_copy_problem`, whether a piece
survives being stored as the studio stores seeds; :func:`fuzz_bytes`, the hypothesis strategy of reader input.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from composer.testing import smf

# The categories, in the order the issue lists them (plus `near_caps`, files just inside composer's limits,
# `odd_values`, legal but unusual content, and `unknown_chunks`).
CATEGORIES = (
    "truncated",
    "garbled_header",
    "lying_length",
    "ticks_per_beat",
    "smpte",
    "running_status",
    "huge_meta_sysex",
    "million_notes",
    "huge_gap",
    "type2",
    "many_tracks",
    "drums",
    "zero_overlap_notes",
    "tempo",
    "signatures",
    "not_midi",
    "bit_flip",
    "near_caps",
    "odd_values",
    "unknown_chunks",
)


@dataclass(frozen=True)
class Case:
    name: str  # file name, always ending in .mid
    category: str
    data: bytes


# ------------------------------------------------------------------------------------------ judging answers

_INSTRUCTION = re.compile(r"^(Choose|Upload|Bring|Pick|Give|Name|Use|Export|Set|Check|Fix|Transpose|Try)\b")
# A parser's own words in place of the problem: "(EOFError: )", "(OSError: no MTrk header at start of track)", the
# catch-all "could not be parsed as MIDI (…)".  A bare class name tagged onto a plain description passes.
_PARSER_LEAK = re.compile(r"\b\w+(Error|Exception|Warning): |\(\s*\)|Traceback|File \"|could not be parsed as MIDI \(")


def sentence_problem(message: str) -> str | None:
    """Why ``message`` is not one clear sentence for a musician, or None when it is.

    One line, ends with a full stop, one sentence (text in parentheses aside), says what was wrong and what
    to do (composer writes "what was wrong; what to do", or starts with an instruction), at most 400
    characters.  Naming a Python exception or showing a traceback is not clear.
    """
    text = message.strip()
    if not text:
        return "empty message"
    if "\n" in text or "Traceback" in text:
        return "more than one line (a traceback?)"
    if len(text) > 400:
        return f"{len(text)} characters, too long for one sentence"
    if not text.endswith("."):
        return "does not end with a full stop"
    bare = re.sub(r"\([^()]*\)", "", text[:-1])
    if re.search(r"[.!?]\s+[A-Z]", bare):
        return "more than one sentence"
    if "; " not in bare and not _INSTRUCTION.search(text):
        return "says what was wrong but not what to do"
    if _PARSER_LEAK.search(text):
        return "names a parser exception instead of the problem"
    return None


def stored_copy_problem(piece: Any, *, same_notes: bool = False) -> str | None:
    """What goes wrong when the studio stores a piece the reader accepted, or None.

    The studio keeps a seed as ``piece_to_midi_bytes(piece)`` and reads that copy back whenever it shows or
    continues the piece: the copy must be written without error and read back (``same_notes``: with as many
    notes; notes shorter than the written file's tick, 1/480 beat, are lost).
    """
    from composer.errors import InputError
    from composer.midi_io import piece_to_midi_bytes, read_midi

    try:
        data = piece_to_midi_bytes(piece)
    except Exception as error:
        return f"writing the piece failed ({type(error).__name__}: {error})"
    try:
        back = read_midi(data, name="the stored copy")
    except InputError as error:
        return f"the written copy is refused: {error}"
    except Exception as error:
        return f"reading the written copy failed ({type(error).__name__}: {error})"
    if same_notes and len(back.notes) != len(piece.notes):
        return f"the written copy has {len(back.notes)} notes instead of {len(piece.notes)}"
    return None


# ------------------------------------------------------------------------------------------ building blocks


def _raw_track(body: bytes) -> bytes:
    """An MTrk chunk around ``body`` exactly as given (no end-of-track added)."""
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def _header(fmt: int, ntracks: int, division: int, length: int = 6, extra: bytes = b"") -> bytes:
    return (
        b"MThd"
        + length.to_bytes(4, "big")
        + fmt.to_bytes(2, "big")
        + ntracks.to_bytes(2, "big")
        + division.to_bytes(2, "big")
        + extra
    )


def _notes_running(
    count: int, pitch_of: Callable[[int], int] | None = None, length: int = 60, channel: int = 0
) -> bytes:
    """``count`` notes on one channel, written with running status (note-on, then note-on velocity 0)."""
    if pitch_of is None:
        return bytes([0x00, 0x90 | channel, 60, 80, length & 0x7F, 60, 0]) + bytes(
            [0x00, 60, 80, length & 0x7F, 60, 0]
        ) * (count - 1)
    out = bytearray([0x00, 0x90 | channel])
    for i in range(count):
        p = pitch_of(i)
        out += bytes([p, 80, length & 0x7F, p, 0, 0x00])
    return bytes(out[:-1])


def _melody_events(pitches: list[int], length: int = 480, channel: int = 0) -> list[bytes]:
    return smf.melody(pitches, length, channel)


def good_files() -> dict[str, bytes]:
    """The well-formed files the systematic damage starts from."""
    simple = smf.simple_file()
    conductor = smf.track(
        [
            smf.meta(0x03, b"Conductor"),
            smf.tempo(96),
            smf.time_signature(3, 2),
            smf.key_signature(-2, 1),
            smf.meta(0x06, b"A", 1440),
        ]
    )
    piano = smf.track(
        [
            smf.meta(0x03, b"Piano"),
            smf.program(0),
            smf.vlq(0) + bytes([0xB0, 7, 100]),
            smf.vlq(0) + bytes([0xE0, 0, 64]),
            *_melody_events([67, 70, 74, 72, 70, 69], 240),
        ]
    )
    bass = smf.track(
        [smf.meta(0x03, b"Bass"), smf.program(32, channel=1), *_melody_events([43, 46, 50], 480, channel=1)]
    )
    drums = smf.track([smf.meta(0x03, b"Drums"), *_melody_events([36, 38, 42, 38], 240, channel=9)])
    type1 = smf.smf([conductor, piano, bass, drums])
    gm_reset = b"\x00\xf0\x05\x7e\x7f\x09\x01\xf7"
    running = bytes(
        [0x00, 0x90, 60, 90, 0x83, 0x60, 60, 0, 0x00, 64, 90, 0x83, 0x60, 64, 0, 0x00, 67, 90, 0x83, 0x60, 67, 0]
    )
    rich = (
        smf.header(1, 2)
        + smf.track([smf.meta(0x02, b"(c) nobody"), smf.tempo(140), smf.time_signature(6, 3), smf.key_signature(2)])
        + b"XFIH"
        + (4).to_bytes(4, "big")
        + b"junk"
        + smf.track(
            [
                gm_reset,
                smf.meta(0x01, b"text"),
                smf.meta(0x05, b"la"),
                smf.meta(0x06, b"verse"),
                running,
                smf.vlq(0) + bytes([0xA0, 60, 20]),
                smf.vlq(0) + bytes([0xD0, 30]),
                *_melody_events([72, 71, 69, 67], 360),
            ]
        )
    )
    files = {"simple": simple, "type1": type1, "rich": rich}
    examples = Path(__file__).resolve().parent.parent / "composer" / "examples"
    for stem in ("bach-bwv269", "haste-to-the-wedding"):  # files written by pretty_midi, as real exports are
        path = examples / f"{stem}.mid"
        if path.exists():
            files[stem] = path.read_bytes()
    return files


def chunk_boundaries(data: bytes) -> list[int]:
    """Offsets where each chunk (header included) starts, plus the end of the file."""
    out = [0]
    pos = 0
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "big")
        pos += 8 + length
        out.append(min(pos, len(data)))
    return out


# ------------------------------------------------------------------------------------------ the corpus


class _Corpus:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.cases: list[Case] = []
        self.counts: dict[str, int] = {}

    def add(self, category: str, slug: str, data: bytes) -> None:
        i = self.counts.get(category, 0)
        self.counts[category] = i + 1
        self.cases.append(Case(f"{category}-{i:03d}-{slug}.mid", category, data))


def build(seed: int = 0) -> list[Case]:
    """The whole corpus in memory (the million-note files are a few MB each)."""
    c = _Corpus(seed)
    good = good_files()
    _truncated(c, good)
    _garbled_header(c)
    _lying_length(c)
    _ticks_per_beat(c)
    _smpte(c)
    _running_status(c)
    _huge_meta_sysex(c)
    _million_notes(c)
    _huge_gap(c)
    _type2(c)
    _many_tracks(c)
    _drums(c)
    _zero_overlap(c)
    _tempo(c)
    _signatures(c)
    _not_midi(c, good)
    _bit_flip(c, good)
    _near_caps(c)
    _odd_values(c)
    _unknown_chunks(c)
    return c.cases


def generate(out_dir: Path, seed: int = 0) -> list[tuple[str, str]]:
    """Write the corpus into ``out_dir``; return ``(file name, category)`` for each file, in order."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    listing = []
    for case in build(seed):
        (out_dir / case.name).write_bytes(case.data)
        listing.append((case.name, case.category))
    return listing


# ------------------------------------------------------------------------------------------ categories


def _truncated(c: _Corpus, good: dict[str, bytes]) -> None:
    """Each good file cut at every chunk boundary, a few bytes either side of it, inside each chunk header,
    and at spread-out offsets."""
    for stem, data in good.items():
        cuts = set(range(0, 15))  # inside the header chunk, byte by byte
        for b in chunk_boundaries(data):
            cuts.update({b - 1, b, b + 1, b + 4, b + 7, b + 9})
        cuts.update(round(len(data) * k / 8) for k in range(1, 8))
        for cut in sorted(x for x in cuts if 0 <= x < len(data)):
            c.add("truncated", f"{stem}-at-{cut}", data[:cut])


def _garbled_header(c: _Corpus) -> None:
    body = smf.track([smf.tempo(100), *_melody_events([60, 64, 67])])
    h = smf.header(0, 1)
    # (damaged header, whether a good track follows it)
    variants = {
        "magic-lowercase": (b"mthd" + h[4:], True),
        "magic-MThD": (b"MThD" + h[4:], True),
        "magic-MTrk-first": (b"MTrk" + h[4:], True),
        "magic-space": (b" MThd" + h[4:], True),
        "len-0": (_header(0, 1, 480, length=0)[:8], False),
        "len-0-then-fields": (_header(0, 1, 480, length=0), True),
        "len-5": (_header(0, 1, 480, length=5), True),
        "len-7": (_header(0, 1, 480, length=7, extra=b"\x00"), True),
        "len-12-extra": (_header(0, 1, 480, length=12, extra=b"\x00" * 6), True),
        "len-100-lie": (_header(0, 1, 480, length=100), True),
        "len-max": (_header(0, 1, 480, length=0xFFFFFFFF), True),
        "format-3": (_header(3, 1, 480), True),
        "format-ffff": (_header(0xFFFF, 1, 480), True),
        "format-256": (_header(256, 1, 480), True),
        "ntracks-0": (_header(0, 0, 480), True),
        "ntracks-65535": (_header(1, 65535, 480), True),
        "ntracks-5-have-1": (_header(1, 5, 480), True),
        "ntracks-1-have-3": (h + body + body, True),
        "header-only": (h, False),
        "header-13-bytes": (h[:13], False),
        "two-headers": (h + h, True),
        "header-zeros": (b"MThd" + bytes(10), True),
        "header-ff": (b"MThd" + b"\xff" * 10, True),
        "mtrk-spelled-mtrK": (h + b"MTrK" + body[4:], False),
        "no-mtrk-only-unknown": (h + b"JUNK" + (3).to_bytes(4, "big") + b"abc", False),
    }
    for slug, (head, with_track) in variants.items():
        c.add("garbled_header", slug, head + body if with_track else head)
    for division in (480, 96):  # fields shuffled: division where the format should be, and so on
        shuffled = _header(1, 1, division)
        c.add(
            "garbled_header",
            f"fields-swapped-{division}",
            shuffled[:8] + shuffled[12:14] + shuffled[10:12] + shuffled[8:10] + body,
        )


def _lying_length(c: _Corpus) -> None:
    body = b"".join([smf.tempo(100), *_melody_events([60, 62, 64, 65]), b"\x00\xff\x2f\x00"])
    head = _header(0, 1, 480)
    n = len(body)
    for slug, declared in (
        ("plus-1", n + 1),
        ("plus-1000", n + 1000),
        ("max", 0xFFFFFFFF),
        ("2e9", 2_000_000_000),
        ("minus-1", n - 1),
        ("minus-4", n - 4),
        ("half", n // 2),
        ("one", 1),
        ("zero", 0),
    ):
        c.add("lying_length", f"track-{slug}", head + b"MTrk" + declared.to_bytes(4, "big") + body)
    # Two tracks: the first one's length swallows the second's header, or stops inside it.
    t2 = smf.track(_melody_events([67, 69]))
    for slug, declared in (("covers-next", n + len(t2)), ("into-next-header", n + 4)):
        c.add("lying_length", f"type1-{slug}", _header(1, 2, 480) + b"MTrk" + declared.to_bytes(4, "big") + body + t2)
    c.add("lying_length", "no-end-of-track", head + _raw_track(body[:-4]))
    c.add("lying_length", "end-of-track-early", head + _raw_track(b"\x00\xff\x2f\x00" + body))
    c.add("lying_length", "end-of-track-len-5", head + _raw_track(body[:-1] + b"\x05"))
    c.add("lying_length", "event-spans-chunk-end", head + _raw_track(body[:-6]) + _raw_track(body[-6:]))
    c.add("lying_length", "zero-length-track-then-data", head + b"MTrk\x00\x00\x00\x00" + body)
    c.add("lying_length", "empty-track-only", head + b"MTrk\x00\x00\x00\x00")
    c.add("lying_length", "unknown-chunk-length-lies", head + b"XXXX" + (10**6).to_bytes(4, "big") + _raw_track(body))


def _file_with_division(division: int, pitches: list[int] | None = None, length: int | None = None) -> bytes:
    pitches = pitches or [60, 62, 64, 65, 67]
    length = length if length is not None else max(1, division)
    return smf.smf(
        [smf.track([smf.tempo(120), smf.time_signature(4, 2), *_melody_events(pitches, length)])], division=division
    )


def _ticks_per_beat(c: _Corpus) -> None:
    for division in (0, 1, 2, 3, 5, 7, 11, 13, 24, 1000, 9600, 0x4000, 0x7FFE, 0x7FFF):
        c.add("ticks_per_beat", f"tpq-{division}", _file_with_division(division))
    c.add("ticks_per_beat", "tpq-0-no-notes", smf.smf([smf.track([smf.tempo(120)])], division=0))
    c.add("ticks_per_beat", "tpq-32767-one-tick-notes", _file_with_division(0x7FFF, length=1))
    c.add("ticks_per_beat", "tpq-1-long-notes", _file_with_division(1, length=1000))
    c.add(
        "ticks_per_beat",
        "tpq-32767-300-beats",
        smf.smf([smf.track(smf.note(60, 0x7FFF) + smf.note(62, 0x7FFF, delta=300 * 0x7FFF))], division=0x7FFF),
    )


def _smpte(c: _Corpus) -> None:
    for fps, sub in ((24, 4), (25, 40), (29, 80), (30, 100), (24, 0), (1, 1), (128, 255), (0, 0)):
        division = 0x8000 | (((-fps) & 0x7F) << 8) | sub if fps else 0x8000 | sub
        c.add("smpte", f"fps-{fps}-sub-{sub}", _file_with_division(division, length=100))
    c.add("smpte", "ffff", _file_with_division(0xFFFF, length=10))


def _running_status(c: _Corpus) -> None:
    h = _header(0, 1, 480)
    eot = b"\x00\xff\x2f\x00"

    def t(body: bytes) -> bytes:
        return h + _raw_track(body + eot)

    c.add("running_status", "at-track-start", t(bytes([0x00, 60, 80, 0x60, 60, 0])))
    c.add("running_status", "long-run-10000", t(_notes_running(10_000, lambda i: 40 + i % 48)))
    c.add("running_status", "after-meta", t(bytes([0x00, 0x90, 60, 80]) + smf.meta(0x01, b"x") + bytes([0x60, 60, 0])))
    c.add("running_status", "after-sysex", t(bytes([0x00, 0x90, 60, 80]) + b"\x00\xf0\x01\xf7" + bytes([0x60, 60, 0])))
    c.add(
        "running_status",
        "after-program-change",
        t(bytes([0x00, 0xC0, 5, 0x00, 7, 0x00, 9, 0x00, 0x90, 60, 80, 0x60, 60, 0])),
    )
    c.add(
        "running_status",
        "channel-pressure-run",
        t(bytes([0x00, 0xD0, 10]) + bytes([0x00, 20]) * 100 + bytes([0x00, 0x90, 60, 80, 0x60, 60, 0])),
    )
    c.add("running_status", "data-byte-high", t(bytes([0x00, 0x90, 60, 80, 0x60, 0x80, 0])))
    c.add("running_status", "velocity-byte-high", t(bytes([0x00, 0x90, 60, 0xC0, 0x60, 60, 0])))
    c.add(
        "running_status",
        "across-tracks",
        _header(1, 2, 480) + _raw_track(bytes([0x00, 0x90, 60, 80]) + eot) + _raw_track(bytes([0x60, 60, 0]) + eot),
    )
    c.add("running_status", "odd-number-of-data-bytes", t(bytes([0x00, 0x90, 60, 80, 0x60, 60])))
    for status in (0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF8, 0xFA, 0xFE):
        c.add("running_status", f"system-{status:02x}", t(bytes([0x00, 0x90, 60, 80, 0x00, status, 0x60, 60, 0])))
    c.add(
        "running_status",
        "f7-escape",
        t(bytes([0x00, 0x90, 60, 80]) + b"\x00\xf7\x02\xf8\xfa" + bytes([0x60, 0x80, 60, 0])),
    )
    c.add(
        "running_status", "note-off-run", t(bytes([0x00, 0x90, 60, 80, 0x00, 64, 80, 0x60, 0x80, 60, 0, 0x00, 64, 0]))
    )
    # Every channel message type, alternating with running status between them.
    mixed = bytearray()
    for kind in (0x80, 0x90, 0xA0, 0xB0, 0xC0, 0xD0, 0xE0):
        size = 1 if kind in (0xC0, 0xD0) else 2
        mixed += bytes([0x00, kind | 3]) + bytes([1] * size) + (bytes([0x00]) + bytes([2] * size)) * 3
    c.add("running_status", "every-kind", t(bytes(mixed) + bytes([0x00, 0x93, 60, 80, 0x60, 60, 0])))
    c.add("running_status", "delta-5-bytes", t(b"\x81\x81\x81\x81\x01\x90\x3c\x40"))
    c.add("running_status", "delta-4-bytes-max", t(b"\xff\xff\xff\x7f\x90\x3c\x40\x00\x3c\x00"))


def _huge_meta_sysex(c: _Corpus) -> None:
    h = _header(0, 1, 480)
    notes = b"".join(_melody_events([60, 62, 64]))
    eot = b"\x00\xff\x2f\x00"

    def declared(prefix: bytes, length: int, body: bytes = b"") -> bytes:
        return h + _raw_track(notes + b"\x00" + prefix + smf.vlq(length) + body + eot)

    for kind, prefix in (
        ("text", b"\xff\x01"),
        ("tempo", b"\xff\x51"),
        ("seq-specific", b"\xff\x7f"),
        ("sysex", b"\xf0"),
        ("escape", b"\xf7"),
    ):
        for slug, length in (("2^28-1", 0x0FFFFFFF), ("1e6+1", 1_000_001), ("past-track", 1000)):
            c.add("huge_meta_sysex", f"{kind}-{slug}", declared(prefix, length, b"\x00" * 10))
    c.add("huge_meta_sysex", "text-999999-real", declared(b"\xff\x01", 999_999, b"a" * 999_999))
    c.add("huge_meta_sysex", "sysex-999999-real", declared(b"\xf0", 999_999, b"\x01" * 999_998 + b"\xf7"))
    c.add("huge_meta_sysex", "sysex-1.5e6-real", declared(b"\xf0", 1_500_000, b"\x01" * 1_499_999 + b"\xf7"))
    c.add("huge_meta_sysex", "sysex-data-high-bytes", declared(b"\xf0", 6, b"\x80\xff\x90\x3c\x40\xf7"))
    c.add("huge_meta_sysex", "meta-len-5-bytes", h + _raw_track(notes + b"\x00\xff\x01\x81\x81\x81\x81\x01" + eot))
    c.add("huge_meta_sysex", "meta-type-missing", h + _raw_track(notes + b"\x00\xff"))
    c.add("huge_meta_sysex", "meta-type-ff", declared(b"\xff\xff", 3, b"abc"))
    c.add("huge_meta_sysex", "track-name-binary", declared(b"\xff\x03", 256, bytes(range(256))))
    c.add("huge_meta_sysex", "track-name-utf8", declared(b"\xff\x03", 12, "Flöte ♪ 1".encode()[:12]))
    c.add("huge_meta_sysex", "many-small-sysex", h + _raw_track(b"\x00\xf0\x03\x7e\x01\xf7" * 20_000 + notes + eot))
    c.add(
        "huge_meta_sysex",
        "many-lyrics",
        h + _raw_track(b"".join(smf.meta(0x05, b"la", 1) for _ in range(20_000)) + notes + eot),
    )
    # Meta events whose body mido decodes at a fixed size, given the wrong size.
    for slug, meta in (
        ("sequence-number-1-byte", b"\xff\x00\x01\x05"),
        ("channel-prefix-empty", b"\xff\x20\x00"),
        ("midi-port-empty", b"\xff\x21\x00"),
        ("smpte-offset-empty", b"\xff\x54\x00"),
        ("end-of-track-with-body", b"\xff\x2f\x02\x00\x00"),
    ):
        c.add("huge_meta_sysex", slug, h + _raw_track(b"\x00" + meta + notes + eot))
    c.add("huge_meta_sysex", "sysex-unterminated", declared(b"\xf0", 3, b"\x7e\x01\x02"))


def _million_notes(c: _Corpus) -> None:
    # ~10^6 note events, written as tightly as MIDI allows (running status, one-byte deltas), so they are
    # cheap to build: the point is that the reader refuses them quickly.
    h = _header(0, 1, 480)
    eot = b"\x00\xff\x2f\x00"
    c.add("million_notes", "1e6-notes-on-off", h + _raw_track(_notes_running(1_000_000) + eot))
    c.add(
        "million_notes",
        "1e6-note-ons-chord",
        h + _raw_track(b"\x00\x90" + b"\x3c\x40\x00" * 999_999 + b"\x3c\x40" + eot),
    )
    c.add(
        "million_notes",
        "660k-note-ons-under-byte-cap",
        h + _raw_track(b"\x00\x90" + b"\x3c\x40\x00" * 659_999 + b"\x3c\x40" + eot),
    )
    c.add("million_notes", "330k-notes-under-byte-cap", h + _raw_track(_notes_running(330_000) + eot))
    # The header says 16 tracks and the note count is split between them (each under the byte cap alone).
    tracks = [_raw_track(_notes_running(40_000, channel=i % 16) + eot) for i in range(16)]
    c.add("million_notes", "640k-notes-16-tracks", _header(1, 16, 480) + b"".join(tracks))
    c.add("million_notes", "40001-notes", h + _raw_track(_notes_running(40_001) + eot))
    # Notes after an early end-of-track: the standard says the track is over, mido reads on.
    c.add(
        "million_notes",
        "300k-notes-after-early-end-of-track",
        h + _raw_track(eot + _notes_running(300_000, lambda i: 40 + i % 48, length=1) + eot),
    )
    c.add(
        "million_notes",
        "1e6-note-offs-only",
        h + _raw_track(b"\x00\x80" + b"\x3c\x00\x00" * 599_999 + b"\x3c\x00" + eot),
    )


def _huge_gap(c: _Corpus) -> None:
    max_delta = 0x0FFFFFFF
    h = _header(0, 1, 480)
    eot = b"\x00\xff\x2f\x00"
    gap_1e9 = b"".join(smf.meta(0x01, b"", max_delta) for _ in range(4))
    c.add("huge_gap", "1e9-ticks-text-events", smf.smf([smf.track([*smf.note(60, 480), gap_1e9, *smf.note(62, 480)])]))
    c.add(
        "huge_gap", "1e9-ticks-note-off", h + _raw_track(b"\x00\x90\x3c\x40" + smf.vlq(max_delta) + b"\x3c\x00" + eot)
    )
    c.add("huge_gap", "2^28-1-one-delta", smf.smf([smf.track(smf.note(60, 480) + smf.note(62, 480, delta=max_delta))]))
    c.add("huge_gap", "1e9-before-end-of-track", h + _raw_track(b"".join(smf.note(60, 480)) + gap_1e9 + eot))
    c.add(
        "huge_gap",
        "1e9-in-second-track",
        smf.smf([smf.track(smf.melody([60, 62])), smf.track([gap_1e9, *smf.note(64, 480)])]),
    )
    for slug, ticks in (("1e7-minus-1", 9_999_999), ("1e7", 10_000_000), ("1e7-plus-1", 10_000_001)):
        c.add("huge_gap", f"gap-{slug}", smf.smf([smf.track(smf.note(60, 480) + smf.note(62, 480, delta=ticks - 480))]))
    # At one tick per beat the same tick counts are millions of beats: inside the tick cap, absurd as music.
    for slug, ticks in (("9.9e6-beats", 9_900_000), ("1e5-beats", 100_000)):
        c.add(
            "huge_gap",
            f"tpq-1-gap-{slug}",
            smf.smf([smf.track(smf.note(60, 1) + smf.note(62, 1, delta=ticks))], division=1),
        )
    c.add("huge_gap", "tpq-1-note-9.9e6-beats-long", smf.smf([smf.track(smf.note(60, 9_900_000))], division=1))
    c.add("huge_gap", "tempo-change-at-1e9", smf.smf([smf.track([*smf.melody([60, 62]), gap_1e9, smf.tempo(60)])]))
    c.add(
        "huge_gap",
        "many-medium-gaps",
        smf.smf([smf.track([e for i in range(40) for e in smf.note(60 + i % 12, 480, delta=200_000)])]),
    )


def _type2(c: _Corpus) -> None:
    t = smf.track([smf.tempo(100), *_melody_events([60, 62, 64])])
    c.add("type2", "one-track", smf.smf([t], fmt=2))
    c.add("type2", "three-tracks", smf.smf([t, t, t], fmt=2))
    c.add("type2", "three-tracks-declares-1", _header(2, 1, 480) + t + t + t)
    c.add("type2", "no-tracks", _header(2, 0, 480))
    c.add("type2", "type0-with-3-tracks", smf.smf([t, t, t], fmt=0))


def _many_tracks(c: _Corpus) -> None:
    def melodic(i: int) -> bytes:
        ch = i % 16
        return smf.track(
            [
                smf.meta(0x03, f"Track {i}".encode()),
                smf.program(i % 128, channel=ch),
                *_melody_events([40 + i % 48, 41 + i % 48], 240, channel=ch),
            ]
        )

    conductor = smf.track([smf.tempo(100), smf.time_signature(4, 2)])
    c.add("many_tracks", "64-melodic", smf.smf([conductor, *[melodic(i) for i in range(63)]]))
    c.add("many_tracks", "64-empty", smf.smf([smf.track([]) for _ in range(64)]))
    c.add("many_tracks", "64-one-with-notes", smf.smf([*[smf.track([]) for _ in range(63)], melodic(0)]))
    c.add("many_tracks", "65-melodic", smf.smf([melodic(i) for i in range(65)]))
    c.add("many_tracks", "256-melodic", smf.smf([melodic(i) for i in range(256)]))
    c.add("many_tracks", "1000-tiny", smf.smf([smf.track(smf.note(60 + i % 24, 120, delta=i)) for i in range(1000)]))
    c.add("many_tracks", "64-declared-2-present", _header(1, 64, 480) + melodic(0) + melodic(1))
    c.add(
        "many_tracks",
        "64-every-channel-program",
        smf.smf(
            [
                smf.track(
                    [smf.program(p, channel=ch) for ch in range(16) for p in range(0, 128, 32)]
                    + [e for ch in range(16) for e in smf.note(50 + ch, 120, channel=ch)]
                )
                for _ in range(64)
            ]
        ),
    )


def _drums(c: _Corpus) -> None:
    def drum_track(ch: int, n: int = 8) -> bytes:
        return smf.track(
            [
                smf.vlq(0) + bytes([0xB0 | ch, 0, 127]),
                smf.program(0, channel=ch),
                *_melody_events([35 + (i * 7) % 47 for i in range(n)], 120, channel=ch),
            ]
        )

    c.add("drums", "channel-10-only", smf.smf([drum_track(9)]))
    c.add("drums", "every-channel-16-tracks", smf.smf([drum_track(ch) for ch in range(16)]))
    c.add(
        "drums",
        "every-channel-one-track",
        smf.smf([smf.track([e for ch in range(16) for e in _melody_events([36, 38], 120, channel=ch)])]),
    )
    c.add("drums", "channel-10-many-tracks", smf.smf([drum_track(9) for _ in range(8)]))
    c.add("drums", "channel-10-plus-one-note", smf.smf([drum_track(9), smf.track(smf.note(60, 480, channel=0))]))
    c.add("drums", "channel-10-program-change-only", smf.smf([smf.track([smf.program(0, channel=9)])]))
    c.add(
        "drums",
        "channel-10-40000-notes",
        _header(0, 1, 480) + _raw_track(_notes_running(39_990, channel=9) + b"\x00\xff\x2f\x00"),
    )
    c.add(
        "drums",
        "channel-10-pitch-0-127",
        smf.smf([smf.track([*smf.note(0, 10, channel=9), *smf.note(127, 10, channel=9)])]),
    )


def _zero_overlap(c: _Corpus) -> None:
    def one(events: list[bytes]) -> bytes:
        return smf.smf([smf.track([smf.tempo(100), *events])])

    on = lambda p, d=0, v=80: smf.vlq(d) + bytes([0x90, p, v])  # noqa: E731
    off = lambda p, d=0: smf.vlq(d) + bytes([0x80, p, 0])  # noqa: E731
    c.add("zero_overlap_notes", "all-zero-length", one([e for p in range(60, 72) for e in (on(p), off(p))]))
    c.add("zero_overlap_notes", "zero-length-among-good", one([on(60), off(60), on(62), off(62, 480), on(64), off(64)]))
    c.add("zero_overlap_notes", "same-pitch-overlap", one([on(60), on(60, 240), off(60, 240), off(60, 240)]))
    c.add("zero_overlap_notes", "1000-stacked-same-pitch", one([on(60) for _ in range(1000)] + [off(60, 480)]))
    c.add(
        "zero_overlap_notes",
        "1000-overlapping-staggered",
        one([on(60, 1) for _ in range(1000)] + [off(60, 1) for _ in range(1000)]),
    )
    c.add("zero_overlap_notes", "note-off-without-on", one([off(60), off(61, 100), on(62, 10), off(62, 480)]))
    c.add("zero_overlap_notes", "note-on-never-off", one([on(60), on(64, 480), on(67, 480)]))
    c.add("zero_overlap_notes", "only-note-offs", one([off(p, 10) for p in range(60, 72)]))
    c.add("zero_overlap_notes", "velocity-0-note-ons-only", one([on(p, 10, 0) for p in range(60, 72)]))
    c.add("zero_overlap_notes", "off-before-on-same-tick", one([on(60), off(60, 480), on(60), off(60, 480)]))
    c.add("zero_overlap_notes", "on-off-on-same-tick", one([on(60), on(60, 480), off(60), off(60, 480)]))
    c.add("zero_overlap_notes", "one-tick-notes", one([e for p in range(60, 80) for e in (on(p), off(p, 1))]))
    c.add(
        "zero_overlap_notes",
        "full-chord-88-keys",
        one([on(p) for p in range(21, 109)] + [off(p, 480 if p == 21 else 0) for p in range(21, 109)]),
    )
    c.add("zero_overlap_notes", "long-note-1e6-ticks", one([on(60), off(60, 1_000_000)]))
    c.add("zero_overlap_notes", "chord-of-zero-and-real", one([on(60), on(64), off(60), off(64, 480)]))


def _tempo(c: _Corpus) -> None:
    def with_tempo(events: list[bytes]) -> bytes:
        return smf.smf([smf.track([*events, smf.time_signature(4, 2), *_melody_events([60, 62, 64, 65])])])

    raw = lambda usec, delta=0: smf.meta(0x51, usec.to_bytes(3, "big"), delta)  # noqa: E731
    c.add("tempo", "0-usec", with_tempo([raw(0)]))
    c.add("tempo", "1-usec-60M-bpm", with_tempo([raw(1)]))
    c.add("tempo", "1000-bpm", with_tempo([smf.tempo(1000)]))
    c.add("tempo", "slowest-3.58-bpm", with_tempo([raw(0xFFFFFF)]))
    c.add("tempo", "1-bpm-4-byte-body", with_tempo([smf.meta(0x51, (60_000_000).to_bytes(4, "big"))]))
    c.add("tempo", "1-bpm-wrapped-3-bytes", with_tempo([raw(60_000_000 & 0xFFFFFF)]))
    c.add("tempo", "body-0-bytes", with_tempo([smf.meta(0x51, b"")]))
    c.add("tempo", "body-2-bytes", with_tempo([smf.meta(0x51, b"\x07\xa1")]))
    c.add("tempo", "0-later", with_tempo([smf.tempo(120), raw(0, 960)]))
    c.add("tempo", "1000-then-slowest", with_tempo([smf.tempo(1000), raw(0xFFFFFF, 480)]))
    c.add("tempo", "change-every-tick-2000", with_tempo([raw(100_000 + i, 1) for i in range(2000)]))
    c.add(
        "tempo",
        "only-in-second-track",
        smf.smf([smf.track(_melody_events([60, 62])), smf.track([raw(1), raw(0xFFFFFF, 10)])]),
    )
    c.add("tempo", "first-at-tick-480", with_tempo([smf.tempo(60, 480)]))
    c.add(
        "tempo",
        "1000-bpm-2000-notes",
        smf.smf([smf.track([smf.tempo(1000), *_melody_events([48 + i % 24 for i in range(2000)], 120)])]),
    )


def _signatures(c: _Corpus) -> None:
    def with_meta(events: list[bytes]) -> bytes:
        return smf.smf([smf.track([smf.tempo(100), *events, *_melody_events([60, 62, 64, 65, 67])])])

    ts = lambda n, d, cc=24, bb=8: smf.meta(0x58, bytes([n, d, cc, bb]))  # noqa: E731
    for n, d in (
        (0, 2),
        (4, 7),
        (4, 31),
        (4, 255),
        (255, 255),
        (0, 0),
        (1, 6),
        (1, 0),
        (255, 0),
        (255, 6),
        (7, 3),
        (13, 5),
        (128, 2),
    ):
        c.add("signatures", f"time-{n}-over-2^{d}", with_meta([ts(n, d)]))
    c.add("signatures", "time-clocks-0", with_meta([ts(4, 2, 0, 0)]))
    c.add("signatures", "time-size-3", with_meta([smf.meta(0x58, b"\x04\x02\x18")]))
    c.add("signatures", "time-size-5", with_meta([smf.meta(0x58, b"\x04\x02\x18\x08\x00")]))
    c.add("signatures", "time-invalid-later", with_meta([ts(4, 2), smf.meta(0x58, bytes([0, 9, 24, 8]), 960)]))
    c.add("signatures", "time-change-every-beat", with_meta([ts(1 + i % 7, 2 + i % 2) for i in range(200)]))
    c.add("signatures", "time-pickup-then-1-64", with_meta([ts(1, 2), smf.meta(0x58, bytes([1, 6, 24, 8]), 480)]))
    for sf, mi in ((8, 0), (-8, 0), (127, 0), (-128, 1), (0, 2), (0, 255), (7, 1), (-7, 1)):
        c.add("signatures", f"key-{sf}-mode-{mi}", with_meta([smf.meta(0x59, bytes([sf & 0xFF, mi]))]))
    c.add("signatures", "key-size-1", with_meta([smf.meta(0x59, b"\x00")]))
    c.add("signatures", "key-size-3", with_meta([smf.meta(0x59, b"\x00\x00\x00")]))
    c.add(
        "signatures",
        "key-in-second-track-invalid",
        smf.smf([smf.track(_melody_events([60, 62])), smf.track([smf.meta(0x59, b"\x0c\x00")])]),
    )
    c.add(
        "signatures",
        "key-changes-every-beat",
        with_meta([smf.key_signature(i % 15 - 7, i % 2, 480) for i in range(200)]),
    )


def _not_midi(c: _Corpus, good: dict[str, bytes]) -> None:
    rng = c.rng
    midi = good["simple"]
    wav = (
        b"RIFF" + (36).to_bytes(4, "little") + b"WAVEfmt " + (16).to_bytes(4, "little") + bytes(16) + b"data" + bytes(4)
    )
    rmid = b"RIFF" + (len(midi) + 12).to_bytes(4, "little") + b"RMIDdata" + len(midi).to_bytes(4, "little") + midi
    variants = {
        "empty": b"",
        "one-byte": b"M",
        "MThd-only": b"MThd",
        "text": b"This is not a MIDI file.\nJust some text.\n",
        "abc": b"X:1\nT:Tune\nM:4/4\nK:C\nCDEF GABc|\n",
        "musicxml": b'<?xml version="1.0"?>\n<score-partwise version="4.0"></score-partwise>\n',
        "json": json.dumps({"notes": [60, 62, 64]}).encode(),
        "html": b"<!DOCTYPE html><html><body>midi</body></html>",
        "utf16-text": "Not MIDI at all".encode("utf-16"),
        "wav": wav,
        "rmid-riff-wrapped-midi": rmid,
        "mp3-id3": b"ID3\x03\x00\x00\x00\x00\x00\x00" + bytes(100),
        "mp3-frame": b"\xff\xfb\x90\x00" + bytes(400),
        "ogg": b"OggS\x00\x02" + bytes(100),
        "flac": b"fLaC\x00\x00\x00\x22" + bytes(60),
        "pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
        "zip": b"PK\x03\x04\x14\x00" + bytes(60),
        "png": b"\x89PNG\r\n\x1a\n" + bytes(60),
        "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(60),
        "elf": b"\x7fELF\x02\x01\x01" + bytes(60),
        "gzip-of-midi": gzip.compress(midi, mtime=0),
        "zlib-of-midi": zlib.compress(midi),
        "macbinary-prefix-128": bytes(128) + midi,
        "junk-then-MThd": b"garbage!" + midi,
        "midi-hex-text": midi.hex().encode(),
        "zeros-4k": bytes(4096),
        "ff-4k": b"\xff" * 4096,
        "random-1k": rng.randbytes(1024),
        "random-64k": rng.randbytes(65536),
        "random-1.9MB": rng.randbytes(1_900_000),
        "text-2.5MB-over-cap": b"la " * 850_000,
        "MThd-then-random": b"MThd" + rng.randbytes(200),
        "MThd-header-then-random": smf.header(0, 1) + rng.randbytes(300),
        "MThd-header-MTrk-random": smf.header(0, 1) + b"MTrk" + (300).to_bytes(4, "big") + rng.randbytes(300),
        "shell-script": b"#!/bin/sh\necho hi\n",
    }
    for slug, data in variants.items():
        c.add("not_midi", slug, data)


def _bit_flip(c: _Corpus, good: dict[str, bytes]) -> None:
    """Seeded random damage to each good file: single bit flips, several flips, bytes replaced, inserted
    and deleted."""
    rng = c.rng
    for stem, data in good.items():
        for i in range(30):
            b = bytearray(data)
            if i < 12:
                flips = 1
            elif i < 20:
                flips = 2 + i % 6
            else:
                flips = 0
            for _ in range(flips):
                pos = rng.randrange(len(b))
                b[pos] ^= 1 << rng.randrange(8)
            slug = f"{stem}-{i:02d}-flip{flips}"
            if flips == 0:
                op = i % 4
                pos = rng.randrange(len(b))
                if op == 0:
                    b[pos] = rng.randrange(256)
                    slug = f"{stem}-{i:02d}-byte-{pos}"
                elif op == 1:
                    b[pos:pos] = rng.randbytes(rng.randrange(1, 5))
                    slug = f"{stem}-{i:02d}-insert-{pos}"
                elif op == 2:
                    del b[pos : pos + rng.randrange(1, 5)]
                    slug = f"{stem}-{i:02d}-delete-{pos}"
                else:
                    pos = rng.randrange(14, len(b)) if len(b) > 14 else 0
                    b[pos : pos + 4] = b"\xff\xff\xff\xff"
                    slug = f"{stem}-{i:02d}-ff4-{pos}"
            c.add("bit_flip", slug, bytes(b))


def _near_caps(c: _Corpus) -> None:
    """Files just inside composer's limits: accepted, and the slowest things a reader must still answer fast."""
    eot = b"\x00\xff\x2f\x00"
    h = _header(0, 1, 480)
    c.add("near_caps", "39990-notes", h + _raw_track(_notes_running(39_990, lambda i: 40 + i % 48) + eot))
    c.add(
        "near_caps",
        "39990-notes-one-chord",
        h
        + _raw_track(
            b"\x00\x90" + b"".join(bytes([40 + i % 48, 80, 0]) for i in range(39_990))[:-1] + b"\x60\x3c\x00" + eot
        ),
    )
    c.add(
        "near_caps",
        "99990-controllers",
        h + _raw_track(b"\x00\xb0" + b"\x07\x40\x01" * 99_980 + b"\x07\x40" + b"".join(_melody_events([60])) + eot),
    )
    c.add(
        "near_caps",
        "99990-pitch-bends",
        h + _raw_track(b"\x00\xe0" + b"\x00\x40\x01" * 99_980 + b"\x00\x40" + b"".join(_melody_events([60])) + eot),
    )
    tempos = b"".join(smf.meta(0x51, (200_000 + (i % 2) * 100_000).to_bytes(3, "big"), 1) for i in range(99_000))
    c.add("near_caps", "99000-tempo-changes", h + _raw_track(tempos + b"".join(_melody_events([60, 62])) + eot))
    tempos_far = b"".join(smf.meta(0x51, (200_000 + (i % 2) * 100_000).to_bytes(3, "big"), 100) for i in range(99_000))
    c.add(
        "near_caps",
        "99000-tempo-changes-to-9.9e6-ticks",
        h + _raw_track(b"".join(_melody_events([60, 62])) + tempos_far + eot),
    )
    keys = b"".join(smf.key_signature(i % 15 - 7, i % 2, 1) for i in range(99_000))
    c.add("near_caps", "99000-key-changes", h + _raw_track(keys + b"".join(_melody_events([60, 62])) + eot))
    tss = b"".join(smf.meta(0x58, bytes([1 + i % 12, 1 + i % 4, 24, 8]), 1) for i in range(99_000))
    c.add("near_caps", "99000-time-signature-changes", h + _raw_track(tss + b"".join(_melody_events([60, 62])) + eot))
    c.add(
        "near_caps",
        "16-channels-x-128-programs",
        h
        + _raw_track(
            b"".join(
                bytes([0x00, 0xC0 | ch, p, 0x00, 0x90 | ch, 40 + p % 48, 80, 0x01, 0x80 | ch, 40 + p % 48, 0])
                for ch in range(16)
                for p in range(128)
            )
            + eot
        ),
    )
    c.add(
        "near_caps",
        "last-tick-9999999",
        smf.smf([smf.track(smf.note(60, 480) + smf.note(62, 480, delta=9_999_999 - 960))]),
    )
    c.add(
        "near_caps",
        "tpq-1-20000-notes-over-9e6-beats",
        smf.smf([smf.track([e for i in range(20_000) for e in smf.note(40 + i % 48, 1, delta=499)])], division=1),
    )
    c.add(
        "near_caps",
        "1.99MB-sysex-chunks",
        h
        + _raw_track(
            (b"\x00\xf0" + smf.vlq(199_990) + b"\x01" * 199_989 + b"\xf7") * 9 + b"".join(_melody_events([60])) + eot
        ),
    )


def _odd_values(c: _Corpus) -> None:
    def one(events: list[bytes]) -> bytes:
        return smf.smf([smf.track([smf.tempo(100), *events])])

    c.add("odd_values", "pitch-0-and-127", one([*smf.note(0, 480), *smf.note(127, 480)]))
    c.add("odd_values", "pitches-below-piano", one(_melody_events(list(range(0, 21)), 120)))
    c.add("odd_values", "velocity-1", one([*smf.note(60, 480, velocity=1), *smf.note(62, 480, velocity=1)]))
    c.add("odd_values", "velocity-127", one([*_melody_events([60, 62]), *smf.note(64, 480, velocity=127)]))
    c.add("odd_values", "program-127-channel-15", one([smf.program(127, 15), *_melody_events([60, 62], channel=15)]))
    c.add("odd_values", "one-note", one(smf.note(60, 480)))
    c.add("odd_values", "one-note-at-tick-9e6", one(smf.note(60, 480, delta=9_000_000)))
    c.add("odd_values", "meta-only", one([smf.meta(0x01, b"hello"), smf.time_signature(3, 2)]))
    c.add("odd_values", "empty-track", smf.smf([smf.track([])]))
    c.add(
        "odd_values",
        "bank-select-and-nrpn",
        one([smf.vlq(0) + bytes([0xB0, 0, 1, 0, 0x20, 2, 0, 0x63, 1, 0, 0x62, 2, 0, 6, 64]), *_melody_events([60])]),
    )
    c.add("odd_values", "all-notes-off-cc", one([*_melody_events([60]), smf.vlq(0) + bytes([0xB0, 123, 0])]))
    c.add(
        "odd_values",
        "grace-note-1-tick-offsets",
        one([e for i in range(48) for e in smf.note(60 + i % 12, 37, delta=i % 3)]),
    )
    c.add(
        "odd_values",
        "triplets-and-quintuplets",
        one(_melody_events([60, 62, 64], 160) + _melody_events([65, 67, 69, 71, 72], 96)),
    )
    c.add(
        "odd_values",
        "sequence-number-and-port",
        one([smf.meta(0x00, b"\x00\x01"), smf.meta(0x21, b"\x00"), smf.meta(0x20, b"\x00"), *_melody_events([60, 62])]),
    )
    c.add("odd_values", "smpte-offset-meta", one([smf.meta(0x54, bytes([0x60, 0, 0, 0, 0])), *_melody_events([60])]))
    c.add("odd_values", "smpte-offset-bad-size", one([smf.meta(0x54, b"\x01"), *_melody_events([60])]))


def _unknown_chunks(c: _Corpus) -> None:
    t = smf.track([smf.tempo(100), *_melody_events([60, 62, 64])])
    h = _header(0, 1, 480)
    c.add("unknown_chunks", "before-track", h + b"ABCD" + (5).to_bytes(4, "big") + b"12345" + t)
    c.add("unknown_chunks", "after-track", h + t + b"ABCD" + (5).to_bytes(4, "big") + b"12345")
    c.add("unknown_chunks", "zero-length", h + b"ABCD" + bytes(4) + t)
    c.add("unknown_chunks", "trailing-7-bytes", h + t + b"garbage")
    c.add("unknown_chunks", "trailing-1000-zeros", h + t + bytes(1000))
    c.add("unknown_chunks", "trailing-random", h + t + c.rng.randbytes(100))
    c.add("unknown_chunks", "many-unknown-chunks", h + (b"ABCD" + bytes(4)) * 20_000 + t)
    c.add("unknown_chunks", "binary-chunk-type", h + b"\x00\xff\x90\x3c" + (2).to_bytes(4, "big") + b"xx" + t)


# ------------------------------------------------------------------------------------------ fuzzing

_DIVISIONS = (0, 1, 2, 3, 24, 96, 480, 960, 0x7FFF, 0x8000, 0xE728, 0xFFFF)
_META_TYPES = (0x00, 0x01, 0x03, 0x05, 0x20, 0x21, 0x2F, 0x51, 0x54, 0x58, 0x59, 0x7F, 0x7E, 0xFF)


def fuzz_bytes() -> Any:
    """A hypothesis strategy of hostile reader input: good files mutated (bit flips, bytes set, inserted,
    deleted, cut, length fields rewritten), structured random SMF (any header, tracks of random events with
    honest or lying lengths), well-formed files with extreme values, and random bytes after an ``MThd``."""
    from hypothesis import strategies as st

    good = list(good_files().values())

    @st.composite
    def mutated(draw: Any) -> bytes:
        b = bytearray(draw(st.sampled_from(good)))
        for _ in range(draw(st.integers(1, 6))):
            op = draw(st.sampled_from(("flip", "set", "insert", "delete", "cut", "length")))
            pos = draw(st.integers(0, max(0, len(b) - 1)))
            if not b:
                break
            if op == "flip":
                b[pos] ^= 1 << draw(st.integers(0, 7))
            elif op == "set":
                b[pos] = draw(st.integers(0, 255))
            elif op == "insert":
                b[pos:pos] = draw(st.binary(min_size=1, max_size=8))
            elif op == "delete":
                del b[pos : pos + draw(st.integers(1, 8))]
            elif op == "cut":
                del b[pos:]
            else:  # rewrite a chunk length (or any 4 bytes) with a value near the truth or anything
                value = draw(st.one_of(st.integers(0, 0xFFFFFFFF), st.integers(0, 64)))
                b[pos : pos + 4] = value.to_bytes(4, "big")
        return bytes(b)

    delta = st.one_of(st.integers(0, 200), st.integers(0, 0x0FFFFFFF)).map(smf.vlq)
    channel_event = st.tuples(st.integers(0x80, 0xEF), st.integers(0, 127), st.integers(0, 127)).map(
        lambda t: bytes([t[0], t[1]]) + (b"" if t[0] & 0xF0 in (0xC0, 0xD0) else bytes([t[2]]))
    )
    running = st.tuples(st.integers(0, 127), st.integers(0, 127)).map(bytes)
    meta_event = st.tuples(
        st.sampled_from(_META_TYPES), st.binary(max_size=8), st.booleans(), st.integers(0, 0x0FFFFFFF)
    ).map(lambda t: bytes([0xFF, t[0]]) + smf.vlq(len(t[1]) if t[2] else t[3]) + t[1])
    sysex = st.tuples(st.sampled_from((0xF0, 0xF7)), st.binary(max_size=8)).map(
        lambda t: bytes([t[0]]) + smf.vlq(len(t[1])) + t[1]
    )
    raw = st.binary(min_size=1, max_size=4)
    event = st.tuples(delta, st.one_of(channel_event, channel_event, running, meta_event, sysex, raw)).map(
        lambda t: t[0] + t[1]
    )

    @st.composite
    def structured(draw: Any) -> bytes:
        fmt = draw(st.sampled_from((0, 1, 1, 2, 3)))
        tracks = draw(st.lists(st.lists(event, max_size=30), max_size=4))
        division = draw(st.one_of(st.sampled_from(_DIVISIONS), st.integers(0, 0xFFFF)))
        out = _header(fmt, draw(st.sampled_from((len(tracks), len(tracks), 0, 65535))), division)
        for events in tracks:
            body = b"".join(events) + (b"\x00\xff\x2f\x00" if draw(st.booleans()) else b"")
            length = len(body) if draw(st.integers(0, 4)) else draw(st.integers(0, 0xFFFFFFFF))
            out += b"MTrk" + length.to_bytes(4, "big") + body
        return out

    @st.composite
    def extreme(draw: Any) -> bytes:
        """Well-formed files with extreme but legal values: any division, tempo, meter, key, pitch, timing."""
        events = [
            smf.meta(0x51, draw(st.integers(1, 0xFFFFFF)).to_bytes(3, "big")),
            smf.meta(0x58, bytes([draw(st.integers(1, 255)), draw(st.integers(0, 6)), 24, 8])),
            smf.key_signature(draw(st.integers(-7, 7)), draw(st.integers(0, 1))),
        ]
        for _ in range(draw(st.integers(1, 12))):
            channel = draw(st.sampled_from((0, 0, 1, 9, 15)))
            events += smf.note(
                draw(st.integers(0, 127)),
                draw(st.one_of(st.integers(0, 4), st.integers(0, 100_000))),
                delta=draw(st.one_of(st.integers(0, 4), st.integers(0, 2_000_000))),
                channel=channel,
                velocity=draw(st.integers(1, 127)),
            )
        division = draw(st.one_of(st.sampled_from((1, 2, 3, 96, 480, 0x7FFF)), st.integers(1, 0x7FFF)))
        return smf.smf([smf.track(events)], division=division)

    after_magic = st.binary(max_size=200).map(lambda b: b"MThd" + b)
    return st.one_of(mutated(), mutated(), structured(), structured(), extreme(), after_magic, st.binary(max_size=64))
