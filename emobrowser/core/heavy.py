"""One large decode at a time among the worker processes of one emobrowser process.

Each decode is bounded (media.images.DECODE_BUDGET, about 1.1 GB), but N workers
decoding large images at once would need N times that. A decode expected to need
more than HEAVY_BYTES therefore first takes an exclusive lock on a file that the
worker pool names in EMOBROWSER_DECODE_LOCK (index.procpool sets it for its workers
and the GUI's thumbnail helper alike), so all workers together stay under about one
large decode plus the small ones. The lock is flock(2): the kernel releases it when
the holder dies, so a worker killed mid-decode (time limit, crash) cannot leave it
held. Without the variable (a decode in a plain script), or without flock (Windows),
nothing is locked. The wait for the lock does not count against the waiting file's
time limit (core.clock).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from emobrowser.core import clock

ENV_VAR = "EMOBROWSER_DECODE_LOCK"
HEAVY_BYTES = 300_000_000  # decodes expected to need more than this take turns


@contextlib.contextmanager
def heavy(need_bytes: int) -> Iterator[None]:
    """Hold the shared decode lock while a decode of about need_bytes runs, if that
    is more than HEAVY_BYTES; otherwise (or with no lock file named) just run."""
    path = os.environ.get(ENV_VAR)
    if need_bytes <= HEAVY_BYTES or not path:
        yield
        return
    try:
        import fcntl

        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except (ImportError, OSError):
        yield
        return
    try:
        with clock.paused():  # waiting for another worker's decode is no file's time
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def is_held(path: str) -> bool:
    """Whether another process holds the lock file at ``path`` now (for tests)."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
