"""The main window end to end: map clicks and regions, mood search, indexing, export."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from gui_helpers import (BASE, EVIL_NAME, copy_db, drag, lift_relevance_limit, make_library, make_media,
                         view_to_widget, wait_for_indexer)
from PySide6.QtCore import Qt

from conftest import REPO


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return make_library(tmp_path_factory.mktemp("guilib"))


@pytest.fixture
def window(qtbot, library, tmp_path):
    from emobrowser.gui.main_window import MainWindow

    db = copy_db(library[0], tmp_path)
    w = MainWindow(db, auto_index=False, **BASE)
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitUntil(lambda: w.points is not None and len(w.points) == 11, timeout=15000)
    qtbot.waitUntil(lambda: not w.query_lane.busy(), timeout=5000)
    yield w
    w.close()


def test_click_on_map_runs_a_query_with_both_modalities(qtbot, window):
    target = view_to_widget(window.circumplex, 0.3, 0.1)
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        qtbot.mouseClick(window.circumplex.plot.viewport(), Qt.MouseButton.LeftButton, pos=target)
    spec = window.search.spec()
    assert spec.valence == pytest.approx(0.3, abs=0.03) and spec.arousal == pytest.approx(0.1, abs=0.03)
    hits = window.results.model.hits
    assert {h.modality for h in hits} == {"image", "audio"}
    # every item within the relevance limit, max(0.5, nearest + 0.25), and no other
    dist = np.hypot(window.points.valence - spec.valence, window.points.arousal - spec.arousal)
    limit = max(0.5, float(dist.min()) + 0.25)
    assert window.results.model.rowCount() == len(hits) == int((dist <= limit).sum()) < 11
    # ordered by balanced distance: the first hit of each modality is its nearest one
    for m in ("image", "audio"):
        mine = [h.distance for h in hits if h.modality == m]
        assert mine == sorted(mine)


def test_region_drag_finds_only_items_inside(qtbot, window):
    c = window.circumplex
    start, end = view_to_widget(c, -1.0, -1.0), view_to_widget(c, 0.2, 1.0)
    with qtbot.waitSignal(c.region_selected, timeout=3000) as blocker:
        drag(c.plot.viewport(), start, end)
    kind, v0, a0, v1, a1 = blocker.args[0]
    assert kind == "rect" and v0 == pytest.approx(-1.0, abs=0.03) and v1 == pytest.approx(0.2, abs=0.03)
    qtbot.waitUntil(lambda: not window.query_lane.busy(), timeout=5000)
    hits = window.results.model.hits
    inside = [i for i in range(len(window.points)) if v0 <= window.points.valence[i] <= v1
              and a0 <= window.points.arousal[i] <= a1]
    assert len(hits) == len(inside) > 0
    assert all(v0 <= h.valence <= v1 and a0 <= h.arousal <= a1 for h in hits)
    assert c._region.isVisible()


def test_mood_search_moves_the_sliders_and_searches(qtbot, window):
    from emobrowser.index.moods import parse_mood

    box = window.search.mood_edit
    box.setText("calm")
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        qtbot.keyClick(box, Qt.Key.Key_Return)
    v, a = parse_mood("calm")
    spec = window.search.spec()
    assert spec.valence == pytest.approx(v, abs=0.01) and spec.arousal == pytest.approx(a, abs=0.01)
    assert window.results.model.hits
    assert window.search.mood_error.isHidden()


def test_unknown_mood_shows_suggestions(qtbot, window):
    window.search.mood_edit.setText("hapy but calm")
    qtbot.keyClick(window.search.mood_edit, Qt.Key.Key_Return)
    assert not window.search.mood_error.isHidden()
    assert 'href="happy"' in window.search.mood_error.text()
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.mood_error.linkActivated.emit("happy")
    assert window.search.mood_edit.text() == "happy but calm"
    assert window.search.mood_error.isHidden()
    # the suggestion replaces the unknown word itself, not a known word it is part of
    window.search.mood_edit.setText("relaxed and relax")
    qtbot.keyClick(window.search.mood_edit, Qt.Key.Key_Return)
    assert 'href="relaxed"' in window.search.mood_error.text()
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.mood_error.linkActivated.emit("relaxed")
    assert window.search.mood_edit.text() == "relaxed and relaxed"


def test_exported_playlist_lists_the_music_with_durations(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    target = tmp_path / "out.m3u8"
    assert window.export_playlist(str(target)) == 3
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U"
    entries = list(zip(lines[1::2], lines[2::2]))
    assert len(entries) == 3
    for extinf, path in entries:
        assert extinf.startswith("#EXTINF:3,")
        assert os.path.isabs(path) and os.path.exists(path) and path.endswith(".wav")
        assert extinf.split(",", 1)[1] == os.path.splitext(os.path.basename(path))[0]


def test_copy_images_leaves_originals_untouched(qtbot, window, tmp_path, monkeypatch):
    lift_relevance_limit(monkeypatch)  # pages reach the whole library
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.5, 0.5)
    photos = [h.path for h in window.results.model.hits if h.modality == "image"]
    before = {p: (os.stat(p).st_mtime_ns, open(p, "rb").read()) for p in photos}
    copied = window.copy_images(str(tmp_path / "copies"))
    assert len(copied) == len(photos) == 8
    assert sorted(open(p, "rb").read() for p in copied) == sorted(b for _, b in before.values())
    assert {p: (os.stat(p).st_mtime_ns, open(p, "rb").read()) for p in photos} == before
    assert window.statusBar().currentMessage() == f"Copied 8 photos to {tmp_path / 'copies'}"
    again = window.copy_images(str(tmp_path / "copies"))  # the names are taken now
    assert len(again) == 8 and all(" (2)." in os.path.basename(p) for p in again)
    assert window.statusBar().currentMessage().endswith(
        f"; 8 under a new name because the name was taken (e.g. {os.path.basename(again[0])})")


def test_opening_a_file_without_an_application_says_so(qtbot, window, monkeypatch):
    from PySide6.QtGui import QDesktopServices

    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)  # no launcher on this desktop
    hit = window.results.model.hits[0]
    assert window.results.open_path(hit.path) is False
    assert window.statusBar().currentMessage().startswith(
        f"No application is set up to open {os.path.basename(hit.path)}")


def test_more_like_this_and_other_modality(qtbot, window):
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    song = next(h for h in window.results.model.hits if h.modality == "audio")
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.results.other_modality_requested.emit(song)
    assert {h.modality for h in window.results.model.hits} == {"image"}
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.results.more_like_this_requested.emit(song)
    assert song.id not in [h.id for h in window.results.model.hits]
    # searched at the song's own point, not the sliders' 0.01 steps
    assert (window.search.spec().valence, window.search.spec().arousal) == (song.valence, song.arousal)
    # "find matching photos" limits that one search; the next click searches everything ticked
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.results.other_modality_requested.emit(song)
    assert {h.modality for h in window.results.model.hits} == {"image"}
    assert all(box.isChecked() for box in window.search.modality_boxes.values())
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    assert {h.modality for h in window.results.model.hits} == {"image", "audio"}


def test_a_new_search_starts_at_its_best_hit_unless_the_user_picked_one(qtbot, window, monkeypatch):
    lift_relevance_limit(monkeypatch)  # pages reach the whole library
    results = window.results
    window.resize(700, 450)  # small enough for the list to scroll
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.9, 0.9)
    first_best = results.model.hits[0].id
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(-0.9, -0.9)
    hits = results.model.hits
    assert hits[0].id != first_best
    # The item that became current by itself is not kept: the new best hit is current, at the top.
    assert results.current_hit().id == hits[0].id
    assert results.view.verticalScrollBar().value() == 0
    # An item the user picked stays current through the next search; the list still starts at the top.
    results.view.scrollToBottom()
    picked = hits[-1]
    results.view.setCurrentIndex(results.model.index(len(hits) - 1))
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.5, -0.5)
    assert results.current_hit().id == picked.id
    assert results.view.verticalScrollBar().value() == 0


def test_clearing_the_mood_box_clears_its_error(qtbot, window):
    box = window.search.mood_edit
    box.setText("xyzzy")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert not window.search.mood_error.isHidden()
    box.clear()
    assert window.search.mood_error.isHidden()
    box.setText("xyzzy")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    box.setText("   ")
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert window.search.mood_error.isHidden()


def test_selecting_a_song_shows_its_timeline(qtbot, window):
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    row = next(i for i, h in enumerate(window.results.model.hits) if h.modality == "audio")
    other = next(i for i, h in enumerate(window.results.model.hits) if h.modality == "image")
    window.results.view.setCurrentIndex(window.results.model.index(other))
    with qtbot.waitSignal(window.timeline_lane.job_finished, timeout=5000) as blocker:
        window.results.view.setCurrentIndex(window.results.model.index(row))
    timeline = blocker.args[0]
    assert len(timeline) >= 5
    assert window.detail.plot.isVisibleTo(window.detail)
    x, _ = window.circumplex.trajectory.getData()
    assert len(x) == len(timeline)


def test_markup_in_file_names_is_escaped(qtbot, window, monkeypatch):
    lift_relevance_limit(monkeypatch)  # pages reach the whole library
    from emobrowser.gui.results_model import tooltip_html

    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    hits = {os.path.basename(h.path): h for h in window.results.model.hits}
    evil = hits[EVIL_NAME]
    in_dir = hits["b>.jpg"]
    assert in_dir.path.endswith("<b>evil</b>.jpg")
    for hit in (evil, in_dir):
        tip = tooltip_html(hit)
        assert "<b>evil" not in tip.replace("<b>" + "&lt;", "")  # only our own <b> wraps the name
        assert "&lt;b&gt;evil" in tip
    assert "&lt;b&gt;evil&lt;i&gt;&amp;amp;.jpg" in tooltip_html(evil)
    # the map's hover tooltip too
    row = [os.path.basename(p) for p in window.points.paths].index(EVIL_NAME)
    assert "&lt;b&gt;evil&lt;i&gt;&amp;amp;.jpg" in window.circumplex.tooltip_html(row)
    # the detail view shows the name as plain text
    window.detail.show_hit(evil, None)
    assert window.detail.title.textFormat() == Qt.TextFormat.PlainText and window.detail.title.full_text() == EVIL_NAME


def test_drag_out_gives_file_urls(window, qtbot):
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    model = window.results.model
    mime = model.mimeData([model.index(0), model.index(1)])
    assert [u.toLocalFile() for u in mime.urls()] == [model.hits[0].path, model.hits[1].path]


def test_indexing_from_the_window_shows_progress_and_failures(qtbot, tmp_path):
    from emobrowser.gui.main_window import MainWindow

    root = tmp_path / "lib"
    make_media(root)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    w = MainWindow(tmp_path / "new.sqlite3", **BASE)
    qtbot.addWidget(w)
    w.show()
    seen = []
    w.add_folders([str(root)])
    w.indexer.progressed.connect(seen.append)
    wait_for_indexer(qtbot, w, 120000)
    qtbot.waitUntil(lambda: w.library.failure_paths() == [str(root / "broken.jpg")], timeout=10000)
    qtbot.waitUntil(lambda: w.points is not None and len(w.points) == 11, timeout=10000)
    last = [p for p in seen if p.phase == "index"][-1]
    assert (last.done, last.total, last.failed) == (12, 12, 1)
    assert w.library.progress.value() == w.library.progress.maximum()
    assert w.library.roots.count() == 1
    item = w.library.failures.topLevelItem(0)
    assert item.text(0) == "broken.jpg" and item.text(1)
    w.close()


def test_the_empty_library_hint_follows_what_the_library_holds(qtbot, tmp_path):
    from emobrowser.gui.main_window import EMPTY_LIBRARY_HINT, NO_MEDIA_HINT, MainWindow

    empty = tmp_path / "nothing here"
    empty.mkdir()
    (empty / "notes.txt").write_text("not media")
    w = MainWindow(tmp_path / "new.sqlite3", **BASE)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.results.summary.text() == EMPTY_LIBRARY_HINT, timeout=15000)
    w.add_folders([str(empty)])
    wait_for_indexer(qtbot, w, 60000)
    qtbot.waitUntil(lambda: w.results.summary.text() == NO_MEDIA_HINT, timeout=10000)
    w.close()


def test_closing_stops_indexing_and_the_next_start_resumes(qtbot, tmp_path):
    from emobrowser.gui.main_window import MainWindow
    from emobrowser.index.store import Store
    from emobrowser.media import synth

    root = tmp_path / "many"
    root.mkdir()
    for i in range(60):
        synth.write_image(root / f"p{i:03d}.jpg", synth.draw_image("vivid", (64, 64), seed=i))
    db = tmp_path / "resume.sqlite3"
    w = MainWindow(db, **BASE)
    qtbot.addWidget(w)
    w.show()
    w.add_folders([str(root)])
    qtbot.waitUntil(lambda: w.library.progress.value() >= 1, timeout=60000)
    w.close()
    assert not w.is_indexing()
    with Store(db) as store:
        counts = store.status_counts()["image"]
    assert counts["indexed"] + counts["pending"] == 60
    w2 = MainWindow(db, **BASE)  # auto_index: resumes the pending files
    qtbot.addWidget(w2)
    qtbot.waitUntil(lambda: w2.indexer is not None, timeout=10000)
    # The resumed run may finish before a signal wait could start listening, so wait
    # on the outcome instead: every file indexed and the indexer stopped.
    def all_indexed() -> bool:
        with Store(db) as store:
            return store.status_counts()["image"] == {"indexed": 60, "failed": 0, "pending": 0}

    qtbot.waitUntil(lambda: all_indexed() and not w2.is_indexing(), timeout=120000)
    w2.close()


def test_creating_the_window_does_not_import_tensorflow(tmp_path):
    code = textwrap.dedent(f"""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from emobrowser.gui.main import make_app
        app = make_app()
        from emobrowser.gui.main_window import MainWindow
        w = MainWindow({str(tmp_path / 'db.sqlite3')!r})
        w.show()
        import time
        end = time.time() + 2
        while time.time() < end:
            app.processEvents()
        assert w.models is not None, "models not resolved"
        w.close()
        print("TF" if "tensorflow" in sys.modules else "NO-TF")
    """)
    env = dict(os.environ, EMOBROWSER_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=str(REPO),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "NO-TF"


def test_an_indexing_error_stays_on_screen_after_the_library_refreshes(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    from emobrowser.gui.main_window import MainWindow
    from emobrowser.index.store import Store

    root = tmp_path / "lib"
    make_media(root)
    db = tmp_path / "new.sqlite3"
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text: warnings.append(text))
    with Store(db) as other, other.indexing_lock():  # the command line is indexing this library
        w = MainWindow(db, auto_index=False, **BASE)
        qtbot.addWidget(w)
        w.show()
        w.add_folders([str(root)])
        wait_for_indexer(qtbot, w, 60000)
    qtbot.waitUntil(lambda: len(warnings) == 1, timeout=10000)
    assert "being indexed by another emobrowser process" in warnings[0]
    assert "LibraryBusyError" not in warnings[0]  # the project's own errors are shown as written
    with qtbot.waitSignal(w.status_lane.job_finished, timeout=10000):
        w.refresh_library()  # what the window does after every run
    assert "being indexed by another emobrowser process" in w.library.status.text()
    w.start_indexing()  # the next run clears it
    wait_for_indexer(qtbot, w, 120000)
    qtbot.waitUntil(lambda: w.library.status.text().startswith("Up to date"), timeout=10000)
    w.close()


def test_closing_right_after_start_starts_no_indexing_thread(qtbot, library, tmp_path):
    from emobrowser.gui.main_window import MainWindow

    db = copy_db(library[0], tmp_path)
    w = MainWindow(db, **BASE)  # auto_index: the library status, once loaded, resumes indexing
    qtbot.addWidget(w)
    w.show()
    w.close()  # before the status has arrived
    qtbot.wait(3000)  # the status answer arrives after the close
    assert w.indexer is None  # a thread started now would be destroyed while running (SIGABRT)


def test_new_results_of_the_same_search_keep_the_scroll_position(qtbot, window):
    # while indexing, the library is reloaded every 2 s and the search runs again
    window.resize(700, 420)
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    bar = window.results.view.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0, timeout=5000)
    bar.setValue(bar.maximum())
    bottom = bar.value()
    # a reload that finds the library changed runs the search on screen again
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.run_query(window._last_spec)
    assert bottom > 0 and bar.value() == bottom
    # a new search starts at the top
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.5, -0.5)
    assert bar.value() == 0


def test_stopping_during_the_scan_does_not_claim_the_library_is_up_to_date(qtbot, tmp_path, monkeypatch):
    import time

    from emobrowser.gui.main_window import STOPPED_HINT, MainWindow
    from emobrowser.index import scanner
    from emobrowser.media import synth

    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(30):
        synth.write_image(folder / f"p{i:02d}.png", synth.draw_image("warm", (20, 20), seed=i))
    walk = scanner.walk

    def slow_walk(*args, **kwargs):  # a large folder on a slow drive
        for entry in walk(*args, **kwargs):
            time.sleep(0.1)
            yield entry

    monkeypatch.setattr(scanner, "walk", slow_walk)
    w = MainWindow(tmp_path / "new.sqlite3", **BASE)
    qtbot.addWidget(w)
    w.show()
    w.add_folders([str(folder)])
    qtbot.waitUntil(lambda: w.indexer is not None and w.indexer.isRunning(), timeout=15000)
    qtbot.wait(800)  # into the scan (30 files at 0.1 s each)
    with qtbot.waitSignal(w.indexer.finished, timeout=30000):
        w.library.cancel_button.click()
    qtbot.waitUntil(lambda: w.results.summary.text() == STOPPED_HINT, timeout=10000)
    w.refresh_library()  # the counts arrive again: the message stays
    qtbot.wait(500)
    assert w.library.status.text().startswith("Stopped") and w.results.summary.text() == STOPPED_HINT
    w.close()


def test_an_all_failed_or_empty_library_keeps_saying_why_nothing_is_found(qtbot, tmp_path):
    from emobrowser.gui.main_window import ALL_FAILED_HINT, EMPTY_LIBRARY_HINT, MainWindow
    from emobrowser.index.pipeline import index_library
    from emobrowser.index.store import Store

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "a.jpg").write_bytes(b"not a photo")
    (broken / "b.mp3").write_bytes(b"\xff\xfb" + b"\x00" * 100)
    db = tmp_path / "lib.sqlite3"
    with Store(db) as store:
        summary = index_library(store, [str(broken)], workers=1, **BASE)
    assert summary.failed == 2 and summary.indexed == 0
    for path, hint in ((db, ALL_FAILED_HINT), (tmp_path / "empty.sqlite3", EMPTY_LIBRARY_HINT)):
        w = MainWindow(path, auto_index=False, **BASE)
        qtbot.addWidget(w)
        w.show()
        qtbot.waitUntil(lambda w=w, hint=hint: w.results.summary.text() == hint, timeout=15000)
        qtbot.waitUntil(lambda w=w: w.points is not None, timeout=10000)
        w.search.set_point(0.3, 0.3)  # a click on the map
        qtbot.wait(300)
        assert w.results.summary.text() == hint
        w.close()


def test_no_ticked_modality_says_so(qtbot, window):
    from emobrowser.gui.main_window import NO_MODALITY_HINT

    for box in window.search.modality_boxes.values():
        box.setChecked(False)
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    assert window.results.summary.text() == NO_MODALITY_HINT
    with qtbot.waitSignal(window.status_lane.job_finished, timeout=5000):
        window.refresh_library()  # the library's counts arrive again
    qtbot.wait(300)
    assert window.results.summary.text() == NO_MODALITY_HINT


def test_a_playlist_leaves_out_tracks_deleted_since_indexing(qtbot, window, tmp_path):
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(0.0, 0.0)
    song = next(h for h in window.results.model.hits if h.modality == "audio")
    aside = tmp_path / "aside.wav"
    os.rename(song.path, aside)
    try:
        assert window.export_playlist(str(tmp_path / "list.m3u8")) == 2
        message = window.statusBar().currentMessage()
    finally:
        os.rename(aside, song.path)
    assert song.path not in (tmp_path / "list.m3u8").read_text(encoding="utf-8")
    assert "left out 1 no longer on disk" in message and os.path.basename(song.path) in message


def test_the_header_counts_farther_items_and_shows_them_on_request(qtbot, window):
    results = window.results
    v, a = 0.9, 0.6  # pleasant and excited: one photo is near, the rest of the library far
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(v, a)
    dist = np.hypot(window.points.valence - v, window.points.arousal - a)
    limit = max(0.5, float(dist.min()) + 0.25)  # emobrowser.index.balance.relevance_limit
    near, far = int((dist <= limit).sum()), int((dist > limit).sum())
    assert near >= 1 and far >= 2
    assert results.model.rowCount() == near
    assert f" · {far} farther items left out (beyond {limit:.2f})" in results.summary.text()
    button = results.farther_button
    assert button.isVisible() and button.text() == f"Show {far} &farther"
    # from the keyboard: the button takes focus and Space presses it; the same search, without the limit
    button.setFocus()
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        qtbot.keyClick(button, Qt.Key.Key_Space)
    assert results.model.rowCount() == near + far == len(window.points)
    assert max(h.distance for h in results.model.hits) == pytest.approx(float(dist.max()))
    assert "no distance limit" in results.summary.text() and "left out" not in results.summary.text()
    assert button.isVisible() and button.text() == "Hide &farther"
    assert window._shown_spec.max_distance == math.inf
    assert (window._shown_spec.valence, window._shown_spec.arousal) == (v, a)
    # a second press (Enter this time) restores the default limit
    assert button.hasFocus()
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        qtbot.keyClick(button, Qt.Key.Key_Return)
    assert results.model.rowCount() == near and button.text() == f"Show {far} &farther"
    # ... and so does any new search
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert results.model.rowCount() == len(window.points)
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_point(v, a)
    assert results.model.rowCount() == near and f"{far} farther items left out" in results.summary.text()
    # a search that leaves nothing out offers nothing
    with qtbot.waitSignal(window.query_lane.job_finished, timeout=5000):
        window.search.set_region(("rect", v - 0.3, a - 0.3, 1.0, 0.9))
    assert button.isHidden() and "left out" not in results.summary.text()
