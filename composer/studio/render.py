"""Sound and pictures of a piece, shared by the CLI and the studio: WAV audio, a piano-roll PNG, a score SVG.

Audio is rendered by ``midirenderer`` (a pip-installed SoundFont synthesizer, no system library) with
the General MIDI soundfont that pretty_midi's wheel ships (``TimGM6mb.sf2``).  Where that renderer is
missing, pretty_midi's sine-wave synthesis is the fallback, and the result says so.

The piano roll is drawn with Pillow directly, not matplotlib, whose figure machinery is far too slow for a
studio that draws four takes at once; each track has its colour, lighter for the seed, stronger for the take.
The score is the piece's MusicXML (:func:`composer.score.piece_to_musicxml`) engraved by verovio, imported
lazily so that importing this module stays cheap; where verovio is missing or fails, :func:`score_svg` raises
``RuntimeError``.
"""

from __future__ import annotations

import importlib.resources
import io
import math
import os
import re
import threading
import time
import wave
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from composer.atomic import atomic_write
from composer.midi_io import piece_to_midi_bytes, read_midi
from composer.piece import Note, Piece, TimeSignature
from composer.processes import leave_with


@dataclass(frozen=True)
class Audio:
    wav: bytes
    renderer: str  # "soundfont:TimGM6mb.sf2" or "sine (fallback)"
    seconds: float


@lru_cache(maxsize=1)
def soundfont() -> bytes:
    return (importlib.resources.files("pretty_midi") / "TimGM6mb.sf2").read_bytes()


def render_wav(piece: Piece, *, preview: bool = False) -> Audio:
    """The piece as 16-bit WAV, peak-normalized: a General MIDI soundfont where available, else sine waves.

    ``preview``: mono at half the rate (24 kHz from the renderer's 48 kHz), a quarter of the bytes — for
    listening in the browser, where four takes' audio would otherwise be ~15 MB a request.  Exports keep
    the full stereo render.
    """
    data, renderer = _synthesize(piece)
    data = _finish(data, preview)
    with wave.open(io.BytesIO(data)) as w:
        seconds = w.getnframes() / w.getframerate()
    return Audio(wav=data, renderer=renderer, seconds=seconds)


def render_stems(piece: Piece, *, preview: bool = False) -> dict[int, bytes]:
    """One WAV per track that has notes (track index → WAV, a *stem*): the piece with only that track's notes,
    its instrument and tempo, from beat 0.  The stems have one length and one gain — the one that levels their
    sum as :func:`render_wav` levels the piece — so that played together they sound as the piece does, and a
    player can mute any of them (the roll's mute and solo).  ``preview`` as for :func:`render_wav`."""
    import numpy as np

    decoded: dict[int, Any] = {}
    rate = 0
    for track in sorted({n.track for n in piece.notes}):
        data, _ = _synthesize(piece.with_notes(tuple(n for n in piece.notes if n.track == track)))
        samples, rate = _decoded(data)
        decoded[track], rate = _previewed(samples, rate) if preview else (samples, rate)
    if not decoded:
        return {}
    frames = max(len(s) for s in decoded.values())
    # Silence after a stem's last sound, so that all end together (a track's render ends with its last note).
    padded = {t: np.pad(s, ((0, frames - len(s)), (0, 0))) for t, s in decoded.items()}
    gain = _gain(sum(padded.values()))
    return {t: _wav_bytes(_pcm(s * gain), rate) for t, s in padded.items()}


def _synthesize(piece: Piece) -> tuple[bytes, str]:
    """The piece as the renderer writes it (WAV bytes, unlevelled) and the renderer's name."""
    midi = piece_to_midi_bytes(piece)
    try:
        import midirenderer

        return bytes(midirenderer.render_wave_from(soundfont(), midi)), "soundfont:TimGM6mb.sf2"
    except ImportError:
        return _sine_wav(midi), "sine (fallback: midirenderer is not installed)"


def _decoded(data: bytes) -> tuple[Any, int]:
    """16-bit WAV bytes → (samples as float32, shape (frames, channels); rate)."""
    import numpy as np

    with wave.open(io.BytesIO(data)) as w:
        channels, rate = w.getnchannels(), w.getframerate()
        frames = w.readframes(w.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32).reshape(-1, channels), rate


def _previewed(samples: Any, rate: int) -> tuple[Any, int]:
    """Mono, and at half the rate when that stays ≥ 22.05 kHz (low-passed first, so no aliasing)."""
    import numpy as np

    samples = samples.mean(axis=1, keepdims=True)
    if rate >= 44100 and len(samples):
        # 63-tap windowed-sinc low-pass at 0.45 of the new Nyquist frequency, then every second sample.
        taps = np.arange(63) - 31
        kernel = np.sinc(0.45 * taps) * 0.45 * np.blackman(63)
        samples = np.convolve(samples[:, 0], kernel / kernel.sum(), mode="same")[::2, None]
        rate //= 2
    return samples, rate


def _gain(samples: Any) -> float:
    """The factor that levels a render: its peak to −1 dBFS, at most +24 dB (the soundfont plays a melody at
    about −25 dBFS); 1 for silence."""
    import numpy as np

    peak = float(np.abs(samples).max()) if samples.size else 0.0
    return min(16.0, 0.89 * 32767 / peak) if peak > 0 else 1.0


def _pcm(samples: Any) -> Any:
    import numpy as np

    return np.clip(samples, -32768, 32767).astype("<i2")


def _finish(data: bytes, preview: bool) -> bytes:
    """Level the render (:func:`_gain`) and, for a preview, make it mono at half the rate (:func:`_previewed`)."""
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2:
            return data
    samples, rate = _decoded(data)
    if preview:
        samples, rate = _previewed(samples, rate)
    return _wav_bytes(_pcm(samples * _gain(samples)), rate)


def _wav_bytes(pcm, rate: int) -> bytes:  # pcm: int16 numpy array, (frames,) or (frames, channels)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1 if pcm.ndim == 1 else pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return out.getvalue()


def _sine_wav(midi: bytes, rate: int = 22050) -> bytes:
    import numpy as np
    import pretty_midi

    samples = pretty_midi.PrettyMIDI(io.BytesIO(midi)).synthesize(fs=rate)
    peak = float(np.abs(samples).max()) or 1.0
    return _wav_bytes((samples / peak * 0.8 * 32767).astype("<i2"), rate)


# --- piano roll -------------------------------------------------------------------------------------------------

Colour = tuple[int, int, int]

BACKGROUND = (250, 250, 247)
# One strong colour per track (the table's order, repeating after ten): the take's notes in it, the seed's notes
# in a lighter shade of it, so both the voice and who wrote the note show at a glance.
TRACK_COLOURS: tuple[Colour, ...] = (
    (236, 122, 44),  # orange
    (31, 119, 180),  # blue
    (44, 160, 44),  # green
    (148, 103, 189),  # purple
    (214, 39, 40),  # red
    (23, 170, 190),  # teal
    (140, 86, 75),  # brown
    (227, 119, 194),  # pink
    (160, 160, 30),  # olive
    (90, 90, 90),  # grey
)
SEED_LIGHTNESS = 0.5  # a seed note's colour: this far from its track's colour towards white
QUIETEST = 0.3  # a velocity-1 note's opacity in a piece with dynamics; velocity 127 is opaque


def _mix(colour: Colour, other: Colour, amount: float) -> Colour:
    """``colour`` moved ``amount`` (0..1) of the way to ``other``."""
    return (
        round(colour[0] + (other[0] - colour[0]) * amount),
        round(colour[1] + (other[1] - colour[1]) * amount),
        round(colour[2] + (other[2] - colour[2]) * amount),
    )


def note_colour(track: int, *, seed: bool, velocity: int | None = None) -> Colour:
    """The colour a note is drawn in: its track's colour (lighter for a seed note), faded towards the background
    the quieter it is (``velocity`` None: a piece without dynamics, drawn opaque)."""
    strong = TRACK_COLOURS[track % len(TRACK_COLOURS)]
    colour = _mix(strong, (255, 255, 255), SEED_LIGHTNESS) if seed else strong
    if velocity is None:
        return colour
    opacity = QUIETEST + (1 - QUIETEST) * min(max(velocity, 1), 127) / 127
    return _mix(colour, BACKGROUND, 1 - opacity)


SEED_COLOUR = note_colour(0, seed=True)  # the first track's seed notes (a one-track piece without dynamics)
TAKE_COLOUR = note_colour(0, seed=False)  # the first track's new notes
C_ROW_COLOUR = (236, 237, 240)  # faint band on every C, so the eye finds its octave
BAR_LINE_COLOUR = (214, 214, 210)
JOIN_COLOUR = (40, 40, 40)
LABEL_COLOUR = (120, 120, 120)
_LABEL_MARGIN = 26  # pixels left of the roll for "C4"-style labels
_PAD = 4  # pixels above, below and right of the roll
_MIN_PITCH_SPAN = 12  # rows: a lone note or a narrow melody still looks like music, not a slab


@lru_cache(maxsize=1)
def _font() -> Any:
    from PIL import ImageFont

    # Pillow's built-in bitmap font: no FreeType, so the same text gives the same pixels on every machine.
    return ImageFont.load_default_imagefont()


def piano_roll_png(piece: Piece, join: float | None = None, *, width: int = 900, height: int = 260) -> bytes:
    """A PNG piano roll of the whole piece, exactly ``width`` × ``height`` pixels, whatever its length.

    Time runs left to right from beat 0 (or the first note, if earlier) to the end of the piece or ``join``,
    whichever is later; pitch runs bottom to top over the piece's range padded by two semitones (at least an
    octave tall).  Each track has its colour (:func:`note_colour`): notes starting before ``join`` (in beats: where
    the seed ends and the take begins) in a lighter shade of it (:data:`SEED_COLOUR` for the first track), the
    others in the strong colour (:data:`TAKE_COLOUR`), faded the quieter they are when the piece has dynamics;
    a dark vertical line marks the join; with ``join=None`` every note is a seed note and there is no line.
    Faint vertical lines mark the bars (from
    ``piece.bar_start`` every ``piece.time_signature.bar_beats``), faint bands and labels mark each C.
    An empty piece gives a valid image that says "no notes".  The same arguments give the same bytes.

    Raises ``ValueError`` for an image smaller than 64 × 32 pixels.
    """
    from PIL import Image, ImageDraw

    if width < 64 or height < 32:
        raise ValueError(f"A piano roll needs at least 64 × 32 pixels, not {width} × {height}.")
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font()
    if not piece.notes:
        draw.text((width / 2, height / 2), "no notes", fill=LABEL_COLOUR, font=font, anchor="mm")
        return _png(image)

    # Geometry: the roll is [left, right) × [top, bottom) in pixels.
    left = _LABEL_MARGIN if width >= 200 else _PAD  # a thumbnail has no room for labels
    right, top, bottom = width - _PAD, _PAD, height - _PAD
    t0 = min(0.0, min(n.start for n in piece.notes))
    t1 = max(piece.end, join if join is not None else 0.0)
    t1 = max(t1, t0 + (piece.time_signature.bar_beats or 1.0))  # a lone short note is not a full-width slab
    low = min(n.pitch for n in piece.notes) - 2
    high = max(n.pitch for n in piece.notes) + 2
    if high - low + 1 < _MIN_PITCH_SPAN:
        grow = _MIN_PITCH_SPAN - (high - low + 1)
        low, high = low - grow // 2, high + (grow - grow // 2)
    row = (bottom - top) / (high - low + 1)  # pixels per semitone, fractional: rows fill the height exactly
    scale = (right - left) / (t1 - t0)  # pixels per beat

    def x(t: float) -> int:
        return left + round((t - t0) * scale)

    def y(pitch: int) -> int:  # top edge of the pitch's row
        return top + round((high - pitch) * row)

    for pitch in range(low, high + 1):
        if pitch % 12 == 0:
            draw.rectangle((left, y(pitch), right - 1, max(y(pitch), y(pitch - 1) - 1)), fill=C_ROW_COLOUR)
            if left == _LABEL_MARGIN:
                label = f"C{pitch // 12 - 1}"  # MIDI 60 is C4
                draw.text((2, (y(pitch) + y(pitch - 1)) / 2), label, fill=LABEL_COLOUR, font=font, anchor="lm")

    bar = piece.time_signature.bar_beats
    if bar > 0:
        # Bar lines closer than 8 px are a grey smear (hundreds of bars): draw every 2nd, 4th, 8th … bar instead.
        step = bar * 2 ** max(0, math.ceil(math.log2(8 / (bar * scale))))
        first = piece.bar_start + math.ceil((t0 - piece.bar_start) / step) * step
        for k in range(int((t1 - first) / step) + 1):
            bx = x(first + k * step)
            if left <= bx < right:
                draw.line((bx, top, bx, bottom - 1), fill=BAR_LINE_COLOUR)

    dynamics = piece.has_dynamics
    # Loud notes last, so that a loud note is not hidden under a soft one at the same place.
    for n in sorted(piece.notes, key=lambda n: n.velocity):
        x0 = x(n.start)
        # A 1 px gap between repeated notes where there is room, and never thinner than 1 px.
        x1 = max(x0, x(n.end) - (2 if x(n.end) - x0 >= 4 else 1))
        y0 = y(n.pitch)
        y1 = max(y0, y(n.pitch - 1) - (2 if row >= 4 else 1))
        colour = note_colour(n.track, seed=join is None or n.start < join, velocity=n.velocity if dynamics else None)
        draw.rectangle((x0, y0, x1, y1), fill=colour)

    if join is not None:
        jx = min(max(x(join), left), right - 1)
        draw.line((jx, top, jx, bottom - 1), fill=JOIN_COLOUR, width=2)
    return _png(image)


def _png(image: Any) -> bytes:
    out = io.BytesIO()
    # Pillow writes no timestamp into a PNG, so the bytes depend on the pixels alone.
    image.save(out, format="PNG", compress_level=6)
    return out.getvalue()


# --- score ------------------------------------------------------------------------------------------------------

# verovio's toolkit holds the loaded document and is not thread-safe; the studio renders in worker threads,
# so each thread keeps its own.
_verovio = threading.local()

# Page units are tenths of a millimetre at scale 100: 2100 wide is an A4 page, scale 40 gives an 840 px wide SVG.
# One tall page (60000 is verovio's maximum height, trimmed to the content by adjustPageHeight) holds over a
# thousand bars; longer scores come out as several pages stacked into one SVG.
_SCORE_OPTIONS: dict[str, Any] = {
    "pageWidth": 2100,
    "pageHeight": 60000,
    "scale": 40,
    "adjustPageHeight": True,
    "breaks": "auto",
    "header": "auto",  # the title
    "footer": "none",
    "xmlIdChecksum": True,  # ids derived from the input: the same piece gives the same SVG
    "svgFormatRaw": True,  # no indentation: a fifth smaller for the browser
}


def _toolkit() -> Any:
    toolkit = getattr(_verovio, "toolkit", None)
    if toolkit is None:
        try:
            import verovio
        except ImportError as e:
            raise RuntimeError(
                "Sheet music needs the verovio package, which is not installed: pip install verovio."
            ) from e
        # verovio keeps its default resource path per thread, and only `import verovio` sets it, in the importing
        # thread: a toolkit made in a worker thread would find no fonts and load nothing (verovio 6.4).  So each
        # toolkit is pointed at the wheel's fonts explicitly.
        verovio.enableLog(verovio.LOG_OFF)  # its warnings go to stderr; a failed load is reported by score_svg
        toolkit = verovio.toolkit(False)  # False: skip loading fonts from the (unset) default path
        # verovio's stub says setResourcePath returns None; it returns whether the fonts loaded (6.4).
        loaded = toolkit.setResourcePath(str(importlib.resources.files("verovio") / "data"))  # type: ignore[func-returns-value]
        if not loaded:
            raise RuntimeError("verovio is installed but its music fonts could not be loaded, so there is no score.")
        _verovio.toolkit = toolkit
    return toolkit


def score_svg(piece: Piece, title: str = "composer") -> str:
    """Sheet music of the whole piece as one SVG document (text), titled ``title``, engraved by verovio.

    The piece goes through :func:`composer.score.piece_to_musicxml` (so a pickup is shown as a full first bar
    padded with a rest, and notes crossing bar lines as tied notes); every note is in the output, on one page
    or, for a very long piece, on several pages stacked top to bottom.  The same arguments give the same text.

    Raises ``RuntimeError`` with one sentence for the user where verovio is not installed or cannot engrave
    the score, or where music21 cannot write the MusicXML; there is no fallback picture.
    """
    from composer.score import piece_to_musicxml

    toolkit = _toolkit()
    try:
        musicxml = piece_to_musicxml(piece, title).decode("utf-8")
    except Exception as e:  # music21 raises many types; the studio needs one it can show
        raise RuntimeError(f"The piece could not be written as MusicXML for the score ({e}).") from e
    toolkit.setOptions(_SCORE_OPTIONS)  # each call: another caller in this thread may not leave them as we need
    if not toolkit.loadData(musicxml):
        raise RuntimeError("verovio could not read the piece's MusicXML, so there is no score to show.")
    pages = [toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1)]
    if not pages or not all(pages):
        raise RuntimeError("verovio could not engrave the score, so there is no score to show.")
    return pages[0] if len(pages) == 1 else _stack_pages(pages)


_SVG_SIZE = re.compile(r'<svg\b[^>]*?\bwidth="([\d.]+)px"[^>]*?\bheight="([\d.]+)px"')


def _stack_pages(pages: list[str]) -> str:
    """Several page SVGs as one: each page nested in an outer SVG, below the one before."""
    inner, y, width = [], 0.0, 0.0
    for page in pages:
        page = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", page)
        size = _SVG_SIZE.search(page)
        if size is None:
            raise RuntimeError("verovio wrote a score page without a size, so the pages cannot be put together.")
        inner.append(page.replace("<svg", f'<svg y="{y:g}"', 1))
        width, y = max(width, float(size[1])), y + float(size[2])
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" version="1.1" '
        f'width="{width:g}px" height="{y:g}px">{"".join(inner)}</svg>'
    )


# --- a take's files (the studio) ------------------------------------------------------------------------------

# A take's audio and score start at the bar line this many whole bars before the bar its new notes begin in (and
# the take's own bar up to them): two bars let a listener hear where the take comes from, where one bar is barely
# the seed's last gesture.  What the README says under "Each take".
CONTEXT_BARS = 2
TAKE_FILES = {"audio": "take.wav", "roll": "roll.png", "score": "score.svg", "piece": "piece.wav"}


def take_window(piece: Piece, join: float | None, context_bars: int = CONTEXT_BARS) -> Piece:
    """The part of a piece to listen to or read for a take whose new notes start at ``join``: from the bar line
    ``context_bars`` whole bars before the bar ``join`` lies in, moved to start at 0; the whole piece, pickup
    included, where that bar line would come before the first whole bar (or without a join)."""
    if join is None:
        return piece
    bar = piece.time_signature.bar_beats
    join_bar = math.floor((join - piece.bar_start) / bar + 1e-6)  # 0: the first whole bar; the pickup is -1
    first = join_bar - context_bars
    if first < 0:
        return piece
    start = piece.bar_start + first * bar
    if start <= 0:
        return piece
    kept = tuple(replace(n, start=n.start - start) for n in piece.notes if n.start >= start)
    return replace(piece.with_notes(kept), bar_start=0.0)


PLAYABLE_SECONDS = 15 * 60  # a piece longer than this is not rendered whole for the roll's player
# The roll's mute and solo play one stem per track (render_stems), each costing what the whole piece costs (the
# soundfont's time goes with the length, not the notes), and the browser holds them all decoded (4 bytes a sample:
# 20 minutes at 24 kHz is ~115 MB).  A piece whose stems together would last longer than this gets none, and its
# player plays the one WAV of the piece, without mute and solo.
STEM_SECONDS = 20 * 60


def stem_file(track: int) -> str:
    """The file name of a track's stem (``track`` from 0, the name from 1: ``piece-track-2.wav``)."""
    return f"piece-track-{track + 1}.wav"


def stem_tracks(piece: Piece) -> list[int]:
    """The tracks whose stems the roll's player plays: those with notes, in a piece of more than one such track
    and short enough (:data:`PLAYABLE_SECONDS`, :data:`STEM_SECONDS`); none otherwise."""
    tracks = sorted({n.track for n in piece.notes})
    seconds = piece.end * 60 / piece.tempo
    if len(tracks) < 2 or seconds > PLAYABLE_SECONDS or seconds * len(tracks) > STEM_SECONDS:
        return []
    return tracks


def render_take_files(
    midi: bytes, join: float | None, title: str, folder: str, kinds: tuple[str, ...] = ("audio", "roll", "score")
) -> dict[str, float]:
    """Write ``kinds`` of a take's files (``TAKE_FILES``: by default its preview audio, piano roll and score)
    into ``folder``; files already there are kept.  ``midi``: the whole piece so far; ``join``: where the
    take's new notes begin.  Each file appears whole or not at all.  → seconds spent: {"audio": …, "images": …}
    (the piece's audio counts as audio; a piece longer than :data:`PLAYABLE_SECONDS` gets none).  The kind
    "stems" writes a file per track (:func:`stem_file`, :func:`stem_tracks`: none for a one-track piece).  A plain
    function of bytes, so that a worker process can run it."""
    piece = read_midi(midi, name=title)
    window = take_window(piece, join)
    makers = {
        "audio": lambda: render_wav(window, preview=True).wav,
        "roll": lambda: piano_roll_png(piece, join),
        "score": lambda: score_svg(window, title=title).encode(),
        "piece": lambda: render_wav(piece, preview=True).wav,  # the whole piece from beat 0: the roll's player
    }
    spent = {"audio": 0.0, "images": 0.0}
    if "piece" in kinds and piece.notes and max(n.end for n in piece.notes) * 60 / piece.tempo > PLAYABLE_SECONDS:
        kinds = tuple(k for k in kinds if k != "piece")  # hours of silence are not worth minutes of rendering
    for kind in (k for k in kinds if k != "stems"):
        name = TAKE_FILES[kind]
        path = Path(folder) / name
        if path.exists():
            continue
        started = time.perf_counter()
        atomic_write(path, makers[kind]())  # also safe when two requests render the same take
        spent["images" if kind in ("roll", "score") else "audio"] += time.perf_counter() - started
    stems = [Path(folder) / stem_file(t) for t in stem_tracks(piece)] if "stems" in kinds else []
    if not all(path.exists() for path in stems):
        started = time.perf_counter()
        for wav, path in zip(render_stems(piece, preview=True).values(), stems, strict=True):
            atomic_write(path, wav)
        spent["audio"] += time.perf_counter() - started
    return spent


def warm_up(server: int | None = None) -> None:
    """A render worker's start: leave with the server that made the pool (``server``, its pid, as the pool was
    made: :func:`composer.processes.leave_with`), and pay the imports (music21, verovio, the soundfont) before
    the first take."""
    leave_with(os.getppid() if server is None else server)

    piece = Piece(notes=(Note(0, 1, 60, 80), Note(1, 1, 62, 80)), tempo=120, time_signature=TimeSignature(4, 4))
    render_wav(piece, preview=True)
    score_svg(piece)
