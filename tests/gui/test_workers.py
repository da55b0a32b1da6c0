"""The background bridge: the index worker's signals, stale queries, thumbnails."""

from __future__ import annotations

import os

from gui_helpers import BASE, make_media


def test_index_worker_reports_progress_and_failures(qtbot, tmp_path):
    from emobrowser.gui.workers import IndexWorker
    from emobrowser.index.store import Store

    root = make_media(tmp_path / "lib")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    db = tmp_path / "db.sqlite3"
    Store(db).close()
    worker = IndexWorker(db, [str(root)], workers=1, **BASE)
    seen = []
    worker.progressed.connect(seen.append)
    with qtbot.waitSignal(worker.indexing_finished, timeout=120000) as blocker:
        worker.start()
    worker.wait()
    summary = blocker.args[0]
    assert (summary.indexed, summary.failed) == (11, 1)
    index = [p for p in seen if p.phase == "index"]
    assert index and (index[-1].done, index[-1].total) == (12, 12)
    assert index[-1].current  # the file being worked on is named
    with Store(db) as store:
        failures = list(store.failures())
    assert [os.path.basename(p) for p, _, _ in failures] == ["broken.png"]


def test_index_worker_cancel_stops_early(qtbot, tmp_path):
    from emobrowser.gui.workers import IndexWorker
    from emobrowser.media import synth

    root = tmp_path / "many"
    root.mkdir()
    for i in range(200):
        synth.write_image(root / f"{i}.jpg", synth.draw_image("grey", (48, 48), seed=i))
    worker = IndexWorker(tmp_path / "db.sqlite3", [str(root)], workers=1, **BASE)
    worker.progressed.connect(lambda p: worker.cancel() if p.phase == "index" and p.done >= 1 else None)
    with qtbot.waitSignal(worker.indexing_finished, timeout=120000) as blocker:
        worker.start()
    worker.wait()
    assert blocker.args[0].cancelled and blocker.args[0].indexed < 200


def test_lane_drops_stale_answers(qtbot):
    import threading

    from emobrowser.gui.workers import Lane

    lane = Lane()
    gate = threading.Event()
    got = []
    lane.job_finished.connect(lambda result, _s: got.append(result))
    lane.submit(lambda: gate.wait(5) and "old")
    lane.submit(lambda: "new")
    gate.set()
    qtbot.waitUntil(lambda: not lane.busy(), timeout=5000)
    qtbot.wait(50)
    assert got == ["new"]


def test_thumbnails_are_cached_as_png(qtbot, tmp_path, emobrowser_home):
    from emobrowser.gui.thumbs import cached_thumb
    from emobrowser.gui.workers import ThumbnailLoader
    from emobrowser.media import synth

    photo = synth.write_image(tmp_path / "p.jpg", synth.draw_image("warm", (480, 640)))
    loader = ThumbnailLoader()
    assert loader.request(str(photo), "image") is None
    with qtbot.waitSignal(loader.thumbnail_ready, timeout=10000) as blocker:
        pass
    path, png = blocker.args
    assert path == str(photo) and png.endswith(".png") and str(emobrowser_home) in png
    assert loader.request(str(photo), "image") == png == str(cached_thumb(str(photo)))
    import cv2

    img = cv2.imread(png)
    assert max(img.shape[:2]) == 160
    assert not [p for p in os.listdir(os.path.dirname(png)) if p.endswith(".tmp")]


def test_a_job_that_outlives_its_window_is_dropped_quietly(qtbot):
    import threading

    import shiboken6
    from PySide6.QtCore import QThreadPool

    from emobrowser.gui.workers import Lane

    gate = threading.Event()
    lane = Lane()
    lane.submit(lambda: gate.wait(10))
    shiboken6.delete(lane)  # the window (and its lanes) closed while the job ran
    gate.set()
    assert QThreadPool.globalInstance().waitForDone(10000)
    qtbot.wait(50)  # an exception in the pool thread would fail this test here


def test_a_refresh_lane_shows_every_reload_and_runs_the_newest_request_next(qtbot):
    """Reloads requested while one runs (every 2 s while indexing, on a busy pool)
    must not make the running one's answer stale: the library counts then never moved
    until indexing ended."""
    import threading

    from PySide6.QtCore import QThreadPool

    from emobrowser.gui.workers import Lane

    pool = QThreadPool()
    pool.setMaxThreadCount(1)
    lane = Lane(pool, refresh=True)
    gate = threading.Event()
    got = []
    lane.job_finished.connect(lambda result, _s: got.append(result))
    lane.submit(lambda: gate.wait(30) and "9 done")
    lane.submit(lambda: "50 done")
    lane.submit(lambda: "120 done")
    gate.set()
    qtbot.waitUntil(lambda: not lane.busy(), timeout=10000)
    assert got == ["9 done", "120 done"]
    pool.waitForDone(5000)
