"""The circumplex scatter: every item as a point at (valence, arousal).

One PointCloudItem is reused for all points (setData with the modality code per
point; the three coloured discs are drawn once into an atlas), so 100,000 points load
in milliseconds and pan and zoom smoothly; see point_cloud.py for why not
pyqtgraph's ScatterPlotItem.
Left click picks a point; Shift + left drag (or the Region tool) draws a rectangle;
the wheel zooms and a plain left drag pans.
"""

from __future__ import annotations

import html
import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QCursor, QFont, QPalette, QPen
from PySide6.QtWidgets import (QCheckBox, QGraphicsRectItem, QHBoxLayout, QToolTip, QVBoxLayout,
                               QWidget)

from emobrowser.gui.point_cloud import PointCloudItem
from emobrowser.gui.style import (MODALITY_COLOURS, MODALITY_LABELS, modality_box, palette_colour,
                                   tool_button)
from emobrowser.index.store import shown_name

MODALITIES = ("image", "audio", "video")
MAX_DRAWN = 1_000_000  # beyond this a random subset is drawn (hover finds drawn points only)
_HOVER_PX = 8


def _label_words():
    try:
        from emobrowser.index.moods import circle_labels

        return [(w, deg) for w, deg, _v, _a in circle_labels(1.0, min_separation_deg=9.0)]
    except ImportError:  # the vocabulary is optional for drawing
        return [("excited", 49), ("happy", 8), ("calm", 316), ("sad", 208), ("tense", 93), ("sleepy", 272)]


class _CircumplexViewBox(pg.ViewBox):
    clicked = Signal(float, float)
    region_dragged = Signal(float, float, float, float, bool)  # v0, a0, v1, a1, finished

    def __init__(self):
        super().__init__(lockAspect=True, enableMenu=False)
        self.region_mode = False

    def mouseClickEvent(self, ev):
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            p = self.mapSceneToView(ev.scenePos())
            self.clicked.emit(p.x(), p.y())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev, axis=None):
        shift = bool(ev.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if ev.button() == Qt.MouseButton.LeftButton and (self.region_mode or shift):
            ev.accept()
            a = self.mapSceneToView(ev.buttonDownScenePos())
            b = self.mapSceneToView(ev.scenePos())
            self.region_dragged.emit(a.x(), a.y(), b.x(), b.y(), ev.isFinish())
        else:
            super().mouseDragEvent(ev, axis)


class CircumplexWidget(QWidget):
    """Scatter of the library on Russell's circumplex, with picking and region selection."""

    point_clicked = Signal(float, float)  # valence, arousal in [-1, 1]
    region_selected = Signal(object)  # ("rect", v0, a0, v1, a1)
    item_hovered = Signal(int)  # item id, -1 when none

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._thumbs = None
        self._all = None  # LibraryPoints
        self._shown = np.zeros(0, np.int64)  # rows of _all drawn, in draw order
        self._hover_row = -1
        self._codes = np.zeros(0, np.int8)

        self._vb = _CircumplexViewBox()
        self.plot = pg.PlotWidget(viewBox=self._vb)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.setMouseTracking(True)
        self.plot.setMinimumSize(240, 240)  # the window must fit a 1366 px screen at 125 % scaling
        self.scatter = PointCloudItem([MODALITY_COLOURS[m] for m in MODALITIES], size=6)
        self.results = pg.ScatterPlotItem(pxMode=True, size=13, symbol="o")
        self.marker = pg.ScatterPlotItem(pxMode=True, size=20, symbol="+")
        self.trajectory = pg.PlotDataItem(symbol="o", symbolSize=5)
        self._region = QGraphicsRectItem()
        self._region.setVisible(False)
        self._circle = pg.PlotCurveItem()
        t = np.linspace(0, 2 * np.pi, 241)
        self._circle.setData(np.cos(t), np.sin(t))
        self._axes = [pg.InfiniteLine(0, angle=0), pg.InfiniteLine(0, angle=90)]
        for item in (self._circle, *self._axes, self.scatter, self.results, self.trajectory, self.marker):
            self.plot.addItem(item)
        self._vb.addItem(self._region)
        self.results.setZValue(5)
        self.trajectory.setZValue(6)
        self.marker.setZValue(7)
        self._words = []
        for word, deg in _label_words():
            r = math.radians(deg)
            c, s = math.cos(r), math.sin(r)
            text = pg.TextItem(word, anchor=(0.5 - 0.55 * c, 0.5 + 0.55 * s))
            text.setPos(1.03 * c, 1.03 * s)
            text.setZValue(1)
            self.plot.addItem(text)
            self._words.append(text)
        self.plot.setLabel("bottom", "valence  (unpleasant → pleasant)")
        self.plot.setLabel("left", "arousal  (calm → excited)")
        for side in ("bottom", "left"):  # no "(x0.001)" rescaling of the axes when zoomed in
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        # Zoom and pan stay where there is something to see: the circle, down to a
        # window of 0.02 (closer than any two scores can meaningfully differ).
        self._vb.setLimits(xMin=-3.0, xMax=3.0, yMin=-3.0, yMax=3.0, minXRange=0.02, minYRange=0.02)
        self.reset_view()

        self._toggles: dict[str, QCheckBox] = {}
        bar = QHBoxLayout()
        bar.setContentsMargins(4, 2, 4, 0)
        for m in MODALITIES:
            box = modality_box(m, self._on_toggle_changed, f"Show {MODALITY_LABELS[m].lower()} on the map")
            self._toggles[m] = box
            bar.addWidget(box)
        bar.addStretch(1)
        self.region_button = tool_button(
            "Region", "Drag a rectangle to find everything inside it (or Shift+drag at any time)",
            self._on_region_mode_toggled, checkable=True)
        reset = tool_button("Reset view", "Zoom back to the whole circle", self.reset_view)
        bar.addWidget(self.region_button)
        bar.addWidget(reset)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.plot, 1)

        self._vb.clicked.connect(self._on_view_clicked)
        self._vb.region_dragged.connect(self._on_region_dragged)
        self._hover_proxy = pg.SignalProxy(self.plot.scene().sigMouseMoved, rateLimit=30, slot=self._on_mouse_moved)
        # Qt sends the view a ToolTip event when the pointer rests; QGraphicsScene
        # answers it by hiding any tooltip, as no graphics item has one of its own.
        self.plot.viewport().installEventFilter(self)
        self._apply_palette()

    # -- public -------------------------------------------------------------------------

    def set_thumbnail_loader(self, loader) -> None:
        self._thumbs = loader
        loader.thumbnail_ready.connect(self._on_thumbnail_ready)

    def set_points(self, points) -> None:
        """Show the library's points (a LibraryPoints)."""
        self._all = points
        if self._hover_row >= 0:  # its row number means another item (or none) now
            self._hover_row = -1
            QToolTip.hideText()
        n = len(points)
        codes = np.zeros(n, np.int8)
        for i, m in enumerate(MODALITIES):
            codes[points.modality == m] = i
        self._codes = codes
        for i, m in enumerate(MODALITIES):  # counts go in the tip: in the text they widen the window
            count = int(np.count_nonzero(codes == i))
            self._toggles[m].setToolTip(f"Show {MODALITY_LABELS[m].lower()} on the map ({count:,} in the library)")
        self._redraw()

    def visible_modalities(self) -> tuple[str, ...]:
        return tuple(m for m in MODALITIES if self._toggles[m].isChecked())

    def set_marker(self, valence: float, arousal: float) -> None:
        self._region.setVisible(False)
        self.marker.setData([valence], [arousal])

    def set_region(self, region) -> None:
        self.marker.setData([], [])
        _kind, v0, a0, v1, a1 = region
        self._region.setRect(QRectF(QPointF(min(v0, v1), min(a0, a1)), QPointF(max(v0, v1), max(a0, a1))))
        self._region.setVisible(True)

    def set_results(self, hits) -> None:
        self.results.setData([h.valence for h in hits], [h.arousal for h in hits])

    def set_trajectory(self, valence, arousal) -> None:
        self.trajectory.setData(np.asarray(valence, float), np.asarray(arousal, float))

    def reset_view(self) -> None:
        self._vb.setRange(xRange=(-1.45, 1.45), yRange=(-1.3, 1.3), padding=0)

    # -- drawing ------------------------------------------------------------------------

    def _redraw(self) -> None:
        if self._all is None or len(self._all) == 0:
            self._shown = np.zeros(0, np.int64)
            self.scatter.setData(np.zeros(0), np.zeros(0), np.zeros(0, np.int32))
            return
        wanted = np.array([self._toggles[m].isChecked() for m in MODALITIES])
        rows = np.flatnonzero(wanted[self._codes])
        if rows.size > MAX_DRAWN:
            rows = np.sort(np.random.default_rng(0).choice(rows, MAX_DRAWN, replace=False))
        self._shown = rows
        self.scatter.setData(self._all.valence[rows], self._all.arousal[rows], self._codes[rows])

    def _apply_palette(self) -> None:
        text = palette_colour(QPalette.ColorRole.Text)
        faint = palette_colour(QPalette.ColorRole.Text, 90)
        hi = palette_colour(QPalette.ColorRole.Highlight)
        self.plot.setBackground(palette_colour(QPalette.ColorRole.Base))
        for name in ("left", "bottom"):
            axis = self.plot.getAxis(name)
            axis.setPen(faint)
            axis.setTextPen(text)
        self._circle.setPen(pg.mkPen(faint, width=1.5))
        for line in self._axes:
            line.setPen(pg.mkPen(faint, style=Qt.PenStyle.DashLine))
        font = QFont(self.font())
        font.setPointSizeF(max(7.0, font.pointSizeF() * 0.9))
        for word in self._words:
            word.setColor(palette_colour(QPalette.ColorRole.Text, 170))
            word.setFont(font)
        colours = []
        for m in MODALITIES:
            c = QColor(MODALITY_COLOURS[m])
            c.setAlpha(210)
            colours.append(c)
        self.scatter.setColours(colours)
        self.results.setPen(pg.mkPen(palette_colour(QPalette.ColorRole.Text, 150), width=1.5))
        self.results.setBrush(QBrush(Qt.BrushStyle.NoBrush))
        self.marker.setPen(pg.mkPen(hi, width=3))
        self.marker.setBrush(QBrush(hi))
        self.trajectory.setPen(pg.mkPen(hi, width=2.5))
        self.trajectory.setSymbolBrush(QBrush(hi))
        self.trajectory.setSymbolPen(None)
        pen = QPen(hi, 1.5)
        pen.setCosmetic(True)
        self._region.setPen(pen)
        self._region.setBrush(QBrush(palette_colour(QPalette.ColorRole.Highlight, 40)))
        self._redraw()

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.Type.ToolTip and watched is self.plot.viewport():
            if self._hover_row >= 0:
                self._show_tooltip(self._hover_row)  # the point's tooltip stays while the pointer rests on it
            return True  # never the scene's own (empty) tooltip, which would hide it
        return super().eventFilter(watched, event)

    # -- events -------------------------------------------------------------------------

    def _on_toggle_changed(self, _checked: bool) -> None:
        self._redraw()

    def _on_region_mode_toggled(self, on: bool) -> None:
        self._vb.region_mode = on
        self.plot.setCursor(Qt.CursorShape.CrossCursor if on else Qt.CursorShape.ArrowCursor)

    def _on_view_clicked(self, v: float, a: float) -> None:
        v, a = max(-1.0, min(1.0, v)), max(-1.0, min(1.0, a))
        self.set_marker(v, a)
        self.point_clicked.emit(v, a)

    def _on_region_dragged(self, v0: float, a0: float, v1: float, a1: float, finished: bool) -> None:
        region = ("rect", min(v0, v1), min(a0, a1), max(v0, v1), max(a0, a1))
        self.set_region(region)
        if finished:
            self.region_selected.emit(region)

    def _nearest_row(self, scene_pos) -> int:
        if self._all is None or self._shown.size == 0 or not self._vb.sceneBoundingRect().contains(scene_pos):
            return -1
        p = self._vb.mapSceneToView(scene_pos)
        sx, sy = self._vb.viewPixelSize()
        dx = (self._all.valence[self._shown] - p.x()) / sx
        dy = (self._all.arousal[self._shown] - p.y()) / sy
        d2 = dx * dx + dy * dy
        i = int(np.argmin(d2))
        return int(self._shown[i]) if d2[i] <= _HOVER_PX * _HOVER_PX else -1

    def _on_mouse_moved(self, args) -> None:
        row = self._nearest_row(args[0])
        if row == self._hover_row:
            return
        self._hover_row = row
        if row < 0:
            QToolTip.hideText()
            self.item_hovered.emit(-1)
            return
        self.item_hovered.emit(int(self._all.ids[row]))
        self._show_tooltip(row)

    def _show_tooltip(self, row: int) -> None:
        QToolTip.showText(QCursor.pos(), self.tooltip_html(row), self.plot)

    def tooltip_html(self, row: int) -> str:
        """Rich-text tooltip of a point: escaped file name, scores and a cached thumbnail."""
        path = self._all.paths[row]
        modality = str(self._all.modality[row])
        thumb = self._thumbs.request(path, modality) if self._thumbs is not None else None
        img = f'<br><img src="{html.escape(thumb, quote=True)}">' if thumb else ""
        label = self._all.labels.get(int(self._all.ids[row])) or shown_name(path)
        return (f"<b>{html.escape(label)}</b><br>"
                f"{html.escape(MODALITY_LABELS.get(modality, modality))} · valence {self._all.valence[row]:+.2f}"
                f" · arousal {self._all.arousal[row]:+.2f}{img}")

    def _on_thumbnail_ready(self, path: str, png: str) -> None:
        if png and self._hover_row >= 0 and self._all.paths[self._hover_row] == path:
            self._show_tooltip(self._hover_row)
