"""Event sequences for training: reading a folder (split, evaluation set, cache), augmentation, windows, batches."""

import csv

import numpy as np

from composer.corpus import split_of_digest
from composer.dataset import (
    Song,
    collate,
    iterate_batches,
    list_files,
    load_songs,
    song_from_piece,
    transpose_range,
    transposed,
)
from composer.encoding import PITCH, REST, TRACK, VELOCITY, VELOCITY_UNKNOWN
from composer.features import NO_PITCH, NO_PROGRAM
from composer.piece import Note, Piece, Track
from composer.testing import smf
from composer.testing.training import songs


def test_windows_start_from_the_previous_event_and_positions_follow():
    s = songs(1, length=10)[0]
    b = collate([(s, 4, 3, 0)])
    assert b.inputs[0].tolist() == s.ids[3:6].tolist()
    assert b.targets[0].tolist() == s.ids[4:7].tolist()
    pos = s.positions()
    assert b.tgt_pos[0].tolist() == pos[5:8].tolist() and b.in_pos[0].tolist() == pos[4:7].tolist()
    ref = s.features.ref
    assert b.prev_pitch[0].tolist() == ref[3:6].tolist()  # the last pitch on each input event's track before it
    assert b.ref[0].tolist() == ref[4:7].tolist()  # … and on each target's track
    assert b.in_program[0].tolist() == [s.programs[t] for t in s.ids[3:6, TRACK]]
    assert b.tgt_program[0].tolist() == [s.programs[t] for t in s.ids[4:7, TRACK]]
    first = collate([(s, 0, 3, 0)])
    assert first.prev_pitch[0, 0] == NO_PITCH and first.in_program[0, 0] == NO_PROGRAM


def test_transposition_moves_every_pitch_input_and_leaves_tracks_and_velocities():
    s = songs(1, length=60)[0]
    plain, moved = collate([(s, 0, len(s), 0)]), collate([(s, 0, len(s), 2)])
    for name in ("ref", "prev_pitch", "lookback1", "lookback2"):
        a, b = getattr(plain, name), getattr(moved, name)
        real = a < 88
        assert (b[real] == a[real] + 2).all() and (b[~real] == a[~real]).all(), name
    assert (moved.targets[..., TRACK] == plain.targets[..., TRACK]).all()
    assert (moved.targets[..., VELOCITY] == plain.targets[..., VELOCITY]).all()


def test_a_song_read_from_a_piece_carries_its_tracks_programs_and_whether_it_has_dynamics():
    notes = (Note(0, 1, 60, 84, 0), Note(0, 2, 40, 84, 1), Note(1, 1, 62, 84, 0))
    flat = song_from_piece(Piece(notes=notes, tracks=(Track("melody", 73), Track("bass", 32, 1))))
    assert flat.programs == (73, 32) and not flat.has_dynamics
    assert (flat.ids[:, VELOCITY] == VELOCITY_UNKNOWN).all()
    loud = song_from_piece(Piece(notes=(notes[0], Note(1, 1, 62, 30, 0))))
    assert loud.has_dynamics and loud.programs == (0,)


def test_transposition_is_range_safe_and_moves_the_key():
    ids = np.array([[0, 0, 0, 5, 0], [12, REST, 0, 31, 0], [12, 80, 3, 5, 1]])
    s = Song(ids=ids, bar=48, bar_start=0, key=23)
    low, high = transpose_range(s)
    assert low == 0 and high == 5  # the lowest pitch is A0, the highest 80 + 5 <= 87
    moved, key = transposed(ids, 23, 2)
    assert moved[:, PITCH].tolist() == [2, REST, 82] and key == 13


def test_batches_are_a_function_of_seed_and_epoch():
    data = songs(30)
    a = [
        [(x[1], x[2], x[3]) for x in b]
        for b in iterate_batches(data, max_len=16, batch_events=64, seed=3, epoch=2, augment=True)
    ]
    b = [
        [(x[1], x[2], x[3]) for x in b]
        for b in iterate_batches(data, max_len=16, batch_events=64, seed=3, epoch=2, augment=True)
    ]
    assert a == b
    covered = sum(length for batch in a for _, length, _ in batch)
    assert covered == sum(len(s) for s in data)  # every event is a target exactly once per epoch


def midi_folder(tmp_path, n=6):
    folder = tmp_path / "midi"
    folder.mkdir()
    rng = np.random.default_rng(2)
    for i in range(n):
        (folder / f"t{i}.mid").write_bytes(smf.simple_file([int(p) for p in rng.integers(55, 80, 12 + i)]))
    return folder


def test_songs_carry_the_split_of_their_files_hash(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / "cache"))
    folder = midi_folder(tmp_path)
    entries = {e.path.name: e for e in list_files(folder)}
    assert all(e.split == split_of_digest(e.content) for e in entries.values())
    loaded, report = load_songs(folder)
    assert report.files == 6 and not report.skipped and len(report.fingerprint) == 16
    assert {s.name: s.split for s in loaded} == {name: e.split for name, e in entries.items()}
    assert all(s.eval_set == "" for s in loaded)


def test_songs_carry_the_manifests_split_and_evaluation_set_through_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPOSER_CACHE", str(tmp_path / "cache"))
    folder = midi_folder(tmp_path, n=4)
    rows = [
        {"path": "t0.mid", "split": "test", "eval_set": "kinder", "group": "g1"},
        {"path": "t1.mid", "split": "train", "eval_set": "", "group": "g1"},
        {"path": "t2.mid", "split": "valid", "eval_set": "", "group": "g2"},
        {"path": "t3.mid", "split": "train", "eval_set": "", "group": "g3"},
    ]
    columns = ["path", "collection", "source", "title", "key", "meter", "notes", "content_hash", "group", "split"]
    columns += ["eval_set", "licence"]
    with open(folder / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" for c in columns} | {"collection": "c", "notes": "12", **row})
    first, _ = load_songs(folder)
    assert [(s.name, s.split, s.eval_set, s.group) for s in first] == [
        (r["path"], r["split"], r["eval_set"], r["group"]) for r in rows
    ]
    assert len(list((tmp_path / "cache").glob("events-*.npz"))) == 1  # written whole, no temporary file left
    assert not [p for p in (tmp_path / "cache").iterdir() if p.name.endswith(".tmp")]
    cached, _ = load_songs(folder)  # read back from the cache: the same songs, split and evaluation set included
    assert [(s.name, s.split, s.eval_set, s.group, s.bar, s.key, s.programs, s.has_dynamics) for s in cached] == [
        (s.name, s.split, s.eval_set, s.group, s.bar, s.key, s.programs, s.has_dynamics) for s in first
    ]
    assert all(np.array_equal(a.ids, b.ids) for a, b in zip(first, cached, strict=True))
