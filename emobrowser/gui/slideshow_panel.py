"""The slideshow panel: a song's mood slideshow previewed in the window, then exported.

The plan comes from ``emobrowser.index.slideshow`` (what ``emobrowser slideshow``
uses), in a background lane; the photos are decoded there too, at preview size, by the
same guarded path the video uses. While the song plays, a playhead moves along its
emotion timeline and the photo of the span under it is shown. Export renders the MP4
(``emobrowser.media.slideshow_video``) in a TaskWorker behind a progress dialog with
Cancel.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QPalette, QPixmap
from PySide6.QtWidgets import (QDoubleSpinBox, QFileDialog, QHBoxLayout, QLabel, QMessageBox, QProgressDialog,
                               QPushButton, QSizePolicy, QVBoxLayout, QWidget)

from emobrowser.gui.detail_panel import AROUSAL_COLOUR, VALENCE_COLOUR
from emobrowser.gui.files import file_url, playable_path, user_folder
from emobrowser.gui.style import palette_colour
from emobrowser.gui.workers import Lane, TaskWorker
from emobrowser.index.store import shown, shown_name

try:
    from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
except ImportError:  # PySide6-Essentials only: the preview runs without sound
    QMediaPlayer = None

PREVIEW_SIZE = (480, 270)
EXPORT_SIZE = (1280, 720)
TICK_MS = 40
PLAYHEAD_COLOUR = (66, 133, 244)


def guarded_picture(path: str, width: int, height: int) -> np.ndarray:
    """A photo letterboxed to (width, height), upright. The photo is decoded by the
    thumbnail helper process (gui/thumbs.py), with the indexer's guards, never in the
    window's process; MediaError says why it cannot be."""
    import cv2

    from emobrowser.core.errors import MediaError
    from emobrowser.gui.thumbs import thumbnail
    from emobrowser.media.slideshow_video import letterbox

    made, reason = thumbnail(path, "image", side=max(width, height))
    bgr = cv2.imread(str(made), cv2.IMREAD_COLOR) if made is not None else None  # our own PNG
    if bgr is None:
        raise MediaError(reason or "the picture could not be read")
    return letterbox(bgr, width, height)


class PlanSuperseded(Exception):
    """A preview's planning was given up: another song or length was asked for."""


def prepare_preview(db_path, song: str, seconds: float, size: tuple[int, int] = PREVIEW_SIZE,
                    superseded: threading.Event | None = None):
    """(SlideshowPlan, {photo path: letterboxed BGR at ``size``}); runs in a worker thread.
    Each chosen photo is decoded once: that decode is also the plan's usability check.
    Once ``superseded`` is set, no further photo is decoded (PlanSuperseded), so a
    stale plan does not hold the thumbnail helper."""
    from emobrowser.index.slideshow import plan_for_library

    pictures: dict[str, np.ndarray] = {}

    def usable(path: str) -> None:
        if superseded is not None and superseded.is_set():
            raise PlanSuperseded(song)
        pictures[path] = guarded_picture(path, *size)

    return plan_for_library(db_path, song, seconds, usable=usable), pictures


def _pixmap(bgr: np.ndarray) -> QPixmap:
    h, w = bgr.shape[:2]
    image = QImage(np.ascontiguousarray(bgr).data, w, h, 3 * w, QImage.Format.Format_BGR888)
    return QPixmap.fromImage(image.copy())


class SlideshowPanel(QWidget):
    """Previews and exports the slideshow of one song of the library at ``db_path``.
    ``sound`` False previews silently (the playhead follows the clock alone)."""

    plan_loaded = Signal(object)  # SlideshowPlan
    shot_changed = Signal(int)  # index of the shot now on screen
    export_finished = Signal(str)  # the file written; "" when cancelled or failed
    message_posted = Signal(str)

    def __init__(self, db_path, sound: bool = True, parent: QWidget | None = None):
        super().__init__(parent)
        self.db_path = db_path
        self.song: str | None = None
        self.plan = None
        self.pictures: dict[str, QPixmap] = {}
        self.shot = -1
        self.worker: TaskWorker | None = None
        self.progress: QProgressDialog | None = None
        self.lane = Lane(parent=self)
        self._planning: threading.Event | None = None  # set to give up the plan being made
        self.lane.job_finished.connect(self._on_plan_loaded)
        self.lane.job_failed.connect(self._on_plan_failed)

        self.title = QLabel("Right-click a song in the results → Make a slideshow…")
        self.title.setWordWrap(True)
        self.picture = QLabel()
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(240, 135)
        self.picture.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.picture.setStyleSheet("background: black")
        self.caption = QLabel()
        v, a = ("#%02x%02x%02x" % c for c in (VALENCE_COLOUR, AROUSAL_COLOUR))
        self.legend = QLabel(f'The song: <span style="color:{v}">━━ valence</span> &nbsp; '
                             f'<span style="color:{a}">━━ arousal</span> &nbsp; ┆ a new photo')
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.plot = pg.PlotWidget()
        self.plot.setMenuEnabled(False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setYRange(-1, 1, padding=0.05)
        self.plot.setLabel("bottom", "time (s)")
        self.plot.setMinimumHeight(110)
        self.plot.setBackground(palette_colour(QPalette.ColorRole.Base))
        for name in ("left", "bottom"):
            self.plot.getAxis(name).setPen(palette_colour(QPalette.ColorRole.Text, 120))
            self.plot.getAxis(name).setTextPen(palette_colour(QPalette.ColorRole.Text))
        self.valence_curve = self.plot.plot(stepMode="center", pen=pg.mkPen(VALENCE_COLOUR, width=2))
        self.arousal_curve = self.plot.plot(stepMode="center", pen=pg.mkPen(AROUSAL_COLOUR, width=2))
        self.cut_lines: list = []
        self.playhead = pg.InfiniteLine(0, angle=90, movable=True, pen=pg.mkPen(PLAYHEAD_COLOUR, width=3))
        self.playhead.setToolTip("Drag to move through the song")
        self.playhead.sigDragged.connect(self._on_playhead_dragged)
        self.plot.addItem(self.playhead)

        self.seconds = QDoubleSpinBox(minimum=1.0, maximum=60.0, value=3.0, singleStep=0.5, suffix=" s per photo")
        self.seconds.setToolTip("About how long each photo shows; cuts move to nearby changes in the song's mood")
        self.seconds.editingFinished.connect(self._on_seconds_changed)
        self.play_button = QPushButton("Play")
        self.play_button.clicked.connect(self.toggle_play)
        self.export_button = QPushButton("Export video…")
        self.export_button.clicked.connect(lambda: self.export())
        for button in (self.play_button, self.export_button):
            button.setEnabled(False)
        controls = QHBoxLayout()
        controls.addWidget(self.seconds)
        controls.addStretch(1)
        controls.addWidget(self.play_button)
        controls.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.picture, 3)
        layout.addWidget(self.caption)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        layout.addLayout(controls)

        self.clock = QElapsedTimer()
        self.offset = 0.0  # song seconds at the clock's start
        self.timer = QTimer(self, interval=TICK_MS)
        self.timer.timeout.connect(self._on_tick)
        self.player = None
        if sound and QMediaPlayer is not None:
            self.player = QMediaPlayer(self)
            self._output = QAudioOutput(self)
            self.player.setAudioOutput(self._output)

    # -- planning --------------------------------------------------------------------------

    def set_song(self, path: str) -> None:
        """Plan the slideshow of the library's song at ``path`` (in the background)."""
        self.stop()
        self.song, self.plan, self.pictures = path, None, {}
        self.title.setText(f"Slideshow for {shown_name(path)}: choosing photos…")
        self.play_button.setEnabled(False)
        self.export_button.setEnabled(False)
        if self.player is not None:
            self.player.setSource(file_url(playable_path(path)))
        self._supersede_plan()
        self._planning = threading.Event()
        self.lane.submit(prepare_preview, self.db_path, path, self.seconds.value(), PREVIEW_SIZE, self._planning)

    def _supersede_plan(self) -> None:
        """Stop the photo decodes of the plan being made, if any (its answer is dropped too)."""
        if self._planning is not None:
            self._planning.set()
            self._planning = None

    def _on_seconds_changed(self) -> None:
        if self.song is not None and (self.plan is None or self.seconds.value() != self._planned_seconds):
            self.set_song(self.song)

    def _on_plan_loaded(self, result, _seconds) -> None:
        plan, pictures = result
        self.plan, self._planned_seconds = plan, self.seconds.value()
        self.pictures = {path: _pixmap(bgr) for path, bgr in pictures.items()}
        self.title.setText(f"Slideshow for {shown_name(plan.song)}: {len(plan.shots)} photos, "
                           f"{plan.mean_distance:.2f} from the song's mood on average "
                           f"(random photos: {plan.random_mean_distance:.2f})")
        notes = [n for n in (plan.repeat_note(),) if n] + [f"skipped {shown_name(p)}: {r}" for p, r in plan.skipped[:1]]
        self.title.setToolTip("\n".join(notes))
        for line in self.cut_lines:
            self.plot.removeItem(line)
        self.cut_lines = []
        timeline = plan.timeline
        if timeline is not None and len(timeline):
            edges = np.append(timeline.start, timeline.end[-1])
            self.valence_curve.setData(edges, timeline.valence)
            self.arousal_curve.setData(edges, timeline.arousal)
        for shot in plan.shots[1:]:
            line = pg.InfiniteLine(shot.start, angle=90, pen=pg.mkPen((128, 128, 128), style=Qt.PenStyle.DotLine))
            self.plot.addItem(line)
            self.cut_lines.append(line)
        self.plot.setXRange(0, plan.duration, padding=0.01)
        self.playhead.setBounds((0, plan.duration))
        self.shot = -1
        self.set_time(0.0)
        self.play_button.setEnabled(True)
        self.export_button.setEnabled(True)
        self.plan_loaded.emit(plan)

    def _on_plan_failed(self, message: str) -> None:
        self.title.setText(f"No slideshow for {shown_name(self.song or '')}: {message}")

    # -- preview ---------------------------------------------------------------------------

    def shot_at(self, seconds: float) -> int:
        """Index of the plan's shot on screen at ``seconds`` into the song."""
        starts = [s.start for s in self.plan.shots]
        return max(0, int(np.searchsorted(starts, seconds, side="right")) - 1)

    def set_time(self, seconds: float) -> None:
        """Move the playhead to ``seconds`` and show the photo of the span under it."""
        if self.plan is None:
            return
        seconds = min(max(0.0, seconds), self.plan.duration)
        self.playhead.setValue(seconds)
        j = self.shot_at(seconds)
        if j != self.shot:
            self.shot = j
            shot = self.plan.shots[j]
            pixmap = self.pictures.get(shot.path)
            if pixmap is not None:
                self.picture.setPixmap(pixmap.scaled(self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                     Qt.TransformationMode.SmoothTransformation))
            self.caption.setText(f"{shown_name(shot.path)}  ·  photo v {shot.valence:+.2f} a {shot.arousal:+.2f}"
                                 f"  ·  song v {shot.song_valence:+.2f} a {shot.song_arousal:+.2f}")
            self.caption.setToolTip(shown(shot.path))
            self.shot_changed.emit(j)

    def is_playing(self) -> bool:
        return self.timer.isActive()

    def toggle_play(self) -> None:
        if self.plan is None:
            return
        if self.is_playing():
            self.pause()
            return
        at = float(self.playhead.value())
        if at >= self.plan.duration - 0.05:
            at = 0.0
        self.offset = at
        self.clock.start()
        self.timer.start()
        if self.player is not None:
            self.player.setPosition(int(at * 1000))
            self.player.play()
        self.play_button.setText("Pause")

    def pause(self) -> None:
        self.timer.stop()
        if self.player is not None:
            self.player.pause()
        self.play_button.setText("Play")

    def _on_tick(self) -> None:
        at = self.offset + self.clock.elapsed() / 1000.0
        if self.player is not None and self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState \
                and self.player.position() > 0:
            at = self.player.position() / 1000.0  # the sound leads when there is sound
        self.set_time(at)
        if at >= self.plan.duration:
            self.pause()

    def _on_playhead_dragged(self) -> None:
        at = float(self.playhead.value())
        self.offset = at
        self.clock.start()
        if self.player is not None:
            self.player.setPosition(int(at * 1000))
        self.set_time(at)

    # -- export ----------------------------------------------------------------------------

    def export(self, target: str | None = None, size: tuple[int, int] = EXPORT_SIZE) -> bool:
        """Render the planned slideshow to ``target`` (asked for when None) behind a progress
        dialog; returns whether an export started. ``export_finished`` tells the outcome."""
        if self.plan is None or self.worker is not None:
            return False
        if target is None:
            stem = os.path.splitext(shown_name(self.plan.song))[0]
            target, _ = QFileDialog.getSaveFileName(self, "Export slideshow",
                                                    os.path.join(user_folder("home"), f"{stem} slideshow.mp4"),
                                                    "MP4 video (*.mp4)")
            if not target:
                return False
        from emobrowser.media.slideshow_video import render

        plan = self.plan
        starts, paths = [s.start for s in plan.shots], [s.path for s in plan.shots]

        def job(progress, cancelled):
            render(target, plan.song, starts, paths, plan.duration, size, progress=progress, cancelled=cancelled,
                   picture=guarded_picture)
            return target

        self.worker = TaskWorker(job, self)
        self.progress = QProgressDialog("Rendering the slideshow…", "Cancel", 0, 100, self)
        self.progress.setWindowTitle("Export slideshow")
        self.progress.setWindowModality(Qt.WindowModality.WindowModal)
        self.progress.setMinimumDuration(0)
        self.progress.setAutoClose(False)
        self.progress.setAutoReset(False)
        self.progress.canceled.connect(self.worker.cancel)
        self.worker.progressed.connect(self._on_export_progressed)
        self.worker.task_finished.connect(self._on_export_finished)
        self.worker.task_cancelled.connect(self._on_export_cancelled)
        self.worker.task_failed.connect(self._on_export_failed)
        self.worker.start()
        self.progress.show()
        return True

    def _on_export_progressed(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress.setMaximum(total)
            self.progress.setValue(done)

    def _end_export(self) -> None:
        if self.worker is not None:
            self.worker.wait()
            self.worker.deleteLater()
            self.worker = None
        if self.progress is not None:
            self.progress.close()
            self.progress.deleteLater()
            self.progress = None

    def _on_export_finished(self, target) -> None:
        self._end_export()
        self.message_posted.emit(f"Saved the slideshow to {shown(target)}")
        self.export_finished.emit(target)

    def _on_export_cancelled(self) -> None:
        self._end_export()
        self.message_posted.emit("Slideshow export cancelled; no file was written")
        self.export_finished.emit("")

    def _on_export_failed(self, message: str) -> None:
        self._end_export()
        self.message = QMessageBox(QMessageBox.Icon.Warning, "Export slideshow", f"No video was written: {message}",
                                   QMessageBox.StandardButton.Ok, self)
        self.message.setTextFormat(Qt.TextFormat.PlainText)
        self.message.open()
        self.export_finished.emit("")

    def stop(self) -> None:
        """Stop the preview and any export (the window closes, or another song is chosen)."""
        self.pause()
        self.lane.cancel()
        self._supersede_plan()
        if self.worker is not None:
            self.worker.cancel()
            self.worker.wait()
