"""The embedded corpus in midi_data/: manifest, split, evaluation sets, and every file readable."""

import csv
from collections import defaultdict
from pathlib import Path

import pytest

from composer.corpus import CHORALE_EVAL, KINDER_EVAL, MANIFEST, build, content_hash, read_manifest, split_of
from composer.encoding import decode, encode, quantize
from composer.midi_io import read_midi

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
    assert set(by) == {"bach-chorales", "bach-soprano", "essen", "oneills1850", "ryans-mammoth"}
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


def test_every_corpus_file_reads_and_round_trips_exactly(entries):
    """composer inspect's path (read → encode → decode) on every file of the corpus."""
    for e in entries:
        piece = read_midi(DATA / e.path)
        assert len(piece.notes) == e.notes, e.path
        assert quantize(piece) == piece, e.path  # the corpus is stored on the grid
        assert decode(encode(piece)) == piece, e.path
        assert str(piece.time_signature) == e.meter


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
