"""The one bridge from the Qt-free core to Qt: background threads and their signals.

* ``IndexWorker`` (a QThread) runs ``index_library`` with its own Store; cancel() stops
  it at the next file (pause = cancel, since a rerun resumes where it stopped).
* ``Lane`` runs one kind of job (queries, point loads, timelines) in the global
  QThreadPool; a new job supersedes the previous one and stale answers are dropped by
  a generation counter.
* ``ThumbnailLoader`` makes cached PNG thumbnails in a small pool of its own.

Workers never touch widgets: they only emit signals, which Qt delivers in the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import time

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

log = logging.getLogger(__name__)

_PROGRESS_INTERVAL = 0.1  # seconds between progress signals, so the GUI thread is never flooded


class IndexWorker(QThread):
    """Indexes the library at ``db_path`` (adding ``roots`` first) in a thread of its own."""

    progressed = Signal(object)  # pipeline.Progress
    indexing_finished = Signal(object)  # pipeline.IndexSummary
    indexing_failed = Signal(str)

    def __init__(self, db_path, roots: list[str] | None = None, *, workers: int | None = None,
                 image_model: str | None = None, audio_model: str | None = None, demo: bool = False,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.db_path = db_path
        self.roots = list(roots or [])
        self.workers = workers
        self.image_model, self.audio_model = image_model, audio_model
        self.demo = demo
        self._cancel = threading.Event()
        self._last_emit = 0.0
        self._last_phase = ""

    def cancel(self) -> None:
        self._cancel.set()

    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def run(self) -> None:
        try:
            from emobrowser.index.pipeline import Progress, index_library
            from emobrowser.index.store import Store

            roots = list(self.roots)
            if self.demo:
                from emobrowser.demo import ensure_demo_media

                self.progressed.emit(Progress("prepare", 0, 0, "generating the demo library…"))
                roots.append(str(ensure_demo_media()))
            with Store(self.db_path) as store:
                summary = index_library(store, roots, workers=self.workers, image_model=self.image_model,
                                        audio_model=self.audio_model, progress=self._on_progress,
                                        cancelled=self._cancel.is_set)
        except Exception as exc:  # reported to the user; the log has the traceback
            log.exception("indexing failed")
            from emobrowser.core.errors import EmobrowserError

            # The project's own errors are written for users; others get their type.
            self.indexing_failed.emit(str(exc) if isinstance(exc, EmobrowserError) else f"{type(exc).__name__}: {exc}")
            return
        self.indexing_finished.emit(summary)

    def _on_progress(self, progress) -> None:
        # Called from the pipeline's threads; throttled so that 1,000 files/s cost the GUI nothing.
        now = time.monotonic()
        final = progress.total and progress.done >= progress.total
        if final or progress.phase != self._last_phase or now - self._last_emit >= _PROGRESS_INTERVAL:
            self._last_emit, self._last_phase = now, progress.phase
            self.progressed.emit(progress)


class _Relay(QObject):
    """Carries a job's outcome from a pool thread to the GUI thread."""

    done = Signal(int, object, float)  # generation, result, seconds
    error = Signal(int, str)
    skipped = Signal(int)


def _send(signal, *args) -> None:
    """Emit from a pool thread. A job that outlives its window (closed while the job
    ran) finds the relay deleted; nobody wants its answer then."""
    try:
        signal.emit(*args)
    except RuntimeError:  # "Signal source has been deleted"
        log.debug("a background job's window is gone; its answer is dropped")


class _Job(QRunnable):
    def __init__(self, relay: _Relay, generation: int, is_current, fn, args):
        super().__init__()
        self.relay, self.generation, self.is_current = relay, generation, is_current
        self.fn, self.args = fn, args

    def run(self) -> None:
        if not self.is_current(self.generation):  # superseded while it waited in the queue
            _send(self.relay.skipped, self.generation)
            return
        started = time.perf_counter()
        try:
            result = self.fn(*self.args)
        except Exception as exc:
            log.info("background job failed", exc_info=True)
            _send(self.relay.error, self.generation, str(exc) or type(exc).__name__)
            return
        _send(self.relay.done, self.generation, result, time.perf_counter() - started)


class Lane(QObject):
    """One kind of background job where only the newest request matters.

    With ``refresh`` (reloads of the library while indexing changes it), a request
    made while a job runs waits for it instead of making its answer stale: each answer
    is shown, and the newest request runs next. Without it, reloads requested every
    2 s on a busy pool could each be superseded before they ran, and the counts never
    moved until indexing ended.
    """

    job_finished = Signal(object, float)  # result, seconds
    job_failed = Signal(str)

    def __init__(self, pool: QThreadPool | None = None, parent: QObject | None = None, refresh: bool = False):
        super().__init__(parent)
        self._pool = pool or QThreadPool.globalInstance()
        self._generation = 0
        self._running = 0
        self._refresh = refresh
        self._waiting: tuple | None = None  # (fn, args): a refresh's newest request, while one runs
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_done)
        self._relay.error.connect(self._on_error)
        self._relay.skipped.connect(self._on_skipped)

    def submit(self, fn, *args) -> int:
        """Run fn(*args) in the pool; returns the job's generation. Earlier jobs become
        stale (for a ``refresh`` lane: the request waits for the running job)."""
        if self._refresh and self._running:
            self._waiting = (fn, args)
            return self._generation + 1
        self._generation += 1
        self._running += 1
        self._pool.start(_Job(self._relay, self._generation, self._is_current, fn, args))
        return self._generation

    def cancel(self) -> None:
        """Drop the answer of every job submitted so far."""
        self._generation += 1
        self._waiting = None

    def _next(self) -> None:
        if self._waiting is not None and not self._running:
            fn, args = self._waiting
            self._waiting = None
            self.submit(fn, *args)

    def busy(self) -> bool:
        return self._running > 0 or self._waiting is not None

    def _is_current(self, generation: int) -> bool:
        return generation == self._generation

    def _on_done(self, generation: int, result, seconds: float) -> None:
        self._running = max(0, self._running - 1)
        if generation == self._generation:
            self.job_finished.emit(result, seconds)
        self._next()

    def _on_skipped(self, _generation: int) -> None:
        self._running = max(0, self._running - 1)
        self._next()

    def _on_error(self, generation: int, message: str) -> None:
        self._running = max(0, self._running - 1)
        if generation == self._generation:
            self.job_failed.emit(message)
        self._next()


class _ThumbJob(QRunnable):
    def __init__(self, relay: _Relay, path: str, modality: str, side: int):
        super().__init__()
        self.relay, self.path, self.modality, self.side = relay, path, modality, side

    def run(self) -> None:
        from emobrowser.gui.thumbs import make_thumb

        try:
            made = make_thumb(self.path, self.modality, self.side)
        except Exception:
            log.info("thumbnail of %s failed", self.path, exc_info=True)
            made = None
        _send(self.relay.done, 0, (self.path, str(made) if made else ""), 0.0)


class ThumbnailLoader(QObject):
    """Makes thumbnails in the background; ``thumbnail_ready(item_path, png_path)`` says when.
    ``side`` is their longest side in pixels (None: thumbs.THUMB_SIDE)."""

    # item_path is an object: a str signal would drop the surrogate escapes of a name
    # that is not UTF-8 (see gui/files.py); png_path is "" when the file has no thumbnail
    thumbnail_ready = Signal(object, str)

    def __init__(self, parent: QObject | None = None, side: int | None = None):
        super().__init__(parent)
        from emobrowser.gui.thumbs import THUMB_SIDE

        self.side = side or THUMB_SIDE
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(2)
        self._pending: set[str] = set()
        self._failed: set[str] = set()  # undecodable files are not retried in this session
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_done)

    def request(self, path: str, modality: str) -> str | None:
        """The thumbnail file if it is cached already; otherwise start making it and return None."""
        from emobrowser.gui.thumbs import cached_thumb

        found = cached_thumb(path, self.side)
        if found is not None:
            return str(found)
        if modality in ("image", "video", "audio") and path not in self._pending and path not in self._failed:
            self._pending.add(path)
            self._pool.start(_ThumbJob(self._relay, path, modality, self.side))
        return None

    def wait(self, msecs: int = 5000) -> bool:
        return self._pool.waitForDone(msecs)

    def _on_done(self, _generation: int, result, _seconds: float) -> None:
        path, png = result
        self._pending.discard(path)
        if not png:
            self._failed.add(path)
        self.thumbnail_ready.emit(path, png)


class TaskWorker(QThread):
    """Runs one long core job, ``fn(progress, cancelled)``, in a thread of its own.

    ``progress(done, total)`` becomes ``progressed`` (throttled); ``cancelled()`` turns
    true after cancel(). The job ends with exactly one of ``task_finished(result)``,
    ``task_cancelled()`` (it raised after cancel()) or ``task_failed(message)``.
    """

    progressed = Signal(int, int)
    task_finished = Signal(object)
    task_cancelled = Signal()
    task_failed = Signal(str)

    def __init__(self, fn, parent: QObject | None = None):
        super().__init__(parent)
        self.fn = fn
        self._cancel = threading.Event()
        self._last_emit = 0.0

    def cancel(self) -> None:
        self._cancel.set()

    def run(self) -> None:
        try:
            result = self.fn(self._on_progress, self._cancel.is_set)
        except Exception as exc:
            if self._cancel.is_set():
                self.task_cancelled.emit()
                return
            from emobrowser.core.errors import EmobrowserError

            log.info("background task failed", exc_info=True)
            self.task_failed.emit(str(exc) if isinstance(exc, EmobrowserError) else f"{type(exc).__name__}: {exc}")
            return
        self.task_finished.emit(result)

    def _on_progress(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last_emit >= _PROGRESS_INTERVAL:
            self._last_emit = now
            self.progressed.emit(done, total)
