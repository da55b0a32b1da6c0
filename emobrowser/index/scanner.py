"""Find media files under library roots and bring the item table up to date.

The walk is incremental: a file whose size and modification time match the database
is not opened at all, which keeps a rescan of an unchanged library at the speed of
``stat``. New or changed files are sniffed (first bytes) and fingerprinted; a new file
whose fingerprint matches a missing item is a move, and the item keeps its scores.

File names are handled as bytes throughout, so names that are not valid UTF-8 or that
contain newlines are indexed like any other.
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import stat as stat_mod
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from emobrowser.core.errors import MediaError, link_failure, read_failure
from emobrowser.index.pseudofs import PseudoFilesystems
from emobrowser.index.store import Store, display
from emobrowser.media.payload import payload_key
from emobrowser.media.sniff import MEDIA_EXTENSIONS, extension_modality, sniff

_EXTS = frozenset(e.encode() for e in MEDIA_EXTENSIONS)
_CHUNK = 65536
_BATCH = 500
# The status of an item found again (moved, or back after going missing): its scores
# still describe it, so it is indexed if it has any and waits to be indexed if not.
# Seconds a new or changed file may take to give its three samples. A read that blocks
# (a hung network or FUSE mount, a device posing as a file) costs this much, in a thread
# of its own, and never holds a database transaction or Ctrl-C.
READ_TIMEOUT = 30.0
_STATUS_FROM_SCORES = ("CASE WHEN EXISTS (SELECT 1 FROM scores WHERE item_id = items.id) "
                       "THEN 'indexed' ELSE 'pending' END")


@dataclass
class FileEntry:
    """A media-named file found by the walk; ``error`` is set for broken links."""

    raw_path: bytes
    size: int = 0
    mtime_ns: int = 0
    error: str | None = None


@dataclass
class ScanStats:
    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    retagged: int = 0  # changed in their tags only: scores kept, tags read again
    failed: int = 0
    unreadable_dirs: list[str] = field(default_factory=list)
    dir_errors: dict[str, str] = field(default_factory=dict)  # unreadable folder -> why
    skipped_links: list[tuple[str, str]] = field(default_factory=list)  # (folder, why it was not entered)
    root_present: bool = False  # the root was there, so unseen items were marked missing
    missing_ids: set[int] = field(default_factory=set)  # marked missing by this scan
    moved_ids: set[int] = field(default_factory=set)  # found under a new name (from any root)

    @property
    def moved(self) -> int:
        return len(self.moved_ids)

    @property
    def missing(self) -> int:
        """Items marked missing and not found again under a new name in this root (a
        move between roots: see index_library)."""
        return len(self.missing_ids - self.moved_ids)


def _is_media_name(name: bytes) -> bool:
    dot = name.rfind(b".")
    return dot > 0 and name[dot + 1:].lower() in _EXTS


def walk(root: bytes, include_hidden: bool = False, failed_dirs: list | None = None,
         skipped: list[tuple[bytes, str]] | None = None) -> Iterator[FileEntry]:
    """Yield every media-named file below ``root``.

    Directory symlinks are followed once: a directory already visited (same device
    and inode) is skipped, so symlink loops end. One file reached under several names
    is listed once (where the platform reports inodes), so it does not become several
    items with the same scores: a symlink to a file that this walk also lists under
    its own name is skipped, and of a file's hard links only the first name in the
    walk is listed. The walk is depth-first in name order, a folder's files before its
    subfolders, so that first name is the same on every run. Hidden names (starting
    with a dot) are skipped unless ``include_hidden``. Directories that cannot be
    listed are appended to ``failed_dirs`` as (path, reason).

    Folders on system pseudo-filesystems (/proc, /sys, /dev, ...: see pseudofs) are
    never entered, also when a folder link leads there; each is appended to
    ``skipped`` as (path, reason). Real folders linked into the library are walked.
    """
    pseudo = PseudoFilesystems()
    visited: set[tuple[int, int]] = set()
    files: set[tuple[int, int]] = set()  # (device, inode) of the plain files yielded
    linked: list[tuple[bytes, os.stat_result]] = []  # symlinked files (stat of the target), yielded last
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            if failed_dirs is not None:
                failed_dirs.append((folder, _dir_failure(exc)))
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited:
            continue
        visited.add(key)
        why = pseudo.reason(folder, st.st_dev)
        if why is not None:
            if skipped is not None:
                skipped.append((folder, why))
            continue
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            if failed_dirs is not None:
                failed_dirs.append((folder, _dir_failure(exc)))
            continue
        subdirs = []
        for entry in entries:
            name = entry.name
            if not include_hidden and name.startswith(b"."):
                continue
            try:
                is_dir = entry.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if is_dir:
                subdirs.append(entry.path)
                continue
            if not _is_media_name(name):
                continue
            try:
                st = entry.stat()
            except OSError as exc:
                reason = link_failure(exc, entry.is_symlink())
                if reason:
                    yield FileEntry(entry.path, error=reason)
                elif exc.errno == errno.ENOENT:
                    continue  # deleted between listing and stat
                else:
                    yield FileEntry(entry.path, error=f"cannot stat file: {exc.strerror}")
                continue
            if not stat_mod.S_ISREG(st.st_mode):
                continue
            if entry.is_symlink():
                linked.append((entry.path, st))
                continue
            if st.st_ino:  # 0 where DirEntry does not report inodes (Windows)
                file_key = (st.st_dev, st.st_ino)
                if file_key in files:
                    continue  # another hard link to a file already listed
                files.add(file_key)
            yield FileEntry(entry.path, st.st_size, st.st_mtime_ns)
        stack.extend(sorted(subdirs, reverse=True))
    # A symlink to a file listed under its own name would make a second item of it.
    for path, st in linked:
        key = (st.st_dev, st.st_ino)
        if st.st_ino and key in files:
            continue
        if st.st_ino:
            files.add(key)
        yield FileEntry(path, st.st_size, st.st_mtime_ns)


def _dir_failure(exc: OSError) -> str:
    """Why a folder could not be listed, in words."""
    if exc.errno == errno.ENAMETOOLONG:
        return "its path is too long for the system to open (over the PATH_MAX limit)"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return exc.strerror or str(exc)


_KINDS = ((stat_mod.S_ISFIFO, "a named pipe (FIFO)"), (stat_mod.S_ISCHR, "a character device"),
          (stat_mod.S_ISBLK, "a block device"), (stat_mod.S_ISSOCK, "a socket"), (stat_mod.S_ISDIR, "a folder"))


def fingerprint(path: bytes, size: int) -> tuple[str, bytes]:
    """Return (fingerprint, first bytes) of a file.

    The fingerprint hashes the size and three 64 KiB samples (start, middle, end):
    fast on large files and stable across renames and moves. The file is opened
    without blocking and must be a regular file (one replaced by a pipe or a device
    after the walk raises MediaError saying what it is).
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(size.to_bytes(8, "little"))
    flags = getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    with open(path, "rb", buffering=0, opener=lambda name, mode: os.open(name, mode | flags)) as fh:
        fd = fh.fileno()
        mode = os.fstat(fd).st_mode
        if not stat_mod.S_ISREG(mode):
            kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
            raise MediaError(f"not a media file: it is {kind}")
        head = os.pread(fd, _CHUNK, 0)
        h.update(head)
        if size > 3 * _CHUNK:
            h.update(os.pread(fd, _CHUNK, size // 2))
            h.update(os.pread(fd, _CHUNK, size - _CHUNK))
        elif size > _CHUNK:
            h.update(os.pread(fd, size - _CHUNK, _CHUNK))
    return h.hexdigest(), head


class _Cancelled(Exception):
    pass


class _ReadLane:
    """A thread that reads files' samples for one scan, so that the scanning thread can
    give up on a read after READ_TIMEOUT seconds, or at once when cancelled.

    A read that never ends keeps its thread; the lane then starts a fresh one for the
    next file (the stuck one holds no lock and dies with the process).
    """

    def __init__(self):
        self._tasks: queue.SimpleQueue | None = None

    def _start(self) -> queue.SimpleQueue:
        tasks: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._serve, args=(tasks,), name="emobrowser-scan-read", daemon=True).start()
        self._tasks = tasks
        return tasks

    @staticmethod
    def _serve(tasks: queue.SimpleQueue) -> None:
        while (task := tasks.get()) is not None:
            read, out, done = task
            try:
                out["value"] = read()
            except BaseException as exc:  # handed to the scanning thread
                out["error"] = exc
            finally:
                done.set()

    def call(self, read: Callable[[], object], cancelled: Callable[[], bool]):
        """read() within READ_TIMEOUT seconds: raises MediaError when the read takes
        longer and _Cancelled as soon as ``cancelled()``."""
        out: dict = {}
        done = threading.Event()
        (self._tasks or self._start()).put((read, out, done))
        deadline = time.monotonic() + READ_TIMEOUT
        while not done.wait(min(0.25, max(0.0, deadline - time.monotonic()))):
            if cancelled() or time.monotonic() >= deadline:
                self._tasks = None  # abandoned to its read
                if cancelled():
                    raise _Cancelled
                raise MediaError(f"reading the file timed out after {READ_TIMEOUT:g} s (a network or FUSE mount "
                                 f"that does not answer, or a device posing as a file)")
        if "error" in out:
            raise out["error"]
        return out["value"]

    def fingerprint(self, path: bytes, size: int, cancelled: Callable[[], bool]) -> tuple[str, bytes]:
        """fingerprint(path, size) through the lane (see call)."""
        return self.call(lambda: fingerprint(path, size), cancelled)

    def close(self) -> None:
        if self._tasks is not None:
            self._tasks.put(None)
            self._tasks = None


def _probe(entry: FileEntry, cancelled: Callable[[], bool] = lambda: False, lane: _ReadLane | None = None
           ) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(fingerprint, modality, format, error, payload fingerprint) of a new or changed
    file, read through ``lane`` (a lane of its own if None); raises _Cancelled when
    ``cancelled()`` during the read. The payload fingerprint (media.payload) is that
    of a sound file's sound without its tags, None for other files and formats."""
    hint = extension_modality(os.fsdecode(entry.raw_path))
    guess = hint.value if hint else None
    if entry.error:
        return None, guess, None, entry.error, None
    own = lane is None
    lane = lane or _ReadLane()
    try:
        fp, head = lane.fingerprint(entry.raw_path, entry.size, cancelled)
        try:
            modality, fmt = sniff(head, os.fsdecode(entry.raw_path))
        except MediaError as exc:
            return fp, guess, None, str(exc), None
        payload = None
        if modality.value == "audio":
            payload = lane.call(lambda: payload_key(entry.raw_path, entry.size), cancelled)
    except OSError as exc:
        return None, guess, None, str(read_failure(exc)), None
    except MediaError as exc:
        return None, guess, None, str(exc), None
    finally:
        if own:
            lane.close()
    return fp, modality.value, fmt, None, payload


def sync_root(store: Store, root_id: int, root: bytes, include_hidden: bool = False,
              cancelled: Callable[[], bool] = lambda: False,
              on_file: Callable[[int], None] | None = None) -> ScanStats:
    """Walk ``root`` and record new, changed, moved, missing and broken files.

    Unchanged files are not opened. If the root itself is gone (an unmounted drive),
    nothing is marked missing.
    """
    lane = _ReadLane()
    try:
        return _sync(store, root_id, root, include_hidden, cancelled, on_file, lane)
    finally:
        lane.close()


def _sync(store: Store, root_id: int, root: bytes, include_hidden: bool, cancelled: Callable[[], bool],
          on_file: Callable[[int], None] | None, lane: _ReadLane) -> ScanStats:
    stats = ScanStats()
    known = store.items_under(root_id)
    # Unreadable before: permissions can change without touching size or time.
    unreadable = store.unreadable_under(root_id)
    seen: set[bytes] = set()
    fresh: list[FileEntry] = []
    failed_dirs: list[tuple[bytes, str]] = []
    skipped: list[tuple[bytes, str]] = []
    conn = store.conn
    updates: list[tuple] = []
    retagged: list[tuple] = []

    def flush_updates() -> None:
        if updates:
            with store.transaction():
                # The content changed: its old scores no longer describe it (and must
                # not come back as 'indexed' if the file is then moved).
                store.drop_results([u[-1] for u in updates])
                conn.executemany(
                    "UPDATE items SET size=?, mtime_ns=?, fingerprint=?, modality=?, format=?, status=?, "
                    "error=?, updated=?, payload_fp=? WHERE id=?", updates)
            updates.clear()
        if retagged:
            # Only the tags changed: the scores still describe the sound. The new size
            # and time make the pipeline read the tags again (Store.needs_metadata).
            with store.transaction():
                conn.executemany("UPDATE items SET size=?, mtime_ns=?, fingerprint=?, format=?, updated=? "
                                 "WHERE id=?", retagged)
            retagged.clear()

    restores: list[int] = []

    def flush_restores() -> None:
        if restores:
            marks = ", ".join("?" * len(restores))
            with store.transaction():
                conn.execute(f"UPDATE items SET status = {_STATUS_FROM_SCORES}, updated = ? WHERE id IN ({marks})",
                             (time.time(), *restores))
                stats.unchanged += conn.execute(
                    f"SELECT COUNT(*) FROM items WHERE status = 'indexed' AND id IN ({marks})", restores).fetchone()[0]
            restores.clear()

    def queue_update(entry: FileEntry, old: tuple, probed: tuple) -> None:
        """Record a changed file (new content, or readable again) with what _probe found."""
        fp, modality, fmt, error, payload = probed
        item_id = old[0]
        if payload is not None and error is None:
            if (old[4], old[3], old[5]) == (payload, "indexed", modality):  # items_under's row
                stats.retagged += 1
                stats.unchanged += 1
                retagged.append((entry.size, entry.mtime_ns, fp, fmt, time.time(), item_id))
                if len(retagged) >= _BATCH:
                    flush_updates()
                return
        stats.changed += 1
        updates.append((entry.size, entry.mtime_ns, fp, modality, fmt, "failed" if error else "pending", error,
                        time.time(), payload, item_id))
        if len(updates) >= _BATCH:
            flush_updates()

    for entry in walk(root, include_hidden, failed_dirs, skipped):
        if cancelled():
            break
        stats.seen += 1
        seen.add(entry.raw_path)
        old = known.get(entry.raw_path)
        if old is not None and old[1] == entry.size and old[2] == entry.mtime_ns:
            if old[3] == "missing":
                # Back unchanged (a drive mounted again, a folder renamed back, the other
                # name of a hard link): its results still hold.
                restores.append(old[0])
                if len(restores) >= _BATCH:
                    flush_restores()
            elif entry.raw_path in unreadable:
                try:
                    probed = _probe(entry, cancelled, lane)
                except _Cancelled:
                    break
                if probed[3] is None:  # readable now
                    queue_update(entry, old, probed)
            else:
                # Same file as before. Only finished items count as unchanged: pending
                # ones are indexed in this run and failed ones are counted as failed.
                stats.unchanged += old[3] == "indexed"
        elif old is None:
            fresh.append(entry)
        else:
            try:
                queue_update(entry, old, _probe(entry, cancelled, lane))
            except _Cancelled:
                break
        if on_file is not None and stats.seen % 256 == 0:
            on_file(stats.seen)
    flush_updates()
    flush_restores()
    stats.skipped_links = [(display(d), why) for d, why in skipped]
    if cancelled():
        return stats

    # Items not seen are missing, unless the root or their folder could not be read.
    stats.root_present = os.path.isdir(root)
    if stats.root_present:
        # A folder that could not be read, or was not entered (a link into a system
        # pseudo-filesystem), says nothing of the files once seen below it.
        failed_prefixes = tuple(d.rstrip(b"/") + b"/" for d, _why in failed_dirs + skipped)
        stats.unreadable_dirs = [display(d) for d, _why in failed_dirs]
        stats.dir_errors = {display(d): why for d, why in failed_dirs}
        gone = [v[0] for p, v in known.items()
                if p not in seen and v[3] != "missing" and not (failed_prefixes and p.startswith(failed_prefixes))]
        for i in range(0, len(gone), _BATCH):
            with store.transaction():
                conn.executemany("UPDATE items SET status='missing', updated=? WHERE id=?",
                                 [(time.time(), g) for g in gone[i:i + _BATCH]])
        stats.missing_ids = set(gone)

    _add_fresh(store, root_id, fresh, stats, cancelled, lane)
    return stats


def _add_fresh(store: Store, root_id: int, fresh: list[FileEntry], stats: ScanStats,
               cancelled: Callable[[], bool], lane: _ReadLane) -> None:
    """Insert new files, or carry a missing item with the same fingerprint over (a move)."""
    conn = store.conn
    for i in range(0, len(fresh), _BATCH):
        if cancelled():
            break
        # Read first, then write: a slow or hung read never holds the write lock.
        probed = []
        for entry in fresh[i:i + _BATCH]:
            try:
                probed.append((entry, _probe(entry, cancelled, lane)))
            except _Cancelled:
                break
        with store.transaction():
            for entry, (fp, modality, fmt, error, payload) in probed:
                moved_id = store.missing_with_fingerprint(fp, entry.size) if fp and not error else None
                if moved_id is not None:
                    conn.execute(f"UPDATE items SET raw_path=?, path=?, root_id=?, mtime_ns=?, "
                                 f"status={_STATUS_FROM_SCORES}, error=NULL, updated=? WHERE id=?",
                                 (entry.raw_path, display(entry.raw_path), root_id, entry.mtime_ns, time.time(),
                                  moved_id))
                    stats.moved_ids.add(moved_id)
                    continue
                conn.execute(
                    "INSERT INTO items(raw_path, path, root_id, modality, format, size, mtime_ns, fingerprint, "
                    "status, error, updated, payload_fp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (entry.raw_path, display(entry.raw_path), root_id, modality, fmt, entry.size, entry.mtime_ns,
                     fp, "failed" if error else "pending", error, time.time(), payload))
                stats.new += 1
                stats.failed += bool(error)
