"""Library → Align photos with music: ``emobrowser align`` from the window.

The fit runs in a child process (align.fit.align_to_pipe), behind a progress dialog
with a Cancel button. Cancelling, or closing the window, kills the child: it stores
nothing until the end, and then in one transaction, and its TensorFlow never loads
into the app. The outcome is shown in a non-modal message box, and the window
reloads its points, which the new alignment re-projects.
"""

from __future__ import annotations

import multiprocessing as mp

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QMessageBox, QProgressDialog

_LABELS = {"identity": "leaving them where they are", "statistical": "matching their spread to the music's",
           "quantile": "matching their spread to the music's, point by point",
           "procrustes": "turning, scaling and shifting them", "learned": "a small network fitted on your videos"}

WHAT_IT_DOES = ("Aligning learns from your own videos how a moment's picture and its sound relate, then moves "
                "the photos on the map so that a photo and a song that feel alike sit close together. "
                "Songs stay where they are.")


def in_force(method: str) -> str:
    """What places the photos now, in plain words."""
    if method == "identity":
        return "Now: photos sit where the photo model puts them; they are not aligned with music."
    return (f"Now: photos are moved by an alignment fitted earlier ({_LABELS.get(method, method)}); "
            f"Library → Remove alignment undoes it.")


def not_ready(r: dict) -> str:
    """Why a fit cannot run yet (the dict align.fit.readiness returns)."""
    have = f"{r['videos']} video{'s' if r['videos'] != 1 else ''} with sound"
    return "\n\n".join([
        WHAT_IT_DOES,
        f"It needs at least {r['need_videos']} videos with sound and about {r['need_minutes']:.0f} minutes of "
        f"video in all. This library has {have} ({r['minutes']:.1f} minutes). Add folders with more videos, "
        f"then try again.",
        "Nothing was changed. " + in_force(r["aligned"])])


def describe(result: dict) -> str:
    """The message for a finished fit (the dict align_library returns)."""
    methods, chosen = result["methods"], result["chosen"]
    lines = [f"Learned from {result['videos']} videos ({result['anchors']} moments of about 15 s, each with "
             f"a picture and a sound).",
             f"Chosen: {_LABELS.get(chosen, chosen)}."]
    if chosen in methods and "identity" in methods:
        after, before = methods[chosen]["residual"], methods["identity"]["residual"]
        lines.append(f"Tried on videos kept out of the learning, a moment's picture and sound now land "
                     f"{after:.2f} apart on the map, against {before:.2f} before.")
    if chosen == "identity":
        lines.append("Nothing matched your videos better than leaving the photos where they are, so nothing moves.")
    else:
        lines.append("Photos and the pictures of videos move on the map accordingly; Library → Remove alignment "
                     "undoes it.")
    return "\n".join(lines)


class AlignmentController(QObject):
    """Runs one fit at a time for the library at ``db_path``, with the window's models."""

    library_changed = Signal()  # a new alignment was stored: reload the points
    finished = Signal()  # the fit ended, whichever way (its message is shown)

    def __init__(self, db_path, image_model: str | None = None, audio_model: str | None = None, parent=None):
        super().__init__(parent)
        self.db_path, self.image_model, self.audio_model = db_path, image_model, audio_model
        self.dialog: QProgressDialog | None = None
        self.message: QMessageBox | None = None  # the last outcome shown
        self._process = None
        self._conn = None
        self._timer = QTimer(self, interval=100)
        self._timer.timeout.connect(self._poll)
        self._aligned = "identity"  # what placed the photos when the last fit started

    def is_running(self) -> bool:
        return self._process is not None

    def start(self) -> None:
        if self.is_running():
            return
        from emobrowser.align.fit import align_to_pipe, readiness

        try:
            ready = readiness(self.db_path, self.image_model, self.audio_model)
        except Exception as exc:  # shown to the user; nothing is changed
            self._finish(QMessageBox.Icon.Warning, f"The library could not be read: {exc}")
            return
        self._aligned = ready["aligned"]
        if not ready["ready"]:
            self._finish(QMessageBox.Icon.Information, not_ready(ready))
            return

        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=align_to_pipe, daemon=True,
                                    args=(child, str(self.db_path), self.image_model, self.audio_model))
        self._process.start()
        child.close()
        self.dialog = QProgressDialog("Learning from your videos how pictures and sound relate…",
                                      "Cancel", 0, 0, self.parent())
        self.dialog.setWindowTitle("Align photos with music")
        self.dialog.setWindowModality(Qt.WindowModality.NonModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)
        self.dialog.canceled.connect(self.cancel)
        self.dialog.show()
        self._timer.start()

    def cancel(self) -> None:
        """Stop the fit (nothing is stored) and say so."""
        if self.stop():
            self._finish(QMessageBox.Icon.Information, "Alignment cancelled; nothing stored. "
                                                       + in_force(self._aligned))

    def stop(self) -> bool:
        """Kill a running fit without a message (the window closes); returns whether one ran."""
        if self._process is None:
            return False
        self._process.kill()
        self._process.join(5)
        self._end()
        return True

    def remove(self) -> None:
        """Go back to no alignment (``emobrowser align --method identity``): quick, no fit."""
        from emobrowser.align.fit import align_library
        from emobrowser.align.transform import stored_transform
        from emobrowser.index.store import Store

        if self.is_running():
            return
        with Store(self.db_path) as store:
            stored = stored_transform(store)
        if stored is None or stored.is_identity:
            self._show(QMessageBox.Icon.Information, "No alignment is stored: photos sit where the photo "
                                                     "model puts them.")
            return
        try:
            align_library(self.db_path, "identity", image_model=self.image_model, audio_model=self.audio_model)
        except Exception as exc:  # shown to the user; the library keeps its alignment
            self._show(QMessageBox.Icon.Warning, str(exc))
            return
        self.library_changed.emit()
        self._show(QMessageBox.Icon.Information, f"The {stored.method} alignment is removed: photos sit where "
                                                 f"the photo model puts them again.")

    # -- internals ------------------------------------------------------------------------

    def _poll(self) -> None:
        conn = self._conn
        try:
            while conn is not None and conn.poll():
                message = conn.recv()
                if message[0] == "progress":
                    if self.dialog is not None:
                        self.dialog.setMaximum(message[2])
                        self.dialog.setValue(message[1])
                elif message[0] == "done":
                    self._end()
                    self.library_changed.emit()
                    self._finish(QMessageBox.Icon.Information, describe(message[1]))
                    return
                else:
                    self._end()
                    text = message[1] or "the alignment failed"
                    self._finish(QMessageBox.Icon.Warning,
                                 text[0].upper() + text[1:] + "\n\n" + in_force(self._aligned))
                    return
        except (EOFError, OSError):
            pass  # the child is gone; its exit code says how
        if self._process is not None and not self._process.is_alive():
            code = self._process.exitcode
            self._end()
            self._finish(QMessageBox.Icon.Warning, f"The alignment process stopped unexpectedly (exit code {code}); "
                                                   f"nothing stored. " + in_force(self._aligned))

    def _end(self) -> None:
        self._timer.stop()
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
            self.dialog = None

    def _finish(self, icon, text: str) -> None:
        self._show(icon, text)
        self.finished.emit()

    def _show(self, icon, text: str) -> None:
        self.message = QMessageBox(icon, "Align photos with music", text, QMessageBox.StandardButton.Ok,
                                   self.parent())
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.open()
