"""Sound and pictures of a piece: WAV through a General MIDI soundfont (shared by the CLI and the studio).

Audio is rendered by ``midirenderer`` (a pip-installed SoundFont synthesizer, no system library) with
the General MIDI soundfont that pretty_midi's wheel ships (``TimGM6mb.sf2``).  Where that renderer is
missing, pretty_midi's sine-wave synthesis is the fallback, and the result says so.
"""

from __future__ import annotations

import importlib.resources
import io
import wave
from dataclasses import dataclass
from functools import lru_cache

from composer.midi_io import piece_to_midi_bytes
from composer.piece import Piece


@dataclass(frozen=True)
class Audio:
    wav: bytes
    renderer: str  # "soundfont:TimGM6mb.sf2" or "sine (fallback)"
    seconds: float


@lru_cache(maxsize=1)
def soundfont() -> bytes:
    return (importlib.resources.files("pretty_midi") / "TimGM6mb.sf2").read_bytes()


def render_wav(piece: Piece) -> Audio:
    """The piece as 16-bit WAV: a General MIDI soundfont where available, else sine waves."""
    midi = piece_to_midi_bytes(piece)
    try:
        import midirenderer

        data = bytes(midirenderer.render_wave_from(soundfont(), midi))
        renderer = "soundfont:TimGM6mb.sf2"
    except ImportError:
        data = _sine_wav(midi)
        renderer = "sine (fallback: midirenderer is not installed)"
    with wave.open(io.BytesIO(data)) as w:
        seconds = w.getnframes() / w.getframerate()
    return Audio(wav=data, renderer=renderer, seconds=seconds)


def _sine_wav(midi: bytes, rate: int = 22050) -> bytes:
    import numpy as np
    import pretty_midi

    samples = pretty_midi.PrettyMIDI(io.BytesIO(midi)).synthesize(fs=rate)
    peak = float(np.abs(samples).max()) or 1.0
    pcm = (samples / peak * 0.8 * 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out.getvalue()
