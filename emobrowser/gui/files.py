"""File paths on their way into and out of Qt.

The library hands the GUI file-system paths (``Store.paths_of``): a name that is not
valid UTF-8 keeps its bytes as surrogate escapes, so Python's file functions open it.
Qt strings cannot carry those escapes (they are dropped silently), so

* text for people goes through ``store.shown`` (undecodable bytes become U+FFFD);
* URLs for opening, dragging and playing go through ``file_url``, which percent-encodes
  the name's exact bytes, and dropped URLs come back through ``url_path``;
* signals that carry a path declare it as ``object``, not ``str``;
* Qt's media player opens a URL only through its text form, so ``playable_path`` gives
  such a file a UTF-8 name: a symbolic link in the app's cache folder (the file itself
  is not touched).
"""

from __future__ import annotations

import os
from urllib.parse import quote, unquote_to_bytes, urlsplit

from PySide6.QtCore import QUrl

from emobrowser.core.paths import cache_dir, private_dir

_WINDOWS = os.name == "nt"  # Windows names are always Unicode


def file_url(path: str) -> QUrl:
    """A file:// URL that names exactly the file ``path`` names, whatever its bytes."""
    if _WINDOWS:
        return QUrl.fromLocalFile(path)
    return QUrl.fromEncoded(b"file://" + quote(os.fsencode(os.path.abspath(path))).encode("ascii"))


def url_path(url: QUrl) -> str | None:
    """The file-system path of a local file URL (the inverse of ``file_url``), else None."""
    if not url.isLocalFile():
        return None
    if _WINDOWS:
        return url.toLocalFile()
    return os.fsdecode(unquote_to_bytes(urlsplit(bytes(url.toEncoded()).decode("ascii")).path))


def playable_path(path: str) -> str:
    """``path`` itself, or for a name that is not valid UTF-8 a link to it under a UTF-8
    name (``<cache>/links/<hash><ext>``), made once and reused."""
    if _WINDOWS:
        return path
    raw = os.fsencode(os.path.abspath(path))
    try:
        raw.decode("utf-8")
        return path
    except UnicodeDecodeError:
        pass
    import hashlib

    ext = os.path.splitext(raw)[1].decode("ascii", "ignore")
    link = cache_dir() / "links" / (hashlib.blake2b(raw, digest_size=10).hexdigest() + ext)
    try:
        if os.readlink(link) == os.fsdecode(raw):
            return str(link)
        os.remove(link)
    except OSError:
        pass
    try:
        private_dir(link.parent)
        os.symlink(raw, link)
    except OSError:  # no links here: Qt is handed the name as it is, and may not open it
        return path
    return str(link)


def user_folder(kind: str) -> str:
    """The user's "pictures", "music" or "home" folder, where file dialogs start
    (not the folder the app was started from); home when the kind has none."""
    from PySide6.QtCore import QStandardPaths

    location = {"pictures": QStandardPaths.StandardLocation.PicturesLocation,
                "music": QStandardPaths.StandardLocation.MusicLocation}.get(kind)
    folder = QStandardPaths.writableLocation(location) if location is not None else ""
    return folder if folder and os.path.isdir(folder) else os.path.expanduser("~")
