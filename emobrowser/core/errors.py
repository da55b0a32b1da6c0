"""Errors with messages meant for the user.

A MediaError's message is stored in the library as the item's failure reason and
shown by ``emobrowser failures``, so it must say specifically what is wrong.
"""

import errno


DANGLING_SYMLINK = "dangling symlink (its target does not exist)"
SYMLINK_LOOP = "symlink loop"


class EmobrowserError(Exception):
    """Base class for errors the project raises on purpose."""


class MediaError(EmobrowserError):
    """A file could not be decoded or scored; the message says why."""


class ModelError(EmobrowserError):
    """A model could not be loaded or used."""


class ModelFileError(ModelError):
    """A model file shipped with the app is missing or damaged: the installation's fault,
    not the scored file's, so files that met it are tried again on the next run."""


class InputError(EmobrowserError):
    """A file or value the user handed to a command is not usable; the message says why."""


# Reasons recorded for files that vanished or changed while being indexed; they say
# nothing about the file itself, so the indexer tries such files again.
FILE_VANISHED = "file vanished before it could be read"
UNREADABLE = "permission denied (file is unreadable)"
VANISHED_WHILE_INDEXED = "file vanished while it was being indexed"
CHANGED_WHILE_INDEXED = "file changed while it was being indexed"

# A file that hit the per-file time limit; the limit is part of the reason, so a later
# run with a longer limit knows to try it again (see timed_out_limit).
TIMED_OUT_PREFIX = "timed out after "


# A file whose decoding ran out of memory: the worker's memory limit, or the system's.
# That can come from the machine's state as much as from the file, so the indexer tries
# such files again on the next run.
OUT_OF_MEMORY_PREFIX = "ran out of memory decoding"


def out_of_memory(limit_bytes: int | None = None, killed: bool = False, seen_bytes: int = 0) -> str:
    """The failure reason of a decode that ran out of memory: over the worker's limit
    (limit_bytes), or killed by the system (at about seen_bytes, when known)."""
    if killed:
        at = f" at about {seen_bytes // 1_000_000:,} MB" if seen_bytes else ""
        return f"{OUT_OF_MEMORY_PREFIX} (killed by the system{at})"
    if limit_bytes:
        return f"{OUT_OF_MEMORY_PREFIX} (over the limit of {limit_bytes // 1_000_000:,} MB per worker)"
    return OUT_OF_MEMORY_PREFIX


def timed_out(limit: float) -> str:
    return f"{TIMED_OUT_PREFIX}{limit:g} s (decoding and scoring took longer)"


def timed_out_limit(reason: str) -> float | None:
    """The limit a ``timed_out`` reason records; None for any other reason.

    Libraries indexed before the limit was recorded this way say "(decoder hung)"
    after the same number; those parse too."""
    if not reason.startswith(TIMED_OUT_PREFIX):
        return None
    try:
        return float(reason[len(TIMED_OUT_PREFIX):].split(" ", 1)[0])
    except ValueError:
        return None


def link_failure(exc: OSError, is_symlink: bool) -> str | None:
    """Why stat failed on a name, when a symlink is the reason: a loop of links, or a
    link whose target does not exist; None for any other failure."""
    if exc.errno == errno.ELOOP:
        return SYMLINK_LOOP
    return DANGLING_SYMLINK if is_symlink else None


def read_failure(exc: OSError) -> MediaError:
    """The MediaError that says why reading a file failed."""
    if isinstance(exc, FileNotFoundError):
        return MediaError(FILE_VANISHED)
    if isinstance(exc, PermissionError):
        return MediaError(UNREADABLE)
    if isinstance(exc, IsADirectoryError):
        return MediaError("is a directory, not a file")
    if environment_failure(exc):
        return MediaError(environment_failure(exc))
    return MediaError(f"cannot read file: {exc.strerror or exc}")


# -- problems of the environment, not of a file -------------------------------------------

# Failure reasons that blame the machine, not the file: the indexer records them like any
# failure, and tries such files again on the next run (see is_environment_failure).
DISK_FULL = "disk full"
OUT_OF_MEMORY = "the system ran out of memory"
MODEL_FILE_UNUSABLE = "a model file of this installation cannot be loaded"
# A worker waited too long for another (core.clock): the compiled-code cache or a large decode.
WAITED_TOO_LONG = "waited too long for another indexing worker"
ENVIRONMENT_PREFIXES = (DISK_FULL, OUT_OF_MEMORY, "cache folder missing", MODEL_FILE_UNUSABLE, WAITED_TOO_LONG)
_LOW_SPACE = 1 << 20  # bytes free below which a write failure is put down to a full disk


def disk_is_full(folder) -> bool:
    """Whether the file system holding ``folder`` (or its nearest existing parent) has
    less than 1 MiB free for this user."""
    import os
    import shutil

    folder = os.path.abspath(os.fspath(folder))
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        return shutil.disk_usage(folder).free < _LOW_SPACE
    except OSError:
        return False


def environment_failure(exc: BaseException) -> str | None:
    """The failure reason for an error that the environment caused (a full disk or
    quota, the system out of memory, a cache folder deleted meanwhile), or None when the
    error may be the file's own."""
    if isinstance(exc, ModelFileError):
        return f"{MODEL_FILE_UNUSABLE}: {exc}"
    if not isinstance(exc, OSError):
        return None
    where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{DISK_FULL}: no space left to write{where}; free some space and try again"
    if exc.errno == errno.ENOMEM:
        return f"{OUT_OF_MEMORY}; index again when more memory is free"
    if exc.errno == errno.ENOENT and exc.filename and _in_cache(exc.filename):
        return f"cache folder missing: {exc.filename} was removed while in use; it is made again on the next run"
    return None


def _in_cache(filename) -> bool:
    """Whether ``filename`` lies in the app's cache folder or numba's."""
    import os

    from emobrowser.core.paths import cache_dir

    name = os.path.abspath(os.fsdecode(filename))
    folders = [str(cache_dir()), os.environ.get("NUMBA_CACHE_DIR", "")]
    return any(f and (name == os.path.abspath(f) or name.startswith(os.path.abspath(f) + os.sep)) for f in folders)


def is_environment_failure(reason: str | None) -> bool:
    """Whether a recorded failure reason blames the environment (retried next run)."""
    return bool(reason) and reason.startswith(ENVIRONMENT_PREFIXES)


def os_problem(exc: OSError, folder=None) -> str:
    """A plain sentence for an OSError met while opening or writing the library."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) or (folder is not None and disk_is_full(folder)):
        return f"{DISK_FULL}: the disk holding {folder or exc.filename} has no space left; free some space"
    if exc.errno == errno.EROFS:
        return "the file system is read-only"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"permission denied ({exc.filename or folder})"
    return exc.strerror or str(exc)


def database_problem(exc: Exception, path) -> str:
    """A plain sentence for an SQLite error on the library database ``path``."""
    import os

    text = str(exc)
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if "malformed" in text or "database disk image" in text:
        return (f"the library database is damaged ({text}); `emobrowser check --db {path}` tells more and "
                f"`emobrowser check --repair --db {path}` rebuilds it from what can still be read")
    if "file is not a database" in text:
        return "it is not an emobrowser library (not an SQLite database at all); it was left untouched"
    if "full" in text or (("disk I/O error" in text or "unable to open" in text) and disk_is_full(folder)):
        return f"{DISK_FULL}: the disk holding {folder} has no space left; free some space and try again"
    if "readonly" in text or "read-only" in text:
        return (f"the library database {path} is read-only (file permissions or a read-only disk); "
                f"make it writable, or copy it to a writable folder and use --db")
    if "locked" in text or "busy" in text:
        return "the library is locked by another program (it waited 30 s); try again when it has finished"
    if "disk I/O error" in text:
        return "disk I/O error (the disk or its file system reported a failure reading or writing the library)"
    return text
