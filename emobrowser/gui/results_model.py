"""The results' list model and the delegate that draws each result as a card."""

from __future__ import annotations

import html
import os

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPalette, QPixmap
from PySide6.QtWidgets import QStyle, QStyledItemDelegate

from emobrowser.gui.files import file_url
from emobrowser.gui.style import MODALITY_COLOURS, MODALITY_LABELS, va_colour
from emobrowser.index.store import shown
from emobrowser.index.tags import detail_lines, hit_label

HIT_ROLE = Qt.ItemDataRole.UserRole + 1
_GLYPHS = {"image": "▣", "audio": "♪", "video": "▶"}


class ResultsModel(QAbstractListModel):
    """Hits of the current query, with thumbnails and mood bars filled in as they arrive."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.hits = []
        self._pixmaps: dict[str, QPixmap] = {}
        self._covers: dict[str, str] = {}  # song path -> its cover thumbnail (PNG file), for tooltips
        self.timelines: dict = {}
        self._row_of: dict[str, list[int]] = {}

    def set_hits(self, hits) -> None:
        self.beginResetModel()
        self.hits = list(hits)
        self._row_of = {}
        for row, hit in enumerate(self.hits):
            self._row_of.setdefault(hit.path, []).append(row)
        self.endResetModel()

    def set_thumbnail(self, path: str, png: str) -> None:
        pixmap = QPixmap(png)
        if pixmap.isNull():
            return
        self._pixmaps[path] = pixmap
        if any(self.hits[row].modality == "audio" for row in self._row_of.get(path, [])):
            self._covers[path] = png
        if len(self._pixmaps) > 2000:  # a bounded cache; the PNG files stay on disk
            self._pixmaps.pop(next(iter(self._pixmaps)))
        for row in self._row_of.get(path, []):
            i = self.index(row)
            self.dataChanged.emit(i, i, [Qt.ItemDataRole.DecorationRole])

    def has_thumbnail(self, path: str) -> bool:
        return path in self._pixmaps

    def set_timelines(self, timelines: dict) -> None:
        self.timelines.update(timelines)
        if self.hits:
            self.dataChanged.emit(self.index(0), self.index(len(self.hits) - 1))

    def rowCount(self, parent=QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self.hits)

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        hit = self.hits[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return hit_label(hit)
        if role == Qt.ItemDataRole.DecorationRole:
            return self._pixmaps.get(hit.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            return tooltip_html(hit, self._covers.get(hit.path))
        if role == HIT_ROLE:
            return hit
        return None

    def flags(self, index):
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes) -> QMimeData:
        """Dragged results are file URLs, so any file manager or player accepts them."""
        mime = QMimeData()
        paths = [self.hits[i.row()].path for i in indexes if i.isValid()]
        mime.setUrls([file_url(p) for p in paths])
        mime.setText("\n".join(shown(p) for p in paths))
        return mime

    def supportedDragActions(self):
        return Qt.DropAction.CopyAction


def tooltip_html(hit, cover: str | None = None) -> str:
    """Rich-text tooltip of a hit; every piece of the file name and tags is escaped.
    A tagged song is named "Artist – Title", with its album and year; ``cover`` is the
    PNG file of a song's cover thumbnail, shown below."""
    path = shown(hit.path)
    label, name = hit_label(hit), os.path.basename(path)
    extra = "".join(f"{html.escape(line)}<br>" for line in ([name] if label != name else []) + detail_lines(hit))
    return (f"<b>{html.escape(label)}</b><br>{extra}{html.escape(os.path.dirname(path))}<br>"
            f"{html.escape(MODALITY_LABELS.get(hit.modality, hit.modality))} · valence {hit.valence:+.2f} · "
            f"arousal {hit.arousal:+.2f} · distance {hit.distance:.2f}"
            + (f'<br><img src="{html.escape(cover, quote=True)}">' if cover else ""))


class ResultsDelegate(QStyledItemDelegate):
    """Draws a result as a thumbnail card (icon mode) or a one-line row (list mode)."""

    THUMB = QSize(160, 120)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.list_mode = False

    def sizeHint(self, option, index) -> QSize:
        line = option.fontMetrics.height()
        if self.list_mode:
            return QSize(400, max(40, 2 * line + 10))
        return QSize(self.THUMB.width() + 12, self.THUMB.height() + 2 * line + 18)

    def paint(self, painter, option, index) -> None:
        hit = index.data(HIT_ROLE)
        if hit is None:
            return
        painter.save()
        pal = option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        rect = option.rect.adjusted(2, 2, -2, -2)
        if selected:
            painter.fillRect(rect, pal.color(QPalette.ColorRole.Highlight))
        elif option.state & QStyle.StateFlag.State_MouseOver:
            painter.fillRect(rect, pal.color(QPalette.ColorRole.AlternateBase))
        text_colour = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        line = option.fontMetrics.height()
        if self.list_mode:
            thumb = QRect(rect.left() + 4, rect.top() + 3, 48, rect.height() - 6)
            text_rect = QRect(thumb.right() + 8, rect.top() + 3, rect.width() - thumb.width() - 16, line)
        else:
            thumb = QRect(rect.left() + 4, rect.top() + 4, self.THUMB.width(), self.THUMB.height())
            text_rect = QRect(rect.left() + 4, thumb.bottom() + 10, rect.width() - 8, line)
        self._paint_thumb(painter, thumb, hit, index.data(Qt.ItemDataRole.DecorationRole), pal)
        timeline = index.model().timelines.get(hit.id) if hasattr(index.model(), "timelines") else None
        if timeline is not None and len(timeline):
            bar = QRect(thumb.left(), thumb.bottom() - 7, thumb.width(), 8) if not self.list_mode else \
                QRect(text_rect.left() + 160, text_rect.bottom() + 6, min(200, text_rect.width() - 160), 8)
            paint_moodbar(painter, bar, timeline)
        painter.setPen(text_colour)
        name = option.fontMetrics.elidedText(hit_label(hit), Qt.TextElideMode.ElideMiddle,
                                             text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, name)
        small = QColor(text_colour)
        small.setAlpha(170)
        painter.setPen(small)
        painter.drawText(text_rect.translated(0, line + 1), Qt.AlignmentFlag.AlignLeft,
                         f"v {hit.valence:+.2f}  a {hit.arousal:+.2f}")
        painter.restore()

    def _paint_thumb(self, painter, rect: QRect, hit, pixmap, pal) -> None:
        colour = MODALITY_COLOURS.get(hit.modality, QColor(128, 128, 128))
        if pixmap is not None and not pixmap.isNull():
            scaled = pixmap.scaled(rect.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                   Qt.TransformationMode.SmoothTransformation)
            x = rect.left() + (rect.width() - scaled.width()) // 2
            y = rect.top() + (rect.height() - scaled.height()) // 2
            painter.drawPixmap(x, y, scaled)
        else:
            fill = QColor(colour)
            fill.setAlpha(45)
            painter.fillRect(rect, fill)
            font = QFont(painter.font())
            font.setPixelSize(max(12, rect.height() // 2))
            painter.setFont(font)
            painter.setPen(colour)
            painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, _GLYPHS.get(hit.modality, "?"))
            painter.setFont(QFont())
        painter.fillRect(QRect(rect.left(), rect.top(), 4, rect.height()), colour)


def paint_moodbar(painter, rect: QRect, timeline) -> None:
    """A strip coloured by the valence/arousal of each moment, left to right in time."""
    total = float(timeline.end[-1]) if len(timeline) else 0.0
    if total <= 0:
        return
    for s, e, v, a in zip(timeline.start, timeline.end, timeline.valence, timeline.arousal):
        x0 = rect.left() + int(rect.width() * s / total)
        x1 = rect.left() + int(rect.width() * e / total)
        painter.fillRect(QRect(x0, rect.top(), max(1, x1 - x0), rect.height()), va_colour(float(v), float(a)))
