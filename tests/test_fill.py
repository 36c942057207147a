"""Infill and accompany (issue 12): the context encoder, kept notes, where new notes go, bad input."""

import inspect
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from composer import checkpoint
from composer.context import (
    ACCOMPANY,
    AHEAD_BARS,
    COPY_HISTORY,
    COPY_ORDERS,
    FAR_BARS,
    INFILL,
    NO_NEXT,
    NONE,
    RECUR_BARS,
    SHIFT_BARS,
    CopyIndex,
    distance_bucket,
    echo_velocities,
    gap_context,
    shift_views,
    track_histories,
    training_context,
    views,
)
from composer.dataset import Song, collate, collate_contexts
from composer.encoding import DURATION, PITCH, PITCH_LOW, REST, SHIFT, TRACK, encode
from composer.errors import InputError
from composer.evaluate import gap_scores
from composer.features import NO_PITCH
from composer.fill import parse_bars
from composer.generate import STYLES, Composer, Settings
from composer.model import ModelConfig, MusicLSTM
from composer.piece import Note, Piece, TimeSignature, Track

TINY = ModelConfig(hidden=48, layers=2, head_hidden=24, context=16)


CONTEXT_GAINS = (
    "ctx_following",
    "ctx_preceding",
    "ctx_distance",
    "ctx_mode",
    "ctx_track_distance",
    "ctx_next_interval",
    "ctx_chroma",
    "ctx_ahead",
    "ctx_duration",
    "ctx_shift",
    "ctx_match",
)


def _randomize_context(model: MusicLSTM) -> MusicLSTM:
    """A context encoder whose gains into the heads are not zero (an untrained one adds nothing)."""
    torch.manual_seed(3)
    for name in CONTEXT_GAINS:
        torch.nn.init.normal_(getattr(model, name).weight, std=0.3)
    return model


@pytest.fixture(scope="module")
def composer(tmp_path_factory):
    torch.manual_seed(0)
    model = _randomize_context(MusicLSTM(TINY))
    path = tmp_path_factory.mktemp("m") / "tiny-context.safetensors"
    checkpoint.save(path, checkpoint.model_tensors(model), {"model": TINY.to_dict()})
    return Composer(path)


def duet(bars: int = 12, pickup: bool = False) -> Piece:
    """A two-track piece in 4/4: a melody in quarters and a bass in half notes, ``bars`` bars (a one-beat
    pickup before bar 1 when asked)."""
    offset = 1.0 if pickup else 0.0
    notes = []
    if pickup:
        notes.append(Note(0.0, 1.0, 67, 70, 0))
    scale = [72, 74, 76, 77, 79, 77, 76, 74]
    for beat in range(4 * bars):
        notes.append(Note(offset + beat, 1.0, scale[beat % 8], 60 + (beat % 4) * 8, 0))
    for half in range(2 * bars):
        notes.append(Note(offset + 2 * half, 2.0, [48, 43, 45, 41][half % 4], 64, 1))
    return Piece(
        notes=tuple(sorted(notes, key=lambda n: (n.start, n.track))),
        tempo=100.0,
        time_signature=TimeSignature(4, 4),
        bar_start=offset,
        key=0,
        tracks=(Track("Melody", 73, 0), Track("Bass", 32, 1)),
    )


def _key(n: Note) -> tuple:
    return (round(n.start, 6), n.pitch, round(n.duration, 6), n.velocity, n.track)


# ------------------------------------------------------------------------------------------ infill


@pytest.mark.parametrize("tracks", [None, [1]])
def test_infill_keeps_every_note_outside_the_bars_and_fills_only_inside_them(composer, tracks):
    piece = duet()
    start, end = 16.0, 32.0  # bars 5-8 of 4/4 from beat 0
    takes = composer.infill(piece, (5, 8), Settings(variations=3, seed=2, temperature=1.3), tracks=tracks)
    filled = {0, 1} if tracks is None else set(tracks)
    assert len(takes) == 3
    made = 0
    for take in takes:
        outside = [n for n in piece.notes if not (n.track in filled and start <= n.start < end)]
        new = take.continuation.notes
        whole = {_key(n) for n in take.piece.notes}
        assert {_key(n) for n in outside} <= whole  # kept exactly: onset, pitch, duration, velocity, track
        assert whole - {_key(n) for n in outside} == {_key(n) for n in new}
        assert all(start <= n.start < end and n.track in filled for n in new)
        assert take.piece.tracks == piece.tracks and take.piece.time_signature == piece.time_signature
        made += len(new)
    assert made > 0


@pytest.mark.parametrize("prior", ["accept", "heard"])
def test_infill_with_key_lock_keeps_one_take_from_each_takes_own_candidates(composer, monkeypatch, prior):
    from composer.generate import DRIFT_MARGIN, SELECT_CANDIDATES, heard_margins, key_margins, scale_pitch_classes

    drawn = []
    fill_takes = composer._fill_takes

    def spy(*args, **kwargs):
        takes = fill_takes(*args, **kwargs)
        # the candidates and the key they were drawn to keep
        drawn.append((takes, inspect.signature(fill_takes).bind(*args, **kwargs).arguments["lock_key"]))
        return takes

    monkeypatch.setattr(composer, "_fill_takes", spy)
    settings = Settings(variations=3, seed=2, temperature=1.3, key_lock=True, key_prior=prior)
    takes = composer.infill(duet(), (5, 8), settings)
    [(candidates, key)] = drawn  # one batch of candidates, a run of SELECT_CANDIDATES for each take asked
    assert len(candidates) == 3 * SELECT_CANDIDATES and len(takes) == 3
    read, threshold = (key_margins, DRIFT_MARGIN) if prior == "accept" else (heard_margins, 1e-12)
    margins = read([c.continuation for c in candidates], key)
    for i, take in enumerate(takes):
        run = list(range(i * SELECT_CANDIDATES, (i + 1) * SELECT_CANDIDATES))
        in_key = [j for j in run if margins[j] >= threshold]
        expected = in_key[0] if in_key else max(run, key=lambda j: margins[j])
        assert take.piece == candidates[expected].piece  # the run's first in the key, else its clearest
        if prior == "accept":  # drawn under the scale mask ("heard" has none)
            assert {n.pitch % 12 for n in take.continuation.notes} <= scale_pitch_classes(key)


def test_infill_is_deterministic_for_a_random_seed(composer):
    a = composer.infill(duet(), (3, 4), Settings(variations=2, seed=7))
    b = composer.infill(duet(), (3, 4), Settings(variations=2, seed=7))
    c = composer.infill(duet(), (3, 4), Settings(variations=2, seed=8))
    assert [t.piece for t in a] == [t.piece for t in b]
    assert [t.piece for t in a] != [t.piece for t in c]


def test_a_pickup_is_bar_0_and_bar_1_is_the_first_whole_bar(composer):
    piece = duet(bars=6, pickup=True)
    for take in composer.infill(piece, (0, 1), Settings(variations=2, seed=1)):
        assert all(0.0 <= n.start < 5.0 for n in take.continuation.notes)  # the pickup beat and bar 1
        assert {_key(n) for n in piece.notes if n.start >= 5.0} <= {_key(n) for n in take.piece.notes}
    with pytest.raises(InputError, match="bars 1 to"):
        composer.infill(duet(bars=6), (0, 2), Settings())  # no pickup: no bar 0


@pytest.mark.parametrize(
    ("bars", "message"),
    [
        ((8, 5), "run backwards"),
        ((13, 14), "outside the piece"),
        ((1, 17), "at most 16"),
    ],
)
def test_bad_bars_are_one_sentence(composer, bars, message):
    with pytest.raises(InputError, match=message):
        composer.infill(duet(bars=30), bars, Settings()) if bars == (1, 17) else composer.infill(
            duet(), bars, Settings()
        )


def test_bars_text_is_parsed_or_refused():
    assert parse_bars("5-8") == (5, 8) and parse_bars(" 3 ") == (3, 3)
    with pytest.raises(InputError, match="not A-B"):
        parse_bars("five")


# ------------------------------------------------------------------------------------------ accompany


@pytest.mark.parametrize("style", list(STYLES))
def test_accompany_keeps_the_given_tracks_and_adds_the_styles_tracks(composer, style):
    # a melody in whole notes: the tiny model's shifts land before the next given note often
    melody = Piece(
        notes=tuple(Note(4.0 * i, 4.0, 72 + (i % 5), 80) for i in range(8)),
        key=0,
        tracks=(Track("Soprano", 52, 0),),
    )
    takes = composer.accompany(melody, Settings(variations=3, seed=4, temperature=1.2), style=style)
    added = STYLES[style]
    made = 0
    for take in takes:
        assert [(t.name, t.program) for t in take.piece.tracks] == [("Soprano", 52), *added]
        assert len({t.channel for t in take.piece.tracks}) == len(take.piece.tracks)
        assert {_key(n) for n in melody.notes} <= {_key(n) for n in take.piece.notes}
        assert all(n.track >= 1 for n in take.continuation.notes)
        assert all(0 <= n.start < 32.0 for n in take.continuation.notes)
        made += len(take.continuation.notes)
    assert made > 0


def test_accompany_refuses_a_full_track_table_an_empty_piece_and_an_unknown_style(composer):
    full = Piece(
        notes=tuple(Note(i, 1, 60 + i, 80, i) for i in range(16)),
        tracks=tuple(Track(f"t{i}", 0, i % 9) for i in range(16)),
    )
    with pytest.raises(InputError, match="at most 16"):
        composer.accompany(full, Settings())
    with pytest.raises(InputError, match="no notes"):
        composer.accompany(Piece(notes=()), Settings())
    with pytest.raises(InputError, match="piano or chorale"):
        composer.accompany(duet(), Settings(), style="jazz")


def test_accompany_over_selected_bars_adds_notes_there_only_and_refills_its_own_track_the_next_time(composer):
    melody = Piece(
        notes=tuple(Note(4.0 * i, 4.0, 72 + (i % 5), 80) for i in range(8)),  # bars 1-8, one whole note each
        key=0,
        tracks=(Track("Soprano", 52, 0),),
    )
    settings = Settings(variations=3, seed=4, temperature=1.2)
    first = composer.accompany(melody, settings, style="piano", bars=(2, 3))
    assert any(take.continuation.notes for take in first)
    for take in first:
        assert [t.name for t in take.piece.tracks] == ["Soprano", "Piano accompaniment"]
        assert all(4.0 <= n.start < 12.0 and n.track == 1 for n in take.continuation.notes)
        assert {_key(n) for n in melody.notes} <= {_key(n) for n in take.piece.notes}
    base = next(take.piece for take in first if take.continuation.notes)
    again = composer.accompany(base, settings, style="piano", bars=(5, 6))
    before = {_key(n) for n in base.notes}
    for take in again:
        # the piece's own accompaniment track is refilled, not a second one added; bars 2-3 stay as they were
        assert [t.name for t in take.piece.tracks] == ["Soprano", "Piano accompaniment"]
        assert before <= {_key(n) for n in take.piece.notes}
        assert all(16.0 <= n.start < 24.0 for n in take.continuation.notes)


def test_accompany_refuses_bars_outside_the_piece_and_bars_with_nothing_to_accompany(composer):
    melody = Piece(notes=tuple(Note(4.0 * i, 4.0, 72, 80) for i in range(4)), key=0)
    with pytest.raises(InputError, match="outside the piece"):
        composer.accompany(melody, Settings(), bars=(3, 9))
    with pytest.raises(InputError, match="backwards"):
        composer.accompany(melody, Settings(), bars=(3, 2))
    gap = Piece(notes=(Note(0.0, 4.0, 72, 80), Note(12.0, 4.0, 72, 80)), key=0)
    with pytest.raises(InputError, match="Nothing sounds in those bars"):
        composer.accompany(gap, Settings(), bars=(2, 3))


# ------------------------------------------------------------------------------------------ the encoder


def _song(piece: Piece) -> Song:
    events = encode(piece)
    return Song(
        ids=events.ids,
        bar=48,
        bar_start=events.bar_start,
        key=0,
        programs=tuple(t.program for t in piece.tracks),
        has_dynamics=True,
    )


def test_an_untrained_context_encoder_adds_nothing():
    """A plain model warm-started with a context encoder scores exactly as before (its projections start at
    zero), so the gap scored with both sides equals the gap scored left only."""
    torch.manual_seed(0)
    plain = MusicLSTM(replace(TINY, context=0)).eval()
    grown = checkpoint.with_context_encoder(plain, 16).eval()
    song = _song(duet())
    batch = collate([(song, 0, len(song), 0)])
    _, ctx = gap_context(song.ids, song.programs, song.bar, song.bar_start, 5, 8)
    context = collate_contexts([(song, 0, len(song), 0)], [ctx], [np.zeros(len(song), dtype=bool)])
    assert torch.allclose(plain.field_nll(batch), grown.field_nll(batch, context=context), atol=1e-6)
    result = gap_scores(grown, [song], (5, 8))
    assert result["ratio"] == 1.0 and result["pieces"] == 1 and result["context_encoder"]


def test_a_trained_context_changes_the_gap_scores_and_only_there():
    torch.manual_seed(0)
    model = _randomize_context(MusicLSTM(TINY)).eval()
    song = _song(duet())
    result = gap_scores(model, [song], (5, 8))
    assert result["gap_bits_per_note"] != result["gap_left_only_bits_per_note"]
    assert set(result["per_field"]) == {"shift_bits", "pitch_bits", "duration_bits", "velocity_bits", "track_bits"}
    assert result["notes"] == sum(1 for n in duet().notes if 16 <= n.start < 32)


def test_the_views_read_the_next_note_the_sounding_classes_and_the_bars_ahead():
    """One context — a C (id of MIDI 60) on track 0 at step 96 lasting a beat, an E and a G on track 1 at 96 and
    108 — read by new notes on track 0 at steps 0 and 96 and on track 1 at 100 (bars of 48 steps from 0)."""
    c, e, g = 60 - PITCH_LOW, 64 - PITCH_LOW, 67 - PITCH_LOW
    ids = np.array([[0, c, 11, 0, 0], [0, e, 23, 0, 1], [12, g, 5, 0, 1]], dtype=np.int64)
    onsets = np.array([96, 96, 108])
    seen = views(ids, onsets, np.array([0, 96, 100]), np.array([0, 0, 1]), 48, 0)
    assert seen.next_pitch.tolist() == [c, c, g] and seen.next_steps.tolist() == [96, 0, 8]
    assert seen.next_distance.tolist() == distance_bucket(np.array([96, 0, 8])).tolist()
    # at step 0 nothing sounds (the context starts in bar 3); at 96 C and E sound; at 100 C, E, and G within a beat
    assert not seen.chroma[0].any()
    assert np.flatnonzero(seen.chroma[1, 0]).tolist() == [0, 4]
    assert np.flatnonzero(seen.chroma[2, 0]).tolist() == [0, 4]
    assert np.flatnonzero(seen.chroma[2, 1]).tolist() == [0, 4, 7]
    assert np.flatnonzero(seen.chroma[1, 2]).tolist() == [0, 4, 7]  # bar 3 holds all three
    # two bars ahead of step 0, track 0 plays the C; nothing else is exactly 1, 2, 4 or 8 bars ahead
    two = AHEAD_BARS.index(2)
    assert np.flatnonzero(seen.ahead[0, two]).tolist() == [c] and seen.ahead.sum() == 1
    # the duration that lasts up to the next note on the track: 96 steps (id 95) from 0, 8 steps (id 7) from 100
    assert np.flatnonzero(seen.durations[0, -1]).tolist() == [95]
    assert np.flatnonzero(seen.durations[2, -1]).tolist() == [7]
    assert not seen.durations[1, -1].any()  # the next note starts now: no note lasts up to it
    # the shift head's view: a context note starts at now + shift (+ 0, 1, 2, 4, 8 bars)
    starts = shift_views(onsets, np.array([90, 0]), 48)
    assert np.flatnonzero(starts[0, SHIFT_BARS.index(0)]).tolist() == [6, 18]  # 96 and 108 from 90
    assert np.flatnonzero(starts[1, SHIFT_BARS.index(2)]).tolist() == [0, 12]  # two bars after 0 and 12
    assert not starts[1, SHIFT_BARS.index(0)].any() and not starts[0, SHIFT_BARS.index(8)].any()
    none = views(ids[:0], onsets[:0], np.array([5]), np.array([0]), 48, 0)
    assert none.next_pitch.tolist() == [NO_PITCH] and none.next_distance.tolist() == [NO_NEXT]
    assert ids[0, DURATION] == 11


def test_generation_reads_the_context_as_training_does():
    """Step by step, what a fill's takes read of the context (composer.fill.ContextSteps: the heads' gains, the
    views, the shift views, the recurrence counts, the copy views) equals what training and scoring read for the
    same events (composer.dataset.collate_contexts) — from a seed of the first 20 events on."""
    from composer.fill import ContextSteps
    from composer.model import copy_strength

    model = checkpoint.with_copy_views(checkpoint.with_far_views(_randomize_context(MusicLSTM(TINY)))).eval()
    song = _song(duet(bars=20))
    stop, ctx = gap_context(song.ids, song.programs, song.bar, song.bar_start, 5, 8)
    batch = collate_contexts([(song, 0, stop, 0)], [ctx], [np.zeros(stop, dtype=bool)], copy=True)
    assert int(batch.matches.sum()) > 0 and bool(batch.ahead.any())  # the duet repeats: something to compare
    assert bool(batch.far.any()) and int(batch.matches[..., len(AHEAD_BARS) :].sum()) > 0  # … 12 bars on too
    assert bool(batch.velocities.any())
    assert int(batch.copy_pitch[..., -1, :].sum()) > 0 and int(batch.copy_duration[..., -1, :].sum()) > 0  # 8 notes on
    steps = ContextSteps(model, ctx, song.bar, song.bar_start)
    onsets = np.cumsum(song.ids[:, SHIFT])
    first = 20
    steps.begin(song.ids[:first], onsets[:first], 1)
    memory = model.encode_context(batch)
    for i in range(first, stop):
        time = torch.tensor([onsets[i - 1]])
        gain, shifts = steps.now(time)
        want = model.context_heads(memory, batch.index[:, i : i + 1], batch.distance[:, i : i + 1])[0, 0]
        assert torch.allclose(gain[0], want.chunk(5)[0], atol=1e-6)
        assert torch.equal(shifts[0].bool(), batch.shifts[0, i])
        assert torch.equal(steps.matches()[0], batch.matches[0, i])
        _, seen = steps.note(torch.tensor([onsets[i]]), torch.tensor([song.ids[i, TRACK]]))
        assert int(seen.next_pitch[0]) == int(batch.next_pitch[0, i])
        assert torch.equal(seen.chroma[0].bool(), batch.chroma[0, i])
        assert torch.equal(seen.ahead[0].bool(), batch.ahead[0, i])
        assert torch.equal(seen.durations[0].bool(), batch.durations[0, i])
        assert torch.equal(seen.far[0].bool(), batch.far[0, i])
        assert torch.equal(seen.far_durations[0].bool(), batch.far_durations[0, i])
        assert seen.copy_pitch is not None and seen.copy_duration is not None
        assert torch.equal(seen.copy_pitch[0], copy_strength(batch.copy_pitch[0, i]))
        assert torch.equal(seen.copy_duration[0], copy_strength(batch.copy_duration[0, i]))
        echo = steps.velocities(
            torch.tensor([onsets[i]]), torch.tensor([song.ids[i, TRACK]]), torch.tensor([song.ids[i, PITCH]])
        )
        assert torch.equal(echo[0].bool(), batch.velocities[0, i])
        steps.played(torch.from_numpy(song.ids[i : i + 1]), torch.tensor([onsets[i]]))


def _fine_tune(tmp_path, start, data, **settings):
    """One epoch from the checkpoint ``start`` on 12 of ``data``'s songs (validated on the rest) with ``settings``
    → (the TrainConfig, the best model it wrote)."""
    from composer.train import TrainConfig, train

    cfg = TrainConfig(
        data="unused",
        out=str(tmp_path / "run"),
        init=str(start),
        epochs=1,
        warmup_steps=1,
        progress=False,
        log=False,
        threads=1,
        **settings,
    )
    train(cfg, songs=(data[:12], data[12:]))
    return cfg, checkpoint.load_model(tmp_path / "run" / "best.safetensors")[0]


def test_a_frozen_base_trains_the_context_alone(tmp_path):
    """``--freeze-base``: every weight of the note model stays as it was (so plain continuation scores the
    same), the context's weights move, and the checkpoint loads as a model with that context."""
    from composer.testing.training import songs
    from composer.train import train

    torch.manual_seed(0)
    start = tmp_path / "start.safetensors"
    plain = MusicLSTM(replace(TINY, context=0))
    checkpoint.save(start, checkpoint.model_tensors(plain), {"model": plain.config.to_dict()})
    data = songs(16, length=60)
    cfg, trained = _fine_tune(
        tmp_path, start, data, model=TINY, freeze_base=True, batch_events=240, max_len=30, lr=1e-2
    )
    before = plain.state_dict()
    for name, value in trained.state_dict().items():
        if name.startswith("ctx_"):
            continue
        assert torch.equal(value, before[name]), name
    assert any(trained.state_dict()[f"{n}.weight"].abs().sum() > 0 for n in CONTEXT_GAINS)
    with pytest.raises(InputError, match="--context"):
        train(replace(cfg, model=replace(TINY, context=0), init=None, out=str(tmp_path / "r2")), songs=(data, data))


FAR_GAINS = (
    "ctx_far",
    "ctx_far_duration",
    "ctx_far_match",
    "ctx_far_velocity",
    "ctx_far_velocity_match",
)


def test_the_far_views_read_the_track_12_to_32_bars_ahead_and_start_at_zero():
    """A C on track 0 and an E on track 1, both 16 bars (of 48 steps) after step 0: a new note on track 0 at 0
    reads the C (and its duration) in its 16-bars-ahead view, one on track 1 the E, and nothing else is that far
    ahead.  A model given far views (composer.checkpoint.with_far_views) scores exactly as before, and once its
    far views have weight they change the gap's scores."""
    c, e = 60 - PITCH_LOW, 64 - PITCH_LOW
    ids = np.array([[0, c, 11, 0, 0], [0, e, 23, 0, 1]], dtype=np.int64)
    seen = views(ids, np.array([768, 768]), np.array([0, 0, 48]), np.array([0, 1, 0]), 48, 0, far=True)
    sixteen = FAR_BARS.index(16)
    assert np.flatnonzero(seen.far[0, sixteen]).tolist() == [c] and np.flatnonzero(seen.far[1, sixteen]).tolist() == [e]
    assert seen.far.sum() == 2 and not seen.ahead.any()  # the note at 48 is 15 bars short of them
    assert np.flatnonzero(seen.far_durations[0, sixteen]).tolist() == [11] and seen.far_durations.sum() == 2
    assert not views(ids, np.array([768, 768]), np.array([0]), np.array([0]), 48, 0).far.any()  # not an infill's
    # the velocity head's: the velocity id of a note of the same pitch on the same track bars later
    loud = ids.copy()
    loud[:, 3] = [20, 9]
    echo = echo_velocities(
        loud, np.array([768, 384]), np.array([0, 0, 0]), np.array([0, 1, 1]), np.array([c, e, c]), 48, far=True
    )
    assert np.argwhere(echo[0]).tolist() == [[RECUR_BARS.index(16), 20]]
    assert np.argwhere(echo[1]).tolist() == [[RECUR_BARS.index(8), 9]] and not echo[2].any()
    assert not echo_velocities(loud, np.array([768, 384]), np.array([0]), np.array([0]), np.array([c]), 48).any()
    torch.manual_seed(0)
    model = _randomize_context(MusicLSTM(TINY)).eval()
    far = checkpoint.with_far_views(model).eval()
    assert far.config.far and not model.config.far
    song = _song(duet(bars=24))
    assert gap_scores(far, [song], (5, 8)) == gap_scores(model, [song], (5, 8))
    for name in FAR_GAINS:
        torch.nn.init.normal_(getattr(far, name).weight, std=0.5)
    assert (
        gap_scores(far, [song], (5, 8))["gap_bits_per_note"] != gap_scores(model, [song], (5, 8))["gap_bits_per_note"]
    )


def test_freezing_the_context_trains_the_far_views_alone_and_accompaniments_never_read_them(tmp_path):
    """``--freeze-context``: only the far views' weights move — the note model and the context encoder stay
    exactly as they were; an accompaniment's new tracks have no notes of their own after any onset, so its takes
    with far views of any weight are the takes without them, note for note."""
    from composer.testing.training import songs
    from composer.train import train

    torch.manual_seed(0)
    start = tmp_path / "start.safetensors"
    base = _randomize_context(MusicLSTM(TINY))
    checkpoint.save(start, checkpoint.model_tensors(base), {"model": TINY.to_dict()})
    data = songs(16, length=200)
    cfg, trained = _fine_tune(
        tmp_path, start, data, model=replace(TINY, far=True), freeze_context=True, batch_events=400, max_len=100, lr=0.1
    )
    assert trained.config.far
    before = base.state_dict()
    for name, value in trained.state_dict().items():
        if not name.startswith("ctx_far"):
            assert torch.equal(value, before[name]), name
    assert trained.ctx_far.weight.abs().sum() > 0 and trained.ctx_far_match.weight.abs().sum() > 0
    with pytest.raises(InputError, match="--far-views"):
        train(replace(cfg, model=TINY, out=str(tmp_path / "r2")), songs=(data, data))

    far = checkpoint.with_far_views(base)
    for name in FAR_GAINS:
        torch.nn.init.normal_(getattr(far, name).weight, std=1.0)
    assert _accompaniments(tmp_path, base) == _accompaniments(tmp_path, far)


def _accompaniments(tmp_path, model: MusicLSTM) -> list[list[tuple]]:
    """The notes of two accompaniments of a 40-bar duet by ``model`` (saved to ``tmp_path`` to be loaded)."""
    path = tmp_path / "accompanist.safetensors"
    checkpoint.save(path, checkpoint.model_tensors(model), {"model": model.config.to_dict()})
    made = Composer(path).accompany(duet(bars=40), Settings(variations=2, seed=5))
    return [[_key(n) for n in take.piece.notes] for take in made]


def test_a_context_encoder_of_an_earlier_design_is_replaced_and_the_note_model_kept(tmp_path):
    """A checkpoint whose context weights do not all fit this version's encoder keeps those that fit and starts
    the others anew (at zero) over its note model, which is copied exactly."""
    torch.manual_seed(0)
    model = MusicLSTM(TINY)
    tensors = checkpoint.model_tensors(model)
    tensors["model.ctx_following.weight"] = torch.zeros(TINY.hidden, 2 * TINY.context)  # the old shape
    path = tmp_path / "old.safetensors"
    checkpoint.save(path, tensors, {"model": TINY.to_dict()})
    started, _ = checkpoint.warm_start(path)
    for name, value in model.state_dict().items():
        if not name.startswith("ctx_"):
            assert torch.equal(started.state_dict()[name], value), name
    assert started.ctx_following.weight.shape == model.ctx_following.weight.shape
    assert not started.ctx_following.weight.any()


def test_training_tasks_cut_at_a_gap_and_give_the_held_tracks():
    song = _song(duet(bars=40))
    assert len(song) > 210
    onsets = np.cumsum(song.ids[:, SHIFT])
    seen = set()
    for seed in range(40):
        rng = np.random.default_rng(seed)
        cut, ctx, given = training_context(song.ids, song.programs, song.bar, song.bar_start, 10, 200, rng)
        seen.add(ctx.mode)
        if ctx.mode == INFILL:
            assert cut < 200 and (onsets[10 + cut] - song.bar_start) % song.bar == 0  # cut at a bar line
            assert ctx.onsets[0] >= onsets[10 + cut] and not given.any()
        elif ctx.mode == ACCOMPANY:
            held = set(np.unique(ctx.ids[:, TRACK]).tolist())
            window = song.ids[10:210]
            assert np.array_equal(given, np.isin(window[:, TRACK], list(held)))
            assert 0 < len(held) < 2 and (window[given, PITCH] != REST).all()
        else:
            assert ctx.mode == NONE and len(ctx) == 0 and cut == 200
    assert seen == {NONE, INFILL, ACCOMPANY}


# ------------------------------------------------------------------------------------------ the CLI


def test_infill_and_accompany_cli_write_takes_byte_identically_and_refuse_in_one_sentence(composer, tmp_path, capsys):
    from composer.cli import main
    from composer.midi_io import piece_to_midi_bytes

    src = tmp_path / "in"
    src.mkdir()
    (src / "duet.mid").write_bytes(piece_to_midi_bytes(duet()))
    (src / "short.mid").write_bytes(piece_to_midi_bytes(duet(bars=3)))
    model = ["--model", str(composer.model_path), "--quiet", "--variations", "2", "--seed", "3"]
    for out in ("one", "two"):
        assert main(["infill", str(src), "--bars", "5-8", "--out", str(tmp_path / out), *model]) == 2
    manifest = json.loads((tmp_path / "one" / "manifest.json").read_text())
    refused = {s["file"].split("/")[-1]: s.get("refused") for s in manifest["seeds"]}
    assert refused["duet.mid"] is None and "outside the piece" in refused["short.mid"]
    assert manifest["command"] == "infill" and manifest["settings"]["bars"] == "5-8"
    assert manifest["seeds"][0]["filled_tracks"] == ["Melody", "Bass"]
    for name in ("duet/take-01.mid", "duet/take-02.mid", "manifest.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert not (tmp_path / "one" / "short").exists()
    err = capsys.readouterr().err
    assert "refused: Bars 5-8 are outside the piece" in err and "Traceback" not in err

    assert (
        main(
            [
                "infill",
                str(src / "duet.mid"),
                "--bars",
                "5-8",
                "--tracks",
                "Drums",
                "--out",
                str(tmp_path / "t"),
                *model,
            ]
        )
        == 2
    )
    assert "not a track of this piece (its tracks: 1 Melody, 2 Bass)" in capsys.readouterr().err
    assert not (tmp_path / "t" / "duet").exists()

    assert main(["accompany", str(src / "duet.mid"), "--style", "chorale", "--out", str(tmp_path / "a"), *model]) == 0
    record = json.loads((tmp_path / "a" / "manifest.json").read_text())["seeds"][0]
    assert record["added_tracks"] == ["Alto", "Tenor", "Bass"] and len(record["takes"]) == 2

    # piano over bars 2-3 alone, leaning to the guessed chords as asked; a strength out of range: one sentence
    args = ["accompany", str(src / "duet.mid"), "--bars", "2-3", "--chord-strength", "5", *model]
    assert main([*args, "--out", str(tmp_path / "p")]) == 0
    manifest = json.loads((tmp_path / "p" / "manifest.json").read_text())
    assert manifest["settings"]["chord_strength"] == 5.0 and manifest["settings"]["bars"] == "2-3"
    assert manifest["seeds"][0]["bars"] == "2-3"
    capsys.readouterr()
    assert main([*args[: -len(model)], "--chord-strength", "33", "--out", str(tmp_path / "q"), *model]) != 0
    err = capsys.readouterr().err
    assert "The chord strength must be 0 to 32" in err and "Traceback" not in err and not (tmp_path / "q").exists()


def test_evaluate_gap_reports_both_sides_and_left_only(composer, tmp_path, capsys):
    from composer.cli import main
    from composer.midi_io import piece_to_midi_bytes

    (tmp_path / "duet.mid").write_bytes(piece_to_midi_bytes(duet()))
    assert (
        main(["evaluate", "--model", str(composer.model_path), "--data", str(tmp_path), "--gap", "5-8", "--json"]) == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["pieces"] == 1 and result["bars"] == "5-8"
    for key in ("gap_bits_per_note", "gap_left_only_bits_per_note", "ratio", "per_field", "left_only_per_field"):
        assert key in result


def test_the_context_encoder_trains_at_its_own_learning_rate():
    from composer.train import TrainConfig, _param_groups

    cfg = TrainConfig(context_lr_scale=10.0)
    groups = _param_groups(MusicLSTM(TINY), cfg)
    assert [g["scale"] for g in groups] == [1.0, 10.0]
    assert len(_param_groups(MusicLSTM(replace(TINY, context=0)), cfg)) == 1


def test_an_accompaniment_sounds_under_every_onset_of_the_given_tracks(composer):
    """Under each onset of the given melody where none of the new notes is sounding, a new note starts."""
    melody = Piece(
        notes=tuple(Note(1.0 * i, 1.0, 72 + (i % 5), 80) for i in range(16)),
        key=0,
        tracks=(Track("Soprano", 52, 0),),
    )
    for take in composer.accompany(melody, Settings(variations=3, seed=9), style="chorale"):
        new = take.continuation.notes
        for note in melody.notes:
            assert any(n.start - 1e-9 <= note.start < n.end - 1e-9 for n in new), note.start


def test_the_join_prior_leans_a_note_leading_into_the_next_context_note_to_real_leaps():
    from composer.features import NO_PITCH
    from composer.generate import JOIN_LEAPS, JOIN_REACH, join_prior

    next_pitch = torch.tensor([40, 40, 40, NO_PITCH, 40])
    next_steps = torch.tensor([12, 12 + JOIN_REACH + 1, 12, -1, 6])
    duration = torch.tensor([11, 11, 11, 11, 0])  # ids: 12 grid steps; the last, 1 step (5 short of the note)
    stacked = torch.tensor([False, False, True, False, False])
    prior = join_prior(next_pitch, next_steps, duration, stacked)
    assert prior is not None
    # the first take's note ends where the next context note starts: real leaps, a whole step likeliest
    assert prior[0, 42] == pytest.approx(np.log(JOIN_LEAPS[2])) and prior[0, 38] == prior[0, 42]
    assert prior[0, 42] > prior[0, 41] > prior[0, 46] and prior[0, REST] == 0
    # too early to lead into it, under another note at its onset, or no context note on the track: nothing
    assert (prior[1] == 0).all() and (prior[2] == 0).all() and (prior[3] == 0).all()
    assert prior[4, 42] == pytest.approx(np.log(JOIN_LEAPS[2]))  # a short note within JOIN_REACH of it
    assert join_prior(next_pitch[3:4], next_steps[3:4], duration[3:4], stacked[3:4]) is None
    with pytest.raises(InputError, match="join strength must be 0 to"):
        Settings(join_strength=-1).validate()


def test_the_copy_views_count_what_follows_the_tracks_last_notes_wherever_they_recur():
    """Track 0 plays C D E C D F after the gap, track 1 C D G: a new note on track 0 whose track last played C D
    reads E and F after "C D" (order 2) and after "D" (order 1), with their durations; the same history on track
    1 reads G; a history the context never plays reads nothing, and a track with too few notes reads no order
    longer than its notes."""
    c, d, e, f, g = (p - PITCH_LOW for p in (60, 62, 64, 65, 67))
    line = [(c, 5), (d, 5), (e, 11), (c, 5), (d, 5), (f, 23)]
    ids = np.array([[0, p, dur, 0, 0] for p, dur in line] + [[0, c, 5, 0, 1], [0, d, 5, 0, 1], [0, g, 47, 0, 1]])
    index = CopyIndex(ids)
    history = np.full((4, COPY_HISTORY), -1)
    history[:3, -2:] = [c, d]
    history[3, -1] = g
    pitch, duration = index.views(np.array([0, 1, 0, 0]), history)
    one, two, three = (COPY_ORDERS.index(k) for k in (1, 2, 3))
    assert np.flatnonzero(pitch[0, two]).tolist() == [e, f] and pitch[0, two, [e, f]].tolist() == [1, 1]
    assert np.flatnonzero(pitch[0, one]).tolist() == [e, f] and not pitch[0, three:].any()
    assert np.flatnonzero(duration[0, two]).tolist() == [11, 23]
    assert np.flatnonzero(pitch[1, two]).tolist() == [g] and np.flatnonzero(duration[1, one]).tolist() == [47]
    assert pitch[2].tolist() == pitch[0].tolist()
    assert not pitch[3].any() and not duration[3].any()  # G is never followed on track 0
    # the stream's last notes on each track, rests left out, before each event asked about
    stream = np.array([c, d, REST, e, g])
    tracks = np.array([0, 0, 0, 1, 0])
    last = track_histories(stream, tracks, np.array([2, 5, 5, 0]), np.array([0, 0, 1, 0]))
    assert last[0, -2:].tolist() == [c, d] and (last[0, :-2] == -1).all()
    assert last[1, -3:].tolist() == [c, d, g] and last[2, -1] == e and (last[3] == -1).all()


def test_copy_views_start_at_zero_train_alone_and_change_only_the_gap(tmp_path):
    """A model given copy views (composer.checkpoint.with_copy_views) scores a gap exactly as before; with
    ``--freeze-context`` only the copy views' weights move (the far views and everything else stay); once they
    have weight they change the gap's scores, and accompaniments never read them."""
    from composer.testing.training import songs

    torch.manual_seed(0)
    base = checkpoint.with_far_views(_randomize_context(MusicLSTM(TINY))).eval()
    copy = checkpoint.with_copy_views(base).eval()
    assert copy.config.copy and not base.config.copy
    song = _song(duet(bars=24))
    assert gap_scores(copy, [song], (5, 8)) == gap_scores(base, [song], (5, 8))
    start = tmp_path / "start.safetensors"
    checkpoint.save(start, checkpoint.model_tensors(base), {"model": base.config.to_dict()})
    data = songs(16, length=200)
    settings = {"freeze_context": True, "batch_events": 400, "max_len": 100, "lr": 0.1}
    _, trained = _fine_tune(tmp_path, start, data, model=replace(TINY, copy=True), **settings)
    assert trained.config.copy and trained.config.far
    before = base.state_dict()
    for name, value in trained.state_dict().items():
        if not name.startswith("ctx_copy"):
            assert torch.equal(value, before[name]), name
    assert trained.ctx_copy.weight.abs().sum() > 0 and trained.ctx_copy_duration.weight.abs().sum() > 0
    from composer.train import TrainConfig, train

    alone = TrainConfig(data="unused", out=str(tmp_path / "r3"), model=replace(TINY, context=0, copy=True), log=False)
    with pytest.raises(InputError, match="--context"):  # copy views without an encoder to read them through
        train(alone, songs=(data, data))
    for layer in (copy.ctx_copy, copy.ctx_copy_duration):
        torch.nn.init.normal_(layer.weight, std=1.0)
    scored = [gap_scores(model, [song], (5, 8))["gap_bits_per_note"] for model in (copy, base)]
    assert scored[0] != scored[1]
    assert _accompaniments(tmp_path, base) == _accompaniments(tmp_path, copy)
