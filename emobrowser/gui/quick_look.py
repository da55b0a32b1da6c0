"""Quick look: a result seen large inside the app, as photo managers do on Space.

Left/Up and Right/Down step through the results (the results' current item follows),
Esc or Space closes, Enter opens the item in the desktop's application for it (a
video plays in the system player). A photo, or a video's poster, is drawn at up to
LARGE_SIDE pixels by the thumbnail helper process (gui/thumbs.py): the media is
untrusted, so the window never decodes it itself. A song shows its name.
"""

from __future__ import annotations


from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QDialog, QLabel, QSizePolicy, QVBoxLayout, QWidget

from emobrowser.gui.style import MODALITY_LABELS, ElidedLabel
from emobrowser.index.store import shown, shown_name

_STEP_KEYS = {Qt.Key.Key_Left: -1, Qt.Key.Key_Up: -1, Qt.Key.Key_Right: 1, Qt.Key.Key_Down: 1}
_CLOSE_KEYS = (Qt.Key.Key_Escape, Qt.Key.Key_Space)
_OPEN_KEYS = (Qt.Key.Key_Return, Qt.Key.Key_Enter)


LARGE_SIDE = 1600  # the longest side of a quick look's picture, in pixels


class QuickLookDialog(QDialog):
    """Shows ``hits[row]`` large; ``row_changed`` says which result is shown, ``open_requested`` asks
    the window to open a path with the desktop's application."""

    row_changed = Signal(int)
    open_requested = Signal(object)  # str: a file-system path

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        from emobrowser.gui.workers import ThumbnailLoader

        self.setWindowTitle("Quick look")
        self._pictures = ThumbnailLoader(self, side=LARGE_SIDE)
        self.hits: list = []
        self.row = -1
        self._pixmap = QPixmap()  # the shown picture at its loaded size
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.picture.setMinimumSize(320, 240)
        glyph = self.picture.font()
        glyph.setPixelSize(96)
        self.picture.setFont(glyph)
        self.caption = ElidedLabel()
        self.hint = QLabel()
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.addWidget(self.picture, 1)
        layout.addWidget(self.caption)
        layout.addWidget(self.hint)
        self._pictures.thumbnail_ready.connect(self._on_thumbnail_ready)
        self.resize(900, 680)

    def show_hits(self, hits: list, row: int) -> None:
        """Show ``hits[row]`` and open (or raise) the window."""
        self.hits = list(hits)
        self._show_row(row)
        self.show()
        self.raise_()
        self.activateWindow()

    def current_hit(self):
        return self.hits[self.row] if 0 <= self.row < len(self.hits) else None

    def _show_row(self, row: int) -> None:
        if not self.hits:
            return
        self.row = max(0, min(len(self.hits) - 1, row))
        hit = self.hits[self.row]
        label = MODALITY_LABELS.get(hit.modality, hit.modality)
        self.caption.set_full_text(f"{shown_name(hit.path)}   ·   {label[:-1] if label.endswith('s') else label}"
                                   f" · valence {hit.valence:+.2f} · arousal {hit.arousal:+.2f}"
                                   f"   ·   {self.row + 1} of {len(self.hits)}")
        self.caption.setToolTip(shown(hit.path))
        opener = "plays it in the system player" if hit.modality in ("audio", "video") else "opens it"
        self.hint.setText(f"← → previous and next · Enter {opener} · Esc closes")
        self._draw(hit)
        self.row_changed.emit(self.row)

    def _draw(self, hit) -> None:
        if hit.modality in ("image", "video"):
            png = self._pictures.request(hit.path, hit.modality)  # it may come later
            self._pixmap = QPixmap(png) if png else QPixmap()
        else:
            self._pixmap = QPixmap()
        if self._pixmap.isNull():
            self.picture.setPixmap(QPixmap())
            self.picture.setText("♪" if hit.modality == "audio" else "")
            return
        self._fit()

    def _fit(self) -> None:
        """Scale the loaded picture to the label's size."""
        self.picture.setPixmap(self._pixmap.scaled(self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.SmoothTransformation))

    def has_picture(self) -> bool:
        pixmap = self.picture.pixmap()
        return pixmap is not None and not pixmap.isNull()

    def event(self, event) -> bool:
        # Its keys are the quick look's own, never the window's shortcuts (Esc cancels a
        # search there, Space plays a song).
        if event.type() == QEvent.Type.ShortcutOverride and (
                event.key() in _STEP_KEYS or event.key() in _CLOSE_KEYS or event.key() in _OPEN_KEYS):
            event.accept()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in _STEP_KEYS:
            self._show_row(self.row + _STEP_KEYS[key])
        elif key in _CLOSE_KEYS:
            self.close()
        elif key in _OPEN_KEYS:
            hit = self.current_hit()
            if hit is not None:
                self.open_requested.emit(hit.path)
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self._pixmap.isNull():
            self._fit()  # the picture loaded already, not the file again

    def _on_thumbnail_ready(self, path: str, png: str) -> None:
        hit = self.current_hit()
        if png and hit is not None and hit.path == path and self.isVisible():
            self._draw(hit)


