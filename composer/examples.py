"""Example seeds bundled with composer: short openings of public-domain tunes a musician can pick in the studio.

Each example is the opening of a piece from music21's bundled corpus (Bach chorales, O'Neill's *Music of
Ireland*, the Essen folksong collection), written as a tiny MIDI file in ``composer/examples/``.  The app
reads those committed files (music21 is slow to import and parse); this module also says how they were made
and rebuilds them::

    .venv/bin/python -m composer.examples            # rewrites composer/examples/*.mid
    .venv/bin/python -m composer.examples OUT_DIR    # writes them elsewhere

An opening is the pickup (if any) and the first ``bars`` full bars, or, for a chorale, everything up to the end
of its ``phrases``-th fermata, or the first ``beats`` beats.  Tempo is set per example (these sources state
none).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from composer.errors import InputError
from composer.piece import Note, Piece

EXAMPLES_DIR = Path(__file__).with_name("examples")


@dataclass(frozen=True)
class Example:
    """One bundled seed: ``name`` is the file stem, ``source`` the music21 corpus path it was taken from."""

    name: str
    title: str
    source: str
    description: str
    number: int | None = None  # the tune's reference number (X:) in a multi-tune ABC file
    parts: tuple[int, ...] | None = None  # parts kept, by index (all by default)
    bars: int | None = None  # full bars kept after the pickup …
    phrases: int | None = None  # … or, for chorales, phrases (up to the end of this many fermatas) …
    beats: float | None = None  # … or the opening's length in beats, where a strain ends in a short bar
    tempo: float = 100.0  # quarter notes per minute


EXAMPLES: tuple[Example, ...] = (
    Example(
        "bach-bwv269",
        "Bach chorale — Aus meines Herzens Grunde, BWV 269",
        "bach/bwv269.mxl",
        "Four-voice chorale in G major, 3/4 with a one-beat pickup: the first two phrases.",
        phrases=2,
        tempo=80.0,
    ),
    Example(
        "bach-bwv252-soprano",
        "Bach chorale melody — Nun danket alle Gott, BWV 252",
        "bach/bwv252.mxl",
        "The soprano line alone, G major, 4/4 with a one-beat pickup: the first two phrases.",
        parts=(0,),
        phrases=2,
        tempo=80.0,
    ),
    Example(
        "haste-to-the-wedding",
        "Jig — Haste to the Wedding (O'Neill's 987)",
        "oneills1850/0981-1000.abc",
        "Irish double jig in D major, 6/8 with an eighth-note pickup: the first four bars.",
        number=987,
        bars=4,
        tempo=160.0,
    ),
    Example(
        "hicks-hornpipe",
        "Hornpipe — Hicks' Hornpipe (O'Neill's 1572)",
        "oneills1850/1556-1576.abc",
        "Dotted hornpipe in G major, 4/4 with a one-beat pickup: the first four bars.",
        number=1572,
        bars=4,
        tempo=132.0,
    ),
    Example(
        "take-back-the-virgin-page",
        "Waltz — Take Back the Virgin Page (O'Neill's 593)",
        "oneills1850/0550-0625.abc",
        "Irish waltz in F major, 3/4: its first strain of eight bars (the last one short).",
        number=593,
        beats=23.0,
        tempo=132.0,
    ),
    Example(
        "barbara-allen",
        "Folk song — Barbara Allen (Essen collection)",
        "essenFolksong/folkHaydn.abc",
        "Minor-key ballad in D minor, 4/4 with a one-beat pickup: the first four bars.",
        number=11,
        bars=4,
        tempo=72.0,
    ),
    Example(
        "ringel-ringel-rosenkranz",
        "Children's song — Ringel, Ringel, Rosenkranz (Essen kinder)",
        "essenFolksong/kinder0.abc",
        "German children's ring-dance song in F major, 2/4: the first eight bars.",
        number=92,
        bars=8,
        tempo=108.0,
    ),
)


def example_names() -> list[str]:
    return [e.name for e in EXAMPLES]


def _example(name: str) -> Example:
    for example in EXAMPLES:
        if example.name == name:
            return example
    raise InputError(f"There is no example seed called {name!r}; choose one of {', '.join(example_names())}.")


def example_path(name: str) -> Path:
    """Path of the bundled MIDI file of the example ``name`` (InputError for an unknown name)."""
    return EXAMPLES_DIR / f"{_example(name).name}.mid"


def load_example(name: str) -> Piece:
    """The example ``name`` as a Piece, read from its bundled MIDI file."""
    from composer.midi_io import read_midi

    return read_midi(example_path(name))


# ------------------------------------------------------------------------------------------ building


def opening(piece: Piece, end: float) -> Piece:
    """The notes that start before beat ``end``, cut off at ``end``."""
    notes = tuple(
        Note(n.start, min(n.duration, end - n.start), n.pitch, n.velocity, n.track)
        for n in piece.notes
        if n.start < end - 1e-9
    )
    return piece.with_notes(notes)


def _phrase_end(score: Any, phrases: int) -> float:
    """Beat at which the ``phrases``-th fermata note of the top part ends."""
    from music21 import expressions

    top = score.parts[0].stripTies(inPlace=False).flatten().notes
    ends = [
        float(n.offset + n.duration.quarterLength)
        for n in top
        if any(isinstance(e, expressions.Fermata) for e in n.expressions)
    ]
    if len(ends) < phrases:
        raise ValueError(f"found {len(ends)} fermatas, fewer than {phrases} phrases")
    return ends[phrases - 1]


def build_example(example: Example) -> Piece:
    """Parse the example's source from music21's corpus and cut its opening."""
    from music21 import corpus

    from composer.score import piece_from_score

    score = corpus.parse(example.source, number=example.number)
    parts = list(example.parts) if example.parts is not None else None
    piece = piece_from_score(score, parts=parts, default_tempo=example.tempo)
    if example.phrases is not None:
        end = _phrase_end(score, example.phrases)
    elif example.beats is not None:
        end = example.beats
    else:
        assert example.bars is not None, f"{example.name} needs bars, phrases or beats"
        end = piece.bar_start + example.bars * piece.time_signature.bar_beats
    return replace(opening(piece, end), tempo=example.tempo, remarks=())


def build_examples(out_dir: str | Path = EXAMPLES_DIR) -> list[Path]:
    """Write every example as ``out_dir/<name>.mid``; returns the paths written."""
    from composer.midi_io import write_midi

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for example in EXAMPLES:
        path = out / f"{example.name}.mid"
        write_midi(build_example(example), path)
        written.append(path)
    return written


if __name__ == "__main__":
    for written_path in build_examples(sys.argv[1] if len(sys.argv) > 1 else EXAMPLES_DIR):
        print(f"{written_path}  {written_path.stat().st_size:,} bytes")
