"""Hypothesis strategies for composer's value types (hypothesis is a dev dependency; import this only in tests)."""

from __future__ import annotations

from hypothesis import strategies as st

from composer.piece import PIANO_HIGH, PIANO_LOW, Note, Piece, TimeSignature, Track

signatures = st.sampled_from([(4, 4), (3, 4), (2, 4), (6, 8), (9, 8), (5, 4), (7, 8), (2, 2), (12, 8)])


@st.composite
def pieces(draw: st.DrawFn) -> Piece:
    """Any piece the reader could hand over: odd meters, pickups, off-grid times, long silences, 1-4 tracks
    (names, programs, distinct channels), velocities either all one (no dynamics) or varied."""
    ts = TimeSignature(*draw(signatures))
    count = draw(st.integers(1, 4))
    channels = draw(st.permutations([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11]))[:count]
    tracks = tuple(
        Track(draw(st.sampled_from(["", "Melody", "Bass", "Piano", "Alto"])), draw(st.integers(0, 127)), c)
        for c in channels
    )
    constant = draw(st.one_of(st.none(), st.integers(1, 127)))
    bar_start = draw(st.floats(0, ts.bar_beats, exclude_max=True))
    n = draw(st.integers(1, 40))
    notes = []
    for _ in range(n):
        start = draw(
            st.one_of(st.integers(0, 64).map(float), st.floats(0, 64), st.integers(0, 400).map(lambda k: k / 6))
        )
        duration = draw(st.one_of(st.sampled_from([0.25, 0.5, 1 / 3, 1.0, 1.5, 4.0, 12.0]), st.floats(0.01, 16)))
        notes.append(
            Note(
                start,
                duration,
                draw(st.integers(PIANO_LOW, PIANO_HIGH)),
                constant if constant is not None else draw(st.integers(1, 127)),
                draw(st.integers(0, count - 1)),
            )
        )
    if draw(st.booleans()):  # a long silence somewhere
        far = max(n.start for n in notes) + draw(st.floats(4, 500))
        notes.append(Note(far, 1.0, 60, constant or 80))
    return Piece(
        notes=tuple(notes),
        tempo=draw(st.floats(20, 300)),
        time_signature=ts,
        bar_start=bar_start,
        key=draw(st.one_of(st.none(), st.integers(0, 23))),
        tracks=tracks,
    )
