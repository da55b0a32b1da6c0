"""Importing Keras/TensorFlow for inference, without its native start-up chatter.

TensorFlow's C++ layer writes notices ("oneDNN custom operations are on", absl
logging warnings) straight to file descriptor 2 while it is imported, whatever
TF_CPP_MIN_LOG_LEVEL says. Users of the command line and the log file should not
see them, so the import runs with fd 2 pointed at /dev/null. Python exceptions
raised by the import are unaffected.
"""

from __future__ import annotations

import os
import sys
import threading

_lock = threading.Lock()


def import_keras():
    """Import and return the keras module, silencing native stderr during the import."""
    if "keras" in sys.modules and "tensorflow" in sys.modules:
        import keras

        return keras
    with _lock:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable fd 2 (e.g. a frozen GUI app)
            import keras

            return keras
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
            import keras
            import tensorflow  # noqa: F401 - its native initialisation is what prints
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
        return keras
