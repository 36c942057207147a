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
from dataclasses import dataclass
from pathlib import Path

from composer.atomic import atomic_write
from composer.errors import InputError
from composer.piece import (
    MAX_TRACKS,
    PIANO_HIGH,
    PIANO_LOW,
    Note,
    Piece,
    TimeSignature,
    Track,
    TrackFound,
    key_name,
    signature_for_beats,
)
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

    Each pitched (track, channel) of the file becomes one entry of the piece's track table, in the file's
    order, with its name, first program and channel; notes keep their track and their own velocities.  More than
    ``MAX_TRACKS`` tracks: the ones with the most notes are kept.  Drum tracks, empty tracks and notes outside the
    piano range are dropped; all that is dropped or changed is said in ``remarks`` (and ``found``).
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
            import mido

            parsed = mido.MidiFile(file=io.BytesIO(data))
            midi = pretty_midi.PrettyMIDI(mido_object=parsed)
    except _ParseTimeout:
        raise _fail(
            label,
            f"took more than {PARSE_SECONDS:g} s to parse, so composer gave up; use a shorter excerpt as the seed.",
        ) from None
    except Exception as error:  # mido raises many types on corrupt input; none may escape as a traceback
        raise _fail(
            label, f"is damaged: {_parse_failure(error)}; export it again from the program that made it."
        ) from None
    return _piece_from_midi(midi, _voices_of(parsed), scan, label)


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


def _voices_of(parsed: object) -> dict[tuple[int, int], set[tuple[int, int, int]]]:
    """Every pitched (track index, channel) of the file → the (absolute tick, pitch, velocity) of its note-ons.

    Read after pretty_midi has parsed ``parsed`` (it makes the message times absolute in place): pretty_midi
    keeps neither the track nor the channel of an instrument, and the track table needs both.
    """
    import mido

    assert isinstance(parsed, mido.MidiFile)
    voices: dict[tuple[int, int], set[tuple[int, int, int]]] = {}
    for index, track in enumerate(parsed.tracks):
        for message in track:
            if message.type == "note_on" and message.velocity > 0 and message.channel != DRUM_CHANNEL:
                voices.setdefault((index, message.channel), set()).add(
                    (int(message.time), int(message.note), int(message.velocity))
                )
    return voices


def _owner(
    notes: set[tuple[int, int, int]],
    voices: dict[tuple[int, int], set[tuple[int, int, int]]],
    taken: set[tuple[int, int]],
) -> tuple[int, int] | None:
    """The (track, channel) whose note-ons a pretty_midi instrument's notes match best.  Every note counts, not
    only the first: two voices in unison at the start (a chorale's tenor and bass) must not merge.  On a tie (a
    part doubled note for note) a (track, channel) no instrument has taken yet wins."""
    best, best_key = None, (0, False)
    for where, heard in sorted(voices.items()):
        key = (len(notes & heard), where not in taken)
        if key[0] and key > best_key:
            best, best_key = where, key
    return best


DRUM_CHANNEL = 9  # channel 10 as musicians count: drums, never written for a pitched track
NAMED_IN_A_REMARK = 12  # dropped tracks named in the remark; the report's "tracks dropped" lists them all


@dataclass
class Voice:
    """One (track, channel) of a file as read, before it earns a place in the track table."""

    name: str
    program: int
    channel: int  # -1 when the reader could not tell
    notes: list[Note]


def _piece_from_midi(
    midi: object, owners: dict[tuple[int, int], set[tuple[int, int, int]]], scan: SmfScan, label: str
) -> Piece:
    import pretty_midi

    assert isinstance(midi, pretty_midi.PrettyMIDI)
    resolution = midi.resolution
    remarks: list[str] = []

    def ticks(seconds: float) -> int:
        return int(midi.time_to_tick(seconds))

    def beats(seconds: float) -> float:
        return ticks(seconds) / resolution

    found: list[TrackFound] = []
    # pretty_midi makes one instrument per (track, program, channel): gather them back by (track, channel), so that
    # a program change inside a track does not split it in two.
    voices: dict[tuple[int, int], list[pretty_midi.Instrument]] = {}
    for order, instrument in enumerate(midi.instruments):
        label_track = instrument.name.strip() or pretty_midi.program_to_instrument_name(instrument.program)
        if instrument.is_drum:
            found.append(
                TrackFound(
                    label_track,
                    int(instrument.program),
                    True,
                    len(instrument.notes),
                    False,
                    "drums (channel 10) carry no pitches to continue",
                )
            )
            continue
        heard = {(ticks(n.start), int(n.pitch), int(n.velocity)) for n in instrument.notes}
        where = _owner(heard, owners, set(voices))
        voices.setdefault(where or (len(midi.instruments) + order, -1), []).append(instrument)

    candidates: list[Voice] = []
    dropped_range = zero_length = 0
    for (_, channel), instruments in sorted(voices.items()):
        instruments.sort(key=lambda i: min((n.start for n in i.notes), default=0.0))
        lead = instruments[0]
        name = lead.name.strip() or pretty_midi.program_to_instrument_name(lead.program)
        programs = list(dict.fromkeys(int(i.program) for i in instruments))
        if len(programs) > 1:
            remarks.append(
                f"Track {name} changes instrument (programs {', '.join(str(p) for p in programs)}); "
                f"its first, {pretty_midi.program_to_instrument_name(programs[0])}, is kept for all its notes."
            )
        kept: list[Note] = []
        total = 0
        for instrument in instruments:
            for n in instrument.notes:
                total += 1
                start, end = ticks(n.start), ticks(n.end)
                if end <= start:
                    zero_length += 1
                    continue
                if not PIANO_LOW <= n.pitch <= PIANO_HIGH:  # the 88 keys the model knows
                    dropped_range += 1
                    continue
                # Beats as tick ratios (not a difference of floats), so that grid positions come back exactly.
                kept.append(Note(start / resolution, (end - start) / resolution, int(n.pitch), max(1, int(n.velocity))))
        if kept:
            # A track named only by its instrument (as writers name unnamed tracks) has no name of its own: the
            # table leaves it empty and shows the instrument, so that an unnamed track survives writing and reading.
            own = lead.name.strip()
            candidates.append(Voice("" if own == instrument_name(programs[0]) else own, programs[0], channel, kept))
        else:
            found.append(TrackFound(name, programs[0], False, total, False, "no playable notes"))
    if len(candidates) > MAX_TRACKS:
        ranked = sorted(range(len(candidates)), key=lambda i: (-len(candidates[i].notes), i))
        chosen = set(ranked[:MAX_TRACKS])
        left = [v for i, v in enumerate(candidates) if i not in chosen]
        for v in left:
            found.append(
                TrackFound(
                    v.name or instrument_name(v.program),
                    v.program,
                    False,
                    len(v.notes),
                    False,
                    f"beyond the {MAX_TRACKS}-track limit",
                )
            )
        named = [f"{v.name or instrument_name(v.program)} ({len(v.notes)} notes)" for v in left]
        more = f" and {len(named) - NAMED_IN_A_REMARK} more" if len(named) > NAMED_IN_A_REMARK else ""
        remarks.append(
            f"The file has {len(candidates)} pitched tracks; composer keeps the {MAX_TRACKS} with the most notes "
            f"and dropped {', '.join(named[:NAMED_IN_A_REMARK])}{more}."
        )
        candidates = [v for i, v in enumerate(candidates) if i in chosen]
    table: list[Track] = []
    notes: list[Note] = []
    # Two tracks of a file may share a channel (each MIDI track its own instrument): the table gives each its own,
    # as writing will, so that what is read is what is written.
    channels = write_channels(tuple(Track(v.name, v.program, v.channel) for v in candidates))
    for index, (v, channel) in enumerate(zip(candidates, channels, strict=True)):
        table.append(Track(v.name, v.program, channel))
        found.append(TrackFound(v.name or instrument_name(v.program), v.program, False, len(v.notes), True))
        notes += [Note(n.start, n.duration, n.pitch, n.velocity, index) for n in v.notes]
    # Tracks with no notes at all (conductor tracks, lyrics) never become pretty_midi instruments;
    # list them from the scan so the report names every track.
    for index, t in enumerate(scan.tracks):
        if t.notes == 0 and t.drum_notes == 0:
            title = t.name or f"track {index + 1}"
            found.append(TrackFound(title, min(t.programs, default=0), False, 0, False, "empty (no notes)"))
    if dropped_range:
        remarks.append(f"{dropped_range} note(s) outside the piano range A0–C8 were dropped.")
    # The parser silently drops notes whose note-off comes at the same tick or never: count them too.
    parsed = sum(len(i.notes) for i in midi.instruments if not i.is_drum)
    zero_length += max(0, sum(t.notes for t in scan.tracks) - parsed)
    if zero_length:
        remarks.append(f"{zero_length} note(s) of zero length or with no note-off were dropped.")
    drum_tracks = [t for t in found if t.is_drum]
    if drum_tracks:
        remarks.append(f"{len(drum_tracks)} drum track(s) were dropped: composer continues pitched music.")
    if not notes:
        if drum_tracks and not any(t.notes for t in found if not t.is_drum):
            raise _fail(
                label,
                "contains only drum tracks; composer continues melodies and chords, so choose a "
                "file with a pitched instrument.",
            )
        if dropped_range:
            raise _fail(label, "has no notes inside the piano range A0–C8; transpose it into range and export again.")
        raise _fail(label, "contains no notes; choose a MIDI file with at least one note.")
    notes.sort(key=lambda n: (n.start, n.track, -n.pitch, n.duration, n.velocity))

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
        tracks=tuple(table),
        found=tuple(found),
        remarks=tuple(remarks),
    )


def piece_to_midi_bytes(piece: Piece, resolution: int = 480) -> bytes:
    """A type-1 Standard MIDI File of the piece: one MIDI track per entry of its track table, in order, with the
    entry's name (or its instrument's), program and channel, and the piece's tempo, meter and key.

    Channels clashing in the table (or the drum channel) are replaced by free ones.  A note whose track is not in
    the table is written on the first track.  A pickup is written the way notation programs export one: a first
    bar in a short meter (1/4 for a one-beat pickup in 4/4) followed by the real meter, so that reading the file
    gives the same ``bar_start``.
    """
    import mido
    import pretty_midi

    # A MIDI tempo is at most 0xFFFFFF µs a beat (3.58 BPM); a slower one read from a file is written at that.
    tempo = max(piece.tempo, 60e6 / 0xFFFFFF * (1 + 1e-9))
    midi = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=tempo)
    seconds_per_beat = 60.0 / tempo
    table = piece.tracks or (Track(),)
    by_track: list[list[Note]] = [[] for _ in table]
    for n in piece.notes:
        by_track[n.track if 0 <= n.track < len(table) else 0].append(n)
    for track, notes in zip(table, by_track, strict=True):
        program = min(max(int(track.program), 0), 127)
        instrument = pretty_midi.Instrument(program=program, name=track.name or instrument_name(program))
        for n in notes:
            instrument.notes.append(
                pretty_midi.Note(
                    velocity=min(max(int(n.velocity), 1), 127),
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
    # pretty_midi chooses channels itself (0, 1, 2, … skipping 9): put each track on its own.
    written = mido.MidiFile(file=io.BytesIO(buffer.getvalue()))
    for track, channel in zip(written.tracks[1:], write_channels(table), strict=False):
        for message in track:
            if hasattr(message, "channel"):
                message.channel = channel
    out = io.BytesIO()
    written.save(file=out)
    return out.getvalue()


def instrument_name(program: int) -> str:
    """The General MIDI name of a program (0 → 'Acoustic Grand Piano'); what a track without a name is called."""
    import pretty_midi

    return str(pretty_midi.program_to_instrument_name(min(max(int(program), 0), 127)))


def track_label(track: Track) -> str:
    """A track as a musician reads it: its name, or its instrument's when it has none."""
    return track.name or instrument_name(track.program)


def write_channels(tracks: tuple[Track, ...]) -> list[int]:
    """The MIDI channel each track is written on: its own when it is free and not the drum channel, else the next
    free one (15 channels serve pitched tracks, so a 16th track shares the last channel's)."""
    taken: set[int] = set()
    wanted: list[int | None] = []
    for t in tracks:
        ok = 0 <= t.channel < 16 and t.channel != DRUM_CHANNEL and t.channel not in taken
        wanted.append(t.channel if ok else None)
        if ok:
            taken.add(t.channel)
    spare = [c for c in range(16) if c != DRUM_CHANNEL and c not in taken]
    channels: list[int] = []
    for want in wanted:
        if want is None:
            want = spare.pop(0) if spare else 15
        channels.append(want)
    return channels


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
