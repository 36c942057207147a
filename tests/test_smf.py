"""composer.smf: the byte scan that guards reading, step by step (header, chunks, events), then whole.

Files are golden bytes built in code (composer/testing/smf.py); no MIDI library is involved.
"""

from __future__ import annotations

import pytest

from composer.errors import InputError
from composer.smf import (
    MAX_EVENTS,
    MAX_MESSAGE_BYTES,
    MAX_NOTES,
    Chunk,
    Header,
    Tally,
    TrackRef,
    TrackScan,
    chunks,
    read_header,
    scan_smf,
    scan_track_events,
)
from composer.testing import smf
from composer.testing.smf import REFUSALS


def good() -> bytes:
    return smf.simple_file()


def raw_track(body: bytes) -> bytes:
    """An MTrk chunk around ``body`` exactly as given (no end-of-track added)."""
    return b"MTrk" + len(body).to_bytes(4, "big") + body


def one_track(body: bytes) -> bytes:
    return smf.header(0, 1) + raw_track(body)


@pytest.mark.parametrize("case", list(REFUSALS))
def test_the_scan_refuses_with_one_clear_sentence(case):
    data, expected = REFUSALS[case]
    with pytest.raises(InputError) as caught:
        scan_smf(data, "seed.mid")
    message = str(caught.value)
    assert expected in message
    assert message.startswith("seed.mid ") and message.endswith(".") and "\n" not in message
    assert "; " in message  # what is wrong; what to do


# Refusals whose whole sentence is pinned: a changed message is a changed behaviour.
EXACT = {
    "chunk length lies": (
        REFUSALS["chunk length lies"][0],
        "is truncated or has a track length that lies (10000 bytes declared, 97 left); export the file again.",
    ),
    "header length": (
        b"MThd" + (4).to_bytes(4, "big") + bytes(6) + raw_track(b""),
        "has a MIDI header whose length (4) is wrong; export the file again.",
    ),
    "format 7": (
        smf.smf([smf.track([])], fmt=7),
        "declares MIDI format 7, which does not exist; export the file again as type 0 or 1.",
    ),
    "too many events": (
        one_track(b"\x00\xb0\x07\x64" + b"\x00\x07\x64" * MAX_EVENTS),
        "has more than 100,000 MIDI events, above composer's limit; use a shorter excerpt as the seed.",
    ),
    "five-byte delta": (
        one_track(b"\x81\x81\x81\x81\x01\x90\x3c\x40"),
        "has a delta time longer than 4 bytes in track 1, so it is corrupt; export the file again.",
    ),
    "cut inside a note": (
        one_track(b"\x00\x90\x3c"),
        "has a track that ends in the middle of an event (track 1); export the file again.",
    ),
    "huge sysex": (
        one_track(b"\x00\xf0" + smf.vlq(MAX_MESSAGE_BYTES + 1)),
        "has a system-exclusive message of 1,000,001 bytes, far larger than any MIDI file needs; "
        "export the file again without it.",
    ),
    "meta past its track in track 2": (
        smf.smf([smf.track([]), raw_track(b"\x00\xff\x01\x05abc")]),
        "has a meta event whose length runs past the end of its track (track 2); export the file again.",
    ),
    "tempo of two bytes": (
        smf.smf([smf.track([smf.meta(0x51, b"\x07\xa1")])]),
        "has a tempo event of the wrong size; export the file again.",
    ),
    "key of -8": (
        smf.smf([smf.track([smf.key_signature(-8, 1)])]),
        "has an invalid key signature (-8 sharps, mode 1); fix the key in your editor and export again.",
    ),
    "time signature 3/2^7": (
        smf.smf([smf.track([smf.time_signature(3, 7)])]),
        "has an invalid time signature (3/2^7); fix the meter in your editor and export again.",
    ),
    "a billion ticks": (
        smf.smf([smf.track(smf.note(60, 480) + [smf.meta(0x01, b"", 250_000_000)] * 4)]),
        "has events more than 10,000,000 ticks from its start (20,833 beats), far apart for music and likely "
        "corrupt; export the file again.",
    ),
}


@pytest.mark.parametrize("case", list(EXACT))
def test_refusal_sentences_are_exactly_as_before(case):
    data, sentence = EXACT[case]
    with pytest.raises(InputError) as caught:
        scan_smf(data, "x.mid")
    assert str(caught.value) == f"x.mid {sentence}"


def test_the_default_name_is_the_file():
    with pytest.raises(InputError, match=r"^the file is empty \(0 bytes\)"):
        scan_smf(b"")


# ------------------------------------------------------------------------------------------ step 1: the header


def test_header_step_reads_format_division_and_where_the_chunks_begin():
    assert read_header(good(), "x.mid") == Header(format=0, ticks_per_beat=480, end=14)
    # A longer header (the standard allows it) ends where its length says; its extra bytes are skipped.
    longer = b"MThd" + (8).to_bytes(4, "big") + (1).to_bytes(2, "big") + (2).to_bytes(2, "big") + b"\x00\x60\xaa\xbb"
    assert read_header(longer + raw_track(b""), "x.mid") == Header(format=1, ticks_per_beat=96, end=16)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"%PDF-1.7" + bytes(20), "it looks like a PDF document"),
        (b"X:1\nT:tune\nK:G\nGABc|\n", "it looks like ABC notation text"),
        (bytes(range(256)), "it does not start with 'MThd'"),
        (b"MThd\x00\x00\x00\x06\x00\x00", "truncated inside its MIDI header"),
        (smf.header(fmt=3), "declares MIDI format 3"),
        (smf.header(division=0x8000 | 25), "SMPTE"),
    ],
)
def test_header_step_refuses_what_is_not_a_usable_header(data, expected):
    with pytest.raises(InputError, match=expected):
        read_header(data, "x.mid")


# ------------------------------------------------------------------------------------------ step 2: the chunks


def test_chunk_walk_yields_every_chunk_and_stops_at_short_padding():
    track = raw_track(b"\x00\xff\x2f\x00")
    data = smf.header(1, 1) + b"ABCD\x00\x00\x00\x02xy" + track + b"\x00\x00\x00"
    assert list(chunks(data, 14, "x.mid")) == [Chunk(b"ABCD", 14, 24), Chunk(b"MTrk", 24, 36)]
    assert Chunk(b"MTrk", 24, 36).body == 32
    assert list(chunks(data[:14], 14, "x.mid")) == []


def test_chunk_walk_checks_each_length_only_when_it_gets_there():
    data = smf.header(1, 2) + raw_track(b"") + b"XTRA" + (99).to_bytes(4, "big") + b"short"
    walk = chunks(data, 14, "x.mid")
    assert next(walk) == Chunk(b"MTrk", 14, 22)  # the track before the lie is handed out first
    with pytest.raises(InputError, match=r"has a chunk length that lies \(99 bytes declared, 5 left\)"):
        next(walk)


# ------------------------------------------------------------------------------------------ step 3: the events


def walk(body: bytes, tally: Tally | None = None, number: int = 1) -> tuple[TrackScan, Tally]:
    tally = tally or Tally()
    data = one_track(body)
    return scan_track_events(data, Chunk(b"MTrk", 14, len(data)), tally, TrackRef("x.mid", number, 480)), tally


def test_event_walk_counts_notes_programs_drums_and_keeps_the_first_name():
    body = b"".join(
        [
            smf.meta(0x03, b" Violin "),
            smf.meta(0x03, b"second name"),
            smf.tempo(90),
            smf.program(40),
            b"\x00\x90\x43\x50",  # note-on
            b"\x60\x43\x00",  # running status: velocity 0 is a note-off, not a note
            b"\x00\x45\x50",  # running status: a note
            b"\x00\xf0\x03\x7e\x7f\xf7",  # sysex
            b"\x00\x99\x24\x64",  # a drum note (channel 10)
            b"\x00\xd0\x40",  # channel pressure: one data byte
            b"\x81\x00\x80\x45\x40",  # a two-byte delta time, then a note-off
            b"\x00\xff\x2f\x00",
        ]
    )
    track, tally = walk(body)
    assert track == TrackScan(name="Violin", notes=2, drum_notes=1, programs={40})
    assert (tally.events, tally.notes) == (12, 3)


def test_event_walk_counts_on_from_earlier_tracks():
    track, tally = walk(b"\x00\x90\x3c\x40", Tally(events=7, notes=MAX_NOTES - 1))
    assert (track.notes, tally.events, tally.notes) == (1, 8, MAX_NOTES)
    with pytest.raises(InputError, match="more than 100,000 MIDI events"):
        walk(b"\x00\x90\x3c\x40" + b"\x00\x3c\x00", Tally(events=MAX_EVENTS - 1))


def test_event_walk_names_the_track_it_refuses():
    with pytest.raises(InputError, match=r"data byte above 127 \(track 3\)"):
        walk(b"\x00\xc0\x80", number=3)


def test_events_hidden_after_an_end_of_track_count_against_the_limits():
    eot = b"\x00\xff\x2f\x00"
    notes = b"".join(b"\x00\x90\x3c\x50\x01\x80\x3c\x00" for _ in range(MAX_NOTES + 1))
    with pytest.raises(InputError, match="more than 40,000 notes"):
        scan_smf(one_track(eot + notes), "hidden.mid")


def test_running_status_after_a_sysex_is_refused_as_the_parser_reads_it():
    body = b"\x00\x90\x3c\x50" + b"\x00\xf0\x01\xf7" + b"\x60\x3c\x00" + b"\x00\xff\x2f\x00"
    with pytest.raises(InputError, match="data byte where a status byte must be"):
        scan_smf(one_track(body), "sysex.mid")


def test_ticks_add_up_across_events_to_the_cap():
    gap = [smf.meta(0x01, b"", 250_000_000)] * 4  # four gaps, each fine alone
    with pytest.raises(InputError, match="ticks from its start"):
        scan_smf(smf.smf([smf.track(smf.note(60, 480) + gap + smf.note(62, 480))]), "gap.mid")
    assert scan_smf(smf.smf([smf.track(smf.note(60, 480) + smf.note(62, 480, delta=480 * 1000))])).notes == 2


# ------------------------------------------------------------------------------------------ the whole scan


def test_scan_of_a_type1_file_describes_each_track():
    conductor = smf.track([smf.tempo(100), smf.time_signature(3, 2)])
    piano = smf.track([smf.meta(3, b"Piano"), smf.program(0), *smf.melody([72, 74, 76])])
    drums = smf.track(smf.melody([36, 38], channel=9))
    scan = scan_smf(smf.smf([conductor, piano, drums]), "band.mid")
    assert (scan.format, scan.ticks_per_beat, scan.notes) == (1, 480, 5)
    assert scan.tracks == [
        TrackScan(),
        TrackScan(name="Piano", notes=3, programs={0}),
        TrackScan(drum_notes=2),
    ]
    assert scan.events == 3 + 9 + 5  # each track's end-of-track meta counts


def test_spans_leave_out_unknown_chunks_and_padding():
    data = good()
    header, tracks = data[:14], data[14:]
    padded = header + b"ABCD\x00\x00\x00\x05" + b"12345" + tracks + b"\x00\x00"
    scan = scan_smf(padded, "pad.mid")
    assert scan.spans == [(0, 14), (27, 27 + len(tracks))]
    assert b"".join(padded[a:b] for a, b in scan.spans) == data
    assert scan_smf(data).spans == [(0, 14), (14, len(data))]
