"""The search panel: mood words, valence/arousal sliders, k, balance, modalities, folder."""

from __future__ import annotations

import html
import math
import re

from PySide6.QtCore import QStringListModel, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QCompleter, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout,
                               QLabel, QLineEdit, QPushButton, QSlider, QSpinBox, QVBoxLayout,
                               QWidget)

from emobrowser.gui.data import QuerySpec
from emobrowser.gui.style import modality_box, tool_button

MODALITIES = ("image", "audio", "video")
_SLIDER_SCALE = 100


def _vocabulary() -> list[str]:
    try:
        from emobrowser.index.moods import vocabulary

        return vocabulary()
    except ImportError:
        return []


class _LastWordCompleter(QCompleter):
    """Completes the last word of a phrase such as "happy but cal"."""

    def splitPath(self, path: str) -> list[str]:
        return [re.split(r"[\s,;/+&]+", path)[-1]]

    def pathFromIndex(self, index) -> str:
        text = self.widget().text()
        head = re.match(r"^(.*[\s,;/+&])?", text).group(0) or ""
        return head + index.data()


class SearchPanel(QWidget):
    """Builds a QuerySpec from the controls; ``query_requested`` carries it."""

    query_requested = Signal(object)  # QuerySpec
    more_like_this_requested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.mood_edit = QLineEdit(placeholderText="Mood or name, e.g. calm, happy but tired, an artist…")
        self.mood_edit.setClearButtonEnabled(True)
        self.mood_edit.setToolTip("Describe a mood in words, or type part of a file name, title, artist or album "
                                  "(Ctrl+F); press Enter to search. Mood words search by mood; anything else "
                                  "searches names and tags")
        completer = _LastWordCompleter(QStringListModel(_vocabulary(), self), self)
        completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        completer.setFilterMode(Qt.MatchFlag.MatchStartsWith)
        self.mood_edit.setCompleter(completer)
        self.mood_edit.returnPressed.connect(self._on_mood_entered)
        self.mood_edit.textChanged.connect(self._on_mood_text_changed)
        self.mood_error = QLabel()
        self.mood_error.setWordWrap(True)
        self.mood_error.setTextFormat(Qt.TextFormat.RichText)
        self.mood_error.linkActivated.connect(self._on_suggestion_clicked)
        self.mood_error.hide()

        self.valence_slider, self.valence_value = self._slider("Valence: unpleasant (−1) to pleasant (+1)")
        self.arousal_slider, self.arousal_value = self._slider("Arousal: calm (−1) to excited (+1)")
        self.k_spin = QSpinBox(minimum=1, maximum=1000, value=40)
        self.k_spin.setToolTip("How many results to show")
        from emobrowser.index.balance import DEFAULT_BALANCE

        self.balance_spin = QDoubleSpinBox(minimum=1.0, maximum=20.0, singleStep=0.5, value=DEFAULT_BALANCE,
                                           decimals=1)
        self.balance_spin.setToolTip("Balance factor: 1 = strict nearest first; higher mixes photos, music and "
                                     "videos more evenly")
        self.modality_boxes: dict[str, QCheckBox] = {}
        kinds = QHBoxLayout()
        for m in MODALITIES:
            box = modality_box(m, self._on_modality_toggled)
            self.modality_boxes[m] = box
            kinds.addWidget(box)
        kinds.addStretch(1)
        self.folder_edit = QLineEdit(placeholderText="All folders")
        self.folder_edit.setClearButtonEnabled(True)
        self.folder_edit.setToolTip("Only show items under this folder")
        self.folder_edit.editingFinished.connect(self._on_control_changed)
        browse = tool_button("…", "Choose a folder to search in", self._on_browse_clicked)
        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)

        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self._on_search_clicked)
        self.more_button = QPushButton("More like this")
        self.more_button.setToolTip("Find items whose emotion matches the selected result")
        self.more_button.setEnabled(False)
        self.more_button.clicked.connect(self.more_like_this_requested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.search_button)
        buttons.addWidget(self.more_button)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Valence", self._row(self.valence_slider, self.valence_value))
        form.addRow("Arousal", self._row(self.arousal_slider, self.arousal_value))
        counts = QHBoxLayout()
        counts.addWidget(self.k_spin)
        counts.addWidget(QLabel("Balance"))
        counts.addWidget(self.balance_spin)
        counts.addStretch(1)
        form.addRow("Results", counts)
        form.addRow("Show", kinds)
        form.addRow("Folder", folder_row)
        layout = QVBoxLayout(self)
        layout.addWidget(self.mood_edit)
        layout.addWidget(self.mood_error)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addStretch(1)

        self._region = None
        self._text: str | None = None  # typed text that is not a mood: a search of names and tags
        self._mood_words: str | None = None  # the mood words the point came from
        self._exclude: tuple[int, ...] = ()
        # The point of a click or of "more like this" as given; the sliders hold it only
        # to 0.01. None once a slider moves.
        self._exact: tuple[float, float] | None = None
        # The modalities of one "find matching" search; the boxes stay as the user set them.
        self._only: tuple[str, ...] | None = None
        self._debounce = QTimer(self, singleShot=True, interval=120)
        self._debounce.timeout.connect(self._emit_query)
        for w in (self.valence_slider, self.arousal_slider):
            w.valueChanged.connect(self._on_slider_moved)
        self.k_spin.valueChanged.connect(self._on_control_changed)
        self.balance_spin.valueChanged.connect(self._on_control_changed)

    @staticmethod
    def _row(*widgets) -> QWidget:
        w = QWidget()
        row = QHBoxLayout(w)
        row.setContentsMargins(0, 0, 0, 0)
        for x in widgets:
            row.addWidget(x)
        return w

    def _slider(self, tip: str) -> tuple[QSlider, QLabel]:
        slider = QSlider(Qt.Orientation.Horizontal, minimum=-_SLIDER_SCALE, maximum=_SLIDER_SCALE, value=0)
        slider.setToolTip(tip)
        value = QLabel("+0.00")
        value.setMinimumWidth(value.fontMetrics().horizontalAdvance("+0.00 "))
        return slider, value

    # -- public ---------------------------------------------------------------------------

    def set_point(self, valence: float, arousal: float, run: bool = True, keep_mood: bool = False) -> None:
        """Move the sliders to a point (without a query per slider) and optionally search.
        The mood box is cleared unless the point comes from it (``keep_mood``): it
        shows what was searched for, and a click on the map is not that mood."""
        self._region, self._exclude, self._only = None, (), None
        if not keep_mood:
            self._clear_mood()
        self._exact = (max(-1.0, min(1.0, float(valence))), max(-1.0, min(1.0, float(arousal))))
        for slider, label, x in ((self.valence_slider, self.valence_value, valence),
                                 (self.arousal_slider, self.arousal_value, arousal)):
            slider.blockSignals(True)
            slider.setValue(round(max(-1.0, min(1.0, x)) * _SLIDER_SCALE))
            slider.blockSignals(False)
            label.setText(f"{x:+.2f}")
        if run:
            self._emit_query()

    def set_region(self, region) -> None:
        self._region, self._exclude, self._only = region, (), None
        self._clear_mood()
        self._emit_query()

    def _clear_mood(self) -> None:
        self._text = self._mood_words = None
        if self.mood_edit.text():
            self.mood_edit.clear()
            self.mood_error.hide()

    def set_modalities(self, modalities) -> None:
        for m, box in self.modality_boxes.items():
            box.blockSignals(True)
            box.setChecked(m in modalities)
            box.blockSignals(False)

    def spec(self) -> QuerySpec:
        """The search the controls describe. Text that is not a mood (see
        _on_mood_entered) searches names and tags: every match up to k, nearest to
        neutral first."""
        valence, arousal = self._exact or (self.valence_slider.value() / _SLIDER_SCALE,
                                           self.arousal_slider.value() / _SLIDER_SCALE)
        modalities = self._only if self._only is not None else tuple(
            m for m, b in self.modality_boxes.items() if b.isChecked())
        folder = self.folder_edit.text().strip() or None
        if self._text:
            return QuerySpec(valence=0.0, arousal=0.0, k=self.k_spin.value(), balance=1.0, modalities=modalities,
                             folder=folder, max_distance=math.inf, text=self._text)
        return QuerySpec(valence=valence, arousal=arousal, region=self._region,
                         k=self.k_spin.value(), balance=self.balance_spin.value(), modalities=modalities,
                         folder=folder, exclude=self._exclude, mood=self._mood_words)

    def search_like(self, valence: float, arousal: float, exclude: tuple[int, ...], modalities=None) -> None:
        """Search around an item's point, leaving the item itself out; ``modalities``
        limits this one search (the next click searches the ticked ones again)."""
        self.set_point(valence, arousal, run=False)
        if modalities is not None:
            self._only = tuple(modalities)
        self._exclude = tuple(exclude)
        self._emit_query()

    # -- slots ----------------------------------------------------------------------------

    def _emit_query(self) -> None:
        self._debounce.stop()
        self.query_requested.emit(self.spec())

    def _on_slider_moved(self, _value: int) -> None:
        self._region, self._exclude, self._exact, self._only = None, (), None, None
        self._clear_mood()
        self.valence_value.setText(f"{self.valence_slider.value() / _SLIDER_SCALE:+.2f}")
        self.arousal_value.setText(f"{self.arousal_slider.value() / _SLIDER_SCALE:+.2f}")
        self._debounce.start()

    def _on_control_changed(self, *_args) -> None:
        self._debounce.start()

    def _on_modality_toggled(self, *_args) -> None:
        self._only = None  # the boxes rule again
        self._debounce.start()

    def _on_search_clicked(self) -> None:
        if self.mood_edit.text().strip():
            self._on_mood_entered()
        else:
            self._emit_query()

    def _on_mood_text_changed(self, text: str) -> None:
        if not text.strip():
            self.mood_error.hide()  # a cleared box has nothing wrong with it

    def _on_mood_entered(self) -> None:
        text = self.mood_edit.text().strip()
        if not text:
            self.mood_error.hide()
            return
        try:
            from emobrowser.index.moods import parse_mood

            valence, arousal = parse_mood(text)
        except ImportError:
            self._show_error("Mood words are not available in this build.", [])
            return
        except ValueError as exc:
            # Not mood words: search names, titles, artists and albums for the text, and
            # offer the mood words it may have meant.
            self._unknown_word = getattr(exc, "word", "")
            self._show_error(f"Not a mood, so searching names and tags for “{text}”.",
                             list(getattr(exc, "suggestions", [])))
            self._region, self._exclude, self._only, self._mood_words = None, (), None, None
            self._text = text
            self._emit_query()
            return
        self.mood_error.hide()
        self._text, self._mood_words = None, text
        self.set_point(valence, arousal, keep_mood=True)

    def _show_error(self, message: str, suggestions: list[str]) -> None:
        links = ", ".join(f'<a href="{html.escape(s, quote=True)}">{html.escape(s)}</a>' for s in suggestions)
        text = html.escape(message.split("; did you mean")[0])
        self.mood_error.setText(text + (f"<br>Did you mean: {links}?" if links else ""))
        self.mood_error.show()

    def _on_suggestion_clicked(self, word: str) -> None:
        text, unknown = self.mood_edit.text(), getattr(self, "_unknown_word", "")
        # the unknown word as a whole token (as mood_terms splits them), never a piece of
        # a known word: "relax" in "relaxed and relax" is the second one
        token = re.compile(rf"(?<![a-z'\-]){re.escape(unknown)}(?![a-z'\-])", re.IGNORECASE)
        self.mood_edit.setText(token.sub(word, text, count=1) if unknown and token.search(text) else word)
        self._on_mood_entered()

    def _on_browse_clicked(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Search in folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)
            self._emit_query()
