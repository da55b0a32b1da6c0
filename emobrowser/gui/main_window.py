"""The main window: wires the panels to the background workers."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from pathlib import Path

from PySide6.QtCore import QEvent, Qt, QThreadPool
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QMessageBox, QSplitter

from emobrowser.gui import data, export_actions
from emobrowser.gui.about_dialog import library_title
from emobrowser.gui.alignment import AlignmentController
from emobrowser.gui.circumplex import CircumplexWidget
from emobrowser.gui.detail_panel import DetailPanel
from emobrowser.gui.files import url_path
from emobrowser.gui.library_panel import LibraryPanel
from emobrowser.gui.results_panel import OTHER, ResultsPanel
from emobrowser.gui.search_panel import SearchPanel
from emobrowser.gui.settings import open_settings
from emobrowser.gui.indexing import IndexingController
from emobrowser.gui.workers import Lane, ThumbnailLoader
from emobrowser.index.store import shown

log = logging.getLogger(__name__)

EMPTY_LIBRARY_HINT = "Your library is empty: add a folder (Ctrl+O) or drop one onto the window."
NO_MEDIA_HINT = "No photos, music or videos were found in the library's folders. Add another folder (Ctrl+O)."
STOPPED_HINT = "Indexing was stopped before it reached any photos, music or videos. Rescan (F5) carries on."
ALL_FAILED_HINT = "None of the library's files could be indexed: the Library panel lists each one with the reason."
NO_MODALITY_HINT = "Tick Photos, Music or Videos in the Search panel to search them."
START_HINT = "Click the map or type a mood to search."
_LIBRARY_HINTS = (EMPTY_LIBRARY_HINT, NO_MEDIA_HINT, STOPPED_HINT, ALL_FAILED_HINT)
STATUS_TIP_MS = 5000  # how long a menu item's status tip stays in the status bar


class MainWindow(QMainWindow):
    """The library at ``db_path``; model names None = the default models."""

    def __init__(self, db_path, *, image_model: str | None = None, audio_model: str | None = None,
                 demo: bool = False, auto_index: bool = True, parent=None):
        super().__init__(parent)
        self.db_path = Path(db_path)
        self.image_model, self.audio_model = image_model, audio_model
        self.demo, self.auto_index = demo, auto_index
        self._closing = False  # set by closeEvent: no new background work after it
        self.settings = open_settings()
        from emobrowser.index.store import Store

        Store(self.db_path).close()  # create and migrate once, before threads open it concurrently
        self.models: dict | None = None
        self.points = None
        self._pending_spec = None
        self._last_spec = None
        self._shown_spec = None  # the query whose results are on screen
        self._hint: str | None = None  # why the library has nothing to show, if it has not
        self.slideshow = None  # the slideshow panel (a dock), made on first use
        # Qt adds the application's name: "Demo library — Emobrowser"; a library is named
        # by its folders once they are known (see _on_status_loaded)
        self.setWindowTitle("Demo library" if demo else "Library")
        self.quick_look = None  # the QuickLookDialog, made on first use
        self.setAcceptDrops(True)

        self.thumbs = ThumbnailLoader(self)
        self.models_lane = Lane(parent=self)
        # reloads while indexing: each answer shows, so the map and counts follow the indexing
        self.points_lane, self.status_lane = Lane(parent=self, refresh=True), Lane(parent=self, refresh=True)
        self.query_lane, self.timeline_lane, self.moodbar_lane = Lane(parent=self), Lane(parent=self), Lane(parent=self)
        self.jobs_lane = Lane(parent=self)

        self.circumplex = CircumplexWidget()
        self.circumplex.set_thumbnail_loader(self.thumbs)
        self.results = ResultsPanel()
        self.detail = DetailPanel()
        self.search = SearchPanel()
        self.library = LibraryPanel()
        self.library.workers_spin.setValue(int(self.settings.value("indexing/workers", min(2, os.cpu_count() or 1))))
        self.alignment = AlignmentController(self.db_path, image_model, audio_model, self)
        self.indexing = IndexingController(self.db_path, self.library, self.settings, image_model=image_model,
                                           audio_model=audio_model, parent=self)
        left = QSplitter(Qt.Orientation.Vertical)
        left.addWidget(self.circumplex)
        left.addWidget(self.detail)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 1)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.results)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        self.map_splitter = left
        self.setCentralWidget(self.splitter)
        self.search_dock = self._dock("Search", self.search)
        self.library_dock = self._dock("Library", self.library)
        self.count_label = QLabel()
        self.statusBar().addPermanentWidget(self.count_label)
        self._make_actions()
        self._connect()
        self.installEventFilter(self)  # menu status tips time out (see eventFilter)
        self._restore_layout()
        self.models_lane.submit(data.model_keys, image_model, audio_model)

    # -- building -----------------------------------------------------------------------

    def _dock(self, title: str, widget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"{title.lower()}_dock")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable
                         | QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
        return dock

    def _action(self, menu, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.triggered.connect(slot)
        menu.addAction(action)
        self.addAction(action)
        return action

    def _make_actions(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&Library")
        self._action(m, "&Add folder…", self.library.choose_folder, QKeySequence.StandardKey.Open,
                     "Add a folder of photos, music or videos")
        self._action(m, "&Rescan", self._on_rescan_requested, "F5", "Look for new and changed files")
        self.align_action = self._action(
            m, "&Align photos with music…", self.alignment.start, "Ctrl+Shift+A",
            "Fit the map between the photo and music models on your videos' segments (emobrowser align)")
        self._action(m, "Remove a&lignment", self.alignment.remove, None,
                     "Place photos as the image model scores them again (emobrowser align --method identity)")
        m.addSeparator()
        self._action(m, "&Export playlist…", lambda: self.export_playlist(), "Ctrl+E",
                     "Save the music and videos of the results as an M3U8 playlist")
        self._action(m, "&Copy photos to folder…", lambda: self.copy_images(), "Ctrl+Shift+C")
        self.slideshow_action = self._action(m, "Make a &slideshow…", self._on_slideshow_current, None,
                                             "A video of your photos that follows the selected song's emotion")
        self.slideshow_action.setEnabled(False)
        self.detail.addAction(self.slideshow_action)  # the detail view's right-click menu
        self.detail.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        m.addSeparator()
        self._action(m, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        m = bar.addMenu("&Search")
        self._action(m, "&Quick look", self.show_quick_look, None, "See the selected result large (Space)")
        self._action(m, "&Mood…", self._on_focus_mood, QKeySequence.StandardKey.Find, "Type a mood")
        self._action(m, "Cancel &query", self.cancel_query, "Esc")
        self._action(m, "More &like this", self._on_more_like_current, "Ctrl+L")
        self.region_action = self._action(m, "Select &region", self.circumplex.region_button.toggle, "Ctrl+R",
                                          "Drag a rectangle on the map")
        space = QAction("Quick look / play", self.results)
        space.setShortcut(QKeySequence(Qt.Key.Key_Space))
        space.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        space.triggered.connect(self._on_space_pressed)
        self.results.addAction(space)
        m = bar.addMenu("&View")
        m.addAction(self.search_dock.toggleViewAction())
        m.addAction(self.library_dock.toggleViewAction())
        self._action(m, "Reset &map view", self.circumplex.reset_view, "Ctrl+0")
        m = bar.addMenu("&Help")
        self._action(m, "&Keyboard shortcuts", self._on_help_shortcuts, QKeySequence.StandardKey.HelpContents)
        self._action(m, "&About Emobrowser", self._on_help_about, None,
                     "The version, the models and the licences of the models and their training data")

    def _connect(self) -> None:
        self.models_lane.job_finished.connect(self._on_models_resolved)
        self.models_lane.job_failed.connect(self._on_background_failed)
        self.points_lane.job_finished.connect(self._on_points_loaded)
        self.points_lane.job_failed.connect(self._on_background_failed)
        self.status_lane.job_finished.connect(self._on_status_loaded)
        self.query_lane.job_finished.connect(self._on_query_finished)
        self.query_lane.job_failed.connect(self._on_background_failed)
        self.timeline_lane.job_finished.connect(self._on_timeline_loaded)
        self.moodbar_lane.job_finished.connect(self._on_moodbars_loaded)
        self.jobs_lane.job_finished.connect(self._on_job_done)
        self.jobs_lane.job_failed.connect(self._on_background_failed)
        self.thumbs.thumbnail_ready.connect(self._on_thumbnail_ready)
        self.circumplex.point_clicked.connect(self._on_point_clicked)
        self.circumplex.region_selected.connect(self.search.set_region)
        self.search.query_requested.connect(self.run_query)
        self.search.more_like_this_requested.connect(self._on_more_like_current)
        self.results.selection_changed.connect(self._on_selection_changed)
        self.results.more_like_this_requested.connect(self._on_more_like)
        self.results.other_modality_requested.connect(self._on_other_modality)
        self.results.export_playlist_requested.connect(lambda: self.export_playlist())
        self.results.copy_images_requested.connect(lambda: self.copy_images())
        self.results.slideshow_requested.connect(self.show_slideshow)
        self.results.visible_items_changed.connect(self._on_visible_items_changed)
        self.results.farther_requested.connect(self._on_farther_requested)
        self.library.folders_added.connect(self.add_folders)
        self.library.folder_removed.connect(self._on_folder_removed)
        self.library.rescan_requested.connect(self._on_rescan_requested)
        self.indexing.refresh_requested.connect(self.refresh_library)
        self.alignment.library_changed.connect(self._on_alignment_changed)
        self.indexing.message_posted.connect(lambda text: self.statusBar().showMessage(text, 8000))
        self.results.message_posted.connect(lambda text: self.statusBar().showMessage(text, 10000))

    # -- library and indexing -----------------------------------------------------------

    def _on_alignment_changed(self) -> None:
        self._pending_spec = self._pending_spec or self._last_spec  # the same search, re-projected
        self.refresh_library()

    def refresh_library(self) -> None:
        if self.models is not None:
            self.points_lane.submit(data.load_library, self.db_path, self.models)
        self.status_lane.submit(data.library_status, self.db_path, self.models)

    def add_folders(self, folders: list[str]) -> None:
        folders = [os.path.abspath(f) for f in folders if os.path.isdir(f)]
        if folders:
            self.start_indexing(folders)

    @property
    def indexer(self):
        """The current (or last) IndexWorker, or None."""
        return self.indexing.worker

    def start_indexing(self, roots: list[str] | None = None, demo: bool = False) -> None:
        if self._closing:
            return  # an answer that arrives while closing must not start a thread Qt then destroys
        self.indexing.start(roots, demo)

    def is_indexing(self) -> bool:
        return self.indexing.is_running()

    def stop_indexing(self, wait_ms: int = 30000) -> bool:
        return self.indexing.stop(wait_ms)

    def _on_rescan_requested(self) -> None:
        self.start_indexing([], demo=self.demo)

    def _on_folder_removed(self, folder: str) -> None:
        if QMessageBox.question(self, "Remove folder", f"Remove this folder from the library?\n\n{shown(folder)}\n\n"
                                "Its files are not touched.") != QMessageBox.StandardButton.Yes:
            return
        self.stop_indexing()
        self.jobs_lane.submit(_remove_root, self.db_path, folder)

    def _on_job_done(self, _result, _seconds) -> None:
        self.refresh_library()

    def _on_models_resolved(self, models, _seconds) -> None:
        self.models = models
        self.refresh_library()
        if self.demo:
            self.start_indexing([], demo=True)

    def _on_status_loaded(self, status, _seconds) -> None:
        roots, counts, failures, alignment_note = status
        self.library.set_roots(roots)
        self.library.set_counts(counts)
        self.library.set_failures(failures)
        self.library.set_alignment_note(alignment_note)
        indexed = sum(c.get("indexed", 0) for c in counts.values())
        self.count_label.setText(f"{indexed} items")
        if not self.demo:
            self.setWindowTitle(library_title(roots))
        if self.auto_index and roots and not self.demo and self.indexer is None:
            self.start_indexing([])  # resume whatever the last session left pending
        self._hint = self._library_hint(roots, counts)
        if self._hint is not None:
            self.results.show_hint(self._hint)
        elif self.results.summary.text() in _LIBRARY_HINTS:
            self.results.show_hint(START_HINT)

    def _library_hint(self, roots, counts) -> str | None:
        """What to tell a user whose library has nothing to search yet, or None."""
        if self.is_indexing() or self.demo:
            return None
        if not roots:
            return EMPTY_LIBRARY_HINT
        found = sum(sum(c.values()) for c in counts.values())
        if not found:
            return STOPPED_HINT if self.indexing.stopped_early else NO_MEDIA_HINT
        if not any(c.get("indexed", 0) or c.get("pending", 0) for c in counts.values()):
            return ALL_FAILED_HINT
        return None

    def _on_points_loaded(self, points, _seconds) -> None:
        changed = points is not self.points  # load_library keeps the object of unchanged points
        self.points = points
        if changed:
            self.circumplex.set_points(points)
        # Search at once, and search again whenever the library changed: the results
        # on screen then never describe an older library (songs scored before photos).
        spec = self._pending_spec or self._last_spec or self.search.spec()
        if len(points) and (self._pending_spec is not None or changed or not self.results.model.hits):
            self.run_query(spec)

    def _on_background_failed(self, message: str) -> None:
        log.warning("background job failed: %s", message)
        self.statusBar().showMessage(f"Error: {message}", 10000)

    # -- queries -------------------------------------------------------------------------

    def run_query(self, spec) -> None:
        """Search in the background; a newer query supersedes this one."""
        if spec.region is None:
            self.circumplex.set_marker(spec.valence, spec.arousal)
        else:
            self.circumplex.set_region(spec.region)
        if self.points is None:
            self._pending_spec = spec
            return
        self._pending_spec = None
        self._last_spec = spec
        self.query_lane.submit(data.run_query, self.points, spec, self.db_path)

    def cancel_query(self) -> None:
        if self.query_lane.busy():
            self.query_lane.cancel()
            self.statusBar().showMessage("Search cancelled", 3000)

    def _on_query_finished(self, hits, seconds: float) -> None:
        # The same query again (the library changed while indexing): the user stays
        # where they were in the results.
        refreshed = self._last_spec is not None and self._last_spec == self._shown_spec
        self._shown_spec = self._last_spec
        # (a text search has no distance limit to lift or restore)
        unlimited = self._last_spec is not None and self._last_spec.max_distance is not None \
            and not self._last_spec.text
        self.results.set_hits(hits, seconds, keep_scroll=refreshed, farther_shown=unlimited)
        spec = self._last_spec
        if spec is not None and (spec.text or spec.mood):  # which reading of the search box was used
            what = f"Names and tags matching “{spec.text}”" if spec.text else f"Mood “{spec.mood}”"
            self.results.summary.setText(f"{what} · {self.results.summary.text()}")
            self.results.summary.setToolTip(self.results.summary.text())
        if not hits and self._hint is not None:
            self.results.show_hint(self._hint)
        elif not hits and self._last_spec is not None and not self._last_spec.modalities:
            self.results.show_hint(NO_MODALITY_HINT)
        self.circumplex.set_results(hits)
        timed = [h.id for h in hits if h.modality in ("audio", "video")]
        if timed and self.models is not None:
            self.moodbar_lane.submit(data.load_timelines, self.db_path, timed, self.models)

    def _on_farther_requested(self, show: bool) -> None:
        """The search on screen again, without the distance limit (``show``) or with the
        default one; any new search from the panel has the default limit."""
        spec = self._shown_spec
        if spec is not None and spec.region is None:
            self.run_query(dataclasses.replace(spec, max_distance=math.inf if show else None))

    def _on_point_clicked(self, valence: float, arousal: float) -> None:
        self.search.set_point(valence, arousal)

    def _on_more_like(self, hit) -> None:
        self.search.search_like(hit.valence, hit.arousal, (hit.id,))

    def _on_more_like_current(self) -> None:
        hit = self.results.current_hit()
        if hit is not None:
            self._on_more_like(hit)

    def _on_other_modality(self, hit) -> None:
        self.search.search_like(hit.valence, hit.arousal, (hit.id,), modalities=OTHER[hit.modality])

    def _on_focus_mood(self) -> None:
        self.search_dock.show()
        self.search.mood_edit.setFocus()
        self.search.mood_edit.selectAll()

    # -- results, thumbnails, detail ------------------------------------------------------

    def _on_visible_items_changed(self, hits) -> None:
        for hit in hits:
            if not self.results.model.has_thumbnail(hit.path):
                png = self.thumbs.request(hit.path, hit.modality)
                if png:
                    self.results.model.set_thumbnail(hit.path, png)

    def _on_thumbnail_ready(self, path: str, png: str) -> None:
        if png:
            self.results.model.set_thumbnail(path, png)
            current = self.results.current_hit()
            if current is not None and current.path == path:
                self.detail.set_thumbnail(png)

    def _on_moodbars_loaded(self, timelines, _seconds) -> None:
        self.results.model.set_timelines(timelines)

    def _on_selection_changed(self, hit) -> None:
        self.search.more_button.setEnabled(hit is not None)
        self.slideshow_action.setEnabled(hit is not None and hit.modality == "audio")
        self.circumplex.set_trajectory([], [])
        png = self.thumbs.request(hit.path, hit.modality) if hit is not None else None
        self.detail.show_hit(hit, png)
        if hit is not None and hit.modality in ("audio", "video") and self.models is not None:
            self.timeline_lane.submit(data.load_timeline, self.db_path, hit.id, self.models)
        else:
            self.timeline_lane.cancel()

    def _on_timeline_loaded(self, timeline, _seconds) -> None:
        self.detail.set_timeline(timeline)
        self.circumplex.set_trajectory(timeline.valence, timeline.arousal)

    # -- export --------------------------------------------------------------------------

    def _on_slideshow_current(self) -> None:
        hit = self.results.current_hit()
        if hit is not None and hit.modality == "audio":
            self.show_slideshow(hit)

    def show_slideshow(self, hit) -> None:
        """Preview the mood slideshow of the song ``hit`` in the Slideshow dock."""
        if self.slideshow is None:
            from emobrowser.gui.slideshow_panel import SlideshowPanel

            self.slideshow = SlideshowPanel(self.db_path, parent=self)
            self.slideshow.message_posted.connect(lambda text: self.statusBar().showMessage(text, 10000))
            self.slideshow_dock = self._dock("Slideshow", self.slideshow)
            self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.slideshow_dock)
        self.slideshow_dock.show()
        self.slideshow_dock.raise_()
        self.slideshow.set_song(hit.path)

    def export_playlist(self, target: str | None = None) -> int:
        """Save the music and videos of the results as an M3U8 playlist; returns the entry count."""
        return export_actions.export_playlist(self, target)

    def copy_images(self, folder: str | None = None) -> list[str]:
        """Copy the photos of a multiple selection (or of all the results) into a folder."""
        return export_actions.copy_images(self, folder)

    # -- window --------------------------------------------------------------------------

    def _on_space_pressed(self) -> None:
        """Space plays or pauses a song; on a photo or video it opens the quick look."""
        hit = self.results.current_hit()
        if hit is not None and hit.modality == "audio" and self.results.preview.available:
            self.results.toggle_playback()
        else:
            self.show_quick_look()

    def show_quick_look(self) -> None:
        """Show the current result large (arrow keys step through the results)."""
        current = self.results.view.currentIndex()
        if not current.isValid():
            return
        if self.quick_look is None:
            from emobrowser.gui.quick_look import QuickLookDialog

            self.quick_look = QuickLookDialog(self)
            self.quick_look.row_changed.connect(self._on_quick_look_moved)
            self.quick_look.open_requested.connect(self.results.open_path)
        self.quick_look.show_hits(self.results.model.hits, current.row())

    def _on_quick_look_moved(self, row: int) -> None:
        if self.results.view.currentIndex().row() != row:
            self.results.view.setCurrentIndex(self.results.model.index(row))

    def _on_help_about(self) -> None:
        from emobrowser.gui.about_dialog import AboutDialog

        self.about_dialog = AboutDialog(self.image_model, self.audio_model, self)
        self.about_dialog.open()

    def eventFilter(self, watched, event) -> bool:
        # A menu item's status tip otherwise stays in the status bar after the menu
        # closes. (A filter, not an event() override: that would hold the interpreter
        # while Qt handles every event, which deadlocks when Qt waits for a thread
        # that runs Python, as the audio preview's player does when it is deleted.)
        if watched is self and event.type() == QEvent.Type.StatusTip:
            if event.tip():
                self.statusBar().showMessage(event.tip(), STATUS_TIP_MS)
            return True
        return False

    def _on_help_shortcuts(self) -> None:
        from emobrowser.gui.about_dialog import SHORTCUTS

        QMessageBox.information(self, "Keyboard shortcuts", SHORTCUTS)

    def _restore_layout(self) -> None:
        self.resize(1360, 860)
        geometry = self.settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        state = self.settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        for key, splitter in (("window/splitter", self.splitter), ("window/map_splitter", self.map_splitter)):
            value = self.settings.value(key)
            if value is not None:
                splitter.restoreState(value)
            elif splitter is self.splitter:
                splitter.setSizes([600, 520])
            else:
                splitter.setSizes([580, 240])

    def closeEvent(self, event) -> None:
        self._closing = True
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        self.settings.setValue("window/map_splitter", self.map_splitter.saveState())
        self.settings.sync()
        self.results.preview.stop()
        if self.slideshow is not None:
            self.slideshow.stop()
        if self.is_indexing():
            self.statusBar().showMessage("Stopping indexing…")
        self.stop_indexing()
        self.alignment.stop()
        for lane in (self.query_lane, self.points_lane, self.timeline_lane, self.moodbar_lane, self.status_lane,
                     self.models_lane, self.jobs_lane):
            lane.cancel()
        self.thumbs.wait(3000)
        QThreadPool.globalInstance().waitForDone(3000)
        super().closeEvent(event)

    def dragEnterEvent(self, event) -> None:
        if _dropped_folders(event):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        folders = _dropped_folders(event)
        if folders:
            event.acceptProposedAction()
            self.add_folders(folders)


def _dropped_folders(event) -> list[str]:
    paths = (url_path(u) for u in event.mimeData().urls())
    return [p for p in paths if p is not None and os.path.isdir(p)]


def _remove_root(db_path, folder: str) -> None:
    from emobrowser.index.store import Store

    with Store(db_path) as store:
        store.remove_root(folder)
