"""The library panel: folders, live indexing progress, pause/cancel, failures, CPU cores."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QHeaderView, QLabel, QListWidget, QProgressBar,
                               QPushButton, QSizePolicy, QSpinBox, QTreeWidget, QTreeWidgetItem, QVBoxLayout,
                               QWidget)

from emobrowser.gui.files import user_folder
from emobrowser.gui.style import plain_tooltip
from emobrowser.index.store import shown, shown_name


def _format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


class LibraryPanel(QWidget):
    """Shows the library's folders and indexing state; the window does the work."""

    folders_added = Signal(list)  # list[str]
    folder_removed = Signal(object)  # str: a file-system path (see gui/files.py)
    pause_toggled = Signal(bool)  # True = pause
    cancel_requested = Signal()
    rescan_requested = Signal()
    workers_changed = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._roots: list[str] | None = None  # as last shown; None before the first
        self._failures: list[tuple[str, str]] | None = None
        self._keep_message = False  # the last run failed or was stopped: its message stays until the next
        self.roots = QListWidget()
        self.roots.setToolTip("Folders in the library (drop folders onto the window to add them)")
        self.roots.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.roots.setMaximumHeight(110)
        self.roots.currentRowChanged.connect(self._on_root_selected)
        add = QPushButton("Add folder…")
        add.setToolTip("Add a folder of photos, music or videos (Ctrl+O)")
        add.clicked.connect(self.choose_folder)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Forget the selected folder (its files are not touched)")
        self.remove_button.setEnabled(False)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        rescan = QPushButton("Rescan")
        rescan.setToolTip("Look for new, changed and deleted files (F5)")
        rescan.clicked.connect(self.rescan_requested)
        folder_buttons = QHBoxLayout()
        for b in (add, self.remove_button, rescan):
            folder_buttons.addWidget(b)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.hide()
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # error messages may hold any text
        self.current = QLabel()
        self.current.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.current.setTextFormat(Qt.TextFormat.PlainText)  # file names are never markup
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.pause_button.setEnabled(False)
        self.pause_button.toggled.connect(self._on_pause_toggled)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_requested)
        self.workers_spin = QSpinBox(minimum=1, maximum=max(1, os.cpu_count() or 1))
        self.workers_spin.setToolTip("CPU cores used for indexing")
        self.workers_spin.valueChanged.connect(self.workers_changed)
        controls = QHBoxLayout()
        controls.addWidget(self.pause_button)
        controls.addWidget(self.cancel_button)
        controls.addStretch(1)
        controls.addWidget(QLabel("Cores"))
        controls.addWidget(self.workers_spin)

        self.counts = QLabel()
        self.counts.setWordWrap(True)
        self.alignment_note = QLabel()
        self.alignment_note.setWordWrap(True)
        self.alignment_note.setTextFormat(Qt.TextFormat.PlainText)
        self.alignment_note.hide()
        self.failures = QTreeWidget()
        self.failures.setHeaderLabels(["File", "Reason"])
        self.failures.setRootIsDecorated(False)
        self.failures.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.failures.header().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.failures.setColumnWidth(0, 150)
        self.failures_label = QLabel("No failures")

        layout = QVBoxLayout(self)
        layout.addWidget(self.roots)
        layout.addLayout(folder_buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.current)
        layout.addLayout(controls)
        layout.addWidget(self.counts)
        layout.addWidget(self.alignment_note)
        layout.addWidget(self.failures_label)
        layout.addWidget(self.failures, 1)

    # -- public ---------------------------------------------------------------------------

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder to the library", user_folder("home"))
        if folder:
            self.folders_added.emit([folder])

    def set_roots(self, roots: list[str]) -> None:
        """Show the library folders (file-system paths; the list keeps them, as Qt text
        cannot hold a name that is not UTF-8)."""
        if roots == self._roots:
            return  # unchanged: keep the user's selection
        self._roots = list(roots)
        self.roots.clear()
        self.roots.addItems([shown(r) for r in roots])
        for i, r in enumerate(roots):
            self.roots.item(i).setToolTip(plain_tooltip(shown(r)))

    def set_counts(self, counts: dict[str, dict[str, int]]) -> None:
        names = {"image": "photos", "audio": "tracks", "video": "videos"}
        parts = [f"{c.get('indexed', 0)} {names.get(m, m)}" for m, c in counts.items() if m in names]
        pending = sum(c.get("pending", 0) for c in counts.values())
        if not self.cancel_button.isEnabled() and not self._keep_message:
            # Not indexing, and no error to keep on screen: say where the library stands.
            self.status.setText(f"{pending} files wait to be indexed: Rescan (F5) resumes" if pending
                                else "Up to date")
        self.counts.setText("Library: " + (", ".join(parts) or "empty") + (f" · {pending} waiting" if pending else ""))

    def set_alignment_note(self, note: str | None) -> None:
        """Say which alignment is in force, or that it no longer applies (None hides the note)."""
        self.alignment_note.setText(note or "")
        self.alignment_note.setVisible(bool(note))

    def set_failures(self, failures: list[tuple[str, str]]) -> None:
        """Show (path, reason) pairs as plain-text items (file names are never interpreted as markup)."""
        if failures == self._failures:
            return  # unchanged: keep the scroll position and selection
        self._failures = list(failures)
        self.failures.clear()
        items = []
        for path, reason in failures:
            item = QTreeWidgetItem([shown_name(path), reason])
            item.setToolTip(0, plain_tooltip(shown(path)))
            item.setToolTip(1, plain_tooltip(reason))
            items.append(item)
        self.failures.addTopLevelItems(items)
        self.failures_label.setText(f"Failures ({len(failures)})" if failures else "No failures")

    def failure_paths(self) -> list[str]:
        return [path for path, _reason in self._failures or []]

    def set_running(self, running: bool, paused: bool = False) -> None:
        if running:
            self._keep_message = False
        self.progress.setVisible(running or paused)
        self.pause_button.setEnabled(running or paused)
        self.cancel_button.setEnabled(running or paused)
        self.pause_button.blockSignals(True)
        self.pause_button.setChecked(paused)
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_button.blockSignals(False)
        if paused:
            self.progress.setFormat("Paused")
            self.status.setText("Paused — indexing resumes where it stopped")

    def show_progress(self, p) -> None:
        """Show a pipeline Progress: phase, done/total, rate, ETA, current file."""
        if p.phase in ("scan", "prepare"):
            self.progress.setRange(0, 0)  # busy
            self.status.setText(f"Scanning… {p.done} files found" if p.phase == "scan" else p.current)
        else:
            self.progress.setRange(0, max(1, p.total))
            self.progress.setValue(p.done)
            self.progress.setFormat(f"{p.done} / {p.total}")
            failed = f" · {p.failed} failed in this run" if p.failed else ""
            if p.phase == "tags":
                self.status.setText(f"Reading tags: {p.rate:.1f} files/s · ETA {_format_eta(p.eta)}")
            elif p.done == 0 and not p.failed:  # the workers start: models load, librosa compiles once
                self.status.setText("Starting: loading the models (about a minute the first time)…")
            elif p.eta is None:  # the first file is done: its wait for the models says nothing of the rate
                self.status.setText(f"Indexing: estimating the time left…{failed}")
            else:
                self.status.setText(f"Indexing: {p.rate:.1f} files/s · ETA {_format_eta(p.eta)}{failed}")
        self.current.setText(os.path.basename(p.current) if p.phase == "index" else "")
        self.current.setToolTip(plain_tooltip(p.current) if p.current else "")

    def show_finished(self, message: str, error: bool = False, keep: bool = False) -> None:
        """Show how a run ended. An error, or with ``keep`` a run stopped early, stays on
        screen until the next run starts: the library's counts cannot say "up to date"
        for files a stopped scan never reached."""
        self._keep_message = error or keep
        self.progress.show()
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("Stopped" if error or keep else "Done")
        self.status.setText(message)
        self.current.clear()

    # -- slots ----------------------------------------------------------------------------

    def _on_root_selected(self, row: int) -> None:
        self.remove_button.setEnabled(row >= 0)

    def _on_remove_clicked(self) -> None:
        row = self.roots.currentRow()
        if self._roots and 0 <= row < len(self._roots):
            self.folder_removed.emit(self._roots[row])

    def _on_pause_toggled(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        self.pause_toggled.emit(paused)
