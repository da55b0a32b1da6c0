"""Checking a library database for damage, and rebuilding a damaged one.

``check_library`` runs SQLite's integrity check without writing anything.
``repair_library`` copies every row that can still be read into a new library
file, keeps the damaged file beside it under a new name (it is never deleted), puts
the new file in its place and rescans the library folders: files whose rows were lost
come back as new and wait to be indexed; the scores that were read are kept.

Reading past damage: rows are read in rowid order; where a read fails, the reader
jumps ahead by growing steps (1, 2, 4, ... rowids) until a read succeeds, so one bad
page costs the rows on it, not the rest of the table.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from emobrowser.core.errors import database_problem
from emobrowser.index.store import APPLICATION_ID, LIBRARY_TABLES, Store, StoreError, display, indexing_lock

# Copied in this order, so that items find their roots and scores their items.
TABLES = ("roots", "items", "metadata", "scores", "segments", "settings")
# Tables that a library made by an earlier version may not have yet (its tags are then
# read on the next index, as for any library gaining them).
OPTIONAL_TABLES = {"metadata"}
_MAX_JUMP = 1 << 62
_SHOWN_PROBLEMS = 10


@dataclass
class CheckReport:
    ok: bool
    problems: list[str] = field(default_factory=list)  # integrity_check's lines (up to 10)
    items: int | None = None  # items counted, where the table can be read


@dataclass
class RepairReport:
    kept_as: str  # where the damaged file now is
    copied: dict[str, int] = field(default_factory=dict)  # table -> rows in the rebuilt library
    unreadable: dict[str, int] = field(default_factory=dict)  # table -> read failures skipped
    rescanned_new: int = 0  # files the rescan found that the recovered rows lacked
    rebuilt_roots: int = 0  # library folders whose rows were lost, rebuilt from their items' paths
    roots: int = 0


def _open_read_only(path: Path) -> sqlite3.Connection:
    uri = f"file:{urllib.parse.quote(os.fsencode(os.path.abspath(path)))}?mode=ro"
    return sqlite3.connect(uri, uri=True, isolation_level=None)


def check_library(path: str | Path) -> CheckReport:
    """Run PRAGMA integrity_check on the library at ``path`` (nothing is written).

    Raises StoreError for a file that is not an emobrowser library (undamaged).
    """
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"no library at {path}")
    try:
        conn = _open_read_only(path)
    except sqlite3.DatabaseError as exc:
        return CheckReport(False, [database_problem(exc, path)])
    try:
        try:
            lines = [r[0] for r in conn.execute("PRAGMA integrity_check(100)")]
        except sqlite3.DatabaseError as exc:
            if "not a database" in str(exc):
                raise StoreError(f"{path}: {database_problem(exc, path)}") from exc
            return CheckReport(False, [str(exc)])
        items = None
        with contextlib.suppress(sqlite3.DatabaseError):
            items = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        if lines == ["ok"]:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "items" not in tables:
                raise StoreError(f"{path} is not an emobrowser library; it was left untouched")
            return CheckReport(True, [], items)
        return CheckReport(False, lines[:_SHOWN_PROBLEMS], items)
    finally:
        conn.close()


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    try:
        return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
    except sqlite3.DatabaseError:
        return []


def salvage_rows(conn: sqlite3.Connection, table: str, columns: list[str], batch: int = 500):
    """Yield the readable rows of ``table`` (values of ``columns``) in rowid order;
    returns, as the generator's value, how many read failures were jumped over."""
    cols = ", ".join(columns)
    last, failures = None, 0
    while True:
        where, params = ("", ()) if last is None else ("WHERE rowid > ?", (last,))
        try:
            rows = conn.execute(f"SELECT rowid, {cols} FROM {table} {where} ORDER BY rowid LIMIT {batch}",
                                params).fetchall()
        except sqlite3.DatabaseError:
            failures += 1
            found = False
            step = 1
            base = -1 if last is None else last
            while base + step < _MAX_JUMP:
                try:
                    row = conn.execute(f"SELECT rowid FROM {table} WHERE rowid > ? ORDER BY rowid LIMIT 1",
                                       (base + step,)).fetchone()
                except sqlite3.DatabaseError:
                    step *= 2
                    continue
                if row is not None:
                    last, found = row[0] - 1, True
                break
            if not found:
                return failures
            continue
        if not rows:
            return failures
        for row in rows:
            yield row[1:]
        last = rows[-1][0]


def _refuse_unrecognised(path: Path) -> None:
    """Raise StoreError unless ``path`` is recognisably an emobrowser library even
    though damaged: its header's application id, or (libraries made before the id)
    a readable schema with the library's tables. Another program's file is never
    renamed or rebuilt."""
    with open(path, "rb") as fh:
        header = fh.read(100)
    if header[:16] == b"SQLite format 3\0" and int.from_bytes(header[68:72], "big") == APPLICATION_ID:
        return
    with contextlib.suppress(sqlite3.DatabaseError):
        conn = _open_read_only(path)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
        if LIBRARY_TABLES <= names:
            return
    raise StoreError(f"{path} is not recognisably an emobrowser library, so it was not repaired; it was left "
                     f"untouched")


def _rebuild_lost_roots(conn: sqlite3.Connection) -> int:
    """Give items whose library folder's row was lost a folder again: the deepest
    folder that holds all of them (at or inside the lost one; indexing the original
    folder again merges it in). Returns how many folders were rebuilt."""
    lost = [r[0] for r in conn.execute(
        "SELECT DISTINCT root_id FROM items WHERE root_id IS NOT NULL AND root_id NOT IN (SELECT id FROM roots)")]
    for root_id in lost:
        paths = [bytes(r[0]) for r in conn.execute("SELECT raw_path FROM items WHERE root_id = ?", (root_id,))]
        try:
            folder = os.path.commonpath([os.path.dirname(p) for p in paths])
        except ValueError:  # paths on different drives (Windows)
            continue
        conn.execute("INSERT INTO roots(id, raw_path, path, added) VALUES (?, ?, ?, ?)",
                     (root_id, folder, display(folder), time.time()))
    return len(lost)


def repair_library(path: str | Path, rescan: bool = True) -> RepairReport:
    """Rebuild the library at ``path`` from what can still be read (see the module
    docstring). The damaged file is renamed to ``<name>.damaged-<time>`` beside it.

    Holds the indexing lock throughout, so no index run writes meanwhile.
    """
    path = Path(path)
    if not path.is_file():
        raise StoreError(f"no library at {path}")
    _refuse_unrecognised(path)
    with indexing_lock(path):
        old = _open_read_only(path)
        try:
            fresh_path = path.with_name(path.name + ".repairing")
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(f"{fresh_path}{suffix}")
            report = RepairReport(kept_as="")
            with Store(fresh_path) as fresh:
                fresh.conn.execute("PRAGMA foreign_keys=OFF")  # rows may point at rows that were lost
                for table in TABLES:
                    if table in OPTIONAL_TABLES and not _columns(old, table):
                        continue
                    wanted = _columns(fresh.conn, table)
                    have = set(_columns(old, table)) or set(wanted)
                    columns = [c for c in wanted if c in have]
                    rows = salvage_rows(old, table, columns)
                    marks = ", ".join("?" * len(columns))
                    with fresh.transaction():
                        while True:
                            try:
                                row = next(rows)
                            except StopIteration as stop:
                                report.unreadable[table] = stop.value or 0
                                break
                            try:
                                fresh.conn.execute(f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) "
                                                   f"VALUES ({marks})", row)
                            except sqlite3.IntegrityError:
                                report.unreadable[table] = report.unreadable.get(table, 0) + 1
                with fresh.transaction():
                    c = fresh.conn
                    report.rebuilt_roots = _rebuild_lost_roots(c)
                    c.execute("UPDATE items SET root_id = NULL WHERE root_id NOT IN (SELECT id FROM roots)")
                    c.execute("DELETE FROM scores WHERE item_id NOT IN (SELECT id FROM items)")
                    c.execute("DELETE FROM segments WHERE item_id NOT IN (SELECT id FROM items)")
                    c.execute("DELETE FROM metadata WHERE item_id NOT IN (SELECT id FROM items)")
                    # an item whose scores were lost is indexed again
                    c.execute("UPDATE items SET status = 'pending', scored_with = NULL WHERE status = 'indexed' "
                              "AND NOT EXISTS (SELECT 1 FROM scores WHERE item_id = items.id)")
                # what the new library holds, after dropping rows whose item was lost
                report.copied = {t: fresh.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}
                fresh.conn.execute("PRAGMA foreign_keys=ON")
                fresh.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            old.close()
        kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("-wal", "-shm", ""):  # the main file last: until then the library is where it was
            if os.path.exists(f"{path}{suffix}"):
                os.replace(f"{path}{suffix}", f"{kept}{suffix}")
        for suffix in ("-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.remove(f"{fresh_path}{suffix}")
        os.replace(fresh_path, path)
        report.kept_as = str(kept)
        if rescan:
            from emobrowser.index.scanner import sync_root

            with Store(path) as store:
                for root_id, root in store.roots():
                    report.roots += 1
                    report.rescanned_new += sync_root(store, root_id, root).new
    return report


def describe(report: RepairReport) -> str:
    """A few lines for people about a repair."""
    items = report.copied.get("items", 0)
    lost = sum(report.unreadable.values())
    lines = [f"recovered {items} items, {report.copied.get('scores', 0)} scores and "
             f"{report.copied.get('roots', 0)} library folders"
             + (f"; {lost} damaged parts could not be read" if lost else ""),
             f"the damaged file is kept as {display(os.fsencode(report.kept_as))}"]
    if report.rebuilt_roots:
        lines.append(f"{report.rebuilt_roots} library folders were rebuilt from their files' paths; "
                     f"`emobrowser index FOLDER` with the original folder merges them back")
    if report.roots:
        lines.append(f"rescanned {report.roots} library folders: {report.rescanned_new} files found again are "
                     f"waiting; run `emobrowser index` to index them")
    return "\n".join(lines)
