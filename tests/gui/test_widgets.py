"""Smaller behaviours: folder filter, drops, settings, hover tooltips, the crash dialog."""

from __future__ import annotations

import os

import numpy as np
import pytest
from gui_helpers import BASE, EVIL_NAME, copy_db, make_library, open_window
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return make_library(tmp_path_factory.mktemp("widgetlib"))


@pytest.fixture
def window(qtbot, library, tmp_path):
    from emobrowser.gui.main_window import MainWindow

    w = MainWindow(copy_db(library[0], tmp_path), auto_index=False, **BASE)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.points is not None and len(w.points) == 11, timeout=15000)
    qtbot.waitUntil(lambda: not w.query_lane.busy(), timeout=5000)
    yield w
    w.close()


def test_folder_filter_keeps_only_items_under_the_folder(qtbot, window, library):
    music = str(library[1] / "music")
    window.search.folder_edit.setText(music)
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    hits = window.results.model.hits
    assert len(hits) == 3 and all(h.path.startswith(music + os.sep) for h in hits)


def test_folder_filter_follows_links_and_home_and_reports_a_missing_folder(qtbot, window, library, tmp_path,
                                                                           monkeypatch):
    link = tmp_path / "link_media"
    link.symlink_to(library[1])
    monkeypatch.setenv("HOME", str(library[1].parent))
    for typed in (str(link / "music"), os.path.join("~", library[1].name, "music")):
        window.search.folder_edit.setText(typed)
        with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
            window.search.set_point(0.0, 0.0)
        hits = window.results.model.hits
        assert len(hits) == 3 and {h.modality for h in hits} == {"audio"}, typed
    window.search.folder_edit.setText(str(tmp_path / "no such folder"))
    with qtbot.waitSignal(window.query_lane.job_failed, timeout=5000):
        window.search.set_point(0.0, 0.0)
    assert "no folder" in window.statusBar().currentMessage()
    # a library folder that is away (a drive not mounted) still filters its items
    away = library[1].with_name("away")
    library[1].rename(away)
    try:
        window.search.folder_edit.setText(str(library[1] / "music"))
        with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
            window.search.set_point(0.0, 0.0)
    finally:
        away.rename(library[1])
    assert len(window.results.model.hits) == 3


def test_unticking_a_modality_limits_the_search(qtbot, window):
    window.search.modality_boxes["image"].setChecked(False)
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    assert {h.modality for h in window.results.model.hits} == {"audio"}


def test_dropping_a_folder_adds_it_to_the_library(qtbot, window, tmp_path, monkeypatch):
    added = []
    monkeypatch.setattr(window, "start_indexing", lambda roots=None, demo=False: added.append(roots))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(tmp_path)), QUrl.fromLocalFile(str(tmp_path / "library.sqlite3"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert added == [[str(tmp_path)]]


def test_window_layout_and_cores_are_remembered(qtbot, library, tmp_path):
    from emobrowser.gui.main_window import MainWindow

    db = copy_db(library[0], tmp_path)
    w = MainWindow(db, auto_index=False, **BASE)
    qtbot.addWidget(w)
    w.show()
    w.resize(1200, 690)
    w.library.workers_spin.setValue(1)
    w.close()
    w2 = MainWindow(db, auto_index=False, **BASE)
    qtbot.addWidget(w2)
    w2.show()
    assert w2.height() == 690  # (the offscreen screen is 800 px wide, narrower than the window's minimum)
    assert w2.library.workers_spin.value() == 1
    w2.close()


def test_hover_tooltip_escapes_the_name_and_shows_the_thumbnail(qtbot, window):
    c = window.circumplex
    row = [os.path.basename(p) for p in window.points.paths].index(EVIL_NAME)
    first = c.tooltip_html(row)  # asks for the thumbnail, which is made in the background if need be
    assert "&lt;b&gt;evil&lt;i&gt;&amp;amp;.jpg" in first and "<b>evil" not in first
    qtbot.waitUntil(lambda: "<img" in c.tooltip_html(row), timeout=10000)
    # hovering a drawn point reports its item
    scene = c._vb.mapViewToScene(QPointF(window.points.valence[row], window.points.arousal[row]))
    with qtbot.waitSignal(c.item_hovered, timeout=2000) as blocker:
        c._on_mouse_moved((scene,))
    assert blocker.args[0] == int(window.points.ids[row]) or blocker.args[0] in set(window.points.ids.tolist())


def test_a_thumbnail_after_the_points_shrank_is_harmless(qtbot, window):
    # hover the last point, then a rescan leaves fewer points before its thumbnail comes
    from emobrowser.index.library import LibraryPoints

    c, p = window.circumplex, window.points
    last = len(p) - 1
    scene = c._vb.mapViewToScene(QPointF(p.valence[last], p.arousal[last]))
    c._on_mouse_moved((scene,))
    assert c._hover_row >= 0
    fewer = LibraryPoints(p.ids[:3], p.paths[:3], p.modality[:3], p.valence[:3], p.arousal[:3])
    c.set_points(fewer)
    window.thumbs.thumbnail_ready.emit(p.paths[last], "/nonexistent.png")  # raised IndexError in the slot
    window.thumbs.thumbnail_ready.emit(p.paths[0], "/nonexistent.png")
    assert c._hover_row == -1


def test_failures_list_shows_markup_names_as_plain_text(qtbot):
    from emobrowser.gui.library_panel import LibraryPanel

    panel = LibraryPanel()
    qtbot.addWidget(panel)
    panel.set_failures([("/m/<b>evil<i>.jpg", "corrupt <JPEG>")])
    item = panel.failures.topLevelItem(0)
    assert item.text(0) == "<b>evil<i>.jpg" and item.text(1) == "corrupt <JPEG>"
    assert "&lt;b&gt;" in item.toolTip(0) and "<b>evil" not in item.toolTip(0)


def test_uncaught_exceptions_are_logged_and_shown(qtbot, monkeypatch, caplog):
    from PySide6.QtWidgets import QMessageBox

    from emobrowser.gui import main

    shown = []
    monkeypatch.setattr(QMessageBox, "exec", lambda self: shown.append((self.text(), self.detailedText())) or 0)
    try:
        raise RuntimeError("boom <b>")
    except RuntimeError as exc:
        main._excepthook(type(exc), exc, exc.__traceback__)
    assert "uncaught exception" in caplog.text
    assert shown and "boom <b>" in shown[0][0] and "RuntimeError" in shown[0][1]


def test_results_list_mode_and_playback_degrade_without_qtmultimedia(qtbot, window):
    from emobrowser.gui.preview import QMediaPlayer

    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    panel = window.results
    panel.grid_button.setChecked(True)
    assert panel.view.viewMode() == panel.view.ViewMode.ListMode
    row = next(i for i, h in enumerate(panel.model.hits) if h.modality == "audio")
    panel.view.setCurrentIndex(panel.model.index(row))
    if QMediaPlayer is None:
        assert not panel.play_button.isEnabled() and "PySide6-Addons" in panel.play_button.toolTip()
    else:
        assert panel.play_button.isEnabled()


def test_the_last_library_is_reopened(tmp_path):
    from types import SimpleNamespace

    from emobrowser.core.paths import default_db_path
    from emobrowser.demo import demo_db_path
    from emobrowser.gui.main import choose_db
    from emobrowser.gui.settings import open_settings

    settings = open_settings()
    assert choose_db(SimpleNamespace(db=None, demo=False), settings) == default_db_path()
    mine = tmp_path / "mine.sqlite3"
    mine.write_bytes(b"")
    settings.setValue("library/last_db", str(mine))
    assert choose_db(SimpleNamespace(db=None, demo=False), settings) == mine
    assert choose_db(SimpleNamespace(db=str(tmp_path / "x.db"), demo=False), settings) == tmp_path / "x.db"
    assert choose_db(SimpleNamespace(db=None, demo=True), settings) == demo_db_path()


def test_a_very_long_name_does_not_widen_the_window(qtbot, tmp_path):
    from emobrowser.index.pipeline import index_library
    from emobrowser.index.store import Store
    from emobrowser.media import synth

    media = tmp_path / ("folder" * 30)  # a long folder name too
    media.mkdir()
    name = "x" * 240 + ".jpg"
    synth.write_image(media / name, synth.draw_image("warm", (40, 40)))
    db = tmp_path / "lib.sqlite3"
    with Store(db) as store:
        index_library(store, [str(media)], workers=1, **BASE)
    w = open_window(qtbot, db, items=1, size=(1000, 600))
    qtbot.wait(300)  # the layout settles
    width = w.width()
    w.results.view.setCurrentIndex(w.results.model.index(0))
    qtbot.wait(200)
    assert w.width() == width and w.minimumSizeHint().width() < 1200
    assert w.detail.title.full_text() == name and w.detail.title.text() != name  # shown cut short
    assert "…" in w.detail.title.text() and str(media) in w.detail.info.full_text()
    w.close()


def test_the_window_fits_a_1366_px_screen_at_125_percent_once_points_load(qtbot, window):
    # 1366 / 1.25 = 1093 logical pixels; the map's counts once pushed it to 1146
    assert window.minimumSizeHint().width() <= 1093
    for m, box in window.circumplex._toggles.items():
        count = int((window.points.modality == m).sum())
        assert f"({count:,} in the library)" in box.toolTip()


def test_the_library_panel_says_when_the_alignment_no_longer_applies(qtbot, window):
    import json

    from emobrowser.align.transform import SETTING_KEY, Transform
    from emobrowser.index.store import Store

    assert window.library.alignment_note.isHidden()
    fit = Transform(kind="affine", params={"matrix": [[1, 0], [0, 1]], "offset": [0.1, 0.0]},
                    method="procrustes", models={"image": list(window.models["image"]), "audio": ["old-audio", "1"]},
                    version=1)
    with Store(window.db_path) as store:
        store.set_setting(SETTING_KEY, json.dumps(fit.to_dict()))
    window.refresh_library()
    qtbot.waitUntil(lambda: window.library.alignment_note.isVisible(), timeout=5000)
    text = window.library.alignment_note.text()
    assert text.startswith("The procrustes alignment was fitted for old-audio/1 (now ")
    assert text.endswith("Library → Align photos with music fits it again.")


def _synthetic_window(qtbot, tmp_path, **library):
    from emobrowser.align.synthetic import fill_synthetic_library
    from emobrowser.gui.data import model_keys
    from emobrowser.gui.main_window import MainWindow
    from emobrowser.index.store import Store

    # scored by the window's models; the library's own "models" setting is left at the
    # defaults, so the fit must use the models the window shows
    keys = model_keys(BASE["image_model"], BASE["audio_model"])
    db = tmp_path / "lib.sqlite3"
    with Store(db) as store:
        fill_synthetic_library(store, image_model=keys["image"], audio_model=keys["audio"], **library)
    w = MainWindow(db, auto_index=False, **BASE)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.points is not None and len(w.points) > 0, timeout=15000)
    return w


def test_align_from_the_library_menu_fits_stores_and_reprojects(qtbot, tmp_path):
    from emobrowser.align.transform import alignment_status
    from emobrowser.index.store import Store

    w = _synthetic_window(qtbot, tmp_path, videos=4, segments=8, photos=30, songs=30)
    photo = int(np.flatnonzero(w.points.modality == "image")[0])
    before = (w.points.ids[photo], w.points.valence[photo], w.points.arousal[photo])
    with qtbot.waitSignal(w.alignment.library_changed, timeout=120000):
        w.align_action.trigger()
        assert w.alignment.dialog is not None and w.alignment.dialog.isVisible()
    qtbot.waitUntil(lambda: w.alignment.message is not None and w.alignment.message.isVisible(), timeout=5000)
    assert w.alignment.dialog is None  # the progress dialog closed
    qtbot.waitUntil(lambda: w.library.alignment_note.text().startswith("Photos are aligned with music ("),
                    timeout=10000)
    text = w.alignment.message.text()
    with Store(w.db_path) as store:
        status = alignment_status(store, w.models)
    assert status["in_force"] and status["method"] != "identity"  # the synthetic photos are rotated and scaled
    assert "Learned from 4 videos (32 moments" in text and "apart on the map" in text
    # the map reloads with the photos re-projected
    qtbot.waitUntil(lambda: w.points.valence[photo] != before[1], timeout=10000)
    assert w.points.ids[photo] == before[0]
    w.alignment.message.close()
    # Library → Remove alignment puts the photos back where the image model scored them
    w.alignment.remove()
    assert w.alignment.message.text().startswith(f"The {status['method']} alignment is removed")
    qtbot.waitUntil(lambda: abs(w.points.valence[photo] - before[1]) < 1e-9, timeout=10000)
    qtbot.waitUntil(lambda: w.library.alignment_note.isHidden(), timeout=10000)
    w.alignment.remove()  # nothing left to remove
    assert w.alignment.message.text().startswith("No alignment is stored")
    w.close()


def test_align_cancel_and_too_few_videos_store_nothing(qtbot, tmp_path):
    from PySide6.QtWidgets import QPushButton

    from emobrowser.align.transform import SETTING_KEY
    from emobrowser.index.store import Store

    w = _synthetic_window(qtbot, tmp_path, videos=2, segments=8)
    w.align_action.trigger()
    qtbot.waitUntil(lambda: w.alignment.message is not None and w.alignment.message.isVisible(), timeout=60000)
    assert w.alignment._process is None  # nothing to fit: no fit started
    text = w.alignment.message.text()
    assert "at least 3 videos with sound" in text and "This library has 2 videos with sound" in text
    w.alignment.message.close()
    w.close()

    (tmp_path / "b").mkdir()
    w = _synthetic_window(qtbot, tmp_path / "b", videos=12, segments=10)
    w.align_action.trigger()
    qtbot.waitUntil(lambda: w.alignment.dialog is not None and w.alignment.dialog.value() > 0, timeout=60000)
    process = w.alignment._process
    w.alignment.dialog.findChild(QPushButton).click()  # the user presses Cancel
    assert w.alignment.message.text().startswith("Alignment cancelled; nothing stored")
    assert not process.is_alive() and not w.alignment.is_running()
    with Store(w.db_path) as store:
        assert store.get_setting(SETTING_KEY) is None
    w.alignment.message.close()
    # closing the window during a fit stops it
    w.align_action.trigger()
    process = w.alignment._process
    w.close()
    assert not process.is_alive()


def test_the_indexing_bar_says_starting_paused_and_stopped(qtbot):
    from emobrowser.gui.library_panel import LibraryPanel
    from emobrowser.index.pipeline import Progress

    panel = LibraryPanel()
    qtbot.addWidget(panel)
    panel.set_running(True)
    panel.show_progress(Progress("index", 0, 38))
    assert panel.status.text().startswith("Starting: loading the models")
    panel.show_progress(Progress("index", 5, 38, rate=2.0, eta=16.0, failed=1))
    assert panel.status.text().startswith("Indexing: 2.0 files/s") and "1 failed in this run" in panel.status.text()
    panel.show_finished("Paused", keep=True)
    panel.set_running(False, paused=True)
    assert panel.progress.format() == "Paused"
    panel.show_finished("Stopped — Rescan (F5) resumes where it stopped", keep=True)
    assert panel.progress.format() == "Stopped"
    panel.show_finished("Up to date: 3 indexed")
    assert panel.progress.format() == "Done"


def test_zooming_the_map_keeps_plain_axis_numbers_and_stops_at_a_limit(qtbot, window):
    view = window.circumplex._vb
    for _ in range(40):
        view.scaleBy((0.5, 0.5))
    (x0, x1), (y0, y1) = view.viewRange()
    assert x1 - x0 >= 0.019 and y1 - y0 >= 0.019
    for side in ("bottom", "left"):
        axis = window.circumplex.plot.getAxis(side)
        assert axis.autoSIPrefix is False and "x0." not in axis.labelString()
    for _ in range(40):
        view.scaleBy((2.0, 2.0))
    (x0, x1), _ = view.viewRange()
    assert x0 >= -3.0 and x1 <= 3.0


def test_the_results_header_says_how_near_the_best_match_is(qtbot, window):
    from emobrowser.gui.results_panel import FAR

    seen = set()
    for v, a in ((-1.0, 1.0), (float(window.points.valence[0]), float(window.points.arousal[0]))):
        with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
            window.search.set_point(v, a)
        nearest = float(np.min(np.hypot(window.points.valence - v, window.points.arousal - a)))
        text = window.results.summary.text()
        assert f" · nearest {nearest:.2f} away" in text
        assert ("(nothing close)" in text) == (nearest > FAR)
        seen.add(nearest > FAR)
    assert seen == {True, False}  # a far corner of this library, then one of its items


def test_the_mood_box_shows_what_was_searched_for(qtbot, window):
    search = window.search
    search.mood_edit.setText("calm")
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        search._on_mood_entered()
    assert search.mood_edit.text() == "calm"  # the mood's own search keeps it
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.circumplex._vb.clicked.emit(0.5, 0.5)  # a click on the map is another search
    assert search.mood_edit.text() == ""
    search.mood_edit.setText("happy")
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        search.set_region(("rect", -0.5, -0.5, 0.5, 0.5))
    assert search.mood_edit.text() == ""
    search.mood_edit.setText("sad")
    search.valence_slider.setValue(-30)  # moving a slider too
    assert search.mood_edit.text() == ""
