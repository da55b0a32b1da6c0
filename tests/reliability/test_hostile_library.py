"""Hostile input aimed at the library itself: other programs' databases, damaged
pages, a full disk, read-only files, hung reads, links into pseudo-filesystems,
injected playlist entries and names that display reversed."""

import json
import os
import sqlite3
import stat

import pytest

from conftest import run_cli
from emobrowser.index.store import APPLICATION_ID, Store, StoreError
from emobrowser.media import synth

CLI_BASE = ["--image-model", "baseline", "--audio-model", "baseline"]


def _small_library(tmp_path, n=3):
    lib = tmp_path / "lib"
    lib.mkdir()
    for i, kind in enumerate(("warm", "cool", "dark", "vivid")[:n]):
        synth.write_image(lib / f"{kind}.png", synth.draw_image(kind, (32, 32)))
    return lib


# -- another program's database, an empty file --------------------------------------------


def _foreign_db(path, user_version=7, wal=False):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.execute("INSERT INTO moz_places(url) VALUES ('https://example.org')")
    conn.execute(f"PRAGMA user_version = {user_version}")
    conn.commit()
    conn.close()
    return path.read_bytes()


@pytest.mark.parametrize("command", [["status"], ["failures"], ["query", "--mood", "calm"], ["index"]])
def test_another_programs_database_is_refused_and_left_byte_for_byte(tmp_path, command):
    db = tmp_path / "places.sqlite"
    before = _foreign_db(db)
    assert before[18:20] == b"\x01\x01"  # rollback journal, not WAL
    proc = run_cli(*command, "--db", str(db), *(CLI_BASE if command == ["index"] else []), check=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "is not an emobrowser library" in proc.stderr and "moz_places" in proc.stderr
    assert db.read_bytes() == before
    assert not (tmp_path / "places.sqlite-wal").exists()


def test_an_empty_file_is_not_turned_into_a_library_by_a_read_only_command(tmp_path):
    db = tmp_path / "empty.sqlite3"
    db.write_bytes(b"")
    for command in (["status"], ["failures"], ["query", "--mood", "calm"]):
        proc = run_cli(*command, "--db", str(db), check=False)
        assert proc.returncode == 1 and "holds no data" in proc.stderr, proc.stderr
        assert db.read_bytes() == b""
    with pytest.raises(StoreError, match="holds no data"):
        Store(db, readonly=True)
    assert db.read_bytes() == b""


def test_read_only_commands_create_no_library(tmp_path, emobrowser_home):
    proc = run_cli("status", check=False)
    assert proc.returncode == 2 and "no library yet" in proc.stderr
    assert not (emobrowser_home / "library.sqlite3").exists()


def test_new_libraries_carry_the_application_id_and_old_ones_get_it(tmp_path):
    with Store(tmp_path / "new.sqlite3") as store:
        assert store.conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    # a library made before the id: recognised by its tables, stamped when opened to write
    with Store(tmp_path / "old.sqlite3") as store:
        store.conn.execute("PRAGMA application_id = 0")
    with Store(tmp_path / "old.sqlite3", readonly=True) as store:
        assert store.conn.execute("PRAGMA application_id").fetchone()[0] == 0  # read-only: unchanged
    with Store(tmp_path / "old.sqlite3") as store:
        assert store.conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID


# -- private folders -----------------------------------------------------------------------


def test_library_cache_and_thumbnail_folders_are_private(tmp_path, monkeypatch):
    home = tmp_path / "fresh" / "home"
    monkeypatch.setenv("EMOBROWSER_HOME", str(home))
    lib = _small_library(tmp_path, 2)
    run_cli("index", str(lib), *CLI_BASE, env={"EMOBROWSER_HOME": str(home)})
    run_cli("query", "--mood", "calm", env={"EMOBROWSER_HOME": str(home)})
    from emobrowser.core.paths import private_dir

    thumbs = private_dir(home / "cache" / "thumbs")
    for folder in (tmp_path / "fresh", home, home / "cache", home / "cache" / "index", thumbs):
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
    assert stat.S_IMODE(os.stat(home / "library.sqlite3").st_mode) == 0o600
    # a folder that exists already keeps its mode
    os.chmod(tmp_path / "lib", 0o755)
    private_dir(tmp_path / "lib")
    assert stat.S_IMODE(os.stat(tmp_path / "lib").st_mode) == 0o755
