"""Where things live: the library database, caches, logs and shipped resources.

EMOBROWSER_HOME (a folder) overrides every per-user location at once, which tests
and scripts rely on; otherwise platformdirs gives the usual per-platform folders.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "emobrowser"
APP_ID = "io.github.emobrowser.Emobrowser"


def home_override() -> Path | None:
    value = os.environ.get("EMOBROWSER_HOME")
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    """Folder of the user's library database."""
    home = home_override()
    if home is not None:
        return home
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Folder of rebuildable caches: Annoy indices, thumbnails, the demo library."""
    home = home_override()
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def log_dir() -> Path:
    home = home_override()
    if home is not None:
        return home / "logs"
    import platformdirs

    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


def private_dir(path: str | os.PathLike) -> Path:
    """Make sure the folder ``path`` exists; every folder this creates on the way is
    private to the user (mode 0700), as the library, its caches and thumbnails show
    what the user's files are. Folders that exist already keep their mode. Returns the
    path."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass  # made meanwhile by another process
        else:
            os.chmod(folder, 0o700)  # an odd umask could have taken the owner's own bits
    if not path.is_dir():
        raise NotADirectoryError(20, "Not a directory", str(path))
    return path


def default_db_path() -> Path:
    return data_dir() / "library.sqlite3"


def resources_dir() -> Path:
    """The shipped resources folder: model weights, icons.

    In a source checkout it is <repo>/resources; in an installed package it is the
    package data folder emobrowser/resources.
    """
    package_dir = Path(__file__).resolve().parent.parent
    installed = package_dir / "resources"
    if installed.is_dir():
        return installed
    return package_dir.parent / "resources"


def models_dir() -> Path:
    override = os.environ.get("EMOBROWSER_MODELS")
    return Path(override) if override else resources_dir() / "models"
