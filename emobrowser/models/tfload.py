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
        _one_thread(tensorflow)
        return keras


def _one_thread(tensorflow) -> None:
    """Run inference on one core: the inference lane is a single thread beside the
    extraction workers, which already use the cores indexing may have, and small
    batches gain nothing from more threads."""
    try:
        tensorflow.config.threading.set_intra_op_parallelism_threads(1)
        tensorflow.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # the runtime already started (e.g. training in this process)
        pass
