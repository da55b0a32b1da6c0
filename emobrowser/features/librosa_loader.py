"""Import librosa safely when several emobrowser processes start at once.

librosa compiles many of its functions with numba and keeps the machine code in an
on-disk cache. numba does not guard that cache against processes that compile the same
functions at the same moment: two indexing workers starting on a fresh install can
write cache entries that do not match, and any process that later loads them dies
with a segmentation fault (numba issue #10128). On a first run of the demo this cost a
few files as "decoder crashed (signal 11)".

So every emobrowser process imports librosa through ``load()``, which

1. points numba's cache at ``cache_dir()/numba``, a folder this project owns and can
   write to in the desktop bundle too (an explicit NUMBA_CACHE_DIR is respected);
2. holds an exclusive lock on a file in that folder while it imports librosa and runs
   the feature extractor once on a short generated signal. Only one process at a time
   compiles or reads the cache, and once it lets go every function the extractor uses
   is already compiled in memory;
3. leaves a marker file while it does so. A marker found on entry means an earlier
   warm-up died part way, possibly on a damaged cache, so the compiled code in a
   folder this project owns is deleted and rebuilt.

The wait for the lock and the warm-up run with the task's clock stopped
(core.clock): on a fresh install on a busy machine they take minutes, which must not
count against the time limit of whichever sound files the workers meet first.
"""

from __future__ import annotations

import os
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from emobrowser.core import clock

LOCK_NAME = ".emobrowser.lock"
MARKER_NAME = ".emobrowser.warming"

_librosa: ModuleType | None = None
_guard = threading.RLock()


def cache_folder() -> tuple[Path, bool]:
    """numba's cache folder for this process, and whether emobrowser owns it."""
    from emobrowser.core.paths import cache_dir

    own = cache_dir() / "numba"
    explicit = os.environ.get("NUMBA_CACHE_DIR")
    folder = Path(explicit) if explicit else own
    return folder, folder == own


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold the cache folder's lock (blocking) for the duration of the block."""
    from emobrowser.core.paths import private_dir

    private_dir(folder)
    try:
        import fcntl
    except ImportError:  # no POSIX locks (Windows): only this process is serialised
        yield
        return
    with open(folder / LOCK_NAME, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def clear_if_interrupted(folder: Path, owned: bool) -> bool:
    """Delete the compiled code an interrupted warm-up left behind. Returns True if it did.

    Only a folder emobrowser owns is emptied; the lock file stays.
    """
    if not (folder / MARKER_NAME).exists() or not owned:
        return False
    for entry in folder.iterdir():
        if entry.name in (LOCK_NAME, MARKER_NAME):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return True


def _warm_up() -> None:
    import numpy as np

    from emobrowser.features.audio_features import SAMPLE_RATE, frame_features

    t = np.arange(2 * SAMPLE_RATE) / SAMPLE_RATE
    rng = np.random.default_rng(0)
    signal = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * rng.standard_normal(t.size)
    frame_features(signal.astype(np.float32), SAMPLE_RATE)


def load() -> ModuleType:
    """The librosa module, imported and warmed up under the cache lock (once per process)."""
    global _librosa
    if _librosa is not None:
        return _librosa
    with _guard:
        if _librosa is not None:
            return _librosa
        folder, owned = cache_folder()
        os.environ["NUMBA_CACHE_DIR"] = str(folder)
        if "numba" in sys.modules:  # numba reads its settings at import; re-read them
            from numba.core import config

            config.reload_config()
        # The wait for another worker's warm-up and this one's own are no file's time.
        with clock.paused(), exclusive(folder):
            clear_if_interrupted(folder, owned)
            marker = folder / MARKER_NAME
            marker.touch()
            import librosa

            _librosa = librosa
            try:
                _warm_up()
            except BaseException:
                _librosa = None
                raise
            marker.unlink(missing_ok=True)
    return _librosa
