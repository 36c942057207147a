"""What a musician's file means musically: notes in beats, tempo, meter, key, and what was dropped.

Pure value types (frozen dataclasses), no I/O.  Times are in beats (quarter notes) from the start of
the piece, not seconds: the model learns music and the tempo is carried beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# At most this many tracks (voices, instruments) in a piece; a file with more keeps those with the most notes.
MAX_TRACKS = 16

# The piano's keys, A0 .. C8: the pitches composer reads, encodes and writes (one home for the range).
PIANO_LOW, PIANO_HIGH = 21, 108

PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


@dataclass(frozen=True, order=True)
class Note:
    """One note.  ``start`` and ``duration`` are in beats (quarter notes); ``duration`` > 0."""

    start: float
    duration: float
    pitch: int  # MIDI note number, 60 = middle C
    velocity: int  # 1-127
    track: int = 0  # index into the piece's track table (Piece.tracks)

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class TimeSignature:
    numerator: int = 4
    denominator: int = 4

    @property
    def bar_beats(self) -> float:
        """Length of one bar in beats (quarter notes): 4/4 → 4, 3/4 → 3, 6/8 → 3."""
        return self.numerator * 4 / self.denominator

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    def midi_compatible(self) -> TimeSignature:
        """The meter as MIDI can state it (denominator a power of two), keeping the bar's length if possible.

        ABC allows meters such as 3/3; they become a meter with the same bar (2/4 for 3/3), or 4/4.
        """
        if self.denominator > 0 and self.denominator & (self.denominator - 1) == 0 and 1 <= self.numerator <= 255:
            return self
        same_bar = signature_for_beats(self.bar_beats) if self.denominator > 0 else None
        return TimeSignature(*same_bar) if same_bar else TimeSignature(4, 4)


def signature_for_beats(beats: float) -> tuple[int, int] | None:
    """A time signature whose one bar lasts ``beats`` quarter notes (1 → 1/4, 1.5 → 3/8), if one exists."""
    for denominator in (4, 8, 16, 32):
        numerator = beats * denominator / 4
        if abs(numerator - round(numerator)) < 1e-9 and 1 <= round(numerator) <= 255:
            return round(numerator), denominator
    return None


@dataclass(frozen=True)
class Track:
    """One entry of a piece's track table: a voice or an instrument, as MIDI names and plays it."""

    name: str = ""
    program: int = 0  # General MIDI program 0-127
    channel: int = 0  # MIDI channel 0-15; never the drum channel (9): drums are not read


@dataclass(frozen=True)
class TrackFound:
    """A track as the reader found it in the file, and whether its notes were kept (the seed report's words)."""

    name: str
    program: int
    is_drum: bool
    notes: int
    kept: bool
    reason: str = ""  # why it was dropped, when it was


def key_name(key: int | None) -> str | None:
    """Key number (0-11 major on that tonic pitch class, 12-23 minor) → 'G major', 'E minor'."""
    if key is None:
        return None
    return f"{PITCH_CLASS_NAMES[key % 12]} {'minor' if key >= 12 else 'major'}"


@dataclass(frozen=True)
class Piece:
    """A piece of music.

    ``bar_start`` is the beat at which bars are counted from: a pickup (anacrusis) of one beat in 4/4
    has ``bar_start == 1.0``; the metrical position of a beat ``t`` is ``(t - bar_start) mod bar_beats``.
    ``remarks`` say, one sentence each, what reading dropped or changed (drum tracks, tempo changes, …).
    """

    notes: tuple[Note, ...]
    tempo: float = 120.0  # quarter notes per minute; the first tempo of the file
    time_signature: TimeSignature = field(default_factory=TimeSignature)
    bar_start: float = 0.0
    key: int | None = None  # stated key signature (see key_name), None when the file states none
    # The track table: every note's ``track`` indexes it (at most MAX_TRACKS entries, in the file's order).
    tracks: tuple[Track, ...] = (Track(),)
    # Provenance, not music: two pieces with the same notes and header are equal whatever their history.
    found: tuple[TrackFound, ...] = field(default=(), compare=False)
    remarks: tuple[str, ...] = field(default=(), compare=False)

    @property
    def end(self) -> float:
        """Beat at which the last note stops sounding."""
        return max((n.end for n in self.notes), default=0.0)

    @property
    def bars(self) -> int:
        """Number of bars the notes touch, counting a pickup as a bar of its own."""
        if not self.notes:
            return 0
        bar = self.time_signature.bar_beats
        first = _bar_index(min(n.start for n in self.notes), self.bar_start, bar)
        last = _bar_index(max(self.end - 1e-9, 0.0), self.bar_start, bar)
        return last - first + 1

    @property
    def key_name(self) -> str | None:
        return key_name(self.key)

    @property
    def has_dynamics(self) -> bool:
        """Whether the notes' velocities say anything: a piece whose notes all share one velocity (notation,
        ABC, most folk MIDI) does not, and its velocities are data that is missing, not "always v"."""
        return len({n.velocity for n in self.notes}) > 1

    def program_of(self, note: Note) -> int:
        """The General MIDI program a note is played with (its track's)."""
        return self.tracks[note.track].program if note.track < len(self.tracks) else 0

    def with_notes(self, notes: tuple[Note, ...]) -> Piece:
        return Piece(
            notes=notes,
            tempo=self.tempo,
            time_signature=self.time_signature,
            bar_start=self.bar_start,
            key=self.key,
            tracks=self.tracks,
            found=self.found,
            remarks=self.remarks,
        )


def _bar_index(t: float, bar_start: float, bar: float) -> int:
    return int((t - bar_start) // bar)
