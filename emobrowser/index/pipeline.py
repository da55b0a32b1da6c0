"""The indexing pipeline: scan, extract in worker processes, score, write.

Lanes, each with one job:

* the calling thread scans the roots, then feeds worker processes and supervises
  their time limits (``procpool``);
* one inference thread loads each model once and scores features in batches;
* that same thread is the only database writer while the pipeline runs, and
  commits a small transaction per batch, so a kill at any moment loses at most the
  batch in flight, which stays pending and is redone on the next run.

Nothing here knows about Qt: progress goes out through a callback and cancellation
comes in through a ``cancelled()`` callable, the same from the CLI and the GUI.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from emobrowser.core.errors import (CHANGED_WHILE_INDEXED, ENVIRONMENT_PREFIXES, FILE_VANISHED, OUT_OF_MEMORY_PREFIX,
                                   VANISHED_WHILE_INDEXED)
from emobrowser.index.extract import Extracted, Scored, TagsRead, extract_file, read_tags, run_task, score_extracted
from emobrowser.index.procpool import IMAGE_MEMORY_LIMIT, MEDIA_MEMORY_LIMIT, ProcessPool
from emobrowser.index.scanner import sync_root
from emobrowser.index.store import Store, display
from emobrowser.models import registry, runtime

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 300.0
# A video must be decoded whole to sample a frame per second, so its time limit grows
# with its size: the base limit plus this many seconds per MiB (a 4 GiB film: +34 min).
VIDEO_SECONDS_PER_MIB = 0.5
_BATCH = 32
# Reading an indexed item's tags alone gets this time limit at most (seconds).
TAGS_TIMEOUT = 60.0


def time_limit(timeout: float, modality: str | None, size: int) -> float:
    """The time limit of one file: ``timeout``, plus the allowance of a video's size."""
    return timeout + (VIDEO_SECONDS_PER_MIB * size / 2**20 if modality == "video" else 0.0)


def memory_limit(modality: str | None) -> int:
    """The memory limit of one file's worker, in bytes (see index.procpool)."""
    return IMAGE_MEMORY_LIMIT if modality == "image" else MEDIA_MEMORY_LIMIT


@dataclass
class Progress:
    """A progress report: ``done`` of ``total`` files in ``phase`` ("scan", "index", or
    "tags": reading only the tags of indexed files).

    rate is files per second, eta seconds remaining (None while unknown).
    """

    phase: str
    done: int
    total: int
    current: str = ""
    rate: float = 0.0
    eta: float | None = None
    failed: int = 0


class Throughput:
    """Files per second and the time left, counted from the first file done.

    The first file waits for the models to load (and, the first time, for librosa to
    compile), which can take longer than the rest of a small library: counting that
    wait as throughput made the early ETA many times too long.
    """

    def __init__(self, total: int, clock: Callable[[], float] = time.monotonic):
        self.total, self.clock = total, clock
        self.done = 0
        self._first: float | None = None

    def add(self) -> tuple[float, float | None]:
        """Count one more file done; returns (files per second, seconds left or None
        while unknown: until a second file is done)."""
        now = self.clock()
        self.done += 1
        if self._first is None:
            self._first = now
        if self.done < 2 or now <= self._first:
            return 0.0, None
        rate = (self.done - 1) / (now - self._first)
        return rate, max(0, self.total - self.done) / rate


# Failure reasons that say nothing about the file itself: the file vanished or changed
# mid-run (a folder renamed or a drive unmounted while indexing). Such items are tried
# again on every run whose scan found their root folder; a file that is still gone has
# then been marked missing by the scan. Under a root that is absent (a drive not
# mounted) they wait, failed, until it is back.
TRANSIENT_REASONS = (FILE_VANISHED, VANISHED_WHILE_INDEXED, CHANGED_WHILE_INDEXED)
# Decodes that ran out of memory depend on the machine's state as much as on the file
# (see procpool): tried again on the next run, like the transient reasons. Libraries
# from before the memory limit recorded them as a crash by SIGKILL or in other words.
OUT_OF_MEMORY_REASONS = ("decoder crashed (signal 9)", "out of memory while decoding")


@dataclass
class IndexSummary:
    indexed: int = 0
    unchanged: int = 0
    failed: int = 0
    missing: int = 0
    moved: int = 0
    requeued: int = 0
    tags_read: int = 0  # indexed items whose tags alone were read (new to the library, or edited)
    cancelled: bool = False
    elapsed: float = 0.0
    unreadable_dirs: list[str] = field(default_factory=list)
    dir_errors: dict[str, str] = field(default_factory=dict)  # unreadable folder -> why
    skipped_links: list[tuple[str, str]] = field(default_factory=list)  # (folder, why it was not entered)
    absent_roots: list[str] = field(default_factory=list)  # library folders not there (unmounted?)


def model_tags(image_model, audio_model) -> dict[str, str]:
    """The model tag each modality's items must carry to count as up to date."""
    image = f"{image_model.info.name}/{image_model.info.version}"
    audio = f"{audio_model.info.name}/{audio_model.info.version}"
    return {"image": image, "audio": audio, "video": f"{image}+{audio}"}


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


class _Writer(threading.Thread):
    """The inference lane and single database writer."""

    def __init__(self, store: Store, image_model, audio_model, on_done: Callable[[int, bool], None],
                 cancelled: Callable[[], bool] = lambda: False, batch_size: int = _BATCH):
        super().__init__(name="emobrowser-inference", daemon=True)
        self.store = store
        self.image_model = image_model
        self.audio_model = audio_model
        self.tags = model_tags(image_model, audio_model)
        self.inbox: queue.Queue = queue.Queue(maxsize=256)
        self.on_done = on_done
        self.cancelled = cancelled
        self.batch_size = max(1, int(batch_size))
        self.error: BaseException | None = None
        self.tags_read = 0  # items whose tags alone were read
        self.on_tags: Callable[[int], None] = lambda n: None  # told each time one more is read

    def run(self) -> None:
        try:
            while True:
                batch = [self.inbox.get()]
                deadline = time.monotonic() + 0.05
                while batch[-1] is not None and len(batch) < self.batch_size:
                    try:
                        batch.append(self.inbox.get(timeout=max(0.0, deadline - time.monotonic())))
                    except queue.Empty:
                        break
                stop = batch[-1] is None
                # After a cancel nothing more is written: what was extracted but not yet
                # written stays pending and is redone on the next run, so a cancel takes
                # effect at the next batch whatever the backlog.
                if not self.cancelled():
                    self._write([b for b in batch if b is not None])
                if stop:
                    return
        except BaseException as exc:  # surfaced by the pipeline, never swallowed
            self.error = exc

    def _score(self, batch):
        """Score a batch; image items share one predict call."""
        results = {}
        batch = [b for b in batch if not isinstance(b[0], tuple)]  # tags-only tasks: nothing to score
        images = [(item_id, ex) for item_id, _, ok, ex in batch if ok and ex.modality == "image"]
        if images:
            va = self.image_model.predict(np.concatenate([ex.image for _, ex in images]))
            key = (self.image_model.info.name, self.image_model.info.version)
            for (item_id, _), (v, a) in zip(images, va):
                results[item_id] = Scored(points={key: (float(v), float(a))})
        for item_id, _, ok, ex in batch:
            if ok and ex.modality != "image":
                results[item_id] = score_extracted(ex, self.image_model, self.audio_model)
                if ex.warning:  # indexed, but part of it could not be used
                    log.warning("item %d: %s", item_id, ex.warning)
        return results

    def _write(self, batch) -> None:
        if not batch:
            return
        scored = self._score(batch)
        conn = self.store.conn
        now = time.time()
        outcomes = []
        with self.store.transaction():
            for item_id, stat_key, ok, value in batch:
                if isinstance(item_id, tuple):
                    self._write_tags(item_id[1], stat_key, ok, value)
                    continue
                if ok and stat_key is not None and _changed_since(stat_key):
                    ok, value = False, CHANGED_WHILE_INDEXED
                outcomes.append((item_id, ok))
                if not ok:
                    # Old scores describe content the file no longer has: drop them, so a
                    # later move/rename cannot bring them back as 'indexed'.
                    self.store.drop_results([item_id])
                    conn.execute("UPDATE items SET status='failed', error=?, updated=? WHERE id=?",
                                 (value, now, item_id))
                    continue
                ex: Extracted = value
                result = scored[item_id]
                conn.execute("DELETE FROM segments WHERE item_id=?", (item_id,))
                conn.executemany("INSERT OR REPLACE INTO scores(item_id, model, version, valence, arousal) "
                                 "VALUES (?, ?, ?, ?, ?)",
                                 [(item_id, m, v, va[0], va[1]) for (m, v), va in result.points.items()])
                conn.executemany(
                    "INSERT INTO segments(item_id, model, version, source, start, end, valence, arousal) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(item_id, m, v, s.source.value, s.start, s.end, s.valence, s.arousal)
                     for (m, v), s in result.segments])
                # The decoded content decides the modality (an audio-only .mp4 is audio).
                conn.execute("UPDATE items SET status='indexed', error=NULL, modality=?, width=?, height=?, "
                             "duration=?, scored_with=?, updated=? WHERE id=?",
                             (ex.modality, ex.width, ex.height, ex.duration, self.tags[ex.modality], now, item_id))
                if ex.meta is not None and stat_key is not None:
                    self._put_tags(item_id, stat_key, ex.meta)
        for item_id, ok in outcomes:
            self.on_done(item_id, ok)

    def _put_tags(self, item_id: int, stat_key, meta: dict) -> None:
        if meta.get("problem"):  # the item is indexed all the same
            log.warning("tags of %s: %s", display(stat_key[0]), meta["problem"])
        self.store.put_metadata(item_id, stat_key[1], stat_key[2], meta)

    def _write_tags(self, item_id: int, stat_key, ok: bool, value) -> None:
        """Store the tags read alone for an indexed item (its scores stay as they are)."""
        if stat_key is None or _changed_since(stat_key):
            return  # the next scan sees the change, and the tags are read again
        if not ok:  # timed out or crashed: recorded, so it is tried again only when the file changes
            value = TagsRead({"problem": f"tags not read: {value}"})
        self._put_tags(item_id, stat_key, value.meta)
        if value.payload is not None:
            self.store.conn.execute("UPDATE items SET payload_fp = ? WHERE id = ? AND payload_fp IS NULL",
                                    (value.payload, item_id))
        self.tags_read += 1
        self.on_tags(self.tags_read)


def _changed_since(stat_key) -> bool:
    path, size, mtime_ns = stat_key
    try:
        st = os.stat(path)
    except OSError:
        return True
    return st.st_size != size or st.st_mtime_ns != mtime_ns


def index_library(store: Store, roots: list[str] | None = None, **options) -> IndexSummary:
    """Add ``roots`` (if given) to the library and index every root.

    Returns counts of what happened. Failures are stored per item with their reason;
    only a problem with the library itself raises, and LibraryBusyError when another
    process is indexing the same library. Options: see ``_index``.
    """
    with store.indexing_lock():
        return _index(store, roots, **options)


def _index(store: Store, roots: list[str] | None = None, *, workers: int | None = None,
           timeout: float = DEFAULT_TIMEOUT, image_model: str | None = None,
           audio_model: str | None = None, include_hidden: bool = False,
           segment_seconds: float = 15.0, batch_size: int = _BATCH,
           progress: Callable[[Progress], None] | None = None,
           cancelled: Callable[[], bool] = lambda: False) -> IndexSummary:
    started = time.monotonic()
    report = progress or (lambda p: None)
    summary = IndexSummary()
    for root in roots or []:
        store.add_root(root)
    workers = workers or default_workers()
    # The networks' LiteRT interpreters use as many threads as the cores indexing may use.
    runtime.set_threads(workers)
    imodel = registry.image_model(image_model)
    amodel = registry.audio_model(audio_model)
    store.set_setting("models", json.dumps({"image": [imodel.info.name, imodel.info.version],
                                            "audio": [amodel.info.name, amodel.info.version]}))

    root_ids, present = [], []
    missing_ids: set[int] = set()
    moved_ids: set[int] = set()
    for root_id, root_raw in store.roots():
        root_ids.append(root_id)
        stats = sync_root(store, root_id, root_raw, include_hidden, cancelled,
                          on_file=lambda n: report(Progress("scan", n, 0, display(root_raw))))
        summary.unchanged += stats.unchanged
        missing_ids |= stats.missing_ids
        moved_ids |= stats.moved_ids
        summary.missing = len(missing_ids - moved_ids)  # a move from one root to another is a move
        summary.moved = len(moved_ids)
        summary.unreadable_dirs += stats.unreadable_dirs
        summary.dir_errors.update(stats.dir_errors)
        summary.skipped_links += stats.skipped_links
        if stats.root_present:
            present.append(root_id)
        elif not cancelled():
            summary.absent_roots.append(display(root_raw))
        if cancelled():
            summary.cancelled = True
            summary.elapsed = time.monotonic() - started
            return summary
    stale = store.requeue_stale(model_tags(imodel, amodel))
    summary.unchanged = max(0, summary.unchanged - stale)  # rescored with a new model: not unchanged
    # A full disk or memory at the time of the last run was not the files' fault.
    summary.requeued = (stale + store.retry_failed(TRANSIENT_REASONS + OUT_OF_MEMORY_REASONS, present,
                                                    prefixes=(OUT_OF_MEMORY_PREFIX, *ENVIRONMENT_PREFIXES))
                        + store.retry_timed_out(lambda modality, size: time_limit(timeout, modality, size),
                                                present))
    pending = store.pending(root_ids)
    total = len(pending)
    # Items that failed during the scan (unreadable, not media) are counted as failed.
    summary.failed = store.conn.execute("SELECT COUNT(*) FROM items WHERE status='failed'").fetchone()[0]
    failed_before = summary.failed
    done = 0
    current = {"path": ""}
    lock = threading.Lock()

    def on_done(item_id: int, ok: bool) -> None:
        nonlocal done
        with lock:
            done += 1
            if ok:
                summary.indexed += 1
            else:
                summary.failed += 1
            rate, eta = throughput.add()
            report(Progress("index", done, total, current["path"], rate, eta, summary.failed - failed_before))

    throughput = Throughput(total)
    report(Progress("index", 0, total))
    # Indexed items whose tags were never read (a library from before tags were kept)
    # or were edited since (scanner: same sound, new size and time): read in the same
    # workers, after the files to score, without scoring anything.
    retag = store.needs_metadata(present)
    if total or retag:
        writer = _Writer(store, imodel, amodel, on_done, cancelled, batch_size)
        if retag:
            tags_rate = Throughput(len(retag))

            def on_tags(n: int) -> None:
                rate, eta = tags_rate.add()
                report(Progress("tags", n, len(retag), "", rate, eta))

            writer.on_tags = on_tags
        writer.start()
        stat_keys = {}

        def stat_key(key, raw_path):
            try:
                st = os.stat(raw_path)
            except OSError:
                stat_keys[key] = None
                return None
            stat_keys[key] = (raw_path, st.st_size, st.st_mtime_ns)
            return st

        def tasks():
            for item_id, raw_path, modality, _fmt in pending:
                st = stat_key(item_id, raw_path)
                limit = timeout if st is None else time_limit(timeout, modality, st.st_size)
                current["path"] = display(raw_path)
                yield (item_id, (raw_path, extract_file, modality, imodel.info.name, amodel.info.name,
                                 segment_seconds), limit, memory_limit(modality))
            for item_id, raw_path, modality in retag:
                stat_key(("tags", item_id), raw_path)
                yield (("tags", item_id), (raw_path, read_tags, modality), min(timeout, TAGS_TIMEOUT),
                       memory_limit(modality))

        pool = ProcessPool(run_task, workers, timeout)
        try:
            for item_id, ok, value in pool.run(tasks(), lambda: cancelled() or writer.error is not None):
                key = stat_keys.pop(item_id, None)
                if ok and key is None and not isinstance(item_id, tuple):
                    ok, value = False, VANISHED_WHILE_INDEXED
                writer.inbox.put((item_id, key, ok, value))
        finally:
            writer.inbox.put(None)
            writer.join()
        if writer.error is not None:
            raise writer.error
        summary.tags_read = writer.tags_read
    summary.cancelled = cancelled()
    summary.elapsed = time.monotonic() - started
    return summary
