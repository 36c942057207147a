"""composer: seed-and-continue symbolic music composition.

A musician's MIDI becomes a :class:`~composer.piece.Piece` (:mod:`composer.midi_io`), a Piece becomes one
event per note (:mod:`composer.encoding`), and an LSTM learns to continue such event sequences.
"""

__version__ = "0.1.0"
