"""Colours shared by the panels: modality colours and the valence/arousal colour map.

Modality colours are mid-tone so they read on light and dark palettes alike; every
other colour comes from the application palette.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtGui import QColor, QIcon, QPalette, QPixmap
from PySide6.QtWidgets import QApplication, QCheckBox, QLabel, QSizePolicy, QToolButton

MODALITY_COLOURS = {"image": QColor(66, 133, 244), "audio": QColor(240, 128, 32), "video": QColor(46, 170, 90)}
MODALITY_LABELS = {"image": "Photos", "audio": "Music", "video": "Videos"}


def palette_colour(role: QPalette.ColorRole, alpha: int = 255) -> QColor:
    colour = QColor(QApplication.palette().color(role))
    colour.setAlpha(alpha)
    return colour


def swatch_icon(colour: QColor, side: int = 12) -> QIcon:
    pixmap = QPixmap(side, side)
    pixmap.fill(colour)
    return QIcon(pixmap)


def modality_box(modality: str, on_toggled, tooltip: str | None = None) -> QCheckBox:
    """A checked box naming a modality, with its colour swatch: a toggle and a legend."""
    box = QCheckBox(MODALITY_LABELS[modality], checked=True)
    box.setIcon(swatch_icon(MODALITY_COLOURS[modality]))
    if tooltip:
        box.setToolTip(tooltip)
    box.toggled.connect(on_toggled)
    return box


def tool_button(text: str, tooltip: str, slot, checkable: bool = False) -> QToolButton:
    """A toolbar button: ``slot`` gets ``toggled(bool)`` if checkable, else ``clicked``."""
    button = QToolButton(text=text)
    button.setToolTip(tooltip)
    button.setCheckable(checkable)
    (button.toggled if checkable else button.clicked).connect(slot)
    return button


def va_colour(valence: float, arousal: float) -> QColor:
    """A colour for a point of the circumplex: hue from its angle (pleasant = green,
    excited-unpleasant = red, calm-unpleasant = blue), strength from its distance to
    the centre, so a neutral moment is grey."""
    angle = math.degrees(math.atan2(arousal, valence)) % 360
    # Angle 0 (pleasant) -> 100 (green); 100 (tense) -> 0 (red); 210 (sad) -> 230 (blue); 300 (calm) -> 170 (teal).
    stops = [(0, 100), (60, 50), (100, 0), (150, 330), (210, 230), (270, 200), (320, 160), (360, 100)]
    for (a0, h0), (a1, h1) in zip(stops, stops[1:]):
        if a0 <= angle <= a1:
            dh = ((h1 - h0 + 180) % 360) - 180
            hue = (h0 + dh * (angle - a0) / (a1 - a0)) % 360
            break
    strength = min(1.0, math.hypot(valence, arousal))
    return QColor.fromHsv(int(hue), int(40 + 200 * strength), 225)


def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` literally: Qt guesses whether a tooltip is rich text,
    so a file named "<b>x</b>.jpg" would otherwise be rendered as markup."""
    import html

    return f"<p style='white-space:pre'>{html.escape(text)}</p>"


class ElidedLabel(QLabel):
    """Plain text cut in the middle ("…") to the label's width, line by line.

    A long file or folder name has no spaces to wrap at, so a wrapping label would
    set the window's minimum width to the name's; this one never asks for more
    width than its layout gives it. ``full_text`` keeps the whole text.
    """

    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self._full = ""
        self.set_full_text(text)

    def set_full_text(self, text: str) -> None:
        self._full = text
        self._elide()

    def full_text(self) -> str:
        return self._full

    def minimumSizeHint(self) -> QSize:
        return QSize(0, super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._elide()

    def _elide(self) -> None:
        metrics, width = self.fontMetrics(), max(1, self.contentsRect().width())
        self.setText("\n".join(metrics.elidedText(line, Qt.TextElideMode.ElideMiddle, width)
                               for line in self._full.split("\n")))
