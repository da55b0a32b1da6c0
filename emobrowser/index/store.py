"""The library database: SQLite in WAL mode, opened only through this module.

The schema carries a version (PRAGMA user_version) and is brought up to date by the
ordered MIGRATIONS below; add a new entry to change it, never edit an old one.

Paths are stored twice: ``raw_path`` holds the exact bytes of the file name (names
need not be valid UTF-8) and is the key; ``path`` is a readable text form for display
and JSON output.

Writes happen in small transactions so that a kill at any moment leaves a
consistent database: an item is either pending, or indexed with all its scores and
segments, or failed with its reason.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import AnyStr

from emobrowser.core.errors import (TIMED_OUT_PREFIX, EmobrowserError, database_problem, os_problem,
                                   timed_out_limit)

# Each entry is an SQL script, or a function of the connection for what SQL cannot say.
MIGRATIONS: list = [
    # 1: the initial schema.
    """
    CREATE TABLE roots (
        id INTEGER PRIMARY KEY,
        raw_path BLOB NOT NULL UNIQUE,
        path TEXT NOT NULL,
        added REAL NOT NULL
    );
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        raw_path BLOB NOT NULL UNIQUE,
        path TEXT NOT NULL,
        root_id INTEGER REFERENCES roots(id) ON DELETE SET NULL,
        modality TEXT,
        format TEXT,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        fingerprint TEXT,
        width INTEGER,
        height INTEGER,
        duration REAL,
        scored_with TEXT,
        status TEXT NOT NULL CHECK (status IN ('pending', 'indexed', 'failed', 'missing')),
        error TEXT,
        updated REAL NOT NULL
    );
    CREATE INDEX items_status ON items(status, modality);
    CREATE INDEX items_fingerprint ON items(fingerprint);
    CREATE TABLE scores (
        item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        valence REAL NOT NULL,
        arousal REAL NOT NULL,
        PRIMARY KEY (item_id, model, version)
    );
    CREATE TABLE segments (
        item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        source TEXT NOT NULL,
        start REAL NOT NULL,
        end REAL NOT NULL,
        valence REAL NOT NULL,
        arousal REAL NOT NULL
    );
    CREATE INDEX segments_item ON segments(item_id, model, version);
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: failures recorded by earlier versions for files the extractor now handles, tried
    # again once: an .mp4 with sound only ("no video stream"), and a music .mp4 whose only
    # video stream is its cover picture ("truncated video: decoded 0.0 s of ..."). A file
    # that still fails is recorded again with its current reason.
    """
    UPDATE items SET status = 'pending', error = NULL WHERE status = 'failed'
        AND (error = 'no video stream' OR error LIKE 'truncated video: decoded 0.0 s of %');
    """,
    # 3: failures that audio with 8 or more channels (a decoder crash) and long
    # recordings (out of memory, or out of time while analysing) gave earlier versions,
    # tried again once.
    """
    UPDATE items SET status = 'pending', error = NULL WHERE status = 'failed'
        AND (error LIKE 'decoder crashed (signal %' OR error LIKE 'decoder process exited unexpectedly%'
             OR error = 'out of memory while decoding' OR error LIKE 'timed out after % s (decoder hung)');
    """,
    # 4: roots stored inside other roots merged into them (_merge_nested_roots, below).
    lambda conn: _merge_nested_roots(conn),
    # 5: what files say about themselves (media.metadata), read at the size and time in
    # the row: a file whose size or time no longer match is read again. payload_fp
    # fingerprints an item's sound without its tags (media.payload), so a tag edit keeps
    # the scores. folded: title, artist and album for accent- and case-blind search.
    lambda conn: _add_metadata(conn),
]

SCHEMA_VERSION = len(MIGRATIONS)
STATUSES = ("pending", "indexed", "failed", "missing")


class StoreError(EmobrowserError):
    """The library database cannot be opened or is of an unknown version."""


class LibraryBusyError(EmobrowserError):
    """Another process is indexing the same library."""


def raw(path: str | bytes | os.PathLike) -> bytes:
    """The exact bytes of a file name, the key under which it is stored."""
    return os.fsencode(path)


def within(path: AnyStr, folder: AnyStr) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (both absolute, normalised; both
    text or both bytes)."""
    sep = os.sep if isinstance(path, str) else os.fsencode(os.sep)
    return path == folder or path.startswith(folder.rstrip(sep) + sep)


def display(raw_path: bytes) -> str:
    """A readable text form of a stored file name (undecodable bytes become U+FFFD)."""
    return raw_path.decode("utf-8", errors="replace")


def shown(path: str | bytes) -> str:
    """The readable text of a file-system path, for labels and messages only.

    Paths handed around for opening files keep undecodable bytes as surrogate escapes
    (``os.fsdecode``), which Qt and strict UTF-8 text cannot carry; here they become
    U+FFFD.
    """
    return display(path if isinstance(path, bytes) else os.fsencode(path))


def shown_name(path: str) -> str:
    """The readable text of a path's last part (see ``shown``)."""
    return shown(os.path.basename(path))


@dataclass
class ItemRow:
    id: int
    raw_path: bytes
    path: str
    modality: str | None
    format: str | None
    size: int
    mtime_ns: int
    fingerprint: str | None
    status: str
    error: str | None


def _absorb(conn: sqlite3.Connection, outer: int, inner: list[int]) -> None:
    """Move the items of the roots ``inner`` to the root ``outer`` and forget those
    roots (within the caller's transaction)."""
    for root_id in inner:
        conn.execute("UPDATE items SET root_id = ? WHERE root_id = ?", (outer, root_id))
        conn.execute("DELETE FROM roots WHERE id = ?", (root_id,))


def _merge_nested_roots(conn: sqlite3.Connection) -> None:
    """Merge roots stored inside other roots into the outermost one.

    Earlier versions accepted nested roots, after which every index run failed on a
    file that both roots listed; add_root no longer makes them. Compares stored paths
    only (no file access).
    """
    roots = [(r[0], bytes(r[1])) for r in conn.execute("SELECT id, raw_path FROM roots")]
    for root_id, path in roots:
        outer = [(len(p), rid) for rid, p in roots if rid != root_id and within(path, p)]
        if outer:
            _absorb(conn, min(outer)[1], [root_id])


_METADATA_TABLE = """
    CREATE TABLE IF NOT EXISTS metadata (
        item_id INTEGER PRIMARY KEY REFERENCES items(id) ON DELETE CASCADE,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        title TEXT,
        artist TEXT,
        album TEXT,
        album_artist TEXT,
        year INTEGER,
        track INTEGER,
        date TEXT,
        camera TEXT,
        has_cover INTEGER NOT NULL DEFAULT 0,
        problem TEXT,
        folded TEXT NOT NULL DEFAULT ''
    )
"""


def _add_metadata(conn: sqlite3.Connection) -> None:
    """The metadata table and items.payload_fp (written to be run again safely, as
    tests do by lowering the schema version)."""
    if "payload_fp" not in {r[1] for r in conn.execute("PRAGMA table_info(items)")}:
        conn.execute("ALTER TABLE items ADD COLUMN payload_fp TEXT")
    conn.execute(_METADATA_TABLE)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema up to date, one migration per transaction.

    The version is read inside BEGIN IMMEDIATE, so two processes or threads opening
    a new database at once cannot both run the same migration.
    """
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"library database has schema version {version}, newer than this emobrowser "
                                 f"({SCHEMA_VERSION}); upgrade emobrowser to open it")
            if version == SCHEMA_VERSION:
                if conn.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                conn.execute("COMMIT")
                return
            step = MIGRATIONS[version]
            if callable(step):
                step(conn)
            else:
                for statement in _statements(step):
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


OPEN_TIMEOUT = 30.0  # seconds to wait for other connections' locks


def _enable_wal(conn: sqlite3.Connection, timeout: float = OPEN_TIMEOUT) -> None:
    """Switch the database to WAL mode, waiting for other connections that are doing
    the same. SQLite does not call the busy handler for a journal-mode change, so a
    second connection opening a new database at that moment gets "database is locked"
    at once; retry with a short back-off until ``timeout``."""
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.25)


# PRAGMA application_id of an emobrowser library ("EmoB"): set in the header of every
# library this version creates or opens for writing, so a file is recognised before
# anything is written to it.
APPLICATION_ID = 0x456D6F42
# The tables of a library made before the application id was set.
LIBRARY_TABLES = frozenset({"roots", "items", "scores", "segments", "settings"})


def _recognise(conn: sqlite3.Connection, path, create: bool) -> None:
    """Raise StoreError, before anything is written, unless the open database is an
    emobrowser library (its application id, or an earlier version's tables and schema
    version) or, with ``create``, a new empty file.

    Another program's database is never changed, not even switched to WAL mode, and a
    read-only command never turns an empty file into a library.
    """
    # one statement, so another connection's first migration cannot land between the reads
    app_id, version, tables = conn.execute(
        "SELECT (SELECT application_id FROM pragma_application_id), (SELECT user_version FROM pragma_user_version), "
        "(SELECT group_concat(name, char(10)) FROM sqlite_master WHERE type = 'table')").fetchone()
    names = set(tables.split("\n")) if tables else set()
    if app_id == APPLICATION_ID:
        return
    if app_id == 0 and version >= 1 and LIBRARY_TABLES <= names:
        return  # a library made before the application id
    if app_id == 0 and version == 0 and not names:
        if create:
            return
        conn.close()
        raise StoreError(f"{path} is not an emobrowser library (it holds no data); it was left untouched. "
                         f"Create a library with: emobrowser index FOLDER --db {path}")
    conn.close()
    what = (f"its tables include {sorted(names - LIBRARY_TABLES or names)[0]!r}" if names
            else "it holds no tables")
    owner = f", application id {app_id:#x}" if app_id else ""
    raise StoreError(f"{path} is not an emobrowser library (an SQLite database of another program{owner}; "
                     f"{what}); it was left untouched. Choose another --db file")


def _connect_readonly(path: Path) -> sqlite3.Connection:
    """A connection that reads the existing library at ``path`` (never creating it).

    On a full disk SQLite cannot size the WAL index file it reads through ("disk I/O
    error"). A library whose last writer closed cleanly has no WAL content then, so it
    is read as an immutable file instead, which needs no index file.
    """
    from emobrowser.core.errors import disk_is_full

    where = urllib.parse.quote(os.fsencode(os.path.abspath(path)))
    conn = sqlite3.connect(f"file:{where}?mode=rw", uri=True, timeout=OPEN_TIMEOUT, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        wal = Path(f"{path}-wal")
        if "disk I/O error" not in str(exc) or not disk_is_full(path.parent) or (wal.exists() and wal.stat().st_size):
            raise
    return sqlite3.connect(f"file:{where}?mode=ro&immutable=1", uri=True, isolation_level=None,
                           check_same_thread=False)


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (migrations hold no literal ';')."""
    return [s.strip() for s in script.split(";") if s.strip()]


class Store:
    """One open library database. Use from one thread at a time per Store object."""

    def __init__(self, path: str | Path, readonly: bool = False):
        """Open the library at ``path``, creating it if it does not exist, unless
        ``readonly``: then the file must be a library already, and opening it takes no
        write lock and changes nothing (except to bring an older schema up to date).

        Raises StoreError for a file that is not an emobrowser library (left untouched),
        a damaged one (see ``emobrowser check``), or one that cannot be opened.
        """
        from emobrowser.core.paths import private_dir

        self.path = Path(path)
        self.readonly = readonly
        memory = str(path) == ":memory:"
        if readonly and not memory and not self.path.is_file():
            raise StoreError(f"no library at {path}" + (": it is a folder" if self.path.is_dir() else ""))
        created = not memory and not readonly and not self.path.exists()
        try:
            if not memory and not readonly:
                private_dir(self.path.parent)
            if readonly and not memory:
                self.conn = _connect_readonly(self.path)
            else:
                self.conn = sqlite3.connect(str(path), timeout=OPEN_TIMEOUT, isolation_level=None,
                                            check_same_thread=False)
            if created:
                with contextlib.suppress(OSError):
                    os.chmod(self.path, 0o600)  # the library lists the user's files
            _recognise(self.conn, path, create=not readonly)
            self.conn.execute("PRAGMA foreign_keys=ON")
            if readonly:
                version = self.conn.execute("PRAGMA user_version").fetchone()[0]
                if version != SCHEMA_VERSION:
                    _migrate(self.conn)  # an older library is upgraded; a newer one refused
                self.conn.execute("PRAGMA query_only=ON")
            else:
                _enable_wal(self.conn)
                self.conn.execute("PRAGMA synchronous=NORMAL")
                current = self.conn.execute(
                    "SELECT (SELECT user_version FROM pragma_user_version) = ? "
                    "AND (SELECT application_id FROM pragma_application_id) = ?",
                    (SCHEMA_VERSION, APPLICATION_ID)).fetchone()[0]
                if not current:  # an up-to-date library needs no write lock to open
                    _migrate(self.conn)
        except sqlite3.DatabaseError as exc:
            with contextlib.suppress(Exception):
                self.conn.close()
            folder = self.path.parent
            if not memory and folder.is_dir() and not os.access(folder, os.W_OK):
                raise StoreError(f"cannot open library database {path}: its folder {folder} is read-only, and "
                                 f"the library needs to write beside its database (journal files); copy it "
                                 f"to a writable folder") from exc
            raise StoreError(f"cannot open library database {path}: {database_problem(exc, path)}") from exc
        except OSError as exc:
            raise StoreError(f"cannot open library database {path}: {os_problem(exc, folder=self.path.parent)}") \
                from exc
        self._lock = threading.RLock()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def indexing_lock(self):
        """Hold the library's indexing lock; raise LibraryBusyError if another process
        (or another Store in this one) holds it. See ``indexing_lock`` below."""
        return indexing_lock(self.path)

    # -- transactions -------------------------------------------------------------

    def transaction(self):
        """A context manager for one write transaction (BEGIN IMMEDIATE ... COMMIT)."""
        return _Transaction(self)

    @contextlib.contextmanager
    def snapshot(self):
        """Reads that must agree with each other: they all see the library as it was at
        the first of them, whatever an indexer commits meanwhile (one WAL read
        transaction). Inside a transaction already, that one serves."""
        if self.conn.in_transaction:
            yield self
            return
        self.conn.execute("BEGIN DEFERRED")
        try:
            yield self
        finally:
            if self.conn.in_transaction:  # SQLite may have ended it on an error already
                self.conn.execute("COMMIT")

    # -- roots ----------------------------------------------------------------------

    def add_root(self, path: str | os.PathLike) -> int:
        """Add a library folder; returns the id of the root that covers it.

        Roots never nest, because one file would then belong to two roots. A folder
        that is a root already, or lies inside one (also when reached through a
        symlink), adds nothing: that root's id is returned. A folder that contains
        roots takes them over, with their items and scores.
        """
        rp = raw(os.path.abspath(path))
        real = raw(os.path.realpath(path))
        existing = [(root_id, stored, raw(os.path.realpath(stored))) for root_id, stored in self.roots()]
        for root_id, stored, stored_real in existing:
            if within(rp, stored) or within(real, stored_real):
                return root_id
        with self.transaction():
            new_id = self.conn.execute("INSERT INTO roots(raw_path, path, added) VALUES (?, ?, ?)",
                                       (rp, display(rp), time.time())).lastrowid
            _absorb(self.conn, new_id, [root_id for root_id, stored, stored_real in existing
                                        if within(stored, rp) or within(stored_real, real)])
        return new_id

    def remove_root(self, path: str | os.PathLike) -> None:
        """Forget a root and every item under it (the files themselves are untouched)."""
        rp = raw(os.path.abspath(path))
        row = self.conn.execute("SELECT id FROM roots WHERE raw_path = ?", (rp,)).fetchone()
        if row is None:
            return
        with self.transaction():
            self.conn.execute("DELETE FROM items WHERE root_id = ?", (row[0],))
            self.conn.execute("DELETE FROM roots WHERE id = ?", (row[0],))

    def roots(self) -> list[tuple[int, bytes]]:
        return [(r[0], bytes(r[1])) for r in self.conn.execute("SELECT id, raw_path FROM roots ORDER BY id")]

    # -- items ------------------------------------------------------------------------

    def items_under(self, root_id: int) -> dict[bytes, tuple[int, int, int, str, str | None, str | None]]:
        """raw_path -> (id, size, mtime_ns, status, payload_fp, modality) for every item of a root."""
        cur = self.conn.execute("SELECT raw_path, id, size, mtime_ns, status, payload_fp, modality FROM items "
                                "WHERE root_id = ?", (root_id,))
        return {bytes(r[0]): tuple(r[1:]) for r in cur}

    def unreadable_under(self, root_id: int) -> set[bytes]:
        """raw_path of the items of a root that failed for want of permission to read
        them: a later scan tries them again. (An I/O error is not retried this way: a
        bad block in the middle passes the scan's quick read and fails again.)"""
        from emobrowser.core.errors import UNREADABLE

        cur = self.conn.execute("SELECT raw_path FROM items WHERE root_id = ? AND status = 'failed' AND error = ?",
                                (root_id, UNREADABLE))
        return {bytes(r[0]) for r in cur}

    def item(self, item_id: int) -> ItemRow | None:
        r = self.conn.execute(
            "SELECT id, raw_path, path, modality, format, size, mtime_ns, fingerprint, status, error "
            "FROM items WHERE id = ?", (item_id,)).fetchone()
        return None if r is None else ItemRow(r[0], bytes(r[1]), *r[2:])

    def item_by_path(self, path: str | bytes | os.PathLike) -> ItemRow | None:
        r = self.conn.execute("SELECT id FROM items WHERE raw_path = ?", (raw(path),)).fetchone()
        return None if r is None else self.item(r[0])

    def missing_with_fingerprint(self, fingerprint: str, size: int) -> int | None:
        r = self.conn.execute("SELECT id FROM items WHERE fingerprint = ? AND size = ? AND status = 'missing' "
                              "LIMIT 1", (fingerprint, size)).fetchone()
        return None if r is None else r[0]

    def pending(self, root_ids: Iterable[int] | None = None) -> list[tuple[int, bytes, str, str]]:
        """(id, raw_path, modality, format) of every pending item, optionally per root."""
        sql = "SELECT id, raw_path, modality, format FROM items WHERE status = 'pending'"
        params: tuple = ()
        if root_ids is not None:
            ids = list(root_ids)
            sql += f" AND root_id IN ({','.join('?' * len(ids))})"
            params = tuple(ids)
        return [(r[0], bytes(r[1]), r[2], r[3]) for r in self.conn.execute(sql + " ORDER BY id", params)]

    def requeue_stale(self, scored_with: dict[str, str]) -> int:
        """Set indexed items scored with other models back to pending.

        ``scored_with`` maps modality to the model tag its items must carry (see
        pipeline.model_tag). Returns how many were reset, so a new model version
        rescores only what it must.
        """
        total = 0
        with self.transaction():
            for modality, tag in scored_with.items():
                cur = self.conn.execute(
                    "UPDATE items SET status = 'pending' WHERE status = 'indexed' AND modality = ? "
                    "AND (scored_with IS NULL OR scored_with != ?)", (modality, tag))
                total += cur.rowcount
        return total

    def drop_results(self, item_ids: list[int]) -> None:
        """Delete the scores and segments of ``item_ids`` (inside the caller's
        transaction): they describe content the files no longer have."""
        rows = [(i,) for i in item_ids]
        self.conn.executemany("DELETE FROM scores WHERE item_id=?", rows)
        self.conn.executemany("DELETE FROM segments WHERE item_id=?", rows)

    def retry_failed(self, reasons: tuple[str, ...], root_ids: Iterable[int],
                     prefixes: tuple[str, ...] = ()) -> int:
        """Set failed items under ``root_ids`` whose error is one of ``reasons``, or
        starts with one of ``prefixes``, back to pending; returns how many."""
        ids = list(root_ids)
        if not (reasons or prefixes) or not ids:
            return 0
        match = " OR ".join([f"error IN ({', '.join('?' * len(reasons))})"] * bool(reasons)
                            + ["substr(error, 1, ?) = ?"] * len(prefixes))
        sql = (f"UPDATE items SET status = 'pending' WHERE status = 'failed' AND ({match}) "
               f"AND root_id IN ({', '.join('?' * len(ids))})")
        with self.transaction():
            cur = self.conn.execute(sql, (*reasons, *[v for p in prefixes for v in (len(p), p)], *ids))
        return cur.rowcount

    def retry_timed_out(self, limit_of: Callable[[str | None, int], float], root_ids: Iterable[int]) -> int:
        """Set failed items under ``root_ids`` that timed out under a clearly shorter
        limit than they would get now, ``limit_of(modality, size)``, back to pending;
        returns how many."""
        ids = list(root_ids)
        if not ids:
            return 0
        rows = self.conn.execute(
            f"SELECT id, error, modality, size FROM items WHERE status = 'failed' AND error LIKE ? "
            f"AND root_id IN ({', '.join('?' * len(ids))})", (TIMED_OUT_PREFIX + "%", *ids)).fetchall()
        # 1 % slack: the recorded limit is rounded for display.
        retry = [(item_id,) for item_id, error, modality, size in rows
                 if (old := timed_out_limit(error)) is not None and limit_of(modality, size) > old * 1.01]
        with self.transaction():
            self.conn.executemany("UPDATE items SET status = 'pending' WHERE id = ?", retry)
        return len(retry)

    def failures(self) -> Iterator[tuple[str, str | None, str]]:
        """(file-system path, modality, reason) of every failed item (paths as in paths_of)."""
        cur = self.conn.execute("SELECT raw_path, modality, error FROM items WHERE status = 'failed' ORDER BY path")
        yield from ((os.fsdecode(bytes(r[0])), r[1], r[2] or "unknown error") for r in cur)

    def status_counts(self) -> dict[str, dict[str, int]]:
        """{modality: {indexed, failed, pending}} over items that are not missing."""
        counts: dict[str, dict[str, int]] = {}
        for modality, status, n in self.conn.execute(
                "SELECT COALESCE(modality, 'unknown'), status, COUNT(*) FROM items "
                "WHERE status != 'missing' GROUP BY 1, 2"):
            counts.setdefault(modality, {"indexed": 0, "failed": 0, "pending": 0})[status] = n
        return {k: counts[k] for k in sorted(counts)}

    # -- scores -------------------------------------------------------------------------

    def score_columns(self, models: dict[str, tuple[str, str]]):
        """Scores of every indexed item for the given models, as NumPy columns.

        ``models`` maps "image" and "audio" to the (name, version) whose scores to
        use. Returns (ids int64, modality codes int8 (0 image, 1 audio, 2 video),
        source int8 (0 from the image model, 1 from the audio model), valence,
        arousal): one row per item and model, so a video has up to two rows.
        """
        import numpy as np

        # Two plain scans joined in NumPy: several times faster than a SQL join at
        # a million items.
        items = np.fromiter(
            self.conn.execute("SELECT id, CASE modality WHEN 'image' THEN 0 WHEN 'audio' THEN 1 ELSE 2 END "
                              "FROM items WHERE status = 'indexed' AND modality IN ('image', 'audio', 'video') "
                              "ORDER BY id"),
            dtype=np.dtype([("id", np.int64), ("modality", np.int8)]))
        parts = []
        for source, (name, version) in enumerate((models["image"], models["audio"])):
            rows = np.fromiter(
                self.conn.execute("SELECT item_id, valence, arousal FROM scores WHERE model = ? AND version = ?",
                                  (name, version)),
                dtype=np.dtype([("id", np.int64), ("valence", np.float64), ("arousal", np.float64)]))
            pos = np.searchsorted(items["id"], rows["id"])
            pos = np.minimum(pos, max(len(items) - 1, 0))
            found = (items["id"][pos] == rows["id"]) if len(items) else np.zeros(len(rows), bool)
            rows, codes = rows[found], items["modality"][pos[found]]
            # image-model scores count for images and videos, audio-model ones for audio and videos
            keep = codes != (1 if source == 0 else 0)
            parts.append((rows["id"][keep], codes[keep], np.full(int(keep.sum()), source, np.int8),
                          rows["valence"][keep], rows["arousal"][keep]))
        ids, codes, sources, valence, arousal = (np.concatenate(c) for c in zip(*parts))
        order = np.argsort(ids, kind="stable")
        return ids[order], codes[order], sources[order], valence[order], arousal[order]

    def paths_of(self, ids) -> list[str]:
        """File-system paths of the given item ids (sorted ascending), in the same order.

        These open the files: a name that is not valid UTF-8 keeps its bytes as
        surrogate escapes (``os.fsdecode``). Show them to people through ``shown``.
        """
        import numpy as np

        ids = np.asarray(ids, np.int64)
        rows = [(r[0], os.fsdecode(bytes(r[1]))) for r in self.conn.execute(
            "SELECT id, raw_path FROM items WHERE status = 'indexed' ORDER BY id")]
        if len(rows) == len(ids):
            all_ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            if np.array_equal(all_ids, ids):
                return [r[1] for r in rows]
        found = dict(rows)
        return [found[int(i)] for i in ids]

    def durations(self, ids) -> dict[int, float]:
        """Duration in seconds of the given audio/video items that have one."""
        ids = [int(i) for i in ids]
        out: dict[int, float] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start:start + 900]
            out.update(self.conn.execute(
                f"SELECT id, duration FROM items WHERE duration IS NOT NULL AND id IN ({','.join('?' * len(chunk))})",
                chunk).fetchall())
        return out

    def segments(self, item_id: int) -> list[tuple[str, str, str, float, float, float, float]]:
        """(model, version, source, start, end, valence, arousal) rows of an item, by time."""
        return list(self.conn.execute(
            "SELECT model, version, source, start, end, valence, arousal FROM segments "
            "WHERE item_id = ? ORDER BY source, start", (item_id,)))

    # -- metadata -----------------------------------------------------------------------

    def needs_metadata(self, root_ids: Iterable[int]) -> list[tuple[int, bytes, str]]:
        """(id, raw_path, modality) of indexed items under ``root_ids`` whose tags were
        never read, or were read when the file had another size or time."""
        ids = list(root_ids)
        if not ids:
            return []
        return [(r[0], bytes(r[1]), r[2]) for r in self.conn.execute(
            f"SELECT items.id, items.raw_path, items.modality FROM items LEFT JOIN metadata m ON m.item_id = items.id "
            f"WHERE items.status = 'indexed' AND items.root_id IN ({','.join('?' * len(ids))}) "
            f"AND (m.item_id IS NULL OR m.size != items.size OR m.mtime_ns != items.mtime_ns) ORDER BY items.id",
            ids)]

    def put_metadata(self, item_id: int, size: int, mtime_ns: int, meta: dict) -> None:
        """Store an item's tags (a media.metadata.Metadata as a dict), read from the file
        at ``size`` and ``mtime_ns`` (inside the caller's transaction)."""
        from emobrowser.media.metadata import fold

        folded = fold(" ".join(meta.get(k) or "" for k in ("title", "artist", "album", "album_artist")))
        self.conn.execute(
            "INSERT OR REPLACE INTO metadata(item_id, size, mtime_ns, title, artist, album, album_artist, year, "
            "track, date, camera, has_cover, problem, folded) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (item_id, size, mtime_ns, meta.get("title"), meta.get("artist"), meta.get("album"),
             meta.get("album_artist"), meta.get("year"), meta.get("track"), meta.get("date"), meta.get("camera"),
             int(bool(meta.get("has_cover"))), meta.get("problem"), folded))

    def metadata_of(self, ids=None) -> dict[int, dict]:
        """{item id: {title, artist, album, album_artist, year, track, date, camera,
        has_cover, folded}} for the given items (None: every item) that have tags stored."""
        names = ("title", "artist", "album", "album_artist", "year", "track", "date", "camera", "has_cover",
                 "folded")
        select = f"SELECT item_id, {', '.join(names)} FROM metadata"
        if ids is None:
            chunks = [(select, ())]
        else:
            ids = [int(i) for i in ids]
            chunks = [(f"{select} WHERE item_id IN ({','.join('?' * len(ids[s:s + 900]))})", ids[s:s + 900])
                      for s in range(0, len(ids), 900)]
        out: dict[int, dict] = {}
        for sql, params in chunks:
            for r in self.conn.execute(sql, params):
                out[r[0]] = dict(zip(names, r[1:]))
                out[r[0]]["has_cover"] = bool(out[r[0]]["has_cover"])
        return out

    def tag_labels(self) -> dict[int, str]:
        """{item id: "Artist – Title", or the title alone} of the items with a title."""
        from emobrowser.media.metadata import song_name

        return {r[0]: song_name(r[1], r[2]) for r in self.conn.execute(
            "SELECT item_id, title, artist FROM metadata WHERE title IS NOT NULL")}

    def folded_tags(self) -> dict[int, str]:
        """{item id: its title, artist and album folded for search (metadata.fold)}."""
        return dict(self.conn.execute("SELECT item_id, folded FROM metadata WHERE folded != ''"))

    # -- settings -----------------------------------------------------------------------

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        r = self.conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if r is None else r[0]

    def set_setting(self, key: str, value: str) -> None:
        with self.transaction():
            self.conn.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    def integrity_ok(self) -> bool:
        return self.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@contextlib.contextmanager
def indexing_lock(path: str | Path):
    """Hold the indexing lock of the library at ``path``; raise LibraryBusyError if
    another process (or another Store in this one) holds it.

    Two index runs at once would insert the same new files twice. The lock is an
    exclusive SQLite lock on a small file beside the database: the operating
    system drops it when its process ends, even on a kill, so it never goes stale.
    """
    if str(path) == ":memory:":
        yield
        return
    # Keyed by the real path, so a symlinked --db shares the lock. The empty file
    # stays beside the database (removing it could race with another process).
    lock_path = os.path.realpath(path) + ".indexing"
    try:
        conn = sqlite3.connect(lock_path, timeout=0, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot create the indexing lock {lock_path}: {exc}") from exc
    try:
        try:
            conn.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise StoreError(f"cannot create the indexing lock {lock_path}: {exc}") from exc
            raise LibraryBusyError(f"the library {path} is being indexed by another emobrowser "
                                   f"process; wait for it to finish, or stop it first") from None
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
    finally:
        conn.close()


class _Transaction:
    def __init__(self, store: Store):
        self.store = store

    def __enter__(self):
        self.store._lock.acquire()
        self.store.conn.execute("BEGIN IMMEDIATE")
        return self.store.conn

    def __exit__(self, exc_type, exc, tb):
        try:
            self.store.conn.execute("COMMIT" if exc_type is None else "ROLLBACK")
        finally:
            self.store._lock.release()
        return False
