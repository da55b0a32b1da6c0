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
import stat as stat_mod
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from emobrowser.core.errors import MediaError, link_failure, read_failure
from emobrowser.index.store import Store, display
from emobrowser.media.payload import payload_key
from emobrowser.media.sniff import MEDIA_EXTENSIONS, extension_modality, sniff

_EXTS = frozenset(e.encode() for e in MEDIA_EXTENSIONS)
_CHUNK = 65536
_BATCH = 500
# The status of an item found again (moved, or back after going missing): its scores
# still describe it, so it is indexed if it has any and waits to be indexed if not.
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
    retagged: int = 0  # changed in their tags only: scores kept, tags read again
    unchanged: int = 0
    failed: int = 0
    unreadable_dirs: list[str] = field(default_factory=list)
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


def walk(root: bytes, include_hidden: bool = False, failed_dirs: list[bytes] | None = None) -> Iterator[FileEntry]:
    """Yield every media-named file below ``root``.

    Directory symlinks are followed once: a directory already visited (same device
    and inode) is skipped, so symlink loops end. One file reached under several names
    is listed once (where the platform reports inodes), so it does not become several
    items with the same scores: a symlink to a file that this walk also lists under
    its own name is skipped, and of a file's hard links only the first name in the
    walk is listed. The walk is depth-first in name order, a folder's files before its
    subfolders, so that first name is the same on every run. Hidden names (starting
    with a dot) are skipped unless ``include_hidden``. Directories that cannot be
    listed are appended to ``failed_dirs``.
    """
    visited: set[tuple[int, int]] = set()
    files: set[tuple[int, int]] = set()  # (device, inode) of the plain files yielded
    linked: list[tuple[bytes, os.stat_result]] = []  # symlinked files (stat of the target), yielded last
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError:
            if failed_dirs is not None:
                failed_dirs.append(folder)
            continue
        key = (st.st_dev, st.st_ino)
        if key in visited:
            continue
        visited.add(key)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            if failed_dirs is not None:
                failed_dirs.append(folder)
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


def fingerprint(path: bytes, size: int) -> tuple[str, bytes]:
    """Return (fingerprint, first bytes) of a file.

    The fingerprint hashes the size and three 64 KiB samples (start, middle, end):
    fast on large files and stable across renames and moves.
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(size.to_bytes(8, "little"))
    with open(path, "rb") as fh:
        head = fh.read(_CHUNK)
        h.update(head)
        if size > 3 * _CHUNK:
            fh.seek(size // 2)
            h.update(fh.read(_CHUNK))
            fh.seek(size - _CHUNK)
            h.update(fh.read(_CHUNK))
        elif size > _CHUNK:
            h.update(fh.read())
    return h.hexdigest(), head


def _probe(entry: FileEntry) -> tuple[str | None, str | None, str | None, str | None, str | None]:
    """(fingerprint, modality, format, error, payload fingerprint) of a new or changed
    file; the payload fingerprint (media.payload) is that of a sound file's sound
    without its tags, None for other files and formats."""
    if entry.error:
        hint = extension_modality(os.fsdecode(entry.raw_path))
        return None, hint.value if hint else None, None, entry.error, None
    try:
        fp, head = fingerprint(entry.raw_path, entry.size)
    except OSError as exc:
        hint = extension_modality(os.fsdecode(entry.raw_path))
        return None, hint.value if hint else None, None, str(read_failure(exc)), None
    try:
        modality, fmt = sniff(head, os.fsdecode(entry.raw_path))
    except MediaError as exc:
        hint = extension_modality(os.fsdecode(entry.raw_path))
        return fp, hint.value if hint else None, None, str(exc), None
    payload = payload_key(entry.raw_path, entry.size) if modality.value == "audio" else None
    return fp, modality.value, fmt, None, payload


def sync_root(store: Store, root_id: int, root: bytes, include_hidden: bool = False,
              cancelled: Callable[[], bool] = lambda: False,
              on_file: Callable[[int], None] | None = None) -> ScanStats:
    """Walk ``root`` and record new, changed, moved, missing and broken files.

    Unchanged files are not opened. If the root itself is gone (an unmounted drive),
    nothing is marked missing.
    """
    stats = ScanStats()
    known = store.items_under(root_id)
    # Unreadable before: permissions can change without touching size or time.
    unreadable = store.unreadable_under(root_id)
    seen: set[bytes] = set()
    fresh: list[FileEntry] = []
    failed_dirs: list[bytes] = []
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

    def queue_update(entry: FileEntry, item_id: int, probed: tuple) -> None:
        """Record a changed file (new content, or readable again) with what _probe found."""
        fp, modality, fmt, error, payload = probed
        if payload is not None and error is None:
            was = conn.execute("SELECT payload_fp, status, modality FROM items WHERE id = ?", (item_id,)).fetchone()
            if was == (payload, "indexed", modality):
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

    for entry in walk(root, include_hidden, failed_dirs):
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
                probed = _probe(entry)
                if probed[3] is None:  # readable now
                    queue_update(entry, old[0], probed)
            else:
                # Same file as before. Only finished items count as unchanged: pending
                # ones are indexed in this run and failed ones are counted as failed.
                stats.unchanged += old[3] == "indexed"
        elif old is None:
            fresh.append(entry)
        else:
            queue_update(entry, old[0], _probe(entry))
        if on_file is not None and stats.seen % 256 == 0:
            on_file(stats.seen)
    flush_updates()
    flush_restores()
    if cancelled():
        return stats

    # Items not seen are missing, unless the root or their folder could not be read.
    stats.root_present = os.path.isdir(root)
    if stats.root_present:
        failed_prefixes = tuple(d.rstrip(b"/") + b"/" for d in failed_dirs)
        stats.unreadable_dirs = [display(d) for d in failed_dirs]
        gone = [v[0] for p, v in known.items()
                if p not in seen and v[3] != "missing" and not (failed_prefixes and p.startswith(failed_prefixes))]
        for i in range(0, len(gone), _BATCH):
            with store.transaction():
                conn.executemany("UPDATE items SET status='missing', updated=? WHERE id=?",
                                 [(time.time(), g) for g in gone[i:i + _BATCH]])
        stats.missing_ids = set(gone)

    _add_fresh(store, root_id, fresh, stats, cancelled)
    return stats


def _add_fresh(store: Store, root_id: int, fresh: list[FileEntry], stats: ScanStats,
               cancelled: Callable[[], bool]) -> None:
    """Insert new files, or carry a missing item with the same fingerprint over (a move)."""
    conn = store.conn
    for i in range(0, len(fresh), _BATCH):
        if cancelled():
            break
        with store.transaction():
            for entry in fresh[i:i + _BATCH]:
                fp, modality, fmt, error, payload = _probe(entry)
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
