"""Audio preview, when QtMultimedia is installed (PySide6-Addons); otherwise unavailable.

PySide6-Essentials has no QtMultimedia, so the preview degrades: ``available`` is
False, the play button is disabled with a tooltip, and double-click still opens the
file in the system player.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from emobrowser.gui.files import file_url, playable_path

try:
    from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
except ImportError:  # PySide6-Essentials only
    QMediaPlayer = None

UNAVAILABLE_TIP = ("Audio preview needs QtMultimedia (pip install PySide6-Addons). "
                   "Double-click a track to play it in your system player.")


class AudioPreview(QObject):
    """Plays one file at a time; ``playing_changed(path, playing)`` follows the state."""

    playing_changed = Signal(object, bool)  # path: an object, see gui/files.py

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.available = QMediaPlayer is not None
        self._path = ""
        self._player = None
        if self.available:
            self._player = QMediaPlayer(self)
            self._output = QAudioOutput(self)
            self._player.setAudioOutput(self._output)
            self._player.playbackStateChanged.connect(self._on_state_changed)

    def toggle(self, path: str) -> bool:
        """Play ``path``, or pause it if it is playing; returns whether it now plays."""
        if not self.available:
            return False
        if path == self._path and self._player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self._player.pause()
            return False
        if path != self._path:
            self._path = path
            self._player.setSource(file_url(playable_path(path)))
        self._player.play()
        return True

    def stop(self) -> None:
        """Stop playing (back to the start). Paused rather than stopped: QMediaPlayer.stop
        tears the FFmpeg playback down, and once in a full test run it never returned
        (no sound device here), which would freeze the window as it closes."""
        if self.available:
            self._player.pause()
            self._player.setPosition(0)

    def current(self) -> str:
        return self._path

    def _on_state_changed(self, state) -> None:
        self.playing_changed.emit(self._path, state == QMediaPlayer.PlaybackState.PlayingState)
