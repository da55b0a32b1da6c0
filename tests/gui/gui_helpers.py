"""Helpers of the GUI tests: a small indexed library and mouse gestures on the map."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from emobrowser.media import synth

BASE = {"image_model": "baseline", "audio_model": "baseline"}
EVIL_DIR = "<b>evil<"  # with the file "b>.jpg" inside, the path ends in "<b>evil</b>.jpg"
EVIL_NAME = "<b>evil<i>&amp;.jpg"


def make_media(root: Path) -> Path:
    """A few photos and songs spread over the circumplex, plus two files with markup names."""
    root.mkdir(parents=True, exist_ok=True)
    for i, kind in enumerate(("warm", "dark", "vivid", "face", "cool", "grey")):
        synth.write_image(root / f"{kind}.jpg", synth.draw_image(kind, (120, 160), seed=i))
    (root / EVIL_DIR).mkdir()
    synth.write_image(root / EVIL_DIR / "b>.jpg", synth.draw_image("warm", (60, 80)))
    synth.write_image(root / EVIL_NAME, synth.draw_image("cool", (60, 80)))
    music = root / "music"
    music.mkdir()
    synth.write_audio(music / "upbeat.wav", synth.synth_music(3.0, bpm=150, loudness=0.9, seed=2))
    synth.write_audio(music / "slow.wav", synth.synth_music(3.0, bpm=60, major=False, loudness=0.2))
    synth.write_audio(music / "tune.wav", synth.synth_music(3.0, bpm=100, seed=3))
    return root


def make_library(folder: Path) -> tuple[Path, Path]:
    """(database, media folder) of an indexed library built with the baseline models."""
    from emobrowser.index.pipeline import index_library
    from emobrowser.index.store import Store

    media = make_media(folder / "media")
    db = folder / "library.sqlite3"
    with Store(db) as store:
        summary = index_library(store, [str(media)], workers=2, **BASE)
    assert summary.indexed == 11 and summary.failed == 0, summary
    return db, media


def open_window(qtbot, db, items: int, size: tuple[int, int] = (1200, 800)):
    """A shown MainWindow on ``db`` once its ``items`` points are loaded and a search at
    the centre has answered."""
    from emobrowser.gui.main_window import MainWindow

    w = MainWindow(db, auto_index=False, **BASE)
    qtbot.addWidget(w)
    w.resize(*size)
    w.show()
    qtbot.waitUntil(lambda: w.points is not None and len(w.points) == items, timeout=15000)
    with qtbot.waitSignal(w.query_lane.job_finished, timeout=5000):
        w.search.set_point(0.0, 0.0)
    return w


def lift_relevance_limit(monkeypatch) -> None:
    """For tests of something else that expect every page to reach the whole small
    library: the default relevance limit (emobrowser.index.balance) then spans the map."""
    from emobrowser.index import balance

    monkeypatch.setattr(balance, "RELEVANCE_RADIUS", 3.0)  # beyond the map's diagonal, 2 * sqrt(2)


def wait_for_indexer(qtbot, window, timeout: int) -> None:
    """Wait until the window's indexing thread has ended. Its state, not its ``finished``
    signal: a run that ends at once (a locked library, an empty folder) can emit the
    signal before a wait started after ``add_folders`` is listening."""
    qtbot.waitUntil(lambda: window.indexer is not None and window.indexer.isFinished(), timeout=timeout)


def copy_db(db: Path, target_dir: Path) -> Path:
    target = target_dir / "library.sqlite3"
    shutil.copy(db, target)
    return target


def view_to_widget(circumplex, v: float, a: float) -> QPoint:
    """Widget (viewport) coordinates of a circumplex point."""
    scene = circumplex._vb.mapViewToScene(QPointF(v, a))
    return circumplex.plot.mapFromScene(scene)


def _send(widget, kind, pos: QPoint, button, buttons, modifiers) -> None:
    local = QPointF(pos)
    event = QMouseEvent(kind, local, QPointF(widget.mapToGlobal(pos)), button, buttons, modifiers)
    QApplication.sendEvent(widget, event)


def drag(widget, start: QPoint, end: QPoint, modifiers=Qt.KeyboardModifier.ShiftModifier, steps: int = 8) -> None:
    """A left-button drag from start to end with real mouse events."""
    left = Qt.MouseButton.LeftButton
    _send(widget, QEvent.Type.MouseButtonPress, start, left, left, modifiers)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        _send(widget, QEvent.Type.MouseMove, p, Qt.MouseButton.NoButton, left, modifiers)
    _send(widget, QEvent.Type.MouseButtonRelease, end, left, Qt.MouseButton.NoButton, modifiers)


def basename(path: str) -> str:
    return os.path.basename(path)
