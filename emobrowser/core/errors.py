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
    return MediaError(f"cannot read file: {exc.strerror or exc}")
