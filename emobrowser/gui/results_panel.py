"""The results: a grid (or list) of cards with thumbnails, mood bars and file actions."""

from __future__ import annotations

import os

from PySide6.QtCore import QEvent, QItemSelectionModel, QSize, Qt, Signal
from PySide6.QtGui import QAction, QDesktopServices, QGuiApplication, QPainter, QPalette
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QLabel, QListView, QMenu, QSizePolicy,
                               QStyle, QToolButton, QVBoxLayout, QWidget)

from emobrowser.gui.files import file_url
from emobrowser.gui.preview import UNAVAILABLE_TIP, AudioPreview
from emobrowser.gui.results_model import HIT_ROLE, ResultsDelegate, ResultsModel
from emobrowser.gui.style import tool_button
from emobrowser.index.balance import RELEVANCE_MARGIN
from emobrowser.index.store import shown, shown_name
from emobrowser.index.tags import SORT_KEYS, sorted_hits

OTHER = {"image": ("audio", "video"), "audio": ("image", "video"), "video": ("image", "audio")}


class _ResultsView(QListView):
    """A list view that says what to do when it is empty."""

    placeholder = "Click the map, drag a region with Shift, or type a mood to search."
    area_changed = Signal()  # other rows may be on screen now: they need their thumbnails

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit_grid()
        self.area_changed.emit()

    def fit_grid(self) -> None:
        """Spread the cards evenly over the width instead of leaving a ragged gap on the right."""
        if self.viewMode() != QListView.ViewMode.IconMode:
            self.setGridSize(QSize())
            return
        line = self.fontMetrics().height()
        card = QSize(ResultsDelegate.THUMB.width() + 12, ResultsDelegate.THUMB.height() + 2 * line + 18)
        # QListView lays the grid out in the viewport less a vertical scroll bar's width,
        # whether or not one is shown: the viewport's own width gave one column too
        # many whenever the results fitted without scrolling, and the cards wrapped into one.
        scrollbar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self.verticalScrollBar())
        width = self.maximumViewportSize().width() - scrollbar - 2
        columns = max(1, width // (card.width() + 8))
        self.setGridSize(QSize(max(card.width(), width // columns), card.height() + 8))

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.model() is not None and self.model().rowCount() == 0:
            painter = QPainter(self.viewport())
            colour = self.palette().color(QPalette.ColorRole.PlaceholderText)
            painter.setPen(colour)
            rect = self.viewport().rect().adjusted(24, 24, -24, -24)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.placeholder)
            painter.end()


class _FocusKeyButton(QToolButton):
    """A tool button that Space and Enter press while it has the focus. (Space is the
    results' play/pause shortcut, which would otherwise take the key first.)"""

    _KEYS = (Qt.Key.Key_Space, Qt.Key.Key_Return, Qt.Key.Key_Enter)

    def event(self, event) -> bool:
        if (event.type() == QEvent.Type.ShortcutOverride and event.key() in self._KEYS
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
            event.accept()  # deliver the key to this button, not to a shortcut
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.isAutoRepeat():
            self.click()
        else:
            super().keyPressEvent(event)


class _HeaderLabel(QLabel):
    """The results header: one line cut with "…" to the label's width (``text()`` and
    the tooltip keep it whole), so it never pushes the results down; or, for the
    longer hints, wrapped."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self._full, self._wrap = "", False
        self.setText(text)

    def set_wrapping(self, on: bool) -> None:
        self._wrap = on
        self.setWordWrap(on)
        self._show()

    def setText(self, text: str) -> None:
        self._full = text
        self._show()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._show()

    def _show(self) -> None:
        width = max(1, self.contentsRect().width())
        shown = self._full if self._wrap else self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight,
                                                                             width)
        if shown != super().text():
            super().setText(shown)


_NOUNS = {"image": ("photo", "photos"), "audio": ("song", "songs"), "video": ("video", "videos")}

# A best match farther than this from the searched point (a quarter of the circle's
# radius) is not close: the results header says so.
FAR = RELEVANCE_MARGIN


class ResultsPanel(QWidget):
    """Shows hits; asks the window for thumbnails and follow-up searches through signals."""

    selection_changed = Signal(object)  # Hit or None
    more_like_this_requested = Signal(object)  # Hit
    other_modality_requested = Signal(object)  # Hit
    export_playlist_requested = Signal()
    copy_images_requested = Signal()
    slideshow_requested = Signal(object)  # Hit: a song
    message_posted = Signal(str)  # a status-bar message
    visible_items_changed = Signal(list)  # hits whose cards need a thumbnail
    # True: search again without the distance limit; False: with the default limit again
    farther_requested = Signal(bool)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.model = ResultsModel(self)
        self.delegate = ResultsDelegate(self)
        self.view = _ResultsView()
        self._current_id = None
        self.view.setModel(self.model)
        self.view.setItemDelegate(self.delegate)
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setSpacing(0)
        self.view.setMouseTracking(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setDragEnabled(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.view.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._on_context_menu_requested)
        self.view.doubleClicked.connect(self._on_double_clicked)
        self.view.selectionModel().currentChanged.connect(self._on_current_changed)
        self.view.verticalScrollBar().valueChanged.connect(self._on_scrolled)
        self.view.area_changed.connect(self._on_area_changed)

        self.preview = AudioPreview(self)
        # The style's media icons: symbol characters such as ⏸ are missing from common fonts.
        self.play_button = QToolButton(text="Play")
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.play_button.setToolTip("Play or pause the selected track (Space)" if self.preview.available
                                    else UNAVAILABLE_TIP)
        self.play_button.setEnabled(False)
        self.play_button.clicked.connect(self.toggle_playback)
        self.preview.playing_changed.connect(self._on_playing_changed)
        self.grid_button = tool_button("List", "Switch between thumbnails and a list", self._on_list_mode_toggled,
                                       checkable=True)
        export = tool_button("Export playlist…",
                             "Save the music and videos of these results as an M3U8 playlist (Ctrl+E)",
                             self.export_playlist_requested)
        copy = tool_button("Copy photos…",
                           "Copy the selected photos (or all photos shown) into a folder; originals are untouched",
                           self.copy_images_requested)
        # Shown when the distance limit left items out (or after they were brought in).
        # Tab reaches it, Space or Enter presses it, and so does its Alt+F mnemonic.
        self.farther_button = _FocusKeyButton()
        self.farther_button.clicked.connect(self._on_farther_clicked)
        self.farther_button.hide()
        self._farther_shown = False
        self.summary = _HeaderLabel("Click the map or type a mood to search.")
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.summary.set_wrapping(True)  # long hints take two lines instead of being cut off
        self.summary.setMinimumWidth(80)
        self.sort_box = QComboBox()
        self.sort_box.addItems(["By relevance", "By date", "By name"])
        self.sort_box.setToolTip("Order of the results: how well they match (default), newest first by "
                                 "date taken or year, or by name (Artist – Title for tagged music)")
        self.sort_box.currentIndexChanged.connect(self._on_sort_changed)
        self._relevance_order: list = []
        # The summary above the buttons, so the panel can be as narrow as its buttons;
        # the "Show N farther" button beside the summary it belongs to.
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 4, 0)
        header.addWidget(self.summary, 1)
        header.addWidget(self.farther_button, 0, Qt.AlignmentFlag.AlignTop)
        header.addWidget(self.sort_box, 0, Qt.AlignmentFlag.AlignTop)
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 0, 4, 0)
        bar.addStretch(1)
        for w in (self.play_button, self.grid_button, export, copy):
            bar.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        self.summary.setContentsMargins(4, 2, 4, 0)
        layout.addLayout(header)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)

    # -- public ---------------------------------------------------------------------------

    def set_hits(self, hits, seconds: float | None = None, keep_scroll: bool = False,
                 farther_shown: bool = False) -> None:
        """Show new hits from the top (with ``keep_scroll``, where the view was: new
        results of the same search). An item the user picked stays current if it is
        among them; otherwise the best hit becomes current (without selecting it).

        ``hits`` may carry ``left_out`` and ``limit`` (engine.QueryResult): the header
        then says how many farther items the distance limit kept off the page, and
        offers to show them. ``farther_shown``: these hits were searched without the
        limit (the button then restores it)."""
        scrolled = self.view.verticalScrollBar().value()
        current = self.view.currentIndex()
        picked = current.isValid() and self.view.selectionModel().isSelected(current)
        keep = self._current_id if picked else None
        self._relevance_order = list(hits)
        self.model.set_hits(sorted_hits(hits, SORT_KEYS[self.sort_box.currentIndex()]))
        counts = {}
        for h in hits:
            counts[h.modality] = counts.get(h.modality, 0) + 1
        parts = ", ".join(f"{n} {_NOUNS.get(m, (m, m))[n != 1]}" for m, n in sorted(counts.items()))
        timing = f" in {seconds * 1000:.0f} ms" if seconds is not None else ""
        # how close the best match is: a page of results looks the same when nothing is near
        nearest = min((h.distance for h in hits), default=0.0)
        closeness = f" · nearest {nearest:.2f} away{' (nothing close)' if nearest > FAR else ''}" if hits else ""
        left_out, limit = getattr(hits, "left_out", 0), getattr(hits, "limit", None)
        farther = ""
        if left_out and limit is not None:
            farther = f" · {left_out} farther {'item' if left_out == 1 else 'items'} left out (beyond {limit:.2f})"
        elif farther_shown:
            farther = " · no distance limit"
        self.summary.set_wrapping(False)
        self.summary.setText(f"{len(hits)} results{timing}" + (f" ({parts})" if parts else "") + closeness + farther)
        self.summary.setToolTip(self.summary.text())
        self._show_farther_button(left_out if limit is not None else 0, limit, farther_shown)
        rows = [i for i, h in enumerate(self.model.hits) if h.id == keep]
        if rows:
            self.view.setCurrentIndex(self.model.index(rows[0]))
        elif hits:
            self.view.selectionModel().setCurrentIndex(self.model.index(0),
                                                       QItemSelectionModel.SelectionFlag.NoUpdate)
        else:
            self._current_id = None
            self.selection_changed.emit(None)
        if keep_scroll:
            self.view.doItemsLayout()  # the scroll range of the new rows
            self.view.verticalScrollBar().setValue(scrolled)
        else:
            self.view.scrollToTop()
        self.visible_items_changed.emit(self.visible_hits())

    def _on_sort_changed(self, index: int) -> None:
        """Show the same results in another order; the current item stays current."""
        current = self.current_hit()
        self.model.set_hits(sorted_hits(self._relevance_order, SORT_KEYS[index]))
        rows = [i for i, h in enumerate(self.model.hits) if current is not None and h.id == current.id]
        if rows:
            self.view.setCurrentIndex(self.model.index(rows[0]))
        self.view.scrollToTop()
        self.visible_items_changed.emit(self.visible_hits())

    def _show_farther_button(self, left_out: int, limit: float | None, farther_shown: bool) -> None:
        self._farther_shown = farther_shown
        if farther_shown:
            self.farther_button.setText("Hide &farther")
            self.farther_button.setToolTip("Search again with the default distance limit (Alt+F)")
        elif left_out:
            self.farther_button.setText(f"Show {left_out} &farther")
            self.farther_button.setToolTip(f"Search again without the distance limit: adds the {left_out} "
                                           f"{'item' if left_out == 1 else 'items'} farther than {limit:.2f} "
                                           f"that this search left out (Alt+F)")
        self.farther_button.setVisible(farther_shown or bool(left_out))

    def show_hint(self, text: str) -> None:
        """Say in the header why there is nothing to show, or what to do (wrapped, whole)."""
        self.summary.set_wrapping(True)
        self.summary.setText(text)

    def visible_hits(self) -> list:
        """Hits whose cards are (nearly) on screen, for thumbnail requests."""
        out = []
        area = self.view.viewport().rect().adjusted(0, -200, 0, 400)
        for row, hit in enumerate(self.model.hits):
            if area.intersects(self.view.visualRect(self.model.index(row))):
                out.append(hit)
        return out or self.model.hits[:60]

    def current_hit(self):
        index = self.view.currentIndex()
        return index.data(HIT_ROLE) if index.isValid() else None

    def selected_hits(self) -> list:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedIndexes())
        return [self.model.hits[r] for r in rows]

    def target_hits(self, modalities: tuple[str, ...]) -> list:
        """The hits of ``modalities`` among a multiple selection, or else among all the
        results: what an export acts on."""
        chosen = self.selected_hits()
        return [h for h in (chosen if len(chosen) > 1 else self.model.hits) if h.modality in modalities]

    def toggle_playback(self) -> None:
        hit = self.current_hit()
        if hit is not None and hit.modality == "audio" and self.preview.available:
            self.preview.toggle(hit.path)

    # -- slots ----------------------------------------------------------------------------

    def _on_current_changed(self, current, _previous) -> None:
        hit = current.data(HIT_ROLE) if current.isValid() else None
        self.play_button.setEnabled(self.preview.available and hit is not None and hit.modality == "audio")
        new_id = hit.id if hit is not None else None
        if new_id != self._current_id or hit is None:
            self._current_id = new_id
            self.selection_changed.emit(hit)

    def _on_farther_clicked(self) -> None:
        self.farther_requested.emit(not self._farther_shown)

    def _on_playing_changed(self, _path: str, playing: bool) -> None:
        self.play_button.setText("Pause" if playing else "Play")
        self.play_button.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay))

    def _on_scrolled(self, _value: int) -> None:
        self.visible_items_changed.emit(self.visible_hits())

    def _on_area_changed(self) -> None:
        if self.model.hits:
            self.visible_items_changed.emit(self.visible_hits())

    def _on_list_mode_toggled(self, on: bool) -> None:
        self.delegate.list_mode = on
        self.view.setViewMode(QListView.ViewMode.ListMode if on else QListView.ViewMode.IconMode)
        self.view.setIconSize(QSize(48, 36) if on else ResultsDelegate.THUMB)
        self.view.fit_grid()
        self.view.doItemsLayout()
        # The list shows more rows than the grid showed cards: those need thumbnails too.
        self._on_area_changed()

    def _on_double_clicked(self, index) -> None:
        hit = index.data(HIT_ROLE)
        if hit is not None:
            self.open_path(hit.path)

    def open_path(self, path: str) -> bool:
        """Open a file or folder with the desktop's application for it; says so when
        none is set up (QDesktopServices only logs that)."""
        if QDesktopServices.openUrl(file_url(path)):
            return True
        self.message_posted.emit(f"No application is set up to open {shown_name(path)}; "
                                 f"right-click → Copy path to open it yourself")
        return False

    def _on_context_menu_requested(self, pos) -> None:
        index = self.view.indexAt(pos)
        hit = index.data(HIT_ROLE) if index.isValid() else None
        menu = QMenu(self)
        if hit is not None:
            menu.addAction("Open", lambda: self.open_path(hit.path))
            menu.addAction("Show in folder", lambda: self.open_path(os.path.dirname(hit.path)))
            if hit.modality == "audio":
                play = menu.addAction("Play preview", self.toggle_playback)
                play.setEnabled(self.preview.available)
                play.setToolTip(UNAVAILABLE_TIP)
                menu.addAction("Make a slideshow…", lambda: self.slideshow_requested.emit(hit))
            menu.addSeparator()
            menu.addAction("More like this", lambda: self.more_like_this_requested.emit(hit))
            names = {"image": "photos", "audio": "music", "video": "videos"}
            others = " and ".join(names[m] for m in OTHER[hit.modality])
            menu.addAction(f"Find matching {others}", lambda: self.other_modality_requested.emit(hit))
            menu.addSeparator()
            menu.addAction("Copy path", lambda: QGuiApplication.clipboard().setText(
                "\n".join(shown(h.path) for h in self.selected_hits()) or shown(hit.path)))
        export = QAction("Export playlist…", menu)
        export.triggered.connect(self.export_playlist_requested)
        export.setEnabled(bool(self.model.hits))
        copy = QAction("Copy photos to folder…", menu)
        copy.triggered.connect(self.copy_images_requested)
        copy.setEnabled(any(h.modality == "image" for h in self.model.hits))
        menu.addAction(export)
        menu.addAction(copy)
        menu.popup(self.view.viewport().mapToGlobal(pos))
