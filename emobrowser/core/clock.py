"""A worker's time limit does not count the waits that are no file's doing.

Every file is scored in a worker process under a time limit (index.procpool), so that a
file that hangs a decoder costs that file alone. Two waits in a worker have nothing to
do with the file in hand:

* the first sound of a fresh install waits while librosa's compiled code is built and
  cached (features.librosa_loader): about a minute on two free cores, several minutes
  on a busy machine, and a second worker waits for the first meanwhile;
* a large decode waits for another worker's large decode to finish (core.heavy).

Code that is about to wait like this runs the wait inside ``paused()``. In a pool
worker that tells the pool to stop the task's clock until the block ends (the pool
still gives up on a pause longer than its own limit, procpool.MAX_PAUSE); anywhere else
it does nothing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator

PAUSE, RESUME = "pause", "resume"

_report: Callable[[str], None] | None = None
_depth = 0
_lock = threading.Lock()


def set_reporter(report: Callable[[str], None] | None) -> None:
    """Install the function that tells the pool PAUSE or RESUME (the pool's worker does
    this at start; None removes it)."""
    global _report
    _report = report


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """Run the block with the task's clock stopped (nested blocks: the outermost counts)."""
    global _depth
    with _lock:
        report = _report if _depth == 0 else None
        _depth += 1
    if report is not None:
        report(PAUSE)
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
        if report is not None:
            report(RESUME)
