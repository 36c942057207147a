"""Sound and pictures of a piece: WAV samples, piano-roll pixels, score SVG elements."""

import io
import sys
import wave
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from composer.piece import Note, Piece, TimeSignature
from composer.studio import render
from composer.studio.render import (
    BACKGROUND,
    BAR_LINE_COLOUR,
    JOIN_COLOUR,
    SEED_COLOUR,
    TAKE_COLOUR,
    piano_roll_png,
    render_wav,
    score_svg,
)

SVG = "{http://www.w3.org/2000/svg}"


def quarters(count: int, *, bar_start: float = 0.0, ts: TimeSignature | None = None) -> Piece:
    """``count`` quarter notes, one a beat, walking up and down a ninth: no chords, no ties in 4/4."""
    return Piece(
        notes=tuple(Note(float(i), 1.0, 60 + abs(i % 28 - 14), 80) for i in range(count)),
        tempo=100,
        time_signature=ts or TimeSignature(4, 4),
        bar_start=bar_start,
    )


def decode_png(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


def colours(image: Image.Image, box: tuple[int, int, int, int]) -> set[tuple[int, int, int]]:
    counted = image.crop(box).getcolors(maxcolors=1 << 16)
    assert counted is not None  # None only above maxcolors, more than an RGB crop this small can hold
    return {(c[0], c[1], c[2]) for _, c in counted if isinstance(c, tuple)}  # RGB: every pixel is a tuple


def join_columns(image: Image.Image) -> list[int]:
    """Columns whose middle pixel and a pixel a third of the way down are the join line's colour."""
    w, h = image.size
    return [x for x in range(w) if image.getpixel((x, h // 2)) == JOIN_COLOUR == image.getpixel((x, h // 3))]


# ------------------------------------------------------------------------------------------ audio


def test_render_wav_is_16_bit_audio_that_is_not_silent():
    audio = render_wav(quarters(8))
    with wave.open(io.BytesIO(audio.wav)) as w:
        assert w.getsampwidth() == 2
        frames = w.readframes(w.getnframes())
        assert audio.seconds == pytest.approx(w.getnframes() / w.getframerate())
    samples = np.frombuffer(frames, dtype="<i2")
    assert audio.seconds >= 8 * 60 / 100 - 0.01  # eight beats at 100 bpm
    assert np.abs(samples.astype(np.int32)).max() > 1000
    assert audio.renderer


# ------------------------------------------------------------------------------------------ piano roll


def test_piano_roll_has_the_requested_size_and_seed_left_take_right_of_the_join():
    image = decode_png(piano_roll_png(quarters(32), join=16.0, width=640, height=200))
    assert image.size == (640, 200)
    [x, _] = join_columns(image)  # one line, two pixels wide
    assert 640 * 0.4 < x < 640 * 0.6  # beat 16 of 32
    left = colours(image, (0, 0, x, 200))
    right = colours(image, (x + 2, 0, 640, 200))
    assert SEED_COLOUR in left and TAKE_COLOUR not in left
    assert TAKE_COLOUR in right and SEED_COLOUR not in right
    assert BACKGROUND in left and BACKGROUND in right


def test_piano_roll_without_a_join_is_all_seed_and_has_no_join_line():
    image = decode_png(piano_roll_png(quarters(16)))
    assert image.size == (900, 260)
    found = colours(image, (0, 0, 900, 260))
    assert SEED_COLOUR in found and TAKE_COLOUR not in found
    assert join_columns(image) == []


def test_piano_roll_join_at_zero_is_all_take():
    found = colours(decode_png(piano_roll_png(quarters(16), join=0.0)), (0, 0, 900, 260))
    assert TAKE_COLOUR in found and SEED_COLOUR not in found


def test_piano_roll_bar_lines_follow_the_pickup():
    # 16 beats of 4/4 after a one-beat pickup: bars begin at beats 1, 5, 9 and 13 (and 17, past the last note).
    piece = quarters(16, bar_start=1.0)
    image = decode_png(piano_roll_png(piece, width=900, height=260))
    h = image.size[1]
    bar_columns = [x for x in range(900) if sum(image.getpixel((x, y)) == BAR_LINE_COLOUR for y in range(h)) > h // 4]
    assert len(bar_columns) == 4
    gaps = np.diff(bar_columns)
    assert gaps.max() - gaps.min() <= 1  # evenly spaced, a bar apart
    assert bar_columns[0] - render._LABEL_MARGIN == pytest.approx(gaps[0] / 4, abs=1)  # the first a beat in


def test_piano_roll_of_an_empty_piece_is_a_valid_image_with_a_note():
    image = decode_png(piano_roll_png(Piece(notes=()), join=4.0, width=300, height=100))
    assert image.size == (300, 100)
    found = colours(image, (0, 0, 300, 100))
    assert SEED_COLOUR not in found and TAKE_COLOUR not in found
    assert len(found) > 1  # the words "no notes", not a blank


def test_piano_roll_of_one_note_and_of_thousands_keeps_its_size():
    one = decode_png(piano_roll_png(Piece(notes=(Note(0.0, 1.0, 61, 90),)), join=0.5))
    assert one.size == (900, 260) and SEED_COLOUR in colours(one, (0, 0, 900, 260))
    many = Piece(notes=tuple(Note(i * 0.25, 0.25, 36 + (i * 7) % 48, 80) for i in range(6000)))
    image = decode_png(piano_roll_png(many, join=750.0, width=900, height=260))
    assert image.size == (900, 260)
    found = colours(image, (0, 0, 900, 260))
    assert SEED_COLOUR in found and TAKE_COLOUR in found


def test_piano_roll_draws_each_track_in_its_colour_seed_lighter_take_stronger():
    from composer.piece import Track
    from composer.studio.render import note_colour

    notes = (Note(0, 1, 72, 80, 0), Note(0, 1, 48, 80, 1), Note(4, 1, 74, 80, 0), Note(4, 1, 50, 80, 1))
    piece = Piece(notes, tracks=(Track("Right"), Track("Left", 0, 1)))
    found = colours(decode_png(piano_roll_png(piece, join=4.0)), (0, 0, 900, 260))
    wanted = {note_colour(t, seed=s) for t in (0, 1) for s in (True, False)}
    assert len(wanted) == 4 and wanted <= found
    for track in (0, 1):  # the seed's shade is lighter than the take's
        assert sum(note_colour(track, seed=True)) > sum(note_colour(track, seed=False))


def test_piano_roll_fades_quiet_notes_when_the_piece_has_dynamics():
    from composer.studio.render import note_colour

    piece = Piece((Note(0, 1, 60, 30), Note(1, 1, 64, 120)))
    found = colours(decode_png(piano_roll_png(piece)), (0, 0, 900, 260))
    soft, loud = note_colour(0, seed=True, velocity=30), note_colour(0, seed=True, velocity=120)
    assert {soft, loud} <= found and soft != loud
    assert sum(abs(a - b) for a, b in zip(soft, BACKGROUND, strict=True)) < sum(
        abs(a - b) for a, b in zip(loud, BACKGROUND, strict=True)
    )  # the soft note is nearer the background


def test_piano_roll_bytes_are_deterministic():
    piece = quarters(40, bar_start=1.0)
    assert piano_roll_png(piece, 20.0) == piano_roll_png(piece, 20.0)
    assert piano_roll_png(piece, 20.0) != piano_roll_png(piece, 21.0)


def test_piano_roll_refuses_a_tiny_image():
    with pytest.raises(ValueError, match="at least"):
        piano_roll_png(quarters(4), width=10, height=10)


# ------------------------------------------------------------------------------------------ score


def notes_in(svg: str) -> int:
    root = ET.fromstring(svg)
    return sum(1 for g in root.iter(f"{SVG}g") if "note" in g.get("class", "").split())


def test_score_svg_parses_and_has_every_note_and_the_title():
    pytest.importorskip("verovio")
    svg = score_svg(quarters(16), title="Seed & take <1>")
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg"
    assert notes_in(svg) == 16
    assert "Seed & take <1>" in "".join(root.itertext())


def test_score_svg_copes_with_a_pickup_and_an_odd_meter():
    pytest.importorskip("verovio")
    assert notes_in(score_svg(quarters(13, bar_start=1.0))) == 13
    assert notes_in(score_svg(quarters(10, ts=TimeSignature(5, 4)))) == 10
    assert notes_in(score_svg(quarters(9, ts=TimeSignature(6, 8)))) == 9
    assert notes_in(score_svg(Piece(notes=()))) == 0


def test_score_svg_is_deterministic():
    pytest.importorskip("verovio")
    assert score_svg(quarters(12), "x") == score_svg(quarters(12), "x")


def test_score_svg_stacks_pages_when_one_page_is_not_enough(monkeypatch):
    pytest.importorskip("verovio")
    monkeypatch.setattr(render, "_SCORE_OPTIONS", {**render._SCORE_OPTIONS, "pageHeight": 400})
    svg = score_svg(quarters(96), "long")
    root = ET.fromstring(svg)
    pages = root.findall(f"{SVG}svg")
    assert len(pages) > 1
    assert [float(p.get("y")) for p in pages] == sorted({float(p.get("y")) for p in pages})  # stacked downwards
    assert notes_in(svg) == 96


def test_score_svg_in_worker_threads_matches_the_main_thread():
    pytest.importorskip("verovio")
    pieces = [quarters(8 + i) for i in range(4)]
    expected = [score_svg(p) for p in pieces]
    with ThreadPoolExecutor(max_workers=2) as pool:
        assert list(pool.map(score_svg, pieces)) == expected


def test_score_svg_without_verovio_raises_one_clear_sentence(monkeypatch):
    monkeypatch.setitem(sys.modules, "verovio", None)  # makes `import verovio` fail
    monkeypatch.delattr(render._verovio, "toolkit", raising=False)  # this thread's cached toolkit, if any
    with pytest.raises(RuntimeError, match="verovio"):
        score_svg(quarters(4))


def test_preview_audio_is_mono_at_half_the_rate_and_levelled():
    import io
    import wave

    import numpy as np

    from composer.studio.render import render_wav

    piece = Piece(
        notes=tuple(Note(i * 0.5, 0.5, 60 + i % 12, 80) for i in range(16)),
        tempo=120,
        time_signature=TimeSignature(4, 4),
    )
    full, preview = render_wav(piece), render_wav(piece, preview=True)
    with wave.open(io.BytesIO(full.wav)) as a, wave.open(io.BytesIO(preview.wav)) as b:
        assert (b.getnchannels(), b.getframerate()) == (1, a.getframerate() // 2)
        assert abs(b.getnframes() * 2 - a.getnframes()) <= 1
        for w in (a, b):
            peak = np.abs(np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")).max()
            assert 0.8 * 32767 < peak < 32767  # normalized to about -1 dBFS, not clipped
    assert len(preview.wav) < len(full.wav) / 3.5


def test_the_engraved_score_has_a_staff_per_track():
    from composer.piece import Track
    from composer.studio.render import score_svg

    piece = Piece(
        (Note(0, 1, 72, 90, 0), Note(0, 2, 48, 50, 1), Note(1, 1, 74, 70, 0)),
        tracks=(Track("Right"), Track("Left", 0, 1)),
    )
    svg = score_svg(piece)
    assert svg.count('class="staff"') == 2 and svg.count('class="note"') == 3
    assert "Right" in svg and "Left" in svg


# ------------------------------------------------------------------------------------------ a take's window


@pytest.mark.parametrize(
    "bar_start, join, expected_start",
    [
        (0.0, 16.0, 8.0),  # a take from bar 5's line: bars 3 and 4 lead into it
        (0.0, 14.5, 4.0),  # from the middle of bar 4: bars 2 and 3, and bar 4 up to the take
        (0.0, 8.0, 0.0),  # from bar 3: bars 1 and 2, the piece's start
        (0.0, 5.0, 0.0),  # from bar 2: one bar is all there is before it — the whole piece
        (1.0, 17.0, 9.0),  # a pickup of one beat: bar lines at 1, 5, 9, …; from bar 5 (17): bars 3 and 4
        (1.0, 9.0, 1.0),  # from bar 3: bars 1 and 2, without the pickup (three bars before)
        (1.0, 6.0, 0.0),  # from bar 2: bar 1 and the pickup
        (0.0, 0.0, 0.0),  # a take from the start (accompany): the whole piece
    ],
)
def test_a_takes_preview_starts_two_whole_bars_before_the_bar_it_begins_in(bar_start, join, expected_start):
    """What the README says under "Each take": a listener hears two bars lead into the take's first bar."""
    piece = quarters(40, bar_start=bar_start)
    window = render.take_window(piece, join)
    assert render.CONTEXT_BARS == 2
    if expected_start == 0.0:
        assert window == piece
    else:
        assert window.bar_start == 0.0 and window.tempo == piece.tempo
        assert [n.start + expected_start for n in window.notes] == [n.start for n in piece.notes][int(expected_start) :]
    assert render.take_window(piece, None) == piece


def _samples(wav: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(wav)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32)


def test_stems_are_the_piece_track_by_track_at_one_length_and_gain():
    """Issue 13's mute / solo: one WAV per track with notes, each that track alone in its instrument, all of the
    piece's length from beat 0 and at one gain, so that together they sound as the piece (the soundfont is nearly
    linear: within a few percent)."""
    from composer.piece import Track

    notes = (*(Note(i * 0.5, 0.5, 60 + i % 12, 80, 0) for i in range(16)), Note(0, 8, 40, 90, 2))
    piece = Piece(notes=notes, tracks=(Track("", 0, 0), Track("", 73, 1), Track("", 40, 2)))  # track 1: no notes
    stems = render.render_stems(piece, preview=True)
    assert list(stems) == [0, 2]
    whole = _samples(render_wav(piece, preview=True).wav)
    tracks = [_samples(w) for w in stems.values()]
    assert all(len(t) == len(whole) for t in tracks)  # one length: they play together
    mix = sum(tracks)
    assert abs(np.abs(mix).max() - np.abs(whole).max()) < 0.02 * np.abs(whole).max()  # levelled as the piece is
    assert np.sqrt(((mix - whole) ** 2).mean()) < 0.1 * np.sqrt((whole**2).mean())
    alone = Piece(notes=tuple(n for n in notes if n.track == 2), tracks=piece.tracks)
    assert np.corrcoef(tracks[1], _samples(render_wav(alone, preview=True).wav))[0, 1] > 0.99  # the violin alone


def test_stem_files_are_written_per_track_and_none_for_one_track(tmp_path):
    from composer.midi_io import piece_to_midi_bytes
    from composer.piece import Track

    duet = Piece(notes=(Note(0, 2, 72, 80, 0), Note(0, 2, 48, 80, 1)), tracks=(Track("", 0, 0), Track("", 32, 1)))
    assert render.stem_tracks(duet) == [0, 1] and render.stem_tracks(quarters(8)) == []
    spent = render.render_take_files(piece_to_midi_bytes(duet), None, "duet", str(tmp_path), ("stems",))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["piece-track-1.wav", "piece-track-2.wav"]
    assert spent["audio"] > 0 and all(p.read_bytes()[:4] == b"RIFF" for p in tmp_path.iterdir())
    one = tmp_path / "one"
    one.mkdir()
    render.render_take_files(piece_to_midi_bytes(quarters(8)), None, "solo", str(one), ("stems",))
    assert list(one.iterdir()) == []
    # too long for stems (four tracks of 500 s: 2000 s of stems, above STEM_SECONDS): the player plays the one WAV
    quartet = Piece(
        notes=tuple(Note(1000 * (t == 3), 2, 60 + t, 80, t) for t in range(4)),
        tracks=tuple(Track("", 0, t) for t in range(4)),
    )
    assert quartet.end * 60 / quartet.tempo < render.PLAYABLE_SECONDS and render.stem_tracks(quartet) == []
    assert render.stem_tracks(quartet.with_notes(quartet.notes[:3])) == [0, 1, 2]
