"""Library → Export playlist and Copy photos to folder: the results' files, out of the app."""

from __future__ import annotations

import os

from PySide6.QtWidgets import QFileDialog

from emobrowser.gui import data
from emobrowser.gui.files import user_folder
from emobrowser.index.store import shown_name


def export_playlist(window, target: str | None = None) -> int:
    """Save the music and videos of the results as an M3U8 playlist; returns the entry count."""
    hits = window.results.target_hits(("audio", "video"))
    if not hits:
        window.statusBar().showMessage("No music or videos in the results to put in a playlist", 5000)
        return 0
    if target is None:
        target, _ = QFileDialog.getSaveFileName(
            window, "Export playlist", os.path.join(user_folder("music"), "emobrowser.m3u8"), "Playlists (*.m3u8)")
        if not target:
            return 0
    try:
        result = data.write_m3u8(target, hits, data.durations(window.db_path, [h.id for h in hits]))
    except OSError as exc:
        from emobrowser.core.errors import environment_failure

        window.statusBar().showMessage(f"Could not save the playlist {shown_name(target)}: "
                                       f"{environment_failure(exc) or exc.strerror or exc}", 15000)
        return 0
    n, gone = result.written, result.gone
    message = f"Saved a playlist of {n} items to {target}"
    if gone:
        message += f"; left out {len(gone)} no longer on disk ({shown_name(gone[0])}" + \
                   (", …)" if len(gone) > 1 else ")")
    window.statusBar().showMessage(message, 15000)
    return n


def copy_images(window, folder: str | None = None) -> list[str]:
    """Copy the photos of a multiple selection (or of all the results) into a folder."""
    hits = window.results.target_hits(("image",))
    if not hits:
        window.statusBar().showMessage("No photos to copy", 5000)
        return []
    if folder is None:
        folder = QFileDialog.getExistingDirectory(window, f"Copy {len(hits)} photos to", user_folder("pictures"))
        if not folder:
            return []
    failed: list[tuple[str, str]] = []
    copied = data.copy_files([h.path for h in hits], folder, failed)
    names = {os.path.basename(h.path) for h in hits}
    message = f"Copied {len(copied)} photos to {folder}"
    renamed = [c for c in copied if os.path.basename(c) not in names]
    if renamed:
        message += (f"; {len(renamed)} under a new name because the name was taken "
                    f"(e.g. {shown_name(renamed[0])})")
    if failed:
        path, reason = failed[0]
        message += f"; {len(failed)} could not be copied ({shown_name(path)}: {reason})"
    window.statusBar().showMessage(message, 15000)
    return copied
