"""The detail view: the selected item's picture, scores and, for music and videos,
its emotion timeline (valence and arousal over time)."""

from __future__ import annotations


import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QPalette, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QStackedWidget, QVBoxLayout, QWidget

from emobrowser.gui.style import MODALITY_LABELS, ElidedLabel, palette_colour, plain_tooltip
from emobrowser.index.store import shown
from emobrowser.index.tags import detail_lines, hit_label

VALENCE_COLOUR = (46, 160, 90)
AROUSAL_COLOUR = (220, 80, 60)


class DetailPanel(QWidget):
    """Shows one Hit; ``set_timeline`` fills the plot when the timeline arrives."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.picture = QLabel()
        self.picture.setFixedSize(128, 96)
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        glyph = self.picture.font()
        glyph.setPixelSize(56)
        self.picture.setFont(glyph)
        self.title = ElidedLabel("Nothing selected")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.info = ElidedLabel()  # not selectable: a selection would copy the cut text
        text = QVBoxLayout()
        text.addWidget(self.title)
        text.addWidget(self.info)
        text.addStretch(1)

        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setYRange(-1, 1, padding=0.05)
        self.plot.setLabel("bottom", "time (s)")
        self.plot.setMinimumHeight(120)
        self.valence_curve = self.plot.plot(stepMode="center")
        self.arousal_curve = self.plot.plot(stepMode="center")
        self.legend = QLabel()  # outside the plot, so it never hides the curves
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.zero = pg.InfiniteLine(0, angle=0)
        self.plot.addItem(self.zero)
        self.no_timeline = QLabel("Photos have one point; music and videos also show how their mood changes "
                                  "over time here.")
        self.no_timeline.setWordWrap(True)
        self.no_timeline.setAlignment(Qt.AlignmentFlag.AlignCenter)

        top = QHBoxLayout()
        top.addWidget(self.picture)
        top.addLayout(text, 1)
        # The timeline and the note that replaces it share one page stack, so the panel
        # asks for the same room whatever is selected and the map above never moves.
        timeline_page = QWidget()
        page = QVBoxLayout(timeline_page)
        page.setContentsMargins(0, 0, 0, 0)
        page.addWidget(self.legend)
        page.addWidget(self.plot, 1)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.no_timeline)
        self.stack.addWidget(timeline_page)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.stack, 1)
        self._apply_palette()

    def show_hit(self, hit, thumbnail: str | None) -> None:
        self.set_timeline(None)
        if hit is None:
            self.title.set_full_text("Nothing selected")
            self.title.setToolTip("")
            self.info.setToolTip("")
            self.info.set_full_text("")
            self.picture.clear()
            return
        path = shown(hit.path)
        self.title.set_full_text(hit_label(hit))
        self.title.setToolTip(plain_tooltip(path))
        self.info.setToolTip(plain_tooltip(path))
        # album and year, or date taken, then the file's whole path
        lines = [MODALITY_LABELS.get(hit.modality, hit.modality), *detail_lines(hit),
                 f"valence {hit.valence:+.2f}   arousal {hit.arousal:+.2f}", path]
        self.info.set_full_text("\n".join(lines))
        self.set_thumbnail(thumbnail)
        if not thumbnail:
            self.picture.setText({"audio": "♪", "video": "▶"}.get(hit.modality, ""))

    def set_thumbnail(self, png: str | None) -> None:
        pixmap = QPixmap(png) if png else QPixmap()
        if pixmap.isNull():
            self.picture.clear()
            return
        self.picture.setPixmap(pixmap.scaled(self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                             Qt.TransformationMode.SmoothTransformation))

    def set_timeline(self, timeline) -> None:
        """Plot a data.Timeline (or hide the plot for None / an empty one)."""
        if timeline is None or len(timeline) == 0:
            self.stack.setCurrentWidget(self.no_timeline)
            return
        edges = np.append(timeline.start, timeline.end[-1])
        self.valence_curve.setData(edges, timeline.valence)
        self.arousal_curve.setData(edges, timeline.arousal)
        self.plot.setXRange(0, float(edges[-1]), padding=0.01)
        self.stack.setCurrentIndex(1)

    def _apply_palette(self) -> None:
        self.plot.setBackground(palette_colour(QPalette.ColorRole.Base))
        text = palette_colour(QPalette.ColorRole.Text)
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setPen(palette_colour(QPalette.ColorRole.Text, 120))
            self.plot.getAxis(name).setTextPen(text)
        v, a = ("#%02x%02x%02x" % c for c in (VALENCE_COLOUR, AROUSAL_COLOUR))
        self.legend.setText(f'Emotion over time: <span style="color:{v}">━━ valence</span> '
                            f'&nbsp; <span style="color:{a}">━━ arousal</span>')
        self.valence_curve.setPen(pg.mkPen(VALENCE_COLOUR, width=2))
        self.arousal_curve.setPen(pg.mkPen(AROUSAL_COLOUR, width=2))
        self.zero.setPen(pg.mkPen(palette_colour(QPalette.ColorRole.Text, 90), style=Qt.PenStyle.DashLine))

    def changeEvent(self, event) -> None:
        if event.type() == QEvent.Type.PaletteChange:
            self._apply_palette()
        super().changeEvent(event)
