"""Make a slideshow… from a song's menu: the preview in the window, and the export with Cancel."""

from __future__ import annotations

import os
import threading

import pytest
from gui_helpers import copy_db, lift_relevance_limit, make_library, open_window
from PySide6.QtWidgets import QMenu, QPushButton


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return make_library(tmp_path_factory.mktemp("slidelib"))


@pytest.fixture
def window(qtbot, library, tmp_path):
    with pytest.MonkeyPatch.context() as mp:
        lift_relevance_limit(mp)  # the page reaches the songs
        w = open_window(qtbot, copy_db(library[0], tmp_path), 11)
    yield w
    w.close()


def open_slideshow(qtbot, window, seconds: float = 1.0):
    """Right-click the first song of the results, choose Make a slideshow…, and wait for
    the plan at ``seconds`` per photo; returns the panel."""
    results = window.results
    row = next(i for i, h in enumerate(results.model.hits) if h.modality == "audio")
    photo = next(i for i, h in enumerate(results.model.hits) if h.modality == "image")
    rect = results.view.visualRect(results.model.index(photo))
    results._on_context_menu_requested(rect.center())
    menu = results.findChildren(QMenu)[-1]
    assert "Make a slideshow…" not in [a.text() for a in menu.actions()]  # photos have no slideshow
    menu.close()
    results.view.scrollTo(results.model.index(row))
    rect = results.view.visualRect(results.model.index(row))
    results._on_context_menu_requested(rect.center())
    menu = results.findChildren(QMenu)[-1]
    action = next(a for a in menu.actions() if a.text() == "Make a slideshow…")
    menu.close()
    with qtbot.waitSignal(window.results.slideshow_requested, timeout=2000):
        action.trigger()
    panel = window.slideshow
    qtbot.waitUntil(lambda: panel.plan is not None, timeout=15000)
    panel.seconds.setValue(seconds)
    with qtbot.waitSignal(panel.plan_loaded, timeout=15000) as ready:
        panel.seconds.editingFinished.emit()
    assert window.slideshow_dock.isVisible()
    return panel, ready.args[0], results.model.hits[row]


def test_the_preview_follows_the_playhead(qtbot, window):
    panel, plan, song = open_slideshow(qtbot, window)
    assert plan.song == song.path and len(plan.shots) == 3
    assert {s.path for s in plan.shots} <= {p for p, m in zip(window.points.paths, window.points.modality)
                                             if m == "image"}
    assert len(panel.cut_lines) == 2 and panel.export_button.isEnabled()
    seen = []
    panel.shot_changed.connect(seen.append)
    for shot_index, shot in enumerate(plan.shots):
        middle = (shot.start + shot.end) / 2
        panel.set_time(middle)
        assert panel.shot == shot_index and abs(panel.playhead.value() - middle) < 1e-9
        assert not panel.picture.pixmap().isNull()
        assert os.path.basename(shot.path) in panel.caption.text()
    assert seen == [1, 2]  # shot 0 was on screen already


def test_playing_moves_the_playhead_and_changes_photos(qtbot, window):
    panel, plan, _song = open_slideshow(qtbot, window)
    assert panel.shot == 0
    with qtbot.waitSignal(panel.shot_changed, timeout=10000, check_params_cb=lambda j: j == 2):
        panel.toggle_play()
    assert panel.playhead.value() >= plan.shots[2].start
    qtbot.waitUntil(lambda: not panel.is_playing(), timeout=10000)  # stops at the end of the song
    assert panel.playhead.value() == pytest.approx(plan.duration)
    assert panel.play_button.text() == "Play"


def test_export_writes_the_video_and_cancel_writes_nothing(qtbot, window, tmp_path, monkeypatch):
    import av

    from emobrowser.gui import slideshow_panel
    from emobrowser.media import images

    def in_this_process(*_args, **_kwargs):
        raise AssertionError("decoded in the GUI process")

    # photos are decoded by the spawned thumbnail helper, which this does not reach
    monkeypatch.setattr(images, "decode_image", in_this_process)
    panel, plan, _song = open_slideshow(qtbot, window)
    target = str(tmp_path / "show.mp4")
    with qtbot.waitSignal(panel.export_finished, timeout=60000) as done:
        assert panel.export(target, size=(96, 64))
        assert panel.progress is not None and panel.progress.isVisible()
    assert done.args == [target]
    with av.open(target) as c:
        assert {s.type for s in c.streams} == {"video", "audio"}
        assert abs(c.duration / 1e6 - plan.duration) <= 0.5
    assert panel.progress is None and "Saved the slideshow" in window.statusBar().currentMessage()

    started, release = threading.Event(), threading.Event()
    original = slideshow_panel.guarded_picture

    def held(path, width, height):  # the render waits here until the test has pressed Cancel
        started.set()
        release.wait(30)
        return original(path, width, height)

    monkeypatch.setattr(slideshow_panel, "guarded_picture", held)
    other = str(tmp_path / "cancelled.mp4")
    with qtbot.waitSignal(panel.export_finished, timeout=60000) as done:
        assert panel.export(other, size=(96, 64))
        qtbot.waitUntil(started.is_set, timeout=10000)
        panel.progress.findChild(QPushButton).click()  # the dialog's Cancel button
        release.set()
    assert done.args == [""]
    assert not os.path.exists(other) and not [n for n in os.listdir(tmp_path) if n.endswith(".part")]
    assert "cancelled" in window.statusBar().currentMessage()


def test_the_detail_view_offers_a_slideshow_for_a_song(qtbot, window):
    results = window.results
    song = next(i for i, h in enumerate(results.model.hits) if h.modality == "audio")
    photo = next(i for i, h in enumerate(results.model.hits) if h.modality == "image")
    action = next(a for a in window.detail.actions() if a.text() == "Make a &slideshow…")
    results.view.setCurrentIndex(results.model.index(photo))
    assert not action.isEnabled()
    results.view.setCurrentIndex(results.model.index(song))
    assert action.isEnabled()
    action.trigger()
    qtbot.waitUntil(lambda: window.slideshow is not None and window.slideshow.plan is not None, timeout=15000)
    assert window.slideshow.plan.song == results.model.hits[song].path


def test_a_superseded_plan_decodes_no_more_photos(library, tmp_path, monkeypatch):
    """Choosing another song or length gives up the plan being made: it stops decoding
    photos, so the thumbnail helper is not held by a preview nobody will see."""
    import numpy as np

    from emobrowser.gui import slideshow_panel

    db, media = copy_db(library[0], tmp_path), library[1]
    song = next(str(p) for p in media.rglob("*.wav"))
    decoded = []
    monkeypatch.setattr(slideshow_panel, "guarded_picture",
                        lambda path, w, h: decoded.append(path) or np.zeros((h, w, 3), np.uint8))
    given_up = threading.Event()
    given_up.set()
    with pytest.raises(slideshow_panel.PlanSuperseded):
        slideshow_panel.prepare_preview(db, song, 1.0, superseded=given_up)
    assert decoded == []
    plan, pictures = slideshow_panel.prepare_preview(db, song, 1.0, superseded=threading.Event())
    assert decoded and set(pictures) == set(decoded) == {s.path for s in plan.shots}
