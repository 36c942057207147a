"""The studio's handlers, called directly (no server): the whole loop, bad input, isolation, persistence."""

import html
import json
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from composer.midi_io import read_midi
from composer.studio import desk
from composer.studio.store import Store
from composer.testing import smf


@pytest.fixture
def studio(tmp_path):
    with Store(tmp_path / "studio.sqlite3") as store:
        yield desk.StudioApp(store, tmp_path / "files")


def generate(studio, owner, piece, *, bars=2, takes=2, seed=3, key_lock=False):
    views = list(studio.generate(owner, piece, bars, takes, 1.0, 0.95, seed, False, key_lock, desk.SHIPPED))
    return views[-1], views


def same_page(a: desk.View, b: desk.View) -> bool:
    """Everything but the status line: nothing the musician had was lost."""
    return (a.piece_id, a.pieces, a.tree, a.current, [t.node_id for t in a.takes]) == (
        b.piece_id,
        b.pieces,
        b.tree,
        b.current,
        [t.node_id for t in b.takes],
    )


def test_seed_generate_keep_continue_undo_branch_export(studio, tmp_path):
    owner = studio.start(None).owner
    assert len(owner) == 32
    seed_file = tmp_path / "tune.mid"
    seed_file.write_bytes(smf.simple_file([60, 62, 64, 65, 67, 69, 71, 72] * 2, bpm=96))
    view = studio.upload(owner, None, str(seed_file))
    piece = view.piece_id
    assert "Read 16 notes" in view.status and "96 BPM" in view.report and view.tree[0][0].startswith("seed")
    seed_notes = read_midi(str(seed_file)).notes

    view, progress = generate(studio, owner, piece, takes=3)
    assert progress[0].takes == [] and "Generating 3 takes of 2 bars" in progress[0].status
    assert "3 takes ready" in view.status and len(view.takes) == 3
    for take in view.takes:
        assert Path(take.audio).read_bytes()[:4] == b"RIFF"
        assert Path(take.roll).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert ET.fromstring(take.score).tag.endswith("svg")
        assert read_midi(take.midi).notes[:16] == seed_notes  # the seed, unchanged, then the take
        assert re.search(r"\d+ % in [A-G][b#]? (major|minor) ·", take.metrics) and "bits/note" in take.metrics
    first_round = [t.node_id for t in view.takes]

    kept = studio.keep(owner, piece, first_round[1])
    assert kept.current == first_round[1] and kept.takes == [] and "Kept take 1.2" in kept.status
    kept_notes = read_midi(view.takes[1].midi).notes
    view, _ = generate(studio, owner, piece, seed=4)
    assert all(read_midi(t.midi).notes[: len(kept_notes)] == kept_notes for t in view.takes)  # continues the kept
    labels = [label.strip().split(",")[0] for label, _ in view.tree]
    assert labels == ["seed", "└ take 1.1", "└ take 1.2", "└ take 2.1", "└ take 2.2", "└ take 1.3"]
    undone = studio.undo(owner, piece)
    assert undone.current == view.tree[0][1] and [t.node_id for t in undone.takes] == first_round
    branch = studio.jump(owner, piece, first_round[0])
    assert branch.current == first_round[0] and "Now at take 1.1" in branch.status
    assert len(branch.tree) == 1 + 3 + 2  # the seed, round one, round two: nothing is ever dropped

    status, files = studio.export_piece(owner, piece)
    assert [f.rsplit(".", 1)[1] for f in files] == ["mid", "musicxml", "wav"] and "Exported" in status
    assert read_midi(files[0]).notes == read_midi(studio.store.node(owner, first_round[0]).midi).notes
    assert ET.parse(files[1]).getroot().tag == "score-partwise"
    assert Path(files[2]).read_bytes()[:4] == b"RIFF"

    status, session = studio.export_session(owner)
    data = json.loads(Path(session).read_text())
    assert data["format"] == "composer-session" and len(data["pieces"]) == 1
    other = studio.start(None).owner
    imported = studio.import_session(other, None, session)
    assert "Imported 1 piece(s)" in imported.status and len(imported.tree) == len(branch.tree)


def test_examples_and_abc_start_pieces(studio):
    from composer.examples import EXAMPLES

    owner = studio.start(None).owner
    assert len(EXAMPLES) >= 6
    view = studio.example(owner, None, EXAMPLES[0].name)
    assert view.piece_id and view.status.startswith("Read ")
    view = studio.abc(owner, view.piece_id, "X:1\nT:Little jig\nM:6/8\nL:1/8\nK:G\nGAB c2d|e2d cBA|GAB c2d|e3 d3|")
    assert "6/8" in view.summary and view.pieces[0][0] == "Little jig" and len(view.pieces) == 2


@pytest.mark.parametrize("case", ["renamed text", "oversized", "empty", "drums only", "no file"])
def test_bad_uploads_get_a_sentence_and_lose_nothing(studio, tmp_path, case):
    owner = studio.start(None).owner
    before = studio.example(owner, None, "hicks-hornpipe")
    before, _ = generate(studio, owner, before.piece_id)
    path = tmp_path / "bad.mid"
    if case == "renamed text":
        path.write_text("not music at all\n")
    elif case == "oversized":
        path.write_bytes(smf.simple_file() + b"\0" * 2_100_000)
    elif case == "empty":
        path.write_bytes(smf.smf([smf.track([smf.tempo(120)])]))
    elif case == "drums only":
        path.write_bytes(smf.smf([smf.track(smf.melody([36, 38, 42, 46], channel=9))]))
    after = studio.upload(owner, before.piece_id, None if case == "no file" else str(path))
    expected = {
        "renamed text": "is not a MIDI file",
        "oversized": "above the studio's limit",
        "empty": "contains no notes",
        "drums only": "only drum tracks",
        "no file": "Choose a MIDI file",
    }
    assert expected[case] in after.status and after.status.count(". ") <= 1
    assert same_page(before, after)


@pytest.mark.parametrize("text, expected", [("", "ABC"), ("%%%% \n", "ABC"), ("garbage ###", "cannot read")])
def test_bad_abc_gets_a_sentence_and_loses_nothing(studio, text, expected):
    owner = studio.start(None).owner
    before = studio.example(owner, None, "hicks-hornpipe")
    after = studio.abc(owner, before.piece_id, text)
    assert expected in after.status and same_page(before, after)


@pytest.mark.parametrize(
    "content, expected",
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"format": "composer-session", "version": 99, "pieces": []}), "newer composer"),
        (json.dumps({"format": "something else", "version": 1, "pieces": []}), "composer"),
    ],
)
def test_bad_session_files_are_refused_and_lose_nothing(studio, tmp_path, content, expected):
    owner = studio.start(None).owner
    before = studio.example(owner, None, "hicks-hornpipe")
    path = tmp_path / "session.json"
    path.write_text(content)
    after = studio.import_session(owner, before.piece_id, str(path))
    assert expected in after.status and same_page(before, after)


def test_bad_settings_are_refused_before_any_work(studio):
    owner = studio.start(None).owner
    before = studio.example(owner, None, "hicks-hornpipe")
    for args, expected in [
        ((0, 4, 1.0, 0.95), "1 to 64 bars"),
        ((8, 9, 1.0, 0.95), "1 to 8 takes"),
        ((8, 4, 0.0, 0.95), "temperature must be above 0"),
        ((8, 4, 1.0, 1.5), "top-p"),
        ((40, 4, 1.0, 0.95), "1 to 32 bars"),
    ]:
        views = list(studio.generate(owner, before.piece_id, *args, 1, False, False, desk.SHIPPED))
        assert len(views) == 1 and expected in views[0].status and same_page(before, views[0])
    views = list(studio.generate(owner, before.piece_id, 2, 2, 1.0, 0.95, 1, False, False, "no-such-model"))
    assert "no model called" in views[0].status


def test_the_note_range_bounds_the_new_notes_and_is_recorded(studio):
    owner = studio.start(None).owner
    piece = studio.example(owner, None, "hicks-hornpipe").piece_id
    views = list(studio.generate(owner, piece, 2, 2, 1.0, 0.95, 4, False, False, desk.SHIPPED, 60, 72))
    assert views[-1].done and len(views[-1].takes) == 2
    for take in views[-1].takes:
        node = studio.store.node(owner, take.node_id)
        new = [n.pitch for n in node.piece().notes if n.start >= node.join]
        assert new and all(60 <= p <= 72 for p in new)
        assert node.settings["pitch_range"] == [60, 72] and "notes 60–72" in take.metrics
        assert "new notes on: " in take.metrics and "new notes on: no track" not in take.metrics
    whole = list(studio.generate(owner, piece, 1, 1, 1.0, 0.95, 4, False, False, desk.SHIPPED, 21, 108))[-1]
    node = studio.store.node(owner, whole.takes[0].node_id)
    assert node.settings["pitch_range"] is None and "notes " not in whole.takes[0].metrics.split("settings:")[1]


def test_the_form_is_passed_recorded_and_each_take_says_what_it_restates(studio):
    owner = studio.start(None).owner
    before = studio.example(owner, None, "hicks-hornpipe")  # a pickup and 4 bars
    args = (owner, before.piece_id, 4, 2, 1.0, 0.95, 4, False, False, desk.SHIPPED, 21, 108)
    views = list(studio.generate(*args, "repeat"))
    assert views[-1].done and len(views[-1].takes) == 2
    for take in views[-1].takes:
        node = studio.store.node(owner, take.node_id)
        assert node.settings["form"] == "repeat" and node.metrics["restates"]["bars"] == "1-4"
        assert f"restates: the seed's bars 1-4 ({100 * node.metrics['restates']['share']:.0f} % of its notes)" in (
            take.metrics
        )
        assert ", form repeat" in take.metrics.split("settings:")[1]
    assert any(", repeat)" in label for label, _ in views[-1].tree)  # the history says so too
    # auto (the default, and what scripts that send no form get) records its form and says what it restates
    auto = list(studio.generate(*args[:-2]))[-1]
    node = studio.store.node(owner, auto.takes[0].node_id)
    assert node.settings["form"] == "auto" and "restates: " in auto.takes[0].metrics
    assert "form" not in auto.takes[0].metrics.split("settings:")[1]
    views = list(studio.generate(*args, "sonata"))
    assert len(views) == 1 and "The form must be auto" in views[0].status and "sonata" in views[0].status


@pytest.mark.parametrize(
    "lowest, highest, expected",
    [(72, 60, "the lowest not above the highest"), (10, 60, "within the piano's 21–108"), (60.5, 72, "whole number")],
)
def test_a_bad_note_range_is_refused_before_any_work(studio, lowest, highest, expected):
    owner = studio.start(None).owner
    before = studio.example(owner, None, "hicks-hornpipe")
    views = list(studio.generate(owner, before.piece_id, 2, 2, 1.0, 0.95, 1, False, False, None, lowest, highest))
    assert len(views) == 1 and expected in views[0].status and same_page(before, views[0])


def test_a_request_over_the_time_cap_stops_with_a_sentence(studio, monkeypatch):
    owner = studio.start(None).owner
    before = studio.example(owner, None, "hicks-hornpipe")
    monkeypatch.setattr(desk, "REQUEST_SECONDS", -1)
    last, _ = generate(studio, owner, before.piece_id)
    assert "took longer than this server allows" in last.status and same_page(before, last)


def test_each_browser_sees_only_its_own_pieces(studio):
    alice = studio.start(None).owner
    bob = studio.start(None).owner
    mine = studio.example(alice, None, "hicks-hornpipe")
    mine, _ = generate(studio, alice, mine.piece_id)
    assert studio.start(bob).pieces == []
    stolen = studio.keep(bob, mine.piece_id, mine.takes[0].node_id)
    assert "not found" in stolen.status.lower() or "no take" in stolen.status.lower()
    assert studio.store.piece(alice, mine.piece_id).current_id == mine.current


def test_pieces_survive_a_server_restart(tmp_path):
    db = tmp_path / "studio.sqlite3"
    with Store(db) as store:
        first = desk.StudioApp(store, tmp_path / "files")
        owner = first.start(None).owner
        view = first.example(owner, None, "hicks-hornpipe")
        view, _ = generate(first, owner, view.piece_id)
        first.keep(owner, view.piece_id, view.takes[0].node_id)
    with Store(db) as store:  # a new process: new app object, same database file
        again = desk.StudioApp(store, tmp_path / "files-2").start(owner, view.piece_id)
    assert again.piece_id == view.piece_id and again.current == view.takes[0].node_id
    assert "Welcome back" in again.status


def test_the_model_picker_offers_checkpoints_in_the_models_folder(tmp_path):
    from composer import checkpoint
    from composer.model import ModelConfig, MusicLSTM

    tiny = ModelConfig(hidden=32, layers=1, head_hidden=16)
    models = tmp_path / "models"
    checkpoint.save(
        models / "my-folk" / "best.safetensors", checkpoint.model_tensors(MusicLSTM(tiny)), {"model": tiny.to_dict()}
    )
    (models / "notes.txt").write_text("not a model")
    with Store(tmp_path / "studio.sqlite3") as store:
        studio = desk.StudioApp(store, tmp_path / "files", models)
        assert studio.models() == [desk.SHIPPED, "my-folk/best.safetensors"]
        owner = studio.start(None).owner
        piece = studio.example(owner, None, "hicks-hornpipe").piece_id
        views = list(studio.generate(owner, piece, 1, 2, 1.0, 0.95, 3, False, False, "my-folk/best.safetensors"))
        assert "2 takes ready" in views[-1].status
        assert "my-folk/best.safetensors" in views[-1].takes[0].metrics  # the take says which model made it


def test_closing_a_generation_cancels_the_renders_still_queued(tmp_path):
    """What Gradio does on Cancel: it closes the handler's generator.  The takes stay in the history; the
    renders not yet handed to the worker process are cancelled (one worker: the takes are on screen without
    their files; at most the render it runs and the ones its executor has already queued for it run on)."""
    with Store(tmp_path / "studio.sqlite3") as store:
        studio = desk.StudioApp(store, tmp_path / "files", render_workers=1)
        owner = studio.start(None).owner
        piece = studio.example(owner, None, "bach-bwv269").piece_id
        running = studio.generate(owner, piece, 32, 8, 1.0, 0.95, 5, False, False, desk.SHIPPED)
        assert next(running).takes == []  # generating
        assert len(next(running).takes) == 8  # every take is on screen, its audio and score to come
        running.close()
        studio.pool.shutdown(wait=True)  # whatever was handed to the worker finishes
        assert len(store.tree(owner, piece)) == 1 + 8
        rendered = list((tmp_path / "files").glob("takes/*/take.wav"))
        assert len(rendered) <= 4  # of 8
        assert not list((tmp_path / "files").glob("takes/*/score.svg"))  # queued after every take's audio


def test_export_says_when_the_score_had_to_round_what_the_midi_keeps(studio, tmp_path):
    owner = studio.start(None).owner
    seed_file = tmp_path / "played.mid"
    # Lengths of 1/7 beat (480/7 ticks): no notation spells them, so the score rounds them and says so.
    played = [b for i in range(8) for b in smf.note(60 + i, 69, delta=0 if i == 0 else 1)]
    seed_file.write_bytes(smf.smf([smf.track(played)]))
    view = studio.upload(owner, None, str(seed_file))
    status, files = studio.export_piece(owner, view.piece_id)
    assert status.startswith("Exported") and "rounded" in status and "the MIDI keeps them exact" in status
    assert read_midi(files[0]).notes == read_midi(str(seed_file)).notes  # the MIDI as played
    assert ET.parse(files[1]).getroot().tag == "score-partwise"


def test_a_takes_metrics_name_the_tracks_that_got_new_notes():
    from composer.piece import Note, Piece, Track
    from composer.studio.desk import tracks_with_new_notes

    table = (Track("Melody"), Track("", 33, 1), Track("Pad", 89, 2))
    continuation = Piece((Note(8, 1, 72, 80, 0), Note(8, 2, 40, 80, 1)), tracks=table)
    assert tracks_with_new_notes(continuation) == ["Melody", "Electric Bass (finger)"]
    assert tracks_with_new_notes(Piece((), tracks=table)) == []


# ------------------------------------------------------------------------------------------- fill, accompany


def fill(studio, owner, piece, bars, *, takes=2, seed=3, tracks=None):
    return list(studio.fill(owner, piece, bars, takes, 1.0, 0.95, seed, False, False, desk.SHIPPED, tracks))


def _note_key(n) -> tuple:
    return (round(n.start, 6), n.pitch, round(n.duration, 6), n.velocity, n.track)


def _one_sentence(status: str) -> bool:
    """One plain sentence: no traceback, no Python exception's name, one full stop at the end."""
    if re.search(r"Traceback|\w+(Error|Exception)\b|File \"", status):
        return False
    return len(re.findall(r"[.!?](?:\s|$)", status.replace("e.g.", "eg"))) == 1 and status.endswith(".")


def _two_tracks(tmp_path) -> Path:
    """A two-track seed in 4/4 at 100 BPM: a melody in quarters on channel 0 and a bass in halves on channel 1,
    eight bars each, no pickup."""
    melody = [smf.tempo(100), smf.meta(3, b"Melody"), *smf.melody([72, 74, 76, 77, 79, 77, 76, 74] * 4, 480)]
    bass = [smf.program(32, channel=1), *smf.melody([48, 43, 45, 41] * 4, 960, channel=1)]  # no name: its instrument's
    path = tmp_path / "duet.mid"
    path.write_bytes(smf.smf([smf.track(melody), smf.track(bass)]))
    return path


@pytest.mark.parametrize(
    "seed_name, bars, tracks",
    [
        ("hicks-hornpipe", "2-3", None),
        ("two tracks", "3-4", "2"),
        ("two tracks", "5", "melody, 2"),
        ("two tracks", "2-3", "Acoustic Bass"),
    ],
)
def test_fill_writes_only_the_bars_asked_for_and_keeps_every_other_note(studio, tmp_path, seed_name, bars, tracks):
    owner = studio.start(None).owner
    if seed_name == "two tracks":
        view = studio.upload(owner, None, str(_two_tracks(tmp_path)))
    else:
        view = studio.example(owner, None, seed_name)
    seed_node = studio.store.node(owner, view.current)
    seed = seed_node.piece()
    first, _, last = bars.partition("-")
    bar = seed.time_signature.bar_beats
    start = max(0.0, seed.bar_start + (int(first) - 1) * bar)  # bar 1 is the first whole bar
    end = seed.bar_start + int(last or first) * bar
    chosen = {1} if tracks in ("2", "Acoustic Bass") else set(range(len(seed.tracks)))

    views = fill(studio, owner, view.piece_id, bars, takes=3, tracks=tracks)
    gap = f"bars {bars}" if "-" in bars else f"bar {bars}"
    assert views[0].takes == [] and views[0].status == f"Filling {gap}: 3 takes…"
    last_view = views[-1]
    assert last_view.done and len(last_view.takes) == 3
    assert last_view.status.startswith("3 takes ready in ") and "Keep one to continue from it." in last_view.status
    assert last_view.current == seed_node.id  # the current point does not move
    inside = {_note_key(n) for n in seed.notes if n.track in chosen and start <= n.start < end}
    outside = {_note_key(n) for n in seed.notes} - inside
    made_new = 0
    for take in last_view.takes:
        node = studio.store.node(owner, take.node_id)
        assert node.parent_id == seed_node.id and not node.kept
        notes = {_note_key(n) for n in node.piece().notes}
        assert outside <= notes  # every note outside those bars (or on another track), exactly
        new = notes - outside
        assert all(start <= n[0] < end and n[4] in chosen for n in new)  # new notes start inside the bars
        made_new += len(new - inside)
        assert node.settings["command"] == "infill" and node.settings["bars"] == bars.replace(" ", "")
        assert node.settings["tracks"] == sorted(i + 1 for i in chosen) and node.settings["takes"] == 3
        assert node.join == start  # where the new part begins: the gap
        assert f"settings: bars {bars} filled on " in take.metrics and "restates" not in take.metrics
    assert made_new > 0
    assert all("(fill " in label for label, _ in last_view.tree[1:])  # the history says what made each take


@pytest.mark.parametrize(
    "bars, tracks, expected",
    [
        ("5-8", None, "outside the piece: it has bars 0 to 4"),  # the hornpipe: a pickup and four bars
        ("0-9", None, "outside the piece"),
        ("3-2", None, "run backwards"),
        ("x", None, "not a range like 5-8"),
        ("", None, "Give the bars to fill"),
        ("2-3", "Flute", "no track 'Flute'"),
        ("2-3", "9", "no track '9'"),
    ],
)
def test_a_bad_bar_range_or_track_is_one_sentence_and_loses_nothing(studio, bars, tracks, expected):
    owner = studio.start(None).owner
    before, _ = generate(studio, owner, studio.example(owner, None, "hicks-hornpipe").piece_id)
    nodes = len(studio.store.tree(owner, before.piece_id))
    views = fill(studio, owner, before.piece_id, bars, tracks=tracks)
    assert len(views) == 1 and expected in views[0].status, views[0].status  # refused before any work
    assert _one_sentence(views[0].status), views[0].status
    assert same_page(before, views[0]) and len(studio.store.tree(owner, before.piece_id)) == nodes


def test_fill_and_accompany_refuse_bad_settings_and_styles_in_one_sentence(studio):
    owner = studio.start(None).owner
    before = studio.example(owner, None, "hicks-hornpipe")
    common = (1.0, 0.95, 1, False, False, desk.SHIPPED)
    for views, expected in [
        (list(studio.fill(owner, before.piece_id, "2-3", 9, *common)), "1 to 8 takes"),
        (list(studio.fill(owner, before.piece_id, "2-3", 2, 0.0, 0.95, 1, False, False, None)), "temperature"),
        (list(studio.fill(owner, None, "2-3", 2, *common)), "Bring a seed first"),
        (list(studio.accompany(owner, before.piece_id, "jazz", 2, *common)), "must be piano or chorale"),
        (list(studio.accompany(owner, before.piece_id, "piano", 2, *common[:-1], "no-such-model")), "no model"),
        (list(studio.accompany(owner, before.piece_id, "piano", 2, *common, "40-41")), "outside the piece"),
        (list(studio.accompany(owner, before.piece_id, "piano", 2, *common, "two")), "not a range"),
    ]:
        assert len(views) == 1 and expected in views[0].status and _one_sentence(views[0].status)
        assert same_page(before, views[0]) or views[0].piece_id is None


@pytest.mark.parametrize("style", ["piano", "chorale"])
def test_accompany_adds_the_styles_tracks_and_keeps_the_given_notes(studio, style):
    from composer.generate import STYLES

    owner = studio.start(None).owner
    view = studio.example(owner, None, "bach-bwv269")  # a chorale's soprano
    seed_node = studio.store.node(owner, view.current)
    seed = seed_node.piece()
    views = list(studio.accompany(owner, view.piece_id, style, 2, 1.0, 0.95, 3, False, False, desk.SHIPPED))
    assert views[0].takes == [] and views[0].status == f"Accompanying ({style}): 2 takes…"
    assert views[-1].done and len(views[-1].takes) == 2 and "2 takes ready in " in views[-1].status
    given = {_note_key(n) for n in seed.notes}
    made_new = 0
    for take in views[-1].takes:
        node = studio.store.node(owner, take.node_id)
        piece = node.piece()
        assert node.parent_id == seed_node.id
        # The take's MIDI file holds the style's tracks after the seed's; reading it back keeps those with notes.
        added = list(STYLES[style])
        assert [(f.name, f.program) for f in piece.found if (f.name, f.program) in added] == added
        assert [(t.name, t.program) for t in piece.tracks[: len(seed.tracks)]] == [
            (t.name, t.program) for t in seed.tracks
        ]
        assert {(t.name, t.program) for t in piece.tracks[len(seed.tracks) :]} <= set(added)
        notes = {_note_key(n) for n in piece.notes}
        assert given <= notes  # the given notes, exactly
        assert all(n[4] >= len(seed.tracks) for n in notes - given)  # the new ones on the added tracks
        made_new += len(notes - given)
        assert node.settings["command"] == "accompany" and node.settings["style"] == style
        assert f"settings: {style} accompaniment" in take.metrics
    assert made_new > 0


def test_accompany_over_the_selected_bars_adds_notes_there_alone(studio):
    owner = studio.start(None).owner
    view = studio.example(owner, None, "hicks-hornpipe")
    seed = studio.store.node(owner, view.current).piece()
    views = list(studio.accompany(owner, view.piece_id, "piano", 2, 1.0, 0.95, 3, False, False, desk.SHIPPED, "2-3"))
    assert views[0].status == "Accompanying bars 2-3 (piano): 2 takes…"
    assert views[-1].done and len(views[-1].takes) == 2
    bar = seed.time_signature.bar_beats
    start, end = seed.bar_start + bar, seed.bar_start + 3 * bar
    given = {_note_key(n) for n in seed.notes}
    for take in views[-1].takes:
        node = studio.store.node(owner, take.node_id)
        new = {_note_key(n) for n in node.piece().notes} - given
        assert new and all(start - 1e-6 <= n[0] < end for n in new)
        assert node.settings["bars"] == "2-3" and node.join == pytest.approx(start)
        assert "settings: piano accompaniment in bars 2-3" in take.metrics


def test_keep_and_undo_work_on_a_filled_take_as_on_a_generated_one(studio):
    owner = studio.start(None).owner
    piece = studio.example(owner, None, "hicks-hornpipe").piece_id
    filled = fill(studio, owner, piece, "2-3")[-1]
    round_one = [t.node_id for t in filled.takes]
    kept = studio.keep(owner, piece, round_one[1])
    assert kept.current == round_one[1] and kept.takes == [] and "Kept take 1.2" in kept.status
    kept_notes = read_midi(filled.takes[1].midi).notes
    assert read_midi(studio.store.node(owner, round_one[1]).midi).notes == kept_notes
    view, _ = generate(studio, owner, piece, seed=4)  # continues the filled piece
    assert all(read_midi(t.midi).notes[: len(kept_notes)] == kept_notes for t in view.takes)
    undone = studio.undo(owner, piece)
    assert undone.current == filled.current and [t.node_id for t in undone.takes] == round_one
    assert "Undid take 1.2" in undone.status
    again = fill(studio, owner, piece, "1")[-1]  # a second fill from the same point: a new round beside it
    assert len(again.takes) == 2 and not {t.node_id for t in again.takes} & set(round_one)


# ------------------------------------------------------------------------------------------- what a new user hit


def _takes_by_hand(studio, owner, piece, parent, metrics_list, round_="1"):
    """Takes added straight to the store (the parent's music, made-up metrics): the page without generating."""
    midi = studio.store.node(owner, parent).midi
    return studio.store.add_takes(
        owner, piece, parent, [(midi, 0.0, {"round": round_, "take": i + 1}, m) for i, m in enumerate(metrics_list)]
    )


def test_keep_buttons_name_their_take_by_its_node_after_an_undo_and_a_reload(studio):
    owner = studio.start(None).owner
    piece = studio.example(owner, None, "hicks-hornpipe").piece_id
    generate(studio, owner, piece, takes=2)  # takes 1.1 and 1.2
    second, _ = generate(studio, owner, piece, takes=2, seed=4)  # 1.3 and 1.4
    assert [t.keep_label for t in second.takes] == ["Keep take 1.3", "Keep take 1.4"]
    studio.keep(owner, piece, second.takes[0].node_id)
    undone = studio.undo(owner, piece)
    reloaded = studio.start(owner, piece)  # a reload offers what the undo offered, each button naming its take
    for view in (undone, reloaded):
        assert [(t.title, t.keep_label) for t in view.takes] == [
            ("take 1.3", "Keep take 1.3"),
            ("take 1.4", "Keep take 1.4"),
        ]


def test_the_history_is_drawn_as_a_tree_with_every_take_a_node_and_the_path_marked(studio):
    owner = studio.start(None).owner
    view = studio.example(owner, None, "hicks-hornpipe")
    first = _takes_by_hand(studio, owner, view.piece_id, view.current, [{}, {}])
    studio.keep(owner, view.piece_id, first[1].id)
    second = _takes_by_hand(studio, owner, view.piece_id, first[1].id, [{}], round_="2")
    view = studio.jump(owner, view.piece_id, second[0].id)
    svg = ET.fromstring(view.history)
    nodes = {g.get("data-node"): g for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("data-node")}
    assert set(nodes) == {node_id for _, node_id in view.tree}  # every take a node, as the list has them
    labels = {node_id: "".join(g.itertext()) for node_id, g in nodes.items()}
    assert labels[first[0].id].startswith("take 1.1") and labels[second[0].id].startswith("take 2.1")
    assert nodes[second[0].id].get("class") == "node current"
    assert nodes[first[1].id].get("class") == "node on-path" and nodes[first[0].id].get("class") == "node candidate"
    # a click on a node is a jump: the page goes there
    back = studio.jump(owner, view.piece_id, first[0].id)
    assert back.current == first[0].id and "Now at take 1.1" in back.status
    assert ET.fromstring(back.history).find(".//*[@class='node current']").get("data-node") == first[0].id


@pytest.mark.parametrize(
    "repeat, expected",
    [
        ({"phrase_notes": 0, "times_in_a_row": 1}, "no repeated phrase"),
        (None, "no repeated phrase"),  # a take stored without it
        ({"phrase_notes": 8, "times_in_a_row": 3}, "longest repeat: 8 notes × 3"),
    ],
)
def test_a_take_with_no_repeated_phrase_says_so_rather_than_0_notes_once(studio, repeat, expected):
    owner = studio.start(None).owner
    view = studio.example(owner, None, "hicks-hornpipe")
    _takes_by_hand(studio, owner, view.piece_id, view.current, [{"notes": 5, "longest_repeat": repeat}])
    (take,) = studio.view(owner, view.piece_id).takes
    assert expected in take.metrics.split("\n\n") and "0 notes" not in take.metrics


def test_the_seed_report_wraps_its_long_lines_so_none_is_cut_off(studio, tmp_path):
    owner = studio.start(None).owner
    played = tmp_path / "played.mid"  # off the grid: the quantization line has figures to say
    played.write_bytes(smf.smf([smf.track([b for i in range(8) for b in smf.note(60 + i, 69, delta=0 if i else 1)])]))
    view = studio.upload(owner, None, str(played))
    lines = view.report.splitlines()
    assert lines[0] == lines[-1] == "```" and max(len(line) for line in lines) <= desk.REPORT_WIDTH
    words = " ".join(line.strip() for line in lines)
    assert "quantization (1/12 beat grid): largest onset shift" in words and "long rests shortened 0" in words
    # a report stored before wrapping (one long line) is wrapped when shown
    root = studio.store.node(owner, view.current)
    studio.store._db.execute(
        "UPDATE nodes SET metrics = ? WHERE id = ?",
        (json.dumps({**root.metrics, "report": "```\n  " + "word " * 40 + "\n```"}), root.id),
    )
    shown = studio.view(owner, view.piece_id).report.splitlines()
    assert shown[1].startswith("  word") and all(line.startswith("    word") for line in shown[2:-1])  # indented
    assert max(len(line) for line in shown) <= desk.REPORT_WIDTH and " ".join(shown).count("word") == 40


def test_starting_again_from_the_same_seed_opens_that_piece_rather_than_a_copy(studio, tmp_path):
    owner = studio.start(None).owner
    jig = "X:1\nT:Little jig\nM:6/8\nL:1/8\nK:G\nGAB c2d|e2d cBA|GAB c2d|e3 d3|"
    first = studio.abc(owner, None, jig)
    taken = _takes_by_hand(studio, owner, first.piece_id, first.current, [{}])
    studio.keep(owner, first.piece_id, taken[0].id)
    again = studio.abc(owner, first.piece_id, jig)
    assert again.piece_id == first.piece_id and len(again.pieces) == 1
    assert again.current == taken[0].id and "from this seed already" in again.status  # its history as it was
    other = studio.abc(owner, again.piece_id, jig.replace("e3 d3", "g3 d3"))  # another melody: another piece
    retitled = studio.abc(owner, other.piece_id, jig.replace("Little jig", "Big jig"))  # another title too
    assert len({first.piece_id, other.piece_id, retitled.piece_id}) == 3 and len(retitled.pieces) == 3
    example = studio.example(owner, None, "hicks-hornpipe")
    assert studio.example(owner, None, "hicks-hornpipe").piece_id == example.piece_id
    seed_file = tmp_path / "tune.mid"
    seed_file.write_bytes(smf.simple_file([60, 62, 64, 65], bpm=96))
    assert studio.upload(owner, None, str(seed_file)).piece_id == studio.upload(owner, None, str(seed_file)).piece_id
    assert len(studio.start(owner).pieces) == 5
    assert studio.start(None).owner != owner  # another browser starting the same melody gets its own piece
    stranger = studio.start(None).owner
    assert studio.abc(stranger, None, jig).piece_id != first.piece_id


def test_a_typed_abc_seed_reports_no_empty_track_dropped(studio):
    owner = studio.start(None).owner
    view = studio.abc(owner, None, "X:1\nT:My tune\nM:6/8\nL:1/8\nK:G\nGAB c2d|e2d cBA|")
    assert "tracks (1):" in view.report
    assert "dropped" not in view.report and "empty" not in view.report


def test_takes_are_shown_before_their_audio_and_score_which_follow(studio):
    """Issue 13 point 5: the takes are on screen as soon as their notes exist (MIDI, roll, metrics); their audio and
    engraved score are rendered after that view has gone out, and arrive in later views, the last one whole."""
    owner = studio.start(None).owner
    piece = studio.example(owner, None, "bach-bwv269").piece_id
    views = studio.generate(owner, piece, 2, 2, 1.0, 0.95, 3, False, False, desk.SHIPPED)
    assert next(views).takes == []  # the request's start
    shown = next(views)
    assert len(shown.takes) == 2 and not shown.done and shown.arrived == ()
    assert "2 takes made in " in shown.status and "rendering their audio and scores" in shown.status
    for take in shown.takes:
        assert take.audio is None and take.score == "" and not take.rendered  # not yet rendered …
        folder = Path(take.roll).parent
        assert not (folder / "take.wav").exists() and not (folder / "score.svg").exists()
        assert read_midi(take.midi).notes and Path(take.roll).read_bytes()[:4] == b"\x89PNG"  # … but here to see
        assert "bits/note" in take.metrics
    later = list(views)
    arrived = [i for v in later[:-1] for i in v.arrived]
    assert sorted(arrived) in ([0, 0, 1], [0, 1, 1])  # audio ×2, score ×2: one view each, the last one whole
    assert later[0].takes[later[0].arrived[0]].audio is not None  # the audio comes first
    last = later[-1]
    assert last.done and "2 takes ready in " in last.status and all(t.rendered for t in last.takes)
    assert {"generation", "on_screen", "files", "audio", "images"} <= set(last.timings)
    assert last.timings["on_screen"] <= last.timings["files"]
    for take in last.takes:
        assert Path(take.audio).read_bytes()[:4] == b"RIFF" and ET.fromstring(take.score).tag.endswith("svg")


def test_the_roll_plays_the_whole_piece_from_a_served_file(studio):
    """The roll's Play button names the piece's WAV (the whole piece so far, from beat 0), which lies in the folder
    the page serves as it is; nothing else of the studio's lies there."""
    owner = studio.start(None).owner
    view = studio.example(owner, None, "bach-bwv269")
    match = re.search(r'class="roll-play" data-audio="([^"]+)"', view.piano_roll)
    assert match
    path = Path(match[1])
    assert path.read_bytes()[:4] == b"RIFF" and path.is_relative_to(studio.served)
    _, files = studio.export_piece(owner, view.piece_id)
    assert files and not any(Path(f).is_relative_to(studio.served) for f in files)


def test_a_piece_of_several_tracks_has_a_served_stem_per_track_rendered_aside(studio, tmp_path):
    """Issue 13's mute / solo: the roll's Play names a stem per track beside the piece's WAV, rendered in the
    background (never in the handler: a generation's takes must not wait for them), in the folder the page
    serves; a piece of one track has none."""
    owner = studio.start(None).owner
    view = studio.upload(owner, None, str(_two_tracks(tmp_path)))
    match = re.search(r"class=\"roll-play\" data-audio=\"[^\"]+\" data-stems='([^']+)'", view.piano_roll)
    assert match, view.piano_roll[:2000]
    stems = {int(t): Path(p) for t, p in json.loads(html.unescape(match[1])).items()}
    assert sorted(stems) == [0, 1]
    deadline = time.monotonic() + 30
    while not all(p.exists() for p in stems.values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    for path in stems.values():
        assert path.read_bytes()[:4] == b"RIFF" and path.is_relative_to(studio.served)
    assert [p.name for p in stems.values()] == ["piece-track-1.wav", "piece-track-2.wav"]
    tune = tmp_path / "tune.mid"
    tune.write_bytes(smf.simple_file([60, 62, 64, 65]))
    one = studio.upload(owner, None, str(tune))
    assert "data-stems" not in one.piano_roll and 'class="roll-mute"' not in one.piano_roll
