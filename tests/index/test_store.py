import os
import sqlite3

import pytest

from emobrowser.index import store as store_mod
from emobrowser.index.store import SCHEMA_VERSION, Store, StoreError


def test_new_database_is_wal_and_current(tmp_path):
    s = Store(tmp_path / "db.sqlite3")
    assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    tables = {r[0] for r in s.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"roots", "items", "scores", "segments", "settings"} <= tables
    s.close()


def test_migrations_run_in_order_and_only_once(tmp_path, monkeypatch):
    path = tmp_path / "db.sqlite3"
    Store(path).close()
    extra = store_mod.MIGRATIONS + ["ALTER TABLE items ADD COLUMN rating INTEGER;"]
    monkeypatch.setattr(store_mod, "MIGRATIONS", extra)
    monkeypatch.setattr(store_mod, "SCHEMA_VERSION", len(extra))
    s = Store(path)
    assert s.conn.execute("PRAGMA user_version").fetchone()[0] == len(extra)
    cols = [r[1] for r in s.conn.execute("PRAGMA table_info(items)")]
    assert "rating" in cols
    s.close()
    Store(path).close()  # reopening must not re-run the migration (it would fail: duplicate column)


def _failures_after_upgrade(path, version: int, reasons: list[str]) -> list[tuple]:
    """(status, error) of failed items recorded with ``reasons`` by a library at schema
    ``version``, after opening it with this version."""
    s = Store(path)
    for i, reason in enumerate(reasons):
        s.conn.execute("INSERT INTO items (raw_path, path, size, mtime_ns, status, error, updated) "
                       "VALUES (?, ?, 1, 1, 'failed', ?, 0)", (f"/m/{i}".encode(), f"/m/{i}", reason))
    s.conn.execute(f"PRAGMA user_version = {version}")
    s.close()
    with Store(path) as s:
        return s.conn.execute("SELECT status, error FROM items ORDER BY id").fetchall()


def _assert_retried_only_once(path, reason: str) -> None:
    """Item 1 fails again with ``reason``: the next open leaves it failed."""
    with Store(path) as s:
        s.conn.execute("UPDATE items SET status='failed', error=? WHERE id=1", (reason,))
    with Store(path) as s:
        assert s.conn.execute("SELECT status FROM items WHERE id=1").fetchone()[0] == "failed"


def test_schema_2_retries_only_the_failures_newer_extractors_handle(tmp_path):
    path = tmp_path / "db.sqlite3"
    reasons = ["no video stream", "truncated video: decoded 0.0 s of the 3.0 s the file states",
               "truncated video: decoded 1.5 s of the 3.0 s the file states", "not a media file"]
    rows = _failures_after_upgrade(path, 1, reasons)
    assert rows == [("pending", None), ("pending", None), ("failed", reasons[2]), ("failed", reasons[3])]
    _assert_retried_only_once(path, reasons[0])


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "db.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.close()
    with pytest.raises(StoreError, match="newer"):
        Store(path)


def test_roots_and_settings(store, tmp_path):
    a = store.add_root(tmp_path)
    assert store.add_root(tmp_path) == a
    assert [r[0] for r in store.roots()] == [a]
    store.set_setting("k", "v")
    assert store.get_setting("k") == "v"
    assert store.get_setting("missing", "d") == "d"
    store.remove_root(tmp_path)
    assert store.roots() == []


def test_non_utf8_path_round_trips(store):
    raw = b"/media/caf\xe9.jpg"
    with store.transaction() as conn:
        conn.execute("INSERT INTO items(raw_path, path, size, mtime_ns, status, updated) VALUES (?, ?, 1, 1, "
                     "'pending', 0)", (raw, store_mod.display(raw)))
    row = store.item_by_path(raw)
    assert row.raw_path == raw
    assert row.path == "/media/caf\ufffd.jpg"


def test_failed_transaction_rolls_back(store):
    with pytest.raises(RuntimeError):
        with store.transaction() as conn:
            conn.execute("INSERT INTO settings(key, value) VALUES ('a', 'b')")
            raise RuntimeError("boom")
    assert store.get_setting("a") is None


def test_concurrent_first_opens_migrate_once(tmp_path):
    """Six threads open one new database at once, 40 times over. Switching to WAL
    used to fail with "database is locked" in about 6% of rounds (SQLite does not wait
    on a journal-mode change), so 40 rounds catch that almost surely."""
    import threading

    for round_ in range(40):
        path = tmp_path / f"db{round_}.sqlite3"
        errors = []

        def open_it():
            try:
                Store(path).close()
            except Exception as exc:  # noqa: BLE001 - collected for the assertion
                errors.append(exc)

        threads = [threading.Thread(target=open_it) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == [], f"round {round_}"
        s = Store(path)
        assert s.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert s.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        s.close()


def test_schema_3_retries_crashes_memory_and_old_timeouts_once(tmp_path):
    path = tmp_path / "db.sqlite3"
    retried = ["decoder crashed (signal 11)", "decoder process exited unexpectedly (code 1)",
               "out of memory while decoding", "timed out after 300 s (decoder hung)"]
    kept = ["timed out after 300 s (decoding and scoring took longer)", "not a media file", "symlink loop"]
    rows = _failures_after_upgrade(path, 2, retried + kept)
    assert rows == [("pending", None)] * len(retried) + [("failed", r) for r in kept]
    _assert_retried_only_once(path, retried[0])


def test_durations(store):
    with store.transaction() as conn:
        conn.execute("INSERT INTO items(id, raw_path, path, size, mtime_ns, status, updated, duration) "
                     "VALUES (1, x'61', 'a', 1, 1, 'indexed', 0, 12.5), (2, x'62', 'b', 1, 1, 'indexed', 0, NULL)")
    assert store.durations([1, 2, 3]) == {1: 12.5}


def test_timed_out_items_are_retried_only_under_a_longer_limit_of_their_own(store, tmp_path):
    from emobrowser.core.errors import timed_out
    from emobrowser.index.pipeline import time_limit

    rid = store.add_root(tmp_path)
    size = 2 << 30  # a 2 GiB video: 1,024 s of allowance on top of the base limit
    with store.transaction() as conn:
        for name, modality, limit in (("film.mp4", "video", 300 + 1024), ("song.flac", "audio", 0.1234564)):
            conn.execute("INSERT INTO items(raw_path, path, root_id, modality, size, mtime_ns, status, error, "
                         "updated) VALUES (?, ?, ?, ?, ?, 1, 'failed', ?, 0)",
                         (os.fsencode(tmp_path / name), str(tmp_path / name), rid, modality, size,
                          timed_out(limit)))
    assert store.retry_timed_out(lambda m, s: time_limit(0.1234564, m, s), [rid]) == 0  # rounded in the text
    assert store.retry_timed_out(lambda m, s: time_limit(300, m, s), [rid]) == 1  # the song; the film had 1,324 s
    assert store.status_counts()["audio"]["pending"] == 1
    assert store.retry_timed_out(lambda m, s: time_limit(600, m, s), [rid]) == 1  # now 1,624 s for the film
    assert store.status_counts()["video"]["pending"] == 1


def test_the_indexing_lock_is_shared_through_a_symlinked_database_path(tmp_path):
    from emobrowser.index.store import LibraryBusyError

    real = tmp_path / "lib.sqlite3"
    Store(real).close()
    os.symlink(real, tmp_path / "alias.sqlite3")
    with Store(real) as a, Store(tmp_path / "alias.sqlite3") as b, a.indexing_lock():
        with pytest.raises(LibraryBusyError):
            with b.indexing_lock():
                pass


def test_a_library_in_a_read_only_folder_says_so(tmp_path, monkeypatch):
    # As SQLite fails there (root, which runs CI, can write anywhere, so both are simulated).
    Store(tmp_path / "lib.sqlite3").close()

    def refuse(*_args, **_kwargs):
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(store_mod, "_enable_wal", refuse)
    monkeypatch.setattr(store_mod.os, "access", lambda path, mode: path != tmp_path)
    with pytest.raises(StoreError, match=f"its folder {tmp_path} is read-only"):
        Store(tmp_path / "lib.sqlite3")
    monkeypatch.setattr(store_mod.os, "access", lambda path, mode: True)
    with pytest.raises(StoreError, match="unable to open database file"):  # otherwise SQLite's own words
        Store(tmp_path / "lib.sqlite3")


def test_library_points_are_read_from_one_snapshot_while_an_indexer_writes(tmp_path, monkeypatch):
    # An indexer (another connection) takes an item out of the indexed set between
    # the score and the path reads of load_points; before, that raised KeyError.
    from emobrowser.align.synthetic import fill_synthetic_library
    from emobrowser.index.library import load_points

    db = tmp_path / "lib.sqlite3"
    with Store(db) as store:
        fill_synthetic_library(store, videos=2, segments=3, photos=5, songs=5)
        before = load_points(store)
        victim = int(before.ids[0])
        original = Store.score_columns

        def score_columns_then_indexer_commits(self, models):
            out = original(self, models)
            other = sqlite3.connect(db, timeout=5, isolation_level=None)
            other.execute("UPDATE items SET status = 'pending' WHERE id = ?", (victim,))
            other.close()
            return out

        monkeypatch.setattr(Store, "score_columns", score_columns_then_indexer_commits)
        during = load_points(store)
        assert during.ids.tolist() == before.ids.tolist() and during.paths == before.paths
        monkeypatch.setattr(Store, "score_columns", original)
        assert victim not in load_points(store).ids.tolist()  # the next read sees the change


def test_an_sqlite_database_of_another_program_is_refused_and_left_untouched(tmp_path):
    other = tmp_path / "places.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.execute("INSERT INTO moz_places(url) VALUES ('https://example.org')")
    conn.commit()
    conn.close()
    before = other.read_bytes()
    with pytest.raises(StoreError, match="not an emobrowser library.*moz_places"):
        Store(other)
    assert other.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["places.sqlite"]  # no journal left beside it
