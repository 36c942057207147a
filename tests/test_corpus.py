"""The embedded corpus in midi_data/: manifest, split, evaluation sets, and every file readable."""

import csv
import os
from collections import defaultdict
from pathlib import Path

import pytest

from composer import corpus
from composer.corpus import (
    CHORALE_EVAL,
    KINDER_EVAL,
    MANIFEST,
    POP909,
    VARIANTS,
    build,
    content_hash,
    find_variants,
    melody_words,
    pop909_songs,
    read_manifest,
    split_of,
)
from composer.encoding import VELOCITY_STEP, decode, encode, quantize
from composer.errors import InputError
from composer.midi_io import read_midi
from composer.piece import Note, Piece
from composer.processes import leave_with
from composer.testing import smf

DATA = Path(__file__).resolve().parent.parent / "midi_data"


@pytest.fixture(scope="module")
def entries():
    return read_manifest(DATA)


def test_manifest_lists_every_midi_file_and_nothing_else(entries):
    listed = {e.path for e in entries}
    on_disk = {str(p.relative_to(DATA)) for p in DATA.rglob("*.mid")}
    assert listed == on_disk
    assert len(entries) > 10_000


def test_collections_and_evaluation_sets(entries):
    by = defaultdict(int)
    for e in entries:
        by[e.collection] += 1
    assert (
        {"bach-chorales", "bach-soprano", "essen", "oneills1850", "ryans-mammoth"} <= set(by) <= set(corpus._PRIORITY)
    )
    assert by["bach-chorales"] == by["bach-soprano"] >= 340
    chorale_eval = [e for e in entries if e.eval_set == CHORALE_EVAL]
    assert len(chorale_eval) == 186 and {e.collection for e in chorale_eval} == {"bach-soprano"}
    numbers = {int(e.path.split("bwv")[1].split(".")[0]) for e in chorale_eval}
    assert numbers == set(range(253, 439))
    kinder = [e for e in entries if e.eval_set == KINDER_EVAL]
    assert len(kinder) == 213 and all(e.source.startswith("essenFolksong/kinder0.abc#") for e in kinder)


def test_split_is_by_group_hash_and_groups_never_straddle(entries):
    split_of_group = {}
    for e in entries:
        assert e.split == split_of(e.group)
        assert split_of_group.setdefault(e.group, e.split) == e.split
    shares = defaultdict(int)
    for e in entries:
        shares[e.split] += 1
    assert 0.75 < shares["train"] / len(entries) < 0.85
    assert 0.06 < shares["test"] / len(entries) < 0.14


def test_a_chorale_and_its_soprano_share_a_group(entries):
    groups = defaultdict(set)
    for e in entries:
        if e.collection.startswith("bach"):
            groups[Path(e.path).stem].add(e.group)
    assert all(len(g) == 1 for g in groups.values())


def test_no_duplicate_music_outside_the_soprano_lines(entries):
    seen = {}
    for e in entries:
        if e.collection == "bach-soprano":
            continue
        assert e.content_hash not in seen, (e.path, seen.get(e.content_hash))
        seen[e.content_hash] = e.path


def _round_trip(item: tuple[str, int, str]) -> str | None:
    """One corpus file through composer inspect's path (read → encode → decode): None, or what went wrong."""
    path, notes, meter = item
    piece = read_midi(DATA / path)
    if len(piece.notes) != notes:
        return f"{path}: {len(piece.notes)} notes, the manifest says {notes}"
    # The corpus is stored on the grid: its times, pitches and tracks exactly; its velocities as the build wrote
    # them (steps of 4 from a shared level), which the velocity grid of steps of 8 from each track's level rounds
    # by at most half a step.
    q = quantize(piece)
    if [(n.start, n.duration, n.pitch, n.track) for n in q.notes] != [
        (n.start, n.duration, n.pitch, n.track) for n in piece.notes
    ]:
        return f"{path}: not on the grid"
    if not all(abs(a.velocity - b.velocity) <= VELOCITY_STEP // 2 for a, b in zip(q.notes, piece.notes, strict=True)):
        return f"{path}: a velocity off the grid by more than half a step"
    if decode(encode(piece)) != q:
        return f"{path}: does not round-trip through the events"
    if str(piece.time_signature) != meter:
        return f"{path}: meter {piece.time_signature}, the manifest says {meter}"
    return None


def test_every_corpus_file_reads_and_round_trips_exactly(entries):
    """composer inspect's path (read → encode → decode) on every file of the corpus, over the machine's cores (at
    most two: a CI machine like this one has two)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    items = [(e.path, e.notes, e.meter) for e in entries]
    workers = max(1, min(2, os.cpu_count() or 1))
    # spawned, not forked: the test process may hold other tests' threads (servers), which a fork copies badly
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=spawn, initializer=leave_with, initargs=(os.getpid(),)) as pool:
        problems = [p for p in pool.map(_round_trip, items, chunksize=64) if p is not None]
    assert len(items) > 9000 and not problems, problems[:10]


@pytest.mark.slow
def test_a_small_build_matches_the_committed_corpus(tmp_path, entries):
    summary = build(tmp_path, workers=2, limit=2, progress=False)
    assert summary["pieces"] > 200
    committed = {e.path: e for e in entries}
    with open(tmp_path / MANIFEST, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    kinder = [r for r in rows if r["eval_set"] == KINDER_EVAL]
    assert len(kinder) == 213
    for row in rows:
        piece = read_midi(tmp_path / row["path"])
        assert content_hash(encode(piece)) == row["content_hash"]
        if row["path"] in committed and row["collection"] != "essen":
            # grouping can differ in a sample (fewer melodies to link), the music and hash cannot
            assert committed[row["path"]].content_hash == row["content_hash"]
    kinder_committed = {e.path: e.content_hash for e in entries if e.eval_set == KINDER_EVAL}
    assert {r["path"]: r["content_hash"] for r in kinder} == kinder_committed


# ------------------------------------------------------------------------------------------ variants


def _tune(pitches: list[int], lengths: list[float] | None = None) -> Piece:
    lengths = lengths or [1.0] * len(pitches)
    starts = [sum(lengths[:i]) for i in range(len(lengths))]
    return Piece(tuple(Note(s, d, p, 80) for s, d, p in zip(starts, lengths, pitches, strict=True)))


TUNE = [60, 62, 64, 65, 67, 67, 69, 67, 65, 64, 62, 60, 64, 67, 72, 71, 69, 67, 65, 64, 62, 60, 62, 60]
OTHER = [67, 64, 60, 64, 67, 72, 76, 74, 72, 67, 64, 62, 60, 59, 60, 64, 62, 59, 55, 57, 59, 60, 55, 60]


def test_the_variant_finder_catches_a_transposed_tune_one_note_apart_and_not_an_unrelated_one():
    variant = [p + 5 for p in TUNE]
    variant[9] += 2  # one note changed, the whole tune a fourth up
    slower = [p - 3 for p in TUNE]
    melodies = [melody_words(_tune(m, lengths)) for m, lengths in ((TUNE, None), (variant, None), (OTHER, None))]
    melodies.append(melody_words(_tune(slower, [2.0] * len(slower))))  # the same tune in doubled note values
    found = find_variants(melodies, evaluation=[0], others=[1, 2, 3])
    assert {(v.eval_index, v.other_index) for v in found} == {(0, 1), (0, 3)}
    assert {v.other_index: v.distance for v in found} == {1: 2.0, 3: 0.0}


def test_the_named_variants_of_the_review_are_caught():
    from music21 import corpus as m21

    from composer.score import piece_from_score

    def words(path: str, number: int | None = None, parts: list[int] | None = None) -> tuple:
        score = m21.parse(path, number=number) if number else m21.parse(path)
        return melody_words(quantize(piece_from_score(score, parts=parts)))

    melodies = [
        words("essenFolksong/kinder0.abc", 15),
        words("bach/bwv359", parts=[0]),
        words("essenFolksong/erk30.abc", 537),
        words("bach/bwv154.3", parts=[0]),
        words("bach/bwv253", parts=[0]),
    ]
    found = {(v.eval_index, v.other_index) for v in find_variants(melodies, [0, 1], [2, 3, 4])}
    assert found == {(0, 2), (1, 3)}


# ------------------------------------------------------------------------------------------ POP909


def _song(n: int) -> bytes:
    """A POP909-like song: MELODY, BRIDGE and PIANO tracks with played velocities, n sets the tune."""
    tune = [60 + (n * 7 + i * 5) % 12 for i in range(16)]
    melody = [smf.meta(3, b"MELODY")] + [e for i, p in enumerate(tune) for e in smf.note(p + 12, 240, 0, 0, 60 + i)]
    bridge = [smf.meta(3, b"BRIDGE")] + [e for i, p in enumerate(tune) for e in smf.note(p, 240, 0, 1, 50 + i)]
    piano = [smf.meta(3, b"PIANO")] + [e for i, p in enumerate(tune) for e in smf.note(p - 12, 240, 0, 2, 70 - i)]
    return smf.smf([smf.track([smf.tempo(90)]), smf.track(melody), smf.track(bridge), smf.track(piano)])


def _pop909(folder: Path, songs: int = 6) -> Path:
    for n in range(1, songs + 1):
        (folder / f"{n:03d}").mkdir(parents=True)
        (folder / f"{n:03d}" / f"{n:03d}.mid").write_bytes(_song(n))
    (folder / "LICENSE").write_text("MIT License\n", encoding="utf-8")
    return folder


def _midi_io_ready() -> bool:
    try:
        return len(read_midi(_song(1)).tracks) == 3
    except Exception:
        return False


needs_multitrack_io = pytest.mark.skipif(
    not _midi_io_ready(), reason="needs the multi-track MIDI reader and writer of issue 11 (midi_io)"
)


@pytest.mark.parametrize("make", ["missing", "empty", "song folder without its file"])
def test_a_missing_or_malformed_pop909_folder_is_one_sentence_and_the_corpus_untouched(tmp_path, make):
    out = tmp_path / "corpus"
    out.mkdir()
    (out / MANIFEST).write_text("the old manifest\n", encoding="utf-8")
    folder = tmp_path / "pop909"
    if make != "missing":
        folder.mkdir()
    if make == "song folder without its file":
        (folder / "001").mkdir()
    with pytest.raises(InputError) as caught:
        build(out, pop909=folder, progress=False)
    message = str(caught.value)
    assert message.count(". ") == 0 and message.endswith(".") and str(folder) in message and "\n" not in message
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST]
    assert (out / MANIFEST).read_text(encoding="utf-8") == "the old manifest\n"
    assert not list(tmp_path.glob(".corpus.building*"))


def test_pop909_songs_lists_the_song_files_in_order(tmp_path):
    folder = _pop909(tmp_path / "p", songs=3)
    (folder / "900").mkdir()  # songs 851-909 are not the corpus's
    assert [p.name for p in pop909_songs(folder)] == ["001.mid", "002.mid", "003.mid"]


@needs_multitrack_io
def test_a_pop909_folder_builds_three_track_files_split_by_song(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "_jobs", lambda limit=None, skip=(): [])  # POP909 alone: no music21 parsing
    out = tmp_path / "corpus"
    summary = build(out, pop909=_pop909(tmp_path / "POP909"), workers=1, progress=False)
    rows = read_manifest(out)
    assert summary["pieces"] == 6 and [r.path for r in rows] == [f"{POP909}/{n:03d}.mid" for n in range(1, 7)]
    assert all(r.tracks == 3 and r.dynamics == "yes" and r.collection == POP909 for r in rows)
    assert len({r.group for r in rows}) == 6 and all(r.split == split_of(r.group) for r in rows)
    assert (out / POP909 / "LICENSE").read_text(encoding="utf-8") == "MIT License\n"
    back = read_midi(out / rows[0].path)
    assert [t.name for t in back.tracks] == ["MELODY", "BRIDGE", "PIANO"] and back.has_dynamics
    assert (out / VARIANTS).is_file()
    # A rebuild without --pop909 keeps the songs already in the corpus.
    build(out, workers=1, progress=False)
    assert [(r.path, r.content_hash) for r in read_manifest(out)] == [(r.path, r.content_hash) for r in rows]


def test_the_variant_list_takes_an_evaluation_tune_with_several_variants(tmp_path):
    from composer.corpus import Entry, Variant, _write_variants

    def entry(path: str, eval_set: str = "", split: str = "train") -> Entry:
        return Entry(path, "essen", path, path, "C major", "4/4", 10, "h" + path, "g", split, eval_set)

    entries = [entry("kinder/1.mid", "essen_kinder", "test"), entry("a/2.mid"), entry("a/3.mid", split="valid")]
    variants = [Variant(0, 2, 1.0), Variant(0, 1, 2.0)]  # the same tune twice: rows must not compare Entries
    summary = _write_variants(tmp_path, variants, entries, {"a/2.mid": "train"})
    rows = (tmp_path / "eval-variants.csv").read_text().splitlines()
    assert rows[1].startswith("kinder/1.mid,essen_kinder,a/2.mid") and rows[2].split(",")[2] == "a/3.mid"
    assert summary == {"essen_kinder": {"tunes_with_variant": 1, "had_variant_in_old_training": 1}}
