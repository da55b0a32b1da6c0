"""The indexing controller: starts, pauses, resumes, restarts and stops the IndexWorker
and keeps the library panel in step. Pause is a cancel that remembers to resume: the
pipeline's next run continues where the last one stopped."""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QMessageBox

from emobrowser.gui.workers import IndexWorker

_REFRESH_MS = 2000  # how often the map and counts refresh while indexing


class IndexingController(QObject):
    """Owns the running IndexWorker (``worker``) for the library at ``db_path``."""

    refresh_requested = Signal()  # the library changed: reload points and counts
    message_posted = Signal(str)  # a status-bar message

    def __init__(self, db_path, panel, settings, *, image_model=None, audio_model=None, parent=None):
        super().__init__(parent)
        self.db_path, self.panel, self.settings = db_path, panel, settings
        self.image_model, self.audio_model = image_model, audio_model
        self.worker: IndexWorker | None = None
        self.stopped_early = False  # the last run was stopped or failed before it finished
        self._paused = False
        self._restart_roots: list[str] | None = None
        self._timer = QTimer(self, interval=_REFRESH_MS)
        self._timer.timeout.connect(self.refresh_requested)
        panel.pause_toggled.connect(self._on_pause_toggled)
        panel.cancel_requested.connect(self._on_cancel_requested)
        panel.workers_changed.connect(self._on_workers_changed)

    def start(self, roots: list[str] | None = None, demo: bool = False) -> None:
        """Index the library (adding ``roots``); a run in progress is restarted to include them."""
        self._paused = False
        if self.is_running():
            self._restart_roots = (self._restart_roots or []) + list(roots or [])
            self.worker.cancel()
            return
        self.worker = IndexWorker(self.db_path, roots, workers=self.panel.workers_spin.value(),
                                  image_model=self.image_model, audio_model=self.audio_model, demo=demo, parent=self)
        self.worker.progressed.connect(self.panel.show_progress)
        self.worker.indexing_finished.connect(self._on_indexing_finished)
        self.worker.indexing_failed.connect(self._on_indexing_failed)
        self.worker.finished.connect(self._on_worker_stopped)
        self.stopped_early = False
        self.panel.set_running(True)
        self.panel.status.setText("Starting…")
        self.worker.start()
        self._timer.start()

    def is_running(self) -> bool:
        return self.worker is not None and self.worker.isRunning()

    def stop(self, wait_ms: int = 30000) -> bool:
        """Cancel and wait; returns whether the worker stopped. The next run resumes."""
        self._restart_roots = None
        self._timer.stop()
        if self.worker is None:
            return True
        self.worker.cancel()
        return self.worker.wait(wait_ms)

    def _on_indexing_finished(self, summary) -> None:
        if summary.cancelled:
            text = ("Paused — indexing resumes where it stopped" if self._paused
                    else "Stopped — Rescan (F5) resumes where it stopped")
        else:
            text = f"Up to date: {summary.indexed} indexed, {summary.unchanged} unchanged, {summary.failed} failed"
        self.stopped_early = bool(summary.cancelled)
        self.panel.show_finished(text, keep=self.stopped_early)
        self.message_posted.emit(text)

    def _on_indexing_failed(self, message: str) -> None:
        self.stopped_early = True
        self.panel.show_finished(f"Indexing stopped with an error: {message}", error=True)
        QMessageBox.warning(self.panel.window(), "Indexing stopped",
                            f"Indexing stopped because of an error:\n{message}\n\nThe log file has the details.")

    def _on_worker_stopped(self) -> None:
        self._timer.stop()
        self.refresh_requested.emit()
        if self._restart_roots is not None:
            roots, self._restart_roots = self._restart_roots, None
            self.start(roots)
            return
        self.panel.set_running(False, paused=self._paused)

    def _on_pause_toggled(self, paused: bool) -> None:
        if paused:
            self._paused = True
            if self.worker is not None:
                self.worker.cancel()
        else:
            self.start()

    def _on_cancel_requested(self) -> None:
        self._paused = False
        self._restart_roots = None
        if self.is_running():
            self.worker.cancel()
        else:
            self.panel.set_running(False)
            self.panel.show_finished("Stopped — Rescan (F5) resumes where it stopped", keep=True)

    def _on_workers_changed(self, n: int) -> None:
        self.settings.setValue("indexing/workers", n)
