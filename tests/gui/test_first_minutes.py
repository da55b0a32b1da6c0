"""What a new user meets in the first minutes (issue 23): the map's hover tooltip,
fresh results after indexing, a map that stays put, list thumbnails, the play
button's icon, the indexing ETA, the window's title and header, About, the
alignment dialog's wording and the quick look."""

from __future__ import annotations

import os

import pytest
from gui_helpers import BASE, copy_db, make_library, view_to_widget
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt, QTimer
from PySide6.QtGui import QHelpEvent, QMouseEvent
from PySide6.QtWidgets import QApplication, QToolTip


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return make_library(tmp_path_factory.mktemp("firstlib"))


@pytest.fixture
def window(qtbot, library, tmp_path):
    from emobrowser.gui.main_window import MainWindow

    w = MainWindow(copy_db(library[0], tmp_path), auto_index=False, **BASE)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitUntil(lambda: w.points is not None and len(w.points) == 11, timeout=15000)
    qtbot.waitUntil(lambda: not w.query_lane.busy() and bool(w.results.model.hits), timeout=10000)
    yield w
    w.close()


def _after(qtbot, ms: int) -> None:
    """Let the event loop run until a timer started now fires: every timer of ``ms``
    or less started before it (such as a tooltip's hide timer) has fired by then."""
    timer = QTimer(singleShot=True, interval=ms)
    with qtbot.waitSignal(timer.timeout, timeout=ms + 10000):
        timer.start()


def test_the_map_tooltip_stays_while_the_pointer_rests_on_a_point(qtbot, window):
    c = window.circumplex
    row = int(window.points.modality.tolist().index("audio"))
    pos = view_to_widget(c, float(window.points.valence[row]), float(window.points.arousal[row]))
    viewport = c.plot.viewport()
    move = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(viewport.mapToGlobal(pos)),
                       Qt.MouseButton.NoButton, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(viewport, move)
    name = os.path.basename(window.points.paths[row])
    qtbot.waitUntil(lambda: QToolTip.isVisible() and name in QToolTip.text(), timeout=5000)
    # The pointer rests: Qt asks the view for its tooltip, as it does after ~0.7 s.
    QApplication.sendEvent(viewport, QHelpEvent(QEvent.Type.ToolTip, pos, viewport.mapToGlobal(pos)))
    _after(qtbot, 1000)
    assert QToolTip.isVisible() and name in QToolTip.text()


def test_results_found_while_indexing_are_refreshed_when_more_is_scored(qtbot, library, tmp_path):
    """Songs scored first fill the page; the photos scored later must join it."""
    from gui_helpers import wait_for_indexer

    from emobrowser.gui.main_window import MainWindow
    from emobrowser.index.pipeline import index_library
    from emobrowser.index.store import Store

    media = library[1]
    db = tmp_path / "songs_first.sqlite3"
    with Store(db) as store:
        index_library(store, [str(media / "music")], workers=1, **BASE)
    w = MainWindow(db, auto_index=False, **BASE)
    qtbot.addWidget(w)
    w.search.k_spin.setValue(3)  # the page is full with the three songs
    w.show()
    qtbot.waitUntil(lambda: len(w.results.model.hits) == 3, timeout=15000)
    assert {h.modality for h in w.results.model.hits} == {"audio"}
    w.add_folders([str(media)])
    wait_for_indexer(qtbot, w, 120000)
    qtbot.waitUntil(lambda: w.points is not None and len(w.points) == 11, timeout=15000)
    qtbot.waitUntil(lambda: not w.query_lane.busy(), timeout=10000)
    assert "image" in {h.modality for h in w.results.model.hits}
    assert "image" in w.results.summary.text()
    w.close()


def _select(qtbot, w, modality: str) -> None:
    row = next(i for i, h in enumerate(w.results.model.hits) if h.modality == modality)
    if modality == "audio":
        with qtbot.waitSignal(w.timeline_lane.job_finished, timeout=10000):
            w.results.view.setCurrentIndex(w.results.model.index(row))
    else:
        w.results.view.setCurrentIndex(w.results.model.index(row))
    QApplication.processEvents()


@pytest.mark.parametrize("size", [(1200, 800), (1024, 600)])
def test_the_map_keeps_its_frame_when_the_selection_changes(qtbot, window, size):
    window.resize(*size)

    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    _select(qtbot, window, "image")
    plot = window.circumplex.plot
    frame = plot.geometry()
    view = window.circumplex._vb.viewRect()
    _select(qtbot, window, "audio")
    assert window.detail.plot.isVisibleTo(window.detail)
    assert plot.geometry() == frame and window.circumplex._vb.viewRect() == view
    _select(qtbot, window, "image")
    assert not window.detail.plot.isVisibleTo(window.detail)
    assert plot.geometry() == frame and window.circumplex._vb.viewRect() == view


def test_list_view_rows_get_their_thumbnails_without_scrolling(qtbot, window, monkeypatch):
    """The list shows more rows than the grid showed cards: the newly shown rows get
    their thumbnails without the user scrolling."""
    from gui_helpers import lift_relevance_limit

    lift_relevance_limit(monkeypatch)
    w = window
    w.resize(900, 560)
    with qtbot.waitSignal(w.query_lane.job_finished, timeout=5000):
        w.search.set_point(0.0, 0.0)
    QApplication.processEvents()
    in_grid = {h.path for h in w.results.visible_hits()}
    w.results.grid_button.click()  # the list view
    QApplication.processEvents()
    newly = [h for h in w.results.visible_hits() if h.modality == "image" and h.path not in in_grid]
    assert newly, "the list must show photos the grid did not"
    qtbot.waitUntil(lambda: all(w.results.model.has_thumbnail(h.path) for h in newly), timeout=15000)


def test_the_play_button_uses_the_styles_media_icons_not_symbol_characters(qtbot):
    from PySide6.QtWidgets import QStyle

    from emobrowser.gui.results_panel import ResultsPanel

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    style = panel.style()
    for playing, icon in ((True, QStyle.StandardPixmap.SP_MediaPause), (False, QStyle.StandardPixmap.SP_MediaPlay)):
        panel.preview.playing_changed.emit("/x/song.mp3", playing)
        button = panel.play_button
        assert button.text() == ("Pause" if playing else "Play")
        expected = style.standardIcon(icon).pixmap(16, 16).toImage()
        assert button.icon().pixmap(16, 16).toImage() == expected


def test_reloading_an_unchanged_library_reuses_its_index_and_logs_nothing(library, tmp_path, caplog):
    """The window reloads every 2 s while indexing; the log repeated "loaded the cached
    items index" each time."""
    import logging

    from emobrowser.gui import data

    db = copy_db(library[0], tmp_path)
    models = data.model_keys("baseline", "baseline")
    first = data.load_library(db, models)
    data.run_query(first, data.QuerySpec())
    with caplog.at_level(logging.INFO):
        again = data.load_library(db, models)
    assert again is first
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "index" in r.getMessage()]
