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


# -- a damaged database page -----------------------------------------------------------------


def _table_leaf_pages(db, table):
    """The leaf pages of ``table``'s b-tree, from its root (an interior page)."""
    conn = sqlite3.connect(db)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = db.read_bytes()
    start = (root - 1) * page_size
    header = start + (100 if root == 1 else 0)
    assert data[header] == 0x05, "the table fits on one page; the test needs more rows"
    cells = int.from_bytes(data[header + 3:header + 5], "big")
    pointers = [int.from_bytes(data[header + 12 + 2 * i:header + 14 + 2 * i], "big") for i in range(cells)]
    children = [int.from_bytes(data[start + p:start + p + 4], "big") for p in pointers]
    return page_size, children + [int.from_bytes(data[header + 8:header + 12], "big")]


def test_a_damaged_page_gives_a_clear_message_and_check_repair_rebuilds_the_rest(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    n = 40
    for i in range(n):  # long names: the items table spans several pages
        synth.write_image(lib / (f"{i:02d}_" + "x" * 120 + ".png"),
                          synth.draw_image(("warm", "cool", "dark")[i % 3], (16, 16), seed=i))
    db = tmp_path / "library.sqlite3"
    run_cli("index", str(lib), "--db", str(db), *CLI_BASE)
    page_size, leaves = _table_leaf_pages(db, "items")
    with open(db, "r+b") as fh:  # one 4 KiB page of item rows overwritten
        fh.seek((leaves[0] - 1) * page_size)
        fh.write(bytes(range(256)) * (page_size // 256))
    for command in (["query", "--mood", "calm"], ["check"], ["index", *CLI_BASE]):
        damaged = db.read_bytes()
        proc = run_cli(*command, "--db", str(db), check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert "damaged" in proc.stderr and "check --repair" in proc.stderr, proc.stderr
        if command[0] != "index":
            assert db.read_bytes() == damaged  # reading commands change nothing
    damaged = db.read_bytes()

    proc = run_cli("check", "--repair", "--db", str(db))
    kept = list(tmp_path.glob("library.sqlite3.damaged-*"))
    assert [p.name for p in kept if not p.name.endswith(("-wal", "-shm"))] and \
        next(p for p in kept if not p.name.endswith(("-wal", "-shm"))).read_bytes() == damaged
    assert "kept as" in proc.stdout and "emobrowser index" in proc.stdout
    status = json.loads(run_cli("status", "--json", "--db", str(db)).stdout)["items"]["image"]
    # the rows on the other pages kept their scores; the rescan found the rest again
    assert 0 < status["indexed"] < n and status["indexed"] + status["pending"] == n, status
    assert run_cli("check", "--db", str(db)).returncode == 0
    again = run_cli("index", "--db", str(db), *CLI_BASE)
    assert f"indexed: {n - status['indexed']}," in again.stdout
    assert json.loads(run_cli("status", "--json", "--db", str(db)).stdout)["items"]["image"]["indexed"] == n


# -- a full disk, a read-only database ---------------------------------------------------------


def _disk_full_for_audio(path, *args):
    """extract_file, but audio fails as with a full compiled-code cache."""
    import errno

    from emobrowser.index.extract import extract_file

    if os.fsencode(path).endswith(b".wav"):
        raise OSError(errno.ENOSPC, "No space left on device", "/home/u/.cache/emobrowser/numba/x.nbi")
    return extract_file(path, *args)


def test_a_full_disk_is_named_and_its_files_are_retried_on_the_next_run(store, tmp_path, monkeypatch):
    from emobrowser.index import pipeline

    lib = tmp_path / "lib"
    lib.mkdir()
    synth.write_audio(lib / "song.wav", synth.synth_music(2.0))
    synth.write_image(lib / "photo.png", synth.draw_image("warm", (20, 20)))
    monkeypatch.setattr(pipeline, "extract_file", _disk_full_for_audio)
    first = pipeline.index_library(store, [str(lib)], workers=1, image_model="baseline", audio_model="baseline")
    assert first.failed == 1 and first.indexed == 1
    [(path, _modality, reason)] = list(store.failures())
    assert path.endswith("song.wav") and reason.startswith("disk full: no space left")
    monkeypatch.undo()  # space freed
    second = pipeline.index_library(store, workers=1, image_model="baseline", audio_model="baseline")
    assert second.indexed == 1 and list(store.failures()) == []


def test_disk_full_and_read_only_database_give_plain_messages(tmp_path, monkeypatch, capsys):
    import shutil

    from emobrowser import cli

    lib = _small_library(tmp_path, 1)
    db = tmp_path / "library.sqlite3"
    run_cli("index", str(lib), "--db", str(db), *CLI_BASE)
    real_connect = sqlite3.connect

    # a read-only database file (chmod does not stop root, so open it read-only instead)
    def read_only(target, *args, **kwargs):
        if str(target) == str(db):
            return real_connect(f"file:{db}?mode=ro", *args, uri=True, **kwargs)
        return real_connect(target, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", read_only)
    assert cli.run(["index", "--db", str(db), *CLI_BASE, "-q"]) == 1
    err = capsys.readouterr().err
    assert "is read-only" in err and "Traceback" not in err, err
    monkeypatch.undo()

    # the home on a full disk: SQLite says "disk I/O error" where it cannot grow its files
    def full(target, *args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite3, "connect", full)
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage._replace(free=0))
    for command in (["status"], ["index", str(lib)]):
        assert cli.run([*command, "--db", str(db)]) == 1
        err = capsys.readouterr().err
        assert "disk full" in err and "no space left" in err, err

    # reading needs no space: the WAL index cannot be sized, so the library is read as it is
    def no_wal_index(target, *args, **kwargs):
        if "immutable=1" in str(target):
            return real_connect(target, *args, **kwargs)
        return _FailingReads()

    monkeypatch.setattr(sqlite3, "connect", no_wal_index)
    assert cli.run(["status", "--json", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["items"]["image"]["indexed"] == 1


class _FailingReads:
    """A connection whose reads fail as SQLite's do when the disk is full."""

    def execute(self, *args):
        raise sqlite3.OperationalError("disk I/O error")

    def close(self):
        pass


# -- a read that never ends ----------------------------------------------------------------


def test_a_hung_read_holds_no_write_lock_and_costs_one_timed_out_file(store, tmp_path, monkeypatch):
    import threading

    from emobrowser.index import scanner

    lib = _small_library(tmp_path, 2)
    real = scanner.fingerprint
    release = threading.Event()
    seen = {}

    def hanging(path, size):
        if not path.endswith(b"cool.png"):
            return real(path, size)
        # while the read hangs, other commands can read and even write the library
        other = sqlite3.connect(store.path, timeout=0)
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        other.close()
        with Store(store.path, readonly=True) as reader:
            seen["roots"] = len(reader.roots())
        release.wait(timeout=300)  # a hung network mount
        return real(path, size)

    monkeypatch.setattr(scanner, "fingerprint", hanging)
    monkeypatch.setattr(scanner, "READ_TIMEOUT", 0.5)
    try:
        rid = store.add_root(lib)
        stats = scanner.sync_root(store, rid, os.fsencode(lib))
    finally:
        release.set()
    assert seen == {"roots": 1} and stats.new == 2
    reasons = {os.path.basename(p): e for p, _, e in store.failures()}
    assert reasons == {"cool.png": "reading the file timed out after 0.5 s (a network or FUSE mount that does "
                                   "not answer, or a device posing as a file)"}
    assert store.status_counts()["image"]["pending"] == 1


def test_a_pipe_posing_as_a_media_file_is_named_without_blocking(tmp_path):
    from emobrowser.index.scanner import FileEntry, _probe

    fifo = tmp_path / "photo.jpg"
    os.mkfifo(fifo)  # no writer: a blocking open or read would never return
    _fp, modality, _fmt, error, _payload = _probe(FileEntry(os.fsencode(fifo), 4096))
    assert error == "not a media file: it is a named pipe (FIFO)" and modality == "image"


_BLOCKING_INDEX = """
import os, sys
from emobrowser.index import scanner
real = scanner.fingerprint

def hanging(path, size):
    if path.endswith(b"cool.png"):
        print("reading", flush=True)
        open(sys.argv[1], "rb").read()  # a FIFO nobody writes: blocks for good
    return real(path, size)

scanner.fingerprint = hanging
scanner.READ_TIMEOUT = 3600.0
from emobrowser.cli import run
sys.exit(run(sys.argv[2:]))
"""


def test_ctrl_c_stops_an_index_stuck_on_a_read(tmp_path):
    import signal
    import subprocess
    import sys

    lib = _small_library(tmp_path, 2)
    fifo = tmp_path / "never"
    os.mkfifo(fifo)
    db = tmp_path / "library.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKING_INDEX, str(fifo), "index", str(lib), "--db", str(db),
                             *CLI_BASE, "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=str(tmp_path), env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert proc.stdout.readline().strip() == "reading"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "cancelled" in out and "Traceback" not in err, (out, err)
    # nothing half-written: the next run (with honest reads) indexes both
    done = run_cli("index", "--db", str(db), *CLI_BASE)
    assert "indexed: 2," in done.stdout


# -- folder links into pseudo-filesystems --------------------------------------------------------


def test_folder_links_into_proc_sys_and_dev_are_skipped_and_reported(tmp_path):
    lib = _small_library(tmp_path, 1)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    synth.write_image(elsewhere / "linked.png", synth.draw_image("dark", (16, 16)))
    os.symlink(elsewhere, lib / "real")  # a real folder linked in still counts
    for name, target in (("x", "/proc/self"), ("s", "/sys"), ("d", "/dev")):
        if os.path.isdir(target):
            os.symlink(target, lib / name)
    db = tmp_path / "library.sqlite3"
    proc = run_cli("index", str(lib), "--db", str(db), *CLI_BASE, timeout=300)
    assert "indexed: 2," in proc.stdout
    assert f"skipped folder {lib / 'x'}: a system pseudo-filesystem (proc)" in proc.stderr, proc.stderr
    if os.path.isdir("/sys"):
        assert f"skipped folder {lib / 's'}" in proc.stderr
    with Store(db, readonly=True) as store:
        rows = store.conn.execute("SELECT path FROM items").fetchall()
    assert sorted(os.path.basename(r[0]) for r in rows) == ["linked.png", "warm.png"]


def test_items_under_a_folder_that_is_skipped_are_not_marked_missing(tmp_path, monkeypatch):
    """A folder not entered (judged a pseudo-filesystem) says nothing of the files seen
    below it before: they keep their scores, as under a folder that cannot be read."""
    from emobrowser.index import pseudofs
    from emobrowser.index.pipeline import index_library

    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    synth.write_image(lib / "sub" / "a.png", synth.draw_image("warm", (16, 16)))
    synth.write_image(lib / "b.png", synth.draw_image("cool", (16, 16)))
    base = {"image_model": "baseline", "audio_model": "baseline", "workers": 1}
    with Store(tmp_path / "library.sqlite3") as store:
        assert index_library(store, [str(lib)], **base).indexed == 2
        sub = os.fsencode(lib / "sub")
        original = pseudofs.PseudoFilesystems.reason
        monkeypatch.setattr(pseudofs.PseudoFilesystems, "reason",
                            lambda self, folder, device: "a system pseudo-filesystem (test)" if folder == sub
                            else original(self, folder, device))
        again = index_library(store, [str(lib)], **base)
        assert again.missing == 0, again
        assert store.conn.execute("SELECT COUNT(*) FROM items WHERE status = 'indexed'").fetchone()[0] == 2


# -- small items: reversed names, long paths, an absent folder -------------------------------------


def test_bidirectional_controls_in_names_are_escaped_in_text_output(tmp_path):
    from emobrowser.cli import one_line

    assert one_line("a\u202egpj.exe") == "a\\u202egpj.exe"
    for char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c":
        assert char not in one_line(f"x{char}y")
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "photo\u202egnp.png").write_text("not a picture")
    db = tmp_path / "library.sqlite3"
    run_cli("index", str(lib), "--db", str(db), *CLI_BASE)
    out = run_cli("failures", "--db", str(db)).stdout
    assert "\u202e" not in out and "photo\\u202egnp.png" in out
    # JSON keeps the exact name
    assert "\u202e" in json.loads(run_cli("failures", "--json", "--db", str(db)).stdout)["path"]


def test_a_folder_beyond_path_max_is_reported_with_its_reason(tmp_path):
    lib = _small_library(tmp_path, 1)
    fd = os.open(lib, os.O_RDONLY)
    try:
        for _ in range(24):  # 24 * 201 bytes: beyond PATH_MAX (4096)
            name = "d" * 200
            os.mkdir(name, dir_fd=fd)
            new = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = new
    finally:
        os.close(fd)
    db = tmp_path / "library.sqlite3"
    proc = run_cli("index", str(lib), "--db", str(db), *CLI_BASE)
    assert "indexed: 1," in proc.stdout
    assert "warning: could not read folder" in proc.stderr
    assert "its path is too long for the system to open" in proc.stderr, proc.stderr


def test_a_rerun_with_a_library_folder_absent_says_so(tmp_path):
    lib = _small_library(tmp_path, 1)
    db = tmp_path / "library.sqlite3"
    run_cli("index", str(lib), "--db", str(db), *CLI_BASE)
    os.rename(lib, tmp_path / "unplugged")
    proc = run_cli("index", "--db", str(db), *CLI_BASE)
    assert f"library folder {lib} is absent" in proc.stderr
    assert json.loads(run_cli("status", "--json", "--db", str(db)).stdout)["items"]["image"]["indexed"] == 1


def test_environment_failures_are_named_and_recognised(tmp_path, emobrowser_home):
    import errno

    from emobrowser.core.errors import environment_failure, is_environment_failure, read_failure

    full = environment_failure(OSError(errno.ENOSPC, "No space left on device", "/x/cache.nbi"))
    quota = environment_failure(OSError(errno.EDQUOT, "Disk quota exceeded"))
    memory = environment_failure(OSError(errno.ENOMEM, "Cannot allocate memory"))
    cache = environment_failure(FileNotFoundError(errno.ENOENT, "No such file", str(emobrowser_home / "cache" / "x")))
    assert full.startswith("disk full") and quota.startswith("disk full") and "memory" in memory
    assert cache.startswith("cache folder missing")
    assert all(map(is_environment_failure, (full, quota, memory, cache)))
    # a missing media file is the file's own affair
    assert environment_failure(FileNotFoundError(errno.ENOENT, "No such file", str(tmp_path / "a.mp3"))) is None
    assert not is_environment_failure(str(read_failure(FileNotFoundError(2, "No such file"))))
    assert str(read_failure(OSError(errno.ENOSPC, "No space left on device"))).startswith("disk full")


def test_repair_rebuilds_a_lost_library_folder_from_its_files(tmp_path):
    lib = _small_library(tmp_path, 3)
    (lib / "sub").mkdir()
    synth.write_image(lib / "sub" / "deep.png", synth.draw_image("vivid", (16, 16)))
    db = tmp_path / "library.sqlite3"
    run_cli("index", str(lib), "--db", str(db), *CLI_BASE)
    conn = sqlite3.connect(db)
    root_page, page_size = (conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'roots'").fetchone()[0],
                            conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    with open(db, "r+b") as fh:  # the page of the library folders
        fh.seek((root_page - 1) * page_size)
        fh.write(b"\xff" * page_size)
    proc = run_cli("check", "--repair", "--db", str(db))
    assert "1 library folders were rebuilt" in proc.stdout, proc.stdout
    status = json.loads(run_cli("status", "--json", "--db", str(db)).stdout)["items"]["image"]
    assert status == {"indexed": 4, "failed": 0, "pending": 0}
    # indexing the folder again finds everything in place, scores kept
    again = run_cli("index", str(lib), "--db", str(db), *CLI_BASE)
    assert "indexed: 0, unchanged: 4, failed: 0" in again.stdout, again.stdout
    assert "tags read" not in again.stdout, again.stdout  # the repair kept what was read of the files


# -- playlist injection ---------------------------------------------------------------------------


# the second is a folder "evil\n#EXTINF:1,owned\n" holding etc/passwd.wav
INJECTING_NAMES = ["plain", "evil\n#EXTINF:1,owned\n/etc/passwd", "cr\rname", "nel\x85name", "ls\u2028name",
                   "ps\u2029name", "vt\x0bff\x0cname", "fs\x1cgs\x1drs\x1ename", "#EXTINF:-1,hash"]


def test_query_m3u8_writes_no_injected_entry_and_matches_the_apps_export(tmp_path):
    import urllib.parse

    from emobrowser.cli import build_parser
    from emobrowser.gui import data
    from emobrowser.index.library import run_query

    lib = tmp_path / "lib"
    lib.mkdir()
    for i, stem in enumerate(INJECTING_NAMES):
        (lib / stem).parent.mkdir(parents=True, exist_ok=True)
        synth.write_audio(lib / f"{stem}.wav", synth.synth_music(1.5, bpm=80 + 10 * i, seed=i))
    synth.write_image(lib / "photo.png", synth.draw_image("warm", (16, 16)))  # not in a playlist
    db = tmp_path / "library.sqlite3"
    run_cli("index", str(lib), "--db", str(db), *CLI_BASE)
    query = ["query", "--mood", "calm", "--max-distance", "inf", "-k", "50", "--db", str(db)]
    cli_list = tmp_path / "cli.m3u8"
    proc = run_cli(*query, "--m3u8", str(cli_list))
    assert f"saved a playlist of {len(INJECTING_NAMES)} items" in proc.stderr
    text = cli_list.read_text(encoding="utf-8")
    lines = text.split("\n")[:-1]
    assert text.splitlines() == lines  # no line break of any kind inside a line
    assert lines[0] == "#EXTM3U" and len(lines) == 1 + 2 * len(INJECTING_NAMES)
    entries = lines[2::2]
    assert all(line.startswith("#EXTINF:2,") for line in lines[1::2])
    assert not any(line.startswith("#") for line in entries) and "/etc/passwd.wav" not in entries
    opened = [urllib.parse.unquote(e[len("file://"):]) if e.startswith("file://") else e for e in entries]
    assert sorted(opened) == sorted(str(lib / f"{stem}.wav") for stem in INJECTING_NAMES)
    assert sum(e.startswith("file://") for e in entries) == len(INJECTING_NAMES) - 2  # plain and '#...' are safe

    # the app's export of the same results writes the same file
    args = build_parser().parse_args(query)
    hits = run_query(db, args)
    app_list = tmp_path / "app.m3u8"
    result = data.write_m3u8(str(app_list), list(hits), data.durations(db, [h.id for h in hits]))
    assert result.written == len(INJECTING_NAMES) and app_list.read_bytes() == cli_list.read_bytes()


def test_a_library_whose_path_holds_uri_characters_and_odd_bytes_opens_read_only(tmp_path):
    folder = os.path.join(os.fsencode(tmp_path), b"caf\xe9 ?#%20&mode=ro")
    os.mkdir(folder)
    db = os.fsdecode(os.path.join(folder, b"lib?.sqlite3"))
    with Store(db) as store:
        store.add_root(tmp_path)
    with Store(db, readonly=True) as store:
        assert len(store.roots()) == 1
    from emobrowser.index.repair import check_library

    assert check_library(db).ok


def test_opening_a_library_takes_no_write_lock(tmp_path, monkeypatch):
    from emobrowser.index import store as store_module

    db = tmp_path / "library.sqlite3"
    with Store(db) as store:
        store.add_root(tmp_path)
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # an index run in the middle of a write
    monkeypatch.setattr(store_module, "OPEN_TIMEOUT", 0.05)
    try:
        for readonly in (True, False):
            with Store(db, readonly=readonly) as store:
                assert len(store.roots()) == 1 and store.status_counts() == {}
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_repair_leaves_a_damaged_file_of_another_program_alone(tmp_path):
    db = tmp_path / "places.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)")
    conn.executemany("INSERT INTO moz_places(url) VALUES (?)", [("https://example.org/" + "x" * 200,)] * 100)
    conn.commit()
    conn.close()
    with open(db, "r+b") as fh:
        fh.seek(4096)
        fh.write(b"\xff" * 4096)
    before = db.read_bytes()
    proc = run_cli("check", "--repair", "--db", str(db), check=False)
    assert proc.returncode == 1 and "not recognisably an emobrowser library" in proc.stderr, proc.stderr
    assert db.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["places.sqlite"]
