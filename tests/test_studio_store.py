import base64
import copy
import json
import os
import sqlite3
import threading

import pytest

from composer.errors import InputError
from composer.midi_io import piece_to_midi_bytes, read_midi
from composer.piece import Note, Piece, TimeSignature
from composer.studio.store import SESSION_VERSION, Node, Store, default_store_path

A, B = "browser-a", "browser-b"


def midi(n: int = 8, first: int = 60) -> bytes:
    """A melody of n eighth notes rising from `first` (by step, 16 at a time): distinct n / first, distinct bytes."""
    notes = tuple(Note(i * 0.5, 0.5, first + i % 16, 80) for i in range(n))
    return piece_to_midi_bytes(Piece(notes=notes, tempo=100, time_signature=TimeSignature(4, 4)))


SEED = midi()


def takes(k: int, first: int = 62) -> list[tuple[bytes, float, dict, dict]]:
    return [(midi(16, first + i), 4.0, {"bars": 2, "temperature": 1.0, "seed": i}, {"bits": 3.1 + i}) for i in range(k)]


def path_to(store: Store, owner: str, node_id: str) -> list[Node]:
    """The nodes from the seed down to ``node_id``, following the parent links."""
    path = [store.node(owner, node_id)]
    while path[-1].parent_id is not None:
        path.append(store.node(owner, path[-1].parent_id))
    return path[::-1]


def shape(nodes: list[Node]) -> list[tuple]:
    """A tree without its ids: each node by its label, its parent's label, its music and its data."""
    label: dict[str | None, str] = {n.id: n.label for n in nodes}
    return [(n.label, label.get(n.parent_id), n.kind, n.midi, n.join, n.settings, n.metrics, n.kept) for n in nodes]


def snapshot(store: Store, owner: str) -> dict:
    session = store.export_session(owner)
    del session["exported"]
    return session


@pytest.fixture
def store():
    with Store(":memory:") as s:
        yield s


# ------------------------------------------------------------------------------------------ the session


def test_seed_takes_keep_regenerate_undo_jump(store):
    piece = store.new_piece(A, "  Minuet  in G ", SEED, {"notes": 8})
    assert piece.title == "Minuet in G" and piece.current_id == piece.root_id
    root = store.node(A, piece.root_id)
    assert (root.kind, root.parent_id, root.join, root.kept, root.metrics, root.midi) == (
        "seed",
        None,
        None,
        True,
        {"notes": 8},
        SEED,
    )
    assert root.piece().notes == read_midi(SEED).notes

    first = store.add_takes(A, piece.id, root.id, takes(3))
    assert [t.label for t in first] == ["take 1.1", "take 1.2", "take 1.3"]
    assert all(t.kind == "take" and t.parent_id == root.id and not t.kept and t.join == 4.0 for t in first)
    assert first[2].settings["seed"] == 2 and first[2].metrics == {"bits": 5.1}
    assert store.piece(A, piece.id).current_id == root.id  # candidates do not move the piece

    kept = store.keep(A, first[1].id)
    assert kept.current_id == first[1].id and store.node(A, first[1].id).kept
    assert [n.id for n in path_to(store, A, first[1].id)] == [root.id, first[1].id]

    second = store.add_takes(A, piece.id, first[1].id, takes(2, first=70))
    regenerated = store.add_takes(A, piece.id, first[1].id, takes(2, first=80))
    assert [t.label for t in second + regenerated] == ["take 2.1", "take 2.2", "take 2.3", "take 2.4"]
    assert [c.id for c in store.children(A, first[1].id)] == [t.id for t in second + regenerated]
    store.keep(A, regenerated[0].id)
    assert [n.label for n in path_to(store, A, regenerated[0].id)] == ["seed", "take 1.2", "take 2.3"]

    assert store.undo(A, piece.id).current_id == first[1].id
    assert store.undo(A, piece.id).current_id == root.id
    with pytest.raises(InputError, match="nothing to undo"):
        store.undo(A, piece.id)
    assert store.piece(A, piece.id).current_id == root.id

    # Keeping is for a candidate of the current node; jumping goes to any branch and keeps a candidate.
    with pytest.raises(InputError, match="jump to the take"):
        store.keep(A, second[0].id)
    assert store.jump(A, second[0].id).current_id == second[0].id
    assert store.node(A, second[0].id).kept
    assert store.undo(A, piece.id).current_id == first[1].id
    assert store.jump(A, first[2].id).current_id == first[2].id  # another branch of round 1

    tree = store.tree(A, piece.id)
    assert len(tree) == 1 + 3 + 4  # every node ever made stays
    assert [n.id for n in tree] == [root.id, *(t.id for t in first + second + regenerated)]
    assert {n.id for n in tree if n.kept} == {root.id, first[1].id, first[2].id, second[0].id, regenerated[0].id}


def test_pieces_newest_first_and_titles_checked(store):
    one = store.new_piece(A, "one", SEED)
    two = store.new_piece(A, "", SEED)
    assert two.title == "Untitled"
    assert [p.id for p in store.pieces(A)] == [two.id, one.id]
    store.add_takes(A, one.id, one.root_id, takes(2))  # working on a piece brings it to the top
    assert [p.id for p in store.pieces(A)] == [one.id, two.id]
    with pytest.raises(InputError, match="limit of 200"):
        store.new_piece(A, "x" * 201, SEED)


def test_bad_midi_and_mismatched_parent_are_refused(store):
    with pytest.raises(InputError, match="not a MIDI file"):
        store.new_piece(A, "t", b"RIFF....WAVE")
    one, two = store.new_piece(A, "one", SEED), store.new_piece(A, "two", SEED)
    with pytest.raises(InputError, match="another piece"):
        store.add_takes(A, one.id, two.root_id, takes(1))
    with pytest.raises(InputError, match="not a MIDI file"):
        store.add_takes(A, one.id, one.root_id, [*takes(1), (b"junk", 4.0, {}, {})])
    assert store.children(A, one.root_id) == []  # all or nothing


def test_owners_see_only_their_own_pieces(store):
    piece = store.new_piece(A, "mine", SEED)
    [take] = store.add_takes(A, piece.id, piece.root_id, takes(1))
    piece = store.piece(A, piece.id)
    assert store.pieces(B) == [] and store.export_session(B)["pieces"] == []
    for call in (
        lambda: store.piece(B, piece.id),
        lambda: store.node(B, take.id),
        lambda: store.keep(B, take.id),
        lambda: store.jump(B, take.id),
        lambda: store.undo(B, piece.id),
        lambda: store.tree(B, piece.id),
        lambda: store.children(B, piece.root_id),
        lambda: store.add_takes(B, piece.id, piece.root_id, takes(1)),
    ):
        with pytest.raises(InputError, match="in this browser session"):
            call()
    assert store.piece(A, piece.id) == piece and len(store.tree(A, piece.id)) == 2
    with pytest.raises(ValueError, match="owner"):
        store.pieces("")


def test_the_studio_survives_a_restart(tmp_path):
    path = tmp_path / "deep" / "studio.sqlite3"
    with Store(path) as store:
        piece = store.new_piece(A, "t", SEED)
        [take] = store.add_takes(A, piece.id, piece.root_id, takes(1))
        store.keep(A, take.id)
        before = snapshot(store, A)
    with Store(path) as store:
        assert snapshot(store, A) == before
        assert store.piece(A, piece.id).current_id == take.id
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == 1


def test_a_newer_database_is_refused(tmp_path):
    path = tmp_path / "s.db"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(InputError, match="newer composer"):
        Store(path)


def test_default_store_path(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPOSER_STUDIO_DB", str(tmp_path / "a" / "b.sqlite3"))
    assert default_store_path() == tmp_path / "a" / "b.sqlite3" and (tmp_path / "a").is_dir()
    monkeypatch.delenv("COMPOSER_STUDIO_DB")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_store_path() == tmp_path / ".local/share/composer/studio.sqlite3"


# ------------------------------------------------------------------------------------------ session files


def grown(store: Store, owner: str = A) -> None:
    """Two pieces, one with a branched tree whose current node is deep."""
    piece = store.new_piece(owner, "branched", SEED, {"notes": 8})
    first = store.add_takes(owner, piece.id, piece.root_id, takes(3))
    store.keep(owner, first[0].id)
    second = store.add_takes(owner, piece.id, first[0].id, takes(2, first=70))
    store.jump(owner, first[2].id)
    store.add_takes(owner, piece.id, first[2].id, takes(1, first=90))
    store.jump(owner, second[1].id)
    store.new_piece(owner, "plain", midi(4, 50))


def test_export_import_round_trip(store):
    grown(store)
    exported = json.dumps(store.export_session(A))
    assert json.loads(exported)["version"] == SESSION_VERSION
    imported = store.import_session(B, exported)
    again = store.import_session(B, exported.encode())  # twice: two copies, no collisions
    originals = store.pieces(A)
    for copies in (imported, again):
        assert [p.title for p in copies] == [p.title for p in originals]
        for new, old in zip(copies, originals, strict=True):
            assert new.owner == B and new.id != old.id
            new_tree, old_tree = store.tree(B, new.id), store.tree(A, old.id)
            assert shape(new_tree) == shape(old_tree)  # same shape, same MIDI bytes, same data
            assert not {n.id for n in new_tree} & {n.id for n in old_tree}
            assert store.node(B, new.current_id).label == store.node(A, old.current_id).label
            assert (new.created, new.updated) == (old.created, old.updated)
    assert len({p.id for p in imported + again}) == 4 and len(store.pieces(B)) == 4


def test_import_of_children_before_parents_is_put_in_order(store):
    grown(store)
    session = store.export_session(A)
    [branched] = [p for p in session["pieces"] if p["title"] == "branched"]
    branched["nodes"].reverse()
    new = next(p for p in store.import_session(B, session) if p.title == "branched")
    old = next(p for p in store.pieces(A) if p.title == "branched")
    tree = store.tree(B, new.id)
    assert sorted(shape(tree), key=str) == sorted(shape(store.tree(A, old.id)), key=str)
    seen: set[str | None] = {None}
    for n in tree:  # each parent before its children
        assert n.parent_id in seen
        seen.add(n.id)


def broken(session: dict, how: str) -> dict | str | bytes:
    """The session damaged one way; see test_bad_session_files_change_nothing for the sentence each gives."""
    s = copy.deepcopy(session)
    [nodes] = [p["nodes"] for p in s["pieces"] if p["title"] == "branched"]
    if how == "json":
        return json.dumps(s)[:-10]
    if how == "binary":
        return b"\xff\xfe\x00garbage"
    if how == "format":
        s["format"] = "something-else"
    if how == "newer":
        s["version"] = SESSION_VERSION + 1
    if how == "parent":
        nodes[-1]["parent_id"] = "no-such-node"
    if how == "loop":  # two takes that are each other's parent: not under the seed
        nodes[1]["parent_id"], nodes[2]["parent_id"] = nodes[2]["id"], nodes[1]["id"]
    if how == "two seeds":
        nodes[1]["parent_id"] = None
    if how == "base64":
        nodes[-1]["midi"] = "not base64!!"
    if how == "not midi":
        nodes[-1]["midi"] = base64.b64encode(b"MThd this is not really MIDI at all").decode()
    if how == "missing field":
        del nodes[1]["settings"]
    if how == "wrong type":
        s["pieces"][1]["created"] = "yesterday"
    if how == "too many":
        s["pieces"] = s["pieces"] * 101
    return s


BROKEN = {
    "json": "not valid JSON",
    "binary": "not valid JSON",
    "format": "not a composer session",
    "newer": "written by a newer composer \\(version 2\\); update composer",
    "parent": "broken parent link",
    "loop": "not connected to its seed",
    "two seeds": "exactly one seed",
    "base64": "not valid base64",
    "not midi": "MIDI that does not parse",
    "missing field": "without the field 'settings'",
    "wrong type": "'created' is not a finite number",
    "too many": "above the limit of 200",
}


@pytest.mark.parametrize("how", list(BROKEN))
def test_bad_session_files_change_nothing(store, how):
    grown(store)
    store.new_piece(B, "B's own", SEED)
    before = {owner: snapshot(store, owner) for owner in (A, B)}
    with pytest.raises(InputError, match=BROKEN[how]) as caught:
        store.import_session(B, broken(store.export_session(A), how))
    assert str(caught.value).endswith(".") and str(caught.value).count("; ") <= 2
    assert {owner: snapshot(store, owner) for owner in (A, B)} == before


def test_an_oversized_session_file_is_refused_before_parsing(store):
    with pytest.raises(InputError, match="above the limit of 20,000,000"):
        store.import_session(A, b" " * 20_000_001)


# ------------------------------------------------------------------------------------------ the database


def test_eight_threads_at_once(tmp_path):
    with Store(tmp_path / "s.db") as store:
        errors: list[BaseException] = []
        barrier = threading.Barrier(8)

        def work(i: int) -> None:
            try:
                owner = f"browser-{i}"
                piece = store.new_piece(owner, f"piece {i}", SEED)
                barrier.wait()
                parent = piece.root_id
                for _ in range(5):
                    made = store.add_takes(owner, piece.id, parent, takes(2, first=60 + i))
                    parent = store.keep(owner, made[1].id).current_id
                    store.tree(owner, piece.id)
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        for i in range(8):
            [piece] = store.pieces(f"browser-{i}")
            assert len(store.tree(f"browser-{i}", piece.id)) == 1 + 5 * 2
            assert len(path_to(store, f"browser-{i}", piece.current_id)) == 6


@pytest.mark.parametrize("how", ["uri", "chmod"])
def test_a_read_only_database_says_so(tmp_path, how):
    path = tmp_path / "s.db"
    with Store(path) as store:
        piece = store.new_piece(A, "t", SEED)
    if how == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root writes through file permissions; the 'uri' case opens the file read-only instead")
        os.chmod(path, 0o444)
    store = Store(f"file:{path}?mode=ro" if how == "uri" else path)
    try:
        assert [p.id for p in store.pieces(A)] == [piece.id]  # reading still works
        with pytest.raises(InputError, match="read-only; make the file and its folder writable"):
            store.add_takes(A, piece.id, piece.root_id, takes(1))
        assert len(store.tree(A, piece.id)) == 1
    finally:
        store.close()
        os.chmod(path, 0o644)


def test_a_full_disk_rolls_back_and_says_so(tmp_path):
    with Store(tmp_path / "s.db") as store:
        piece = store.new_piece(A, "t", SEED)
        # Cap the file at its present size: the next growth fails exactly as a full disk does (SQLITE_FULL).
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")
        big = [(midi(2000, 40 + i), 4.0, {}, {}) for i in range(8)]
        with pytest.raises(InputError, match=r"\(disk full\); free some space"):
            store.add_takes(A, piece.id, piece.root_id, big)
        assert len(store.tree(A, piece.id)) == 1
        store._db.execute("PRAGMA max_page_count = 1073741823")
        assert len(store.add_takes(A, piece.id, piece.root_id, takes(1))) == 1  # usable again afterwards


def test_a_file_that_is_not_a_database(tmp_path):
    path = tmp_path / "s.db"
    path.write_bytes(b"this is a text file, not SQLite" * 100)
    with pytest.raises(InputError, match="not a readable studio database"):
        Store(path)
