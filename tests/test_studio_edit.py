"""Edits in the roll (issue 13): add, move, delete notes and change velocity, each a new point of the history that
undo covers; overlapping notes of one pitch settled as MIDI holds them; bad edits refused in one sentence."""

import json
import re

import pytest

from composer.edit import apply_edits, where
from composer.errors import InputError
from composer.midi_io import read_midi
from composer.piece import Note, Piece
from composer.studio import desk
from composer.studio.roll import roll_html
from composer.studio.store import Store
from composer.testing import smf

SCALE = [60, 62, 64, 65, 67, 69, 71, 72]  # one beat each: bars 1 and 2 of 4/4


@pytest.fixture
def studio(tmp_path):
    with Store(tmp_path / "studio.sqlite3") as store:
        yield desk.StudioApp(store, tmp_path / "files")


@pytest.fixture
def seeded(studio, tmp_path):
    owner = studio.start(None).owner
    seed = tmp_path / "scale.mid"
    seed.write_bytes(smf.simple_file(SCALE, bpm=100))
    return owner, studio.upload(owner, None, str(seed)).piece_id


def notes_now(studio, owner, piece):
    record = studio.store.piece(owner, piece)
    return studio.store.node(owner, record.current_id).piece().notes


def test_each_kind_of_edit_is_a_new_point_that_undo_takes_back(studio, seeded):
    owner, piece = seeded
    before = notes_now(studio, owner, piece)
    edits = [
        {"op": "add", "start": 8, "duration": 2, "pitch": 74, "velocity": 90},
        {"op": "move", "note": {"start": 1, "pitch": 62, "track": 0}, "start": 1.5, "pitch": 63},
        {"op": "delete", "note": {"start": 3, "pitch": 65}},
        {"op": "velocity", "note": {"start": 0, "pitch": 60, "track": 0}, "velocity": 30},
    ]
    seen = [before]
    for i, edit in enumerate(edits, 1):
        view = studio.edit(owner, piece, json.dumps([edit]))  # as the page and the API send them: JSON text
        assert "Undo takes it back" in view.status, view.status
        assert view.tree[-1][0].strip().startswith(f"└ edit {i}.1") or any(f"edit {i}.1" in t for t, _ in view.tree)
        assert 'class="roll-note"' in view.piano_roll and view.takes == []
        seen.append(notes_now(studio, owner, piece))
    after = seen[-1]
    assert Note(8.0, 2.0, 74, 90) in after
    assert Note(1.5, 1.0, 63, 80) in after and not any(n.pitch == 62 for n in after)
    assert not any(n.pitch == 65 for n in after)
    assert Note(0.0, 1.0, 60, 30) in after
    assert len(after) == len(before)  # one added, one deleted, one moved
    # each edit a point on the path; undo walks back one at a time, to the seed exactly
    for i in range(len(edits), 0, -1):
        view = studio.undo(owner, piece)
        assert view.status.startswith(f"Undid edit {i}.1"), view.status
        assert notes_now(studio, owner, piece) == seen[i - 1]
    assert notes_now(studio, owner, piece) == before


def test_an_edit_overlapping_a_note_of_its_pitch_is_settled_as_midi_holds_it(studio, seeded):
    owner, piece = seeded
    # the C4 lengthened over the next beat, a second C4 added while it sounds, an E4 added on top of the E4
    view = studio.edit(
        owner,
        piece,
        [
            {"op": "move", "note": {"start": 0, "pitch": 60}, "duration": 2},  # C4 now sounds over beat 1
            {"op": "add", "start": 1, "duration": 1, "pitch": 60, "velocity": 100},  # a C4 while it sounds
            {"op": "add", "start": 2, "duration": 0.5, "pitch": 64, "velocity": 50},  # on top of the E4
        ],
    )
    assert "2 overlapping notes of one pitch on one track were joined" in view.status, view.status
    now = notes_now(studio, owner, piece)
    c4 = [n for n in now if n.pitch == 60]
    assert c4 == [Note(0.0, 1.0, 60, 80), Note(1.0, 1.0, 60, 100)]  # the earlier stops where the later begins
    assert [n for n in now if n.pitch == 64] == [Note(2.0, 0.5, 64, 50)]  # two at one beat: the edited one
    # what is stored reads back as it was settled: no overlap left for the reader to change
    for a in now:
        for b in now:
            assert a is b or (a.track, a.pitch) != (b.track, b.pitch) or a.end <= b.start + 1e-9 or b.end <= a.start


@pytest.mark.parametrize(
    ("edits", "words"),
    [
        ([{"op": "delete", "note": {"start": 5, "pitch": 61}}], "There is no C#4 beginning at bar 2, beat 2"),
        ([{"op": "move", "note": {"start": 0, "pitch": 60}, "start": 40}], "outside the piece: it ends in bar 2"),
        ([{"op": "add", "start": -1, "pitch": 60}], "before the piece's first beat"),
        ([{"op": "add", "start": 1, "pitch": 120}], "outside the piano's A0–C8"),
        ([{"op": "velocity", "note": {"start": 0, "pitch": 60}, "velocity": 200}], "a velocity runs from 1 to 127"),
        ([{"op": "add", "start": 1, "pitch": 60, "track": 3}], "the piece has 1 track"),
        ([{"op": "transpose"}], "is not one of add, move, delete, velocity"),
        ([{"op": "delete", "note": {"start": 0, "pitch": 60 + i}} for i in (0, 2, 4, 5, 7, 9, 11, 12)], "every note"),
        ([{"op": "velocity", "note": {"start": 0, "pitch": 60}, "velocity": 80}], "leave the piece as it was"),
        ("[{", "not JSON"),
        ("", "Send the edits as a list"),
        ({"op": "add"}, "Send the edits as a list"),
    ],
)
def test_a_bad_edit_is_one_sentence_and_nothing_is_lost(studio, seeded, edits, words):
    owner, piece = seeded
    if words == "every note":  # the eight notes start on beats 0..7
        edits = [{"op": "delete", "note": {"start": i, "pitch": p}} for i, p in enumerate(SCALE)]
    before = studio.view(owner, piece)
    view = studio.edit(owner, piece, edits)
    assert words in view.status, view.status
    assert not re.search(r"[.;]\s+[A-Z]", view.status) and view.status.endswith("."), view.status  # one sentence
    assert (view.current, view.tree) == (before.current, before.tree)  # no new point, nothing lost


def test_an_edit_from_a_stale_page_after_the_piece_moved_is_refused(studio, seeded):
    owner, piece = seeded
    first = studio.edit(owner, piece, [{"op": "delete", "note": {"start": 0, "pitch": 60}}])
    again = studio.edit(owner, piece, [{"op": "delete", "note": {"start": 0, "pitch": 60}}])
    assert "There is no C4 beginning at bar 1, beat 1" in again.status and again.current == first.current


def test_edits_are_kept_in_an_exported_session_and_read_back(studio, seeded, tmp_path):
    owner, piece = seeded
    studio.edit(owner, piece, [{"op": "add", "start": 8, "duration": 1, "pitch": 72, "velocity": 64}])
    _, path = studio.export_session(owner)
    other = studio.start(None).owner
    view = studio.import_session(other, None, path)
    assert any("edit 1.1" in label for label, _ in view.tree) and "edit 1.1" in view.summary


def test_where_counts_bars_as_musicians_do():
    piece = Piece(notes=(Note(0, 1, 60, 80),), bar_start=1.0)  # a one-beat pickup
    assert where(piece, 0.0) == "bar 0, beat 1" and where(piece, 1.0) == "bar 1, beat 1"
    assert where(piece, 6.5) == "bar 2, beat 2.5"


def test_apply_edits_is_pure_and_keeps_the_header():
    piece = Piece(notes=(Note(0, 1, 60, 80), Note(1, 1, 62, 80)), tempo=90)
    edited = apply_edits(piece, [{"op": "move", "note": {"start": 1, "pitch": 62}, "start": 2}])
    assert edited.piece.notes == (Note(0, 1, 60, 80), Note(2, 1, 62, 80)) and edited.piece.tempo == 90
    assert edited.first_beat == 1 and edited.summary == "moved 1 note" and piece.notes[1].start == 1
    with pytest.raises(InputError):
        apply_edits(piece, [{"op": "move", "note": {"start": 1, "pitch": 62}, "start": "late"}])


def test_the_roll_draws_tracks_velocity_bars_and_nothing_from_outside():
    piece = read_midi(smf.simple_file(SCALE, bpm=100))
    html = roll_html(piece)
    assert html.count('class="roll-note"') == len(SCALE)
    assert 'data-pitch="60"' in html and 'fill-opacity="' in html and "#ec7a2c" in html  # track 0's orange
    assert "http" not in html.replace("http://www.w3.org", "")  # nothing fetched from anywhere
    assert '"lastBar": 2' in html.replace("&quot;", '"')


def _duet(tmp_path):
    """A two-track seed at 100 BPM: a melody (named) in quarters on channel 0, an unnamed acoustic bass (program
    32) in halves on channel 1, two bars each."""
    melody = [smf.tempo(100), smf.meta(3, b"Melody"), *smf.melody(SCALE, 480)]
    bass = [smf.program(32, channel=1), *smf.melody([48, 43, 45, 41], 960, channel=1)]
    path = tmp_path / "duet.mid"
    path.write_bytes(smf.smf([smf.track(melody), smf.track(bass)]))
    return path


@pytest.fixture
def duet(studio, tmp_path):
    owner = studio.start(None).owner
    return owner, studio.upload(owner, None, str(_duet(tmp_path))).piece_id


def test_a_tracks_instrument_is_an_edit_heard_in_its_midi_and_audio_that_undo_takes_back(studio, duet):
    owner, piece = duet
    before = studio.store.node(owner, studio.store.piece(owner, piece).current_id)
    assert [t.program for t in before.piece().tracks] == [0, 32]
    view = studio.edit(owner, piece, json.dumps([{"op": "program", "track": 1, "program": 40}]))
    assert view.status == "Track 2 (Acoustic Bass) now plays Violin (edit 1.1); Undo takes it back.", view.status
    node = studio.store.node(owner, view.current)
    assert node.is_edit and node.join == 0.0  # the whole piece sounds otherwise
    edited = read_midi(node.midi)  # the stored MIDI plays the violin, the notes as they were
    assert [t.program for t in edited.tracks] == [0, 40] and edited.notes == before.piece().notes
    assert edited.tracks[1].name == "" and edited.tracks[0].name == "Melody"  # unnamed: called by its instrument
    assert 'data-program="40"' in view.piano_roll and '<option value="40" selected>Violin</option>' in view.piano_roll
    assert any("(track 2 (Acoustic Bass) now plays Violin)" in label for label, _ in view.tree)  # the history says

    undone = studio.undo(owner, piece)
    assert undone.status.startswith("Undid edit 1.1 (track 2 (Acoustic Bass) now plays Violin)"), undone.status
    assert [t.program for t in studio.store.node(owner, undone.current).piece().tracks] == [0, 32]
    assert 'data-program="32"' in undone.piano_roll


def test_the_new_instrument_is_what_the_audio_plays():
    from composer.piece import Track
    from composer.studio.render import render_wav

    piece = Piece(notes=(Note(0, 1, 60, 80), Note(1, 1, 64, 80)), tracks=(Track("", 0, 0),))
    edited = apply_edits(piece, [{"op": "program", "track": 0, "program": 40}])
    assert edited.first_beat == 0 and edited.summary == "track 1 (Acoustic Grand Piano) now plays Violin"
    violin = Piece(notes=piece.notes, tracks=(Track("", 40, 0),))
    assert render_wav(edited.piece).wav == render_wav(violin).wav != render_wav(piece).wav
    both = apply_edits(
        piece, [{"op": "program", "track": 0, "program": 73}, {"op": "delete", "note": {"start": 1, "pitch": 64}}]
    )
    assert both.summary == "deleted 1 note, track 1 (Acoustic Grand Piano) now plays Flute"


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (
            {"op": "program", "track": 2, "program": 40},
            "Edit 1 gives track 3 an instrument, but the piece has 2 tracks.",
        ),
        ({"op": "program", "track": 1, "program": 128}, "the General MIDI instruments run from 0 to 127"),
        ({"op": "program", "track": 1, "program": -1}, "the General MIDI instruments run from 0 to 127"),
        ({"op": "program", "track": 1, "program": "Violin"}, "needs a number for 'program'"),
        ({"op": "program", "track": 1, "program": 40.5}, "needs a whole number for 'program'"),
        ({"op": "program", "program": 40}, "needs a number for 'track'"),
        ({"op": "program", "track": 1, "program": 32}, "leave the piece as it was"),
    ],
)
def test_a_bad_instrument_edit_is_one_sentence_and_nothing_is_lost(studio, duet, edit, words):
    owner, piece = duet
    before = studio.view(owner, piece)
    view = studio.edit(owner, piece, [edit])
    assert words in view.status, view.status
    assert not re.search(r"[.;]\s+[A-Z]", view.status) and view.status.endswith("."), view.status  # one sentence
    assert (view.current, view.tree) == (before.current, before.tree)  # no new point, nothing lost


def test_the_roll_shows_each_tracks_instrument_and_mute_and_solo_where_it_has_stems():
    from composer.piece import Track

    piece = Piece(
        notes=(Note(0, 1, 60, 80, 0), Note(0, 2, 48, 80, 1)), tracks=(Track("Melody", 73, 0), Track("", 32, 1))
    )
    html = roll_html(piece, "/files/piece.wav", {0: "/files/piece-track-1.wav", 1: "/files/piece-track-2.wav"})
    for track, program, name in ((0, 73, "Flute"), (1, 32, "Acoustic Bass")):
        select = re.search(
            rf'<select class="roll-program" data-track="{track}" data-program="{program}".*?</select>', html
        )
        assert select, track
        assert select[0].count("<option ") == 128 and select[0].count(" selected") == 1  # every GM instrument
        assert f'<option value="{program}" selected>{name}</option>' in select[0]
        assert f'class="roll-mute" data-track="{track}" aria-pressed="false"' in html
        assert f'class="roll-solo" data-track="{track}" aria-pressed="false"' in html
    assert "Melody" in html and "data-stems=" in html and "piece-track-2.wav" in html
    # one track, or no stems (a piece too long for them): one WAV, no mute and solo, the instrument still chosen
    alone = roll_html(piece, "/files/piece.wav")
    assert 'class="roll-mute"' not in alone and "data-stems" not in alone and alone.count('class="roll-program"') == 2
    assert "http" not in html.replace("http://www.w3.org", "")  # nothing fetched from anywhere
