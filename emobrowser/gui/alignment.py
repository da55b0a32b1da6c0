"""Library → Align photos with music: ``emobrowser align`` from the window.

The fit runs in a Python thread (it is NumPy, plus TensorFlow for the learned
method) behind a progress dialog with a Cancel button; cancelling stores nothing.
The outcome is shown in a non-modal message box, and the window reloads its points,
which the new alignment re-projects.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QMessageBox, QProgressDialog

from emobrowser.align.fit import AlignmentCancelled, align_library

_LABELS = {"identity": "no change (identity)", "statistical": "moment matching", "quantile": "quantile matching",
           "procrustes": "Procrustes (rotation, scale, shift)", "learned": "learned network"}


def describe(result: dict) -> str:
    """The message for a finished fit (the dict align_library returns)."""
    methods, chosen = result["methods"], result["chosen"]
    lines = [f"Fitted on {result['anchors']} segments of {result['videos']} videos.",
             f"Kept: {_LABELS.get(chosen, chosen)}."]
    if chosen in methods and "identity" in methods:
        lines.append(f"On videos left out of the fit, a segment's photo and sound values are "
                     f"{methods[chosen]['residual']:.2f} apart after it, against {methods['identity']['residual']:.2f} "
                     f"with no change.")
    if chosen == "identity":
        lines.append("No method beat leaving the photos as the image model scores them, so nothing moves.")
    else:
        lines.append("The photos and videos move on the map accordingly; Library → Remove alignment undoes it.")
    return "\n".join(lines)


class AlignmentController(QObject):
    """Runs one fit at a time for the library at ``db_path``."""

    progressed = Signal(int, int)
    succeeded = Signal(object)  # align_library's result
    failed = Signal(str, bool)  # message, whether the user cancelled
    library_changed = Signal()  # a new alignment was stored: reload the points

    def __init__(self, db_path, parent=None):
        super().__init__(parent)
        self.db_path = db_path
        self.dialog: QProgressDialog | None = None
        self.message: QMessageBox | None = None  # the last outcome shown
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self.progressed.connect(self._on_progress)
        self.succeeded.connect(self._on_succeeded)
        self.failed.connect(self._on_failed)

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.is_running():
            return
        self._cancel.clear()
        self.dialog = QProgressDialog("Fitting the map between photos and music on your videos' segments…",
                                      "Cancel", 0, 0, self.parent())
        self.dialog.setWindowTitle("Align photos with music")
        self.dialog.setWindowModality(Qt.WindowModality.NonModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(self.cancel)
        self.dialog.show()
        self._thread = threading.Thread(target=self._run, name="align", daemon=True)
        self._thread.start()

    def remove(self) -> None:
        """Go back to no alignment (``emobrowser align --method identity``): quick, no fit."""
        from emobrowser.align.transform import stored_transform
        from emobrowser.index.store import Store

        if self.is_running():
            return
        with Store(self.db_path) as store:
            stored = stored_transform(store)
        if stored is None or stored.is_identity:
            self._show(QMessageBox.Icon.Information, "No alignment is stored: photos are placed as the image "
                                                     "model scores them.")
            return
        try:
            align_library(self.db_path, "identity")
        except Exception as exc:  # shown to the user; the library keeps its alignment
            self._show(QMessageBox.Icon.Warning, str(exc))
            return
        self.library_changed.emit()
        self._show(QMessageBox.Icon.Information, f"The {stored.method} alignment is removed: photos are placed as "
                                                 f"the image model scores them again.")

    def cancel(self) -> None:
        self._cancel.set()
        if self.dialog is not None:
            self.dialog.setLabelText("Stopping…")

    def wait(self, seconds: float) -> bool:
        """Cancel and wait for the thread; returns whether it ended."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(seconds)
        return not self.is_running()

    def _run(self) -> None:
        try:
            result = align_library(self.db_path, progress=self.progressed.emit, cancelled=self._cancel.is_set)
        except AlignmentCancelled as exc:
            self.failed.emit(str(exc), True)
        except Exception as exc:  # shown to the user; the library keeps its alignment
            self.failed.emit(str(exc), False)
        else:
            self.succeeded.emit(result)

    def _on_progress(self, done: int, total: int) -> None:
        if self.dialog is not None and not self._cancel.is_set():
            self.dialog.setMaximum(total)
            self.dialog.setValue(done)

    def _close_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None

    def _show(self, icon, text: str) -> None:
        self.message = QMessageBox(icon, "Align photos with music", text, QMessageBox.StandardButton.Ok,
                                   self.parent())
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.open()

    def _on_succeeded(self, result: dict) -> None:
        self._close_dialog()
        self.library_changed.emit()
        self._show(QMessageBox.Icon.Information, describe(result))

    def _on_failed(self, message: str, cancelled: bool) -> None:
        self._close_dialog()
        text = message[0].upper() + message[1:] if message else "The alignment failed."
        self._show(QMessageBox.Icon.Information if cancelled else QMessageBox.Icon.Warning, text)
