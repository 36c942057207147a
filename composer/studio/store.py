"""The iterative session: pieces, a history tree of takes, keep / undo / jump, persisted in SQLite.

A musician brings a seed (the root node of a new piece), asks for K takes from the piece's *current* node
(each becomes a candidate child carrying its generation settings and metrics), keeps one (it becomes the
current node and the next round continues from it), regenerates (new candidates beside the old ones), undoes
(the current node moves back to its parent, never above the seed) or jumps to any node of the tree.  Nothing
is ever removed from a piece's tree except by deleting the piece: the tree is the history.

Every node stores the *whole* piece so far (seed + kept continuations + this take) as MIDI bytes, and ``join``,
the beat where its new part begins (None for the seed).  Generation is the caller's job; this module only
stores, so it imports neither torch nor gradio nor music21.

Every call takes ``owner``, an opaque browser-session id: a piece or node of another owner is "not found".
Bad input and database failures (disk full, read-only file) surface as :class:`InputError` sentences with
the transaction rolled back; our own mistakes (bad SQL, a constraint we broke) propagate as they are.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import math
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from composer.errors import InputError
from composer.midi_io import read_midi
from composer.piece import Piece
from composer.smf import scan_smf

SCHEMA_VERSION = 1  # PRAGMA user_version of the database file; bump with a migration in _open_schema
SESSION_VERSION = 1  # "version" of exported session files
SESSION_FORMAT = "composer-session"
MAX_SESSION_BYTES = 20_000_000
MAX_SESSION_PIECES = 200
MAX_SESSION_NODES = 5_000
MAX_TITLE = 200

# Split on semicolons when created (see Store._open_schema), so no semicolon in the comments.
_SCHEMA = """
CREATE TABLE pieces (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    title TEXT NOT NULL,
    -- Deferred: a piece and its seed reference each other, so both rows go in before the check.
    root_id TEXT NOT NULL REFERENCES nodes(id) DEFERRABLE INITIALLY DEFERRED,
    current_id TEXT NOT NULL REFERENCES nodes(id) DEFERRABLE INITIALLY DEFERRED,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX pieces_by_owner ON pieces(owner, updated);
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    piece_id TEXT NOT NULL REFERENCES pieces(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    parent_id TEXT REFERENCES nodes(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
    kind TEXT NOT NULL CHECK (kind IN ('seed', 'take')),
    label TEXT NOT NULL,
    settings TEXT NOT NULL,  -- JSON object
    metrics TEXT NOT NULL,   -- JSON object
    midi BLOB NOT NULL,
    join_beat REAL,          -- "join" is an SQL keyword
    created REAL NOT NULL,
    kept INTEGER NOT NULL CHECK (kept IN (0, 1))
);
CREATE INDEX nodes_by_piece ON nodes(piece_id);
CREATE INDEX nodes_by_parent ON nodes(parent_id);
"""

# Errors that mean composer itself is wrong (bad SQL, a broken constraint): never dressed up as user input.
_OUR_BUGS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.NotSupportedError)


@dataclass(frozen=True)
class Node:
    """One point of a piece's history: the seed, or a take (kept or only a candidate).

    ``midi`` is the whole piece up to and including this node; ``join`` the beat where this node's new part
    begins (None for the seed).  ``kept`` is True for the seed and for every take the musician has ever chosen
    (undo does not un-keep: it is history, not the current path, which runs up the parents from the piece's
    current node).
    """

    id: str
    piece_id: str
    parent_id: str | None
    kind: str  # "seed" | "take" (an edit is a take whose settings' command is "edit": see is_edit)
    label: str
    settings: dict[str, Any]
    metrics: dict[str, Any]
    midi: bytes
    join: float | None
    created: float
    kept: bool

    @property
    def is_edit(self) -> bool:
        """Whether the musician made this point by editing its parent in the roll (not a generated take).  Stored
        as a take with the command "edit", so that databases made before edits hold them unchanged."""
        return self.settings.get("command") == "edit"

    def piece(self) -> Piece:
        """The node's music as a :class:`Piece` (parses the MIDI)."""
        return read_midi(self.midi, name=self.label)


@dataclass(frozen=True)
class PieceRecord:
    id: str
    owner: str
    title: str
    root_id: str
    current_id: str
    created: float
    updated: float


def default_store_path() -> Path:
    """``$COMPOSER_STUDIO_DB``, else ``~/.local/share/composer/studio.sqlite3``; the parent folder is created."""
    path = Path(os.environ.get("COMPOSER_STUDIO_DB") or "~/.local/share/composer/studio.sqlite3").expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InputError(
            f"Could not create the folder {path.parent} for the studio database ({error.strerror}); "
            "set COMPOSER_STUDIO_DB to a writable path."
        ) from error
    return path


def _new_id() -> str:
    # Random, not sequential: no coordination between threads or processes, and an import never collides.
    return uuid.uuid4().hex


def _db_error(error: sqlite3.Error, doing: str, where: str) -> InputError:
    """One sentence for a database failure, by SQLite's error code (Python ≥ 3.11) or, failing that, its text."""
    code = getattr(error, "sqlite_errorname", "") or ""
    text = str(error).lower()
    if code.startswith("SQLITE_FULL") or "full" in text:
        return InputError(
            f"Could not {doing} the studio database at {where} (disk full); free some space and try again."
        )
    if code.startswith("SQLITE_READONLY") or "readonly" in text:
        return InputError(
            f"Could not {doing} the studio database at {where} because it is read-only; make the "
            "file and its folder writable, or set COMPOSER_STUDIO_DB to another path."
        )
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in text:
        return InputError(f"The studio database at {where} is busy (another program holds it); try again in a moment.")
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text or "malformed" in text:
        return InputError(
            f"{where} is not a readable studio database (damaged or another kind of file); move it "
            "aside or set COMPOSER_STUDIO_DB to another path."
        )
    return InputError(
        f"Could not {doing} the studio database at {where} ({error}); check the file, or set "
        "COMPOSER_STUDIO_DB to another path."
    )


class Store:
    """The studio's pieces and their history trees in one SQLite file (or ``":memory:"``, or a ``file:`` URI).

    Threading: one connection opened with ``check_same_thread=False`` and every use of it under one lock.
    Gradio runs handlers in worker threads; a connection per thread would give each thread its own empty
    database for ``":memory:"``, and SQLite serializes writers anyway, so a lock around millisecond-long
    transactions costs nothing the user could notice and keeps transactions from interleaving.  Other
    processes on the same file are handled by SQLite itself (WAL mode, a busy timeout).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        uri = self.path.startswith("file:")
        if self.path != ":memory:" and not uri:
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise InputError(
                    f"Could not create the folder for the studio database at {self.path} "
                    f"({error.strerror}); set COMPOSER_STUDIO_DB to a writable path."
                ) from error
        try:
            # isolation_level=None: no implicit transactions; _transaction says BEGIN and COMMIT itself.
            self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False, uri=uri)
        except sqlite3.Error as error:
            raise _db_error(error, "open", self.path) from error
        self._db.row_factory = sqlite3.Row
        try:
            self._open_schema()
        except sqlite3.DatabaseError as error:
            self._db.close()
            if isinstance(error, _OUR_BUGS):
                raise
            raise _db_error(error, "open", self.path) from error

    def _open_schema(self) -> None:
        self._db.execute("PRAGMA foreign_keys = ON")  # per connection, off by default
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            self._db.close()
            raise InputError(
                f"The studio database at {self.path} was written by a newer composer (schema "
                f"{version}); update composer to open it."
            )
        if version == 0:  # a new file: only here do we write, so a read-only database still opens
            self._db.execute("PRAGMA journal_mode = WAL")  # readers never wait for the writer; persists in the file
            with self._transaction("create"):
                # One statement at a time: executescript() would commit on its own, outside our transaction.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _transaction(self, doing: str = "save to") -> Iterator[sqlite3.Connection]:
        """All-or-nothing: commit at the end of the block, roll back on any exception.

        Writers take the write lock up front (BEGIN IMMEDIATE) so that a read-then-write never fails halfway
        on a lock; readers get one consistent snapshot.  Database failures become InputError sentences.
        """
        with self._lock:
            try:
                self._db.execute("BEGIN" if doing == "read" else "BEGIN IMMEDIATE")
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as error:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # SQLite may already have rolled back (disk full)
                        self._db.execute("ROLLBACK")
                if isinstance(error, sqlite3.DatabaseError) and not isinstance(error, _OUR_BUGS):
                    raise _db_error(error, doing, self.path) from error
                raise

    # ------------------------------------------------------------------------------------------ lookups

    def _piece(self, db: sqlite3.Connection, owner: str, piece_id: str) -> PieceRecord:
        row = db.execute("SELECT * FROM pieces WHERE id = ? AND owner = ?", (piece_id, _owner(owner))).fetchone()
        if row is None:
            raise InputError(
                f"There is no piece {str(piece_id)[:12]!r} in this browser session; reload the studio "
                "to see your pieces."
            )
        return PieceRecord(**dict(row))

    def _node(self, db: sqlite3.Connection, owner: str, node_id: str) -> Node:
        row = db.execute(
            "SELECT n.* FROM nodes n JOIN pieces p ON p.id = n.piece_id WHERE n.id = ? AND p.owner = ?",
            (node_id, _owner(owner)),
        ).fetchone()
        if row is None:
            raise InputError(
                f"There is no take {str(node_id)[:12]!r} in this browser session; reload the studio to see your pieces."
            )
        return _node_from_row(row)

    def piece(self, owner: str, piece_id: str) -> PieceRecord:
        with self._transaction("read") as db:
            return self._piece(db, owner, piece_id)

    def pieces(self, owner: str) -> list[PieceRecord]:
        """The owner's pieces, most recently worked on first."""
        with self._transaction("read") as db:
            return _pieces(db, owner)

    def node(self, owner: str, node_id: str) -> Node:
        with self._transaction("read") as db:
            return self._node(db, owner, node_id)

    def children(self, owner: str, node_id: str) -> list[Node]:
        """The node's children in the order they were made."""
        with self._transaction("read") as db:
            self._node(db, owner, node_id)
            rows = db.execute("SELECT * FROM nodes WHERE parent_id = ? ORDER BY rowid", (node_id,)).fetchall()
        return [_node_from_row(row) for row in rows]

    def tree(self, owner: str, piece_id: str) -> list[Node]:
        """Every node of the piece in the order they were made (so each parent comes before its children)."""
        with self._transaction("read") as db:
            self._piece(db, owner, piece_id)
            return _tree(db, piece_id)

    @staticmethod
    def _path(db: sqlite3.Connection, node_id: str) -> list[Node]:
        """The nodes from the seed down to ``node_id``, both included."""
        rows = db.execute(
            """
            WITH RECURSIVE up(id, depth) AS (
                SELECT ?, 0
                UNION ALL SELECT n.parent_id, up.depth + 1 FROM nodes n JOIN up ON n.id = up.id
                          WHERE n.parent_id IS NOT NULL)
            SELECT nodes.* FROM up JOIN nodes ON nodes.id = up.id ORDER BY up.depth DESC""",
            (node_id,),
        ).fetchall()
        return [_node_from_row(row) for row in rows]

    # ------------------------------------------------------------------------------------------ changes

    def new_piece(self, owner: str, title: str, seed_midi: bytes, metrics: dict[str, Any] | None = None) -> PieceRecord:
        """Start a piece from a seed (MIDI bytes); the seed is its root and current node."""
        seed_midi = _midi(seed_midi, "The seed")
        title = _title(title)
        piece_id, root_id, now = _new_id(), _new_id(), time.time()
        with self._transaction() as db:
            db.execute(
                "INSERT INTO pieces VALUES (?, ?, ?, ?, ?, ?, ?)",
                (piece_id, _owner(owner), title, root_id, root_id, now, now),
            )
            _insert_node(db, root_id, piece_id, None, "seed", "seed", {}, metrics or {}, seed_midi, None, now, True)
            return self._piece(db, owner, piece_id)

    def add_takes(
        self,
        owner: str,
        piece_id: str,
        parent_id: str,
        takes: list[tuple[bytes, float, dict[str, Any], dict[str, Any]]],
    ) -> list[Node]:
        """Add candidates ``(midi, join, settings, metrics)`` under ``parent_id``; the current node does not move.

        Labels say round and number: ``take 2.5`` is the fifth take ever made from the round-1 node above it.
        """
        checked = [
            (_midi(midi, "A take"), float(join), dict(settings), dict(metrics))
            for midi, join, settings, metrics in takes
        ]
        now = time.time()
        with self._transaction() as db:
            parent = self._node(db, owner, parent_id)
            if parent.piece_id != piece_id:
                raise InputError("That take belongs to another piece; reload the studio and try again.")
            depth = len(self._path(db, parent_id))
            made = db.execute("SELECT COUNT(*) FROM nodes WHERE parent_id = ?", (parent_id,)).fetchone()[0]
            ids = [_new_id() for _ in checked]
            for i, (node_id, (midi, join, settings, metrics)) in enumerate(zip(ids, checked, strict=True)):
                _insert_node(
                    db,
                    node_id,
                    piece_id,
                    parent_id,
                    "take",
                    f"take {depth}.{made + i + 1}",
                    settings,
                    metrics,
                    midi,
                    join,
                    now,
                    False,
                )
            db.execute("UPDATE pieces SET updated = ? WHERE id = ?", (now, piece_id))
            return [self._node(db, owner, node_id) for node_id in ids]

    def add_edit(
        self, owner: str, piece_id: str, parent_id: str, midi: bytes, join: float, settings: dict[str, Any]
    ) -> Node:
        """Add the musician's edit of ``parent_id`` (the whole piece after it, as MIDI) as a child and make it the
        current node: a point of the history like a kept take, so that undo steps back over it.  Stored as a
        take whose settings' command is "edit" (``settings`` gets it), labelled by depth and number as takes
        are: ``edit 2.1``.  Refused unless ``parent_id`` is the current node (a stale
        page must not move the piece to another branch)."""
        checked = _midi(midi, "An edit")
        now = time.time()
        with self._transaction() as db:
            parent = self._node(db, owner, parent_id)
            piece = self._piece(db, owner, parent.piece_id)
            if piece.id != piece_id or piece.current_id != parent_id:
                raise InputError(
                    "The piece has moved on since that edit was made (perhaps in another tab); reload the studio "
                    "and edit again."
                )
            depth = len(self._path(db, parent_id))
            made = db.execute("SELECT COUNT(*) FROM nodes WHERE parent_id = ?", (parent_id,)).fetchone()[0]
            node_id = _new_id()
            _insert_node(
                db, node_id, piece_id, parent_id, "take", f"edit {depth}.{made + 1}", {**settings, "command": "edit"},
                {}, checked, float(join), now, True,
            )  # fmt: skip
            self._move(db, piece, self._node(db, owner, node_id))
            return self._node(db, owner, node_id)

    def keep(self, owner: str, node_id: str) -> PieceRecord:
        """Keep one of the candidates just offered: a child of the current node becomes the current node.

        Refused for any other node, so that a stale page cannot silently move the piece to another branch;
        :meth:`jump` goes anywhere.
        """
        with self._transaction() as db:
            node = self._node(db, owner, node_id)
            piece = self._piece(db, owner, node.piece_id)
            if node.parent_id != piece.current_id:
                raise InputError(
                    "That take does not continue the piece's current point (it may have moved in "
                    "another tab); reload the studio, or jump to the take instead."
                )
            return self._move(db, piece, node)

    def jump(self, owner: str, node_id: str) -> PieceRecord:
        """Make any node of the tree the current one (a branch); jumping to a candidate keeps it."""
        with self._transaction() as db:
            node = self._node(db, owner, node_id)
            return self._move(db, self._piece(db, owner, node.piece_id), node)

    def undo(self, owner: str, piece_id: str) -> PieceRecord:
        """Move the current node back to its parent; refused at the seed."""
        with self._transaction() as db:
            piece = self._piece(db, owner, piece_id)
            current = self._node(db, owner, piece.current_id)
            if current.parent_id is None:
                raise InputError("The piece is back at its seed already, so there is nothing to undo.")
            return self._move(db, piece, self._node(db, owner, current.parent_id))

    def _move(self, db: sqlite3.Connection, piece: PieceRecord, node: Node) -> PieceRecord:
        now = time.time()
        db.execute("UPDATE nodes SET kept = 1 WHERE id = ?", (node.id,))
        db.execute("UPDATE pieces SET current_id = ?, updated = ? WHERE id = ?", (node.id, now, piece.id))
        return self._piece(db, piece.owner, piece.id)

    # ------------------------------------------------------------------------------------------ files

    def export_session(self, owner: str) -> dict[str, Any]:
        """All the owner's pieces and trees as a JSON-able dict (MIDI as base64); :meth:`import_session` reads it."""
        with self._transaction("read") as db:
            pieces = [(piece, _tree(db, piece.id)) for piece in _pieces(db, owner)]
        # The owner is a browser-session id: meaningless elsewhere, so it stays out of the file (as does piece_id).
        return {
            "format": SESSION_FORMAT,
            "version": SESSION_VERSION,
            "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "pieces": [
                {
                    **_without(asdict(piece), "owner"),
                    "nodes": [
                        {**_without(asdict(node), "piece_id"), "midi": base64.b64encode(node.midi).decode("ascii")}
                        for node in nodes
                    ],
                }
                for piece, nodes in pieces
            ],
        }

    def import_session(self, owner: str, data: dict[str, Any] | str | bytes) -> list[PieceRecord]:
        """Add the pieces of an exported session under fresh ids (importing twice gives two copies).

        ``data`` is the file's text or bytes (size-capped before parsing) or the already-parsed dict.  The whole
        file is checked before anything is written (every MIDI is parsed), then written in one transaction: on
        any problem an InputError says what, and the store is unchanged.  Timestamps are kept as the file has them.
        """
        pieces = _parse_session(data)
        with self._transaction() as db:
            piece_ids = []
            for piece, nodes in pieces:
                piece_id, fresh = _new_id(), {n["id"]: _new_id() for n in nodes}
                db.execute(
                    "INSERT INTO pieces VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        piece_id,
                        _owner(owner),
                        piece["title"],
                        fresh[piece["root_id"]],
                        fresh[piece["current_id"]],
                        piece["created"],
                        piece["updated"],
                    ),
                )
                for n in nodes:  # parents first: tree() lists nodes in insertion order
                    _insert_node(
                        db,
                        fresh[n["id"]],
                        piece_id,
                        fresh.get(n["parent_id"]),
                        n["kind"],
                        n["label"],
                        n["settings"],
                        n["metrics"],
                        n["midi"],
                        n["join"],
                        n["created"],
                        n["kept"],
                    )
                piece_ids.append(piece_id)
            return [self._piece(db, owner, piece_id) for piece_id in piece_ids]


def _insert_node(
    db: sqlite3.Connection,
    node_id: str,
    piece_id: str,
    parent_id: str | None,
    kind: str,
    label: str,
    settings: dict[str, Any],
    metrics: dict[str, Any],
    midi: bytes,
    join: float | None,
    created: float,
    kept: bool,
) -> None:
    db.execute(
        "INSERT INTO nodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            node_id,
            piece_id,
            parent_id,
            kind,
            label,
            json.dumps(settings),
            json.dumps(metrics),
            midi,
            join,
            created,
            int(kept),
        ),
    )


def _pieces(db: sqlite3.Connection, owner: str) -> list[PieceRecord]:
    rows = db.execute("SELECT * FROM pieces WHERE owner = ? ORDER BY updated DESC, rowid DESC", (_owner(owner),))
    return [PieceRecord(**dict(row)) for row in rows]


def _tree(db: sqlite3.Connection, piece_id: str) -> list[Node]:
    return [
        _node_from_row(row) for row in db.execute("SELECT * FROM nodes WHERE piece_id = ? ORDER BY rowid", (piece_id,))
    ]


def _without(fields: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k != key}


def _node_from_row(row: sqlite3.Row) -> Node:
    return Node(
        id=row["id"],
        piece_id=row["piece_id"],
        parent_id=row["parent_id"],
        kind=row["kind"],
        label=row["label"],
        settings=json.loads(row["settings"]),
        metrics=json.loads(row["metrics"]),
        midi=bytes(row["midi"]),
        join=row["join_beat"],
        created=row["created"],
        kept=bool(row["kept"]),
    )


def _owner(owner: str) -> str:
    if not isinstance(owner, str) or not owner:
        raise ValueError("owner must be a non-empty browser-session id")  # the caller's mistake, not the user's
    return owner


def _title(title: str) -> str:
    title = " ".join(str(title).split()) or "Untitled"
    if len(title) > MAX_TITLE:
        raise InputError(f"The title is {len(title)} characters long, above the limit of {MAX_TITLE}; shorten it.")
    return title


def _midi(data: bytes, what: str) -> bytes:
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"MIDI must be bytes, not {type(data).__name__}")
    scan_smf(bytes(data), what)  # cheap structural check: refuses what is not a Standard MIDI File
    return bytes(data)


# ---------------------------------------------------------------------------------------------- session files


def _bad(what: str) -> InputError:
    return InputError(f"This session file {what}; choose a file saved with the studio's session export.")


_KINDS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "number": (int, float),
    "dict": (dict,),
    "list": (list,),
    "bool": (bool,),
}


def _field(obj: dict[str, Any], key: str, kind: str, where: str, optional: bool = False) -> Any:
    if key not in obj:
        raise _bad(f"has {where} without the field '{key}'")
    value = obj[key]
    if value is None and optional:
        return None
    ok = isinstance(value, _KINDS[kind]) and not (kind == "number" and isinstance(value, bool))
    if not ok or (kind == "number" and not math.isfinite(value)):
        raise _bad(f"has {where} whose '{key}' is not a {'finite number' if kind == 'number' else kind}")
    if kind == "str" and key in ("title", "label") and len(value) > MAX_TITLE:
        raise _bad(f"has {where} whose '{key}' is longer than {MAX_TITLE} characters")
    return value


def _parse_session(data: dict[str, Any] | str | bytes) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Check a session file completely; return its pieces, each with its nodes parents-first and MIDI decoded."""
    if isinstance(data, (str, bytes)):
        size = len(data.encode() if isinstance(data, str) else data)
        if size > MAX_SESSION_BYTES:
            raise _bad(f"is {size:,} bytes, above the limit of {MAX_SESSION_BYTES:,}")
        try:
            data = json.loads(data)
        except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise _bad("is not valid JSON") from error
    if not isinstance(data, dict) or data.get("format") != SESSION_FORMAT:
        raise _bad(f"is not a composer session (its format is not '{SESSION_FORMAT}')")
    version = _field(data, "version", "number", "a header")
    if isinstance(version, int) and version > SESSION_VERSION:
        raise InputError(
            f"This session file was written by a newer composer (version {version}); update composer to open it."
        )
    if version != SESSION_VERSION:
        raise _bad(f"has version {version!r}, which no composer writes")
    pieces = _field(data, "pieces", "list", "a header")
    if len(pieces) > MAX_SESSION_PIECES:
        raise _bad(f"holds {len(pieces)} pieces, above the limit of {MAX_SESSION_PIECES}")
    if (
        sum(len(p["nodes"]) for p in pieces if isinstance(p, dict) and isinstance(p.get("nodes"), list))
        > MAX_SESSION_NODES
    ):
        raise _bad(f"holds more than {MAX_SESSION_NODES} takes in all")
    parsed_midi: set[bytes] = set()  # identical MIDI parses once
    result = []
    for i, piece in enumerate(pieces, 1):
        where = f"piece {i}"
        if not isinstance(piece, dict):
            raise _bad(f"has {where} that is not an object")
        for key in ("id", "title", "root_id", "current_id"):
            _field(piece, key, "str", where)
        for key in ("created", "updated"):
            _field(piece, key, "number", where)
        nodes = [_check_node(node, f"a take of {where}") for node in _field(piece, "nodes", "list", where)]
        result.append((piece, _parents_first(piece, nodes, where)))
        for node in nodes:
            if node["midi"] not in parsed_midi:
                try:
                    read_midi(node["midi"], name=node["label"])
                except InputError as error:
                    raise _bad(f"holds MIDI that does not parse (take '{node['label']}' of {where})") from error
                parsed_midi.add(node["midi"])
    return result


def _check_node(node: Any, where: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise _bad(f"has {where} that is not an object")
    checked = {
        key: _field(node, key, kind, where, optional)
        for key, kind, optional in (
            ("id", "str", False),
            ("parent_id", "str", True),
            ("kind", "str", False),
            ("label", "str", False),
            ("settings", "dict", False),
            ("metrics", "dict", False),
            ("midi", "str", False),
            ("join", "number", True),
            ("created", "number", False),
            ("kept", "bool", False),
        )
    }
    if checked["kind"] not in ("seed", "take"):
        raise _bad(f"has {where} whose kind is neither 'seed' nor 'take'")
    if any(c in checked["label"] for c in "/\\") or any(ord(c) < 32 for c in checked["label"]):
        raise _bad(f"has {where} whose label holds a slash or a control character")
    try:
        checked["midi"] = base64.b64decode(checked["midi"], validate=True)
    except (binascii.Error, ValueError) as error:
        raise _bad(f"has {where} whose MIDI is not valid base64") from error
    return checked


def _parents_first(piece: dict[str, Any], nodes: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """The nodes in breadth-first order from the seed, after checking that they form one tree rooted at it."""
    by_id = {node["id"]: node for node in nodes}
    if len(by_id) != len(nodes):
        raise _bad(f"has two takes with the same id in {where}")
    roots = [node for node in nodes if node["parent_id"] is None]
    if len(roots) != 1 or roots[0]["id"] != piece["root_id"] or roots[0]["kind"] != "seed":
        raise _bad(f"does not have exactly one seed, named by 'root_id', at the top of {where}")
    children: dict[str, list[dict[str, Any]]] = {}
    for node in nodes:
        if node["parent_id"] is not None:
            if node["kind"] != "take":
                raise _bad(f"has a seed below the top of {where}")
            if node["parent_id"] not in by_id:
                raise _bad(f"has a take in {where} whose parent is missing (a broken parent link)")
            children.setdefault(node["parent_id"], []).append(node)
    order = [roots[0]]
    for node in order:  # grows as it goes: a breadth-first walk
        order.extend(children.get(node["id"], []))
    if len(order) != len(nodes):  # the rest hang in a loop of parent links, not under the seed
        raise _bad(f"has takes in {where} that are not connected to its seed (a loop of parent links)")
    if piece["current_id"] not in by_id:
        raise _bad(f"names a current take that is not in {where}")
    return order
