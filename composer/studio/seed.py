"""A seed on its way into the studio's store: read it, write it as composer stores pieces, read that back.

The store keeps every piece as MIDI bytes written by :func:`composer.midi_io.piece_to_midi_bytes`; a seed the
reader accepts but whose stored copy would not read back is refused here, so that nothing unreadable is ever
stored.
"""

from __future__ import annotations

from composer.errors import InputError
from composer.midi_io import MAX_SEED_NOTES, piece_to_midi_bytes, read_midi, read_seed
from composer.piece import Piece


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
        raise InputError(
            f"{name} reads, but composer cannot store it as a seed (written back as MIDI it {reason}); "
            "quantize or trim it in your program first."
        ) from None
    return piece, copy, stored
