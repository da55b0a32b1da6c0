"""What a new user meets in the first minutes (issue 23): the map's hover tooltip,
fresh results after indexing, a map that stays put, list thumbnails, the play
button's icon, the indexing ETA, the window's title and header, About, the
alignment dialog's wording and the quick look."""

from __future__ import annotations

import os

import pytest
from gui_helpers import BASE, copy_db, make_library, view_to_widget
from PySide6.QtCore import QEvent, QPointF, Qt, QTimer
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
    assert "photo" in w.results.summary.text()
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
    # the first load builds its Annoy index in a background thread; a foreground call
    # waits for that build (or does it), so its log line lands before the window below
    data._engine[1].rebuild_if_needed()
    with caplog.at_level(logging.INFO):
        again = data.load_library(db, models)
    assert again is first
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "index" in r.getMessage()]


def test_the_window_is_named_by_the_librarys_folders(qtbot, window, library):
    qtbot.waitUntil(lambda: window.library.roots.count() == 1, timeout=10000)
    assert window.windowTitle() == "media"  # the folder's name, not "library.sqlite3"
    from emobrowser.gui.about_dialog import library_title

    assert library_title(["/x/Photos", "/y/Music/"]) == "Photos, Music"
    assert library_title([f"/r/{i}" for i in range(5)]) == "0, 1, 2 +2 more"


def test_the_results_header_stays_on_one_line(qtbot, window):
    window.splitter.setSizes([900, 330])  # a narrow results panel
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    QApplication.processEvents()
    summary = window.results.summary
    line = summary.fontMetrics().height()
    assert summary.height() < 2 * line
    assert summary.toolTip() == summary.text() and "results" in summary.text()


def test_a_menu_items_status_tip_times_out(qtbot, window, monkeypatch):
    from PySide6.QtGui import QStatusTipEvent

    from emobrowser.gui import main_window

    monkeypatch.setattr(main_window, "STATUS_TIP_MS", 200, raising=False)
    QApplication.sendEvent(window, QStatusTipEvent("Look for new and changed files"))
    assert window.statusBar().currentMessage() == "Look for new and changed files"
    QApplication.sendEvent(window, QStatusTipEvent(""))  # the pointer leaves the menu item
    _after(qtbot, 600)
    assert window.statusBar().currentMessage() == ""


def test_about_names_the_version_the_models_and_the_licences(qtbot, window):
    from emobrowser import __version__
    from emobrowser.gui.about_dialog import AboutDialog, about_html
    from emobrowser.models import registry

    action = next(a for a in window.findChildren(type(window.menuBar().actions()[0])) if "About" in a.text())
    action.trigger()
    dialog = window.findChild(AboutDialog)
    assert dialog is not None and dialog.isVisible()
    text = dialog.summary.toPlainText()
    assert __version__ in text and "baseline" in text  # the models this window uses
    full = about_html()  # the shipped models
    for model in (registry.image_model(None), registry.audio_model(None)):
        assert f"{model.info.name} version {model.info.version}" in full
    for needed in ("Apache", "OASIS", "Emotion6", "DEAM", "4Q", "research use only", "EfficientNet-Lite3", "musicnn",
                   "ISC"):
        assert needed in full, needed
    for holder in ("Jordi Pons", "EfficientNet-Lite3", "TERMS AND CONDITIONS FOR USE"):  # the full notices
        assert holder in dialog.notices.toPlainText(), holder
    dialog.close()


@pytest.fixture(scope="module")
def video_library(tmp_path_factory):
    """Three photos and a video, indexed with the baseline models."""
    from emobrowser.index.pipeline import index_library
    from emobrowser.index.store import Store
    from emobrowser.media import synth

    root = tmp_path_factory.mktemp("quicklook")
    media = root / "media"
    media.mkdir()
    for i, kind in enumerate(("warm", "vivid", "cool")):
        synth.write_image(media / f"{kind}.jpg", synth.draw_image(kind, (240, 320), seed=i))
    synth.write_video(media / "clip.mp4", [("warm", {"bpm": 120, "loudness": 0.6})], seconds_per_scene=2.0)
    db = root / "library.sqlite3"
    with Store(db) as store:
        summary = index_library(store, [str(media)], workers=1, **BASE)
    assert summary.indexed == 4, summary
    return db, media


def test_quick_look_shows_results_large_and_steps_through_them(qtbot, video_library, tmp_path, monkeypatch):
    from gui_helpers import lift_relevance_limit
    from PySide6.QtGui import QDesktopServices

    from emobrowser.gui.main_window import MainWindow

    from emobrowser.media import images

    def in_this_process(*_args, **_kwargs):
        raise AssertionError("decoded in the GUI process")

    monkeypatch.setattr(images, "decode_image", in_this_process)  # the helper process is spawned: unaffected
    lift_relevance_limit(monkeypatch)
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    w = MainWindow(copy_db(video_library[0], tmp_path), auto_index=False, **BASE)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitUntil(lambda: len(w.results.model.hits) == 4 and not w.query_lane.busy(), timeout=15000)
    hits = w.results.model.hits
    first = next(i for i, h in enumerate(hits) if h.modality == "image")
    w.results.view.setCurrentIndex(w.results.model.index(first))
    w.results.view.setFocus()
    qtbot.keyClick(w.results.view, Qt.Key.Key_Space)
    look = w.quick_look
    assert look is not None and look.isVisible()
    assert look.current_hit() is hits[first]
    qtbot.waitUntil(look.has_picture, timeout=15000)  # drawn by the guarded helper process
    assert look.picture.pixmap().width() > 160  # larger than a thumbnail
    # the arrows step through the results, and the results follow
    seen = {look.current_hit().path}
    for _ in range(len(hits)):
        qtbot.keyClick(look, Qt.Key.Key_Right)
        seen.add(look.current_hit().path)
        assert w.results.current_hit() is look.current_hit()
    assert seen == {h.path for h in hits}
    qtbot.keyClick(look, Qt.Key.Key_Left)
    assert look.row == len(hits) - 2
    # a video shows its poster, and Enter plays it in the system player
    video = next(i for i, h in enumerate(hits) if h.modality == "video")
    while look.row != video:
        qtbot.keyClick(look, Qt.Key.Key_Left if look.row > video else Qt.Key.Key_Right)
    qtbot.waitUntil(look.has_picture, timeout=15000)
    qtbot.keyClick(look, Qt.Key.Key_Return)
    assert opened == [hits[video].path]
    qtbot.keyClick(look, Qt.Key.Key_Escape)
    assert not look.isVisible()
    w.close()


def test_the_align_dialog_says_in_plain_words_what_it_needs_changes_and_keeps(qtbot, window):
    """A library without videos: the message says what aligning needs (videos with sound,
    minutes of video), what it would change and what is in force now, without jargon."""
    with qtbot.waitSignal(window.alignment.finished, timeout=60000):
        window.align_action.trigger()
    text = window.alignment.message.text()
    assert "at least 3 videos with sound" in text and "minutes of video in all" in text
    assert "This library has 0 videos with sound (0.0 minutes)" in text
    assert "moves the photos on the map" in text and "Songs stay where they are" in text
    assert "Now: photos sit where the photo model puts them" in text
    for jargon in ("anchor", "identity", "baseline/", "image-va", "audio-va", "segments"):
        assert jargon not in text.lower(), jargon
    window.alignment.message.close()


def test_the_results_grid_keeps_its_columns_when_the_results_fit_without_scrolling(qtbot):
    """With fewer results than fill the panel (no scroll bar), the cards wrapped into one column."""
    from emobrowser.gui.results_panel import ResultsPanel
    from emobrowser.index.library import Hit

    panel = ResultsPanel()
    qtbot.addWidget(panel)
    panel.resize(470, 780)
    panel.show()
    for n in (13, 7, 3):
        panel.set_hits([Hit(i, f"/x/{i}.jpg", "image", 0.1, 0.1, 0.1) for i in range(n)])
        QApplication.processEvents()
        panel.view.doItemsLayout()
        columns = {panel.view.visualRect(panel.model.index(i)).x() for i in range(min(n, 4))}
        assert len(columns) == 2, (n, panel.view.viewport().width(), panel.view.gridSize())
