"""Running the shipped networks: LiteRT for inference, Keras only as a fallback.

Every trained network ships twice, trained together as one model version: the Keras
file (``NAME.keras``, what training writes and what TensorFlow can load) and its
LiteRT conversion beside it (``NAME.tflite``). Scoring uses LiteRT's interpreter
(``ai-edge-litert``): it imports in milliseconds, loads a model in a few more and
needs no TensorFlow, which is an optional extra for training only.

When the ``.tflite`` is missing or does not load, the Keras file is used instead if
TensorFlow is installed, and the reason is logged. With neither, loading raises
ModelError, which says what to install.

Inputs are passed by name (the Keras model's input names, which the conversion keeps
as the signature's input names), so the order the converter gives them does not
matter. Outputs are float32 (n, d) arrays.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sys
import threading
from pathlib import Path

import numpy as np

from emobrowser.core.errors import ModelError

log = logging.getLogger(__name__)

_threads = 1
_lock = threading.RLock()  # guards the descriptor swaps of _Silenced
TRAIN_EXTRA_HINT = "install the training extra: pip install 'emobrowser[train]'"


def set_threads(count: int) -> None:
    """The number of threads each LiteRT interpreter uses from now on (at least 1).

    Indexing sets it from its cores setting; networks already loaded pick it up at
    their next call."""
    global _threads
    _threads = max(1, int(count))


def threads() -> int:
    return _threads


@functools.lru_cache(maxsize=None)
def _installed(name: str) -> bool:
    """Whether a package can be imported (asked once per process: availability checks run
    whenever a model is looked up)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def litert_available() -> bool:
    """Whether LiteRT's interpreter can be imported (without importing it)."""
    return _installed("ai_edge_litert")


def tensorflow_available() -> bool:
    """Whether TensorFlow and Keras are installed (the ``train`` extra)."""
    return _installed("tensorflow") and _installed("keras")


def tflite_path(keras_path: Path) -> Path:
    """Where the LiteRT conversion of a Keras file lives: beside it, same stem."""
    return Path(keras_path).with_suffix(".tflite")


class _Silenced:
    """Points file descriptor ``fd`` (2 by default) at /dev/null for a native call that
    prints notices users should not see ("Created TensorFlow Lite XNNPACK delegate for
    CPU"; the converter's tensor listing on 1). One swap at a time in the process: the
    descriptor is shared by every thread."""

    def __init__(self, fd: int = 2):
        self.fd = fd

    def __enter__(self):
        _lock.acquire()
        self.saved = None
        try:
            (sys.stderr if self.fd == 2 else sys.stdout).flush()
            self.saved = os.dup(self.fd)
        except (OSError, ValueError):  # no usable descriptor (a frozen GUI app)
            return self
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.fd)
        os.close(devnull)
        return self

    def __exit__(self, *exc):
        try:
            if self.saved is not None:
                os.dup2(self.saved, self.fd)
                os.close(self.saved)
        finally:
            _lock.release()
        return False


class LiteNetwork:
    """A ``.tflite`` model run by LiteRT's interpreter, one call at a time."""

    backend = "litert"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._runner = None
        self._threads = 0
        self._build()
        inputs = self._signature["inputs"]
        self.input_names: list[str] = list(inputs)
        self._output = self._signature["outputs"][0]

    def _build(self) -> None:
        from ai_edge_litert.interpreter import Interpreter

        with _Silenced():
            interpreter = Interpreter(model_path=str(self.path), num_threads=_threads)
            signatures = interpreter.get_signature_list()
            if "serving_default" not in signatures:
                raise ModelError(f"{self.path.name} has no serving signature")
            self._signature = signatures["serving_default"]
            interpreter.allocate_tensors()  # applies the XNNPACK delegate, which announces itself
            self._runner = interpreter.get_signature_runner("serving_default")
        self._interpreter = interpreter
        self._threads = _threads

    def __call__(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        with self._lock:
            if self._threads != _threads:
                self._build()
            args = {name: np.ascontiguousarray(feed[name], dtype=np.float32) for name in self.input_names}
            out = self._runner(**args)[self._output]
        return np.array(out, dtype=np.float32)


class KerasNetwork:
    """A ``.keras`` model run by Keras (TensorFlow), loaded in safe mode."""

    backend = "keras"

    def __init__(self, path: Path):
        from emobrowser.models.tfload import import_keras

        keras = import_keras()  # lazy: TensorFlow takes seconds to import
        self.path = Path(path)
        self.model = keras.saving.load_model(self.path, safe_mode=True, compile=False)
        self.input_names = [t.name.split(":")[0] for t in self.model.inputs]

    def __call__(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        args = [np.asarray(feed[name], dtype=np.float32) for name in self.input_names]
        out = self.model(args[0] if len(args) == 1 else args, training=False)
        return np.asarray(out, dtype=np.float32)


class WorkerNetwork:
    """A pretrained feature extractor's ``.tflite`` (one input; one output or several) in
    LiteRT's interpreter with one thread: indexing workers run in parallel processes, so
    more threads per interpreter would only compete. Never TensorFlow. Quantized (int8 or
    uint8) inputs are fed as they are and quantized outputs come back dequantized."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            with _Silenced():
                interpreter = Interpreter(model_path=str(self.path), num_threads=1)
                signature = interpreter.get_signature_list()["serving_default"]
                interpreter.allocate_tensors()
                self._runner = interpreter.get_signature_runner("serving_default")
                self._input = signature["inputs"][0]
                self._outputs = list(signature["outputs"])
                self._dtype = np.dtype(self._runner.get_input_details()[self._input]["dtype"])
                self._dequantize = {name: _per_tensor(name, detail)
                                    for name, detail in self._runner.get_output_details().items()}
        except Exception as exc:  # missing, truncated or foreign: say which file, and that reinstalling mends it
            raise damaged_file(self.path.name, exc) from exc
        self._interpreter = interpreter

    def outputs(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """One input batch (cast to the file's input type) -> every output by its signature
        name, as float32 (quantized outputs dequantized: (q - zero point) * scale)."""
        x = np.asarray(x)
        if not np.can_cast(x.dtype, self._dtype, "same_kind"):
            raise ModelError(f"{self.path.name} takes {self._dtype} input, not {x.dtype}")
        with self._lock:
            raw = self._runner(**{self._input: np.ascontiguousarray(x, dtype=self._dtype)})
            out = {}
            for name in self._outputs:
                scale, zero = self._dequantize[name]
                value = np.asarray(raw[name])
                out[name] = ((value.astype(np.float32) - np.float32(zero)) * np.float32(scale) if scale
                             else np.array(value, dtype=np.float32))
        return out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """One input batch -> its first output as float32, as the file's signature shapes it."""
        return self.outputs(x)[self._outputs[0]]


def damaged_file(name: str, exc: BaseException):
    """The :class:`ModelFileError` for a shipped model file ``name`` that is missing or
    cannot be read as what it should be (raise it ``from exc``)."""
    from emobrowser.core.errors import ModelFileError

    return ModelFileError(f"{name} is missing or damaged ({type(exc).__name__}: {str(exc)[:200]}); "
                          "reinstall emobrowser")


def model_json(path: Path) -> dict:
    """A model's JSON file (a norm file, a network's metadata) as a dict. One that is
    missing, unreadable, garbled or not a JSON object is a :class:`ModelFileError`
    naming it (:func:`damaged_file`): the installation's fault, not a scored file's."""
    import json

    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(doc, dict):
            raise ValueError(f"a JSON {type(doc).__name__}, not an object")
    except (OSError, ValueError) as exc:
        raise damaged_file(path.name, exc) from exc
    return doc


def file_digest(path: Path) -> str:
    """sha256 of a model file (read once per file version and process). Norm files record
    the digests of the pretrained extractors a network was trained on, and training caches
    are keyed by them."""
    path = Path(path).resolve()
    stat = path.stat()
    return _digest(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _digest(path: Path, _size: int, _mtime_ns: int) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_digest(path: Path, expected: str, what: str) -> None:
    """Raise :class:`ModelFileError` unless the file at ``path`` can be read and has
    sha256 ``expected``; ``what`` ends the sentence "… is not {what} was trained with"."""
    from emobrowser.core.errors import ModelFileError

    path = Path(path)
    try:
        digest = file_digest(path)
    except OSError as exc:
        raise ModelFileError(f"{path.name} cannot be read ({exc.strerror or exc}); reinstall emobrowser") from exc
    if digest != expected:
        raise ModelFileError(f"{path.name} is not {what} was trained with "
                             f"(sha256 {digest[:12]}…, expected {expected[:12]}…); reinstall emobrowser")


def _per_tensor(name: str, detail: dict) -> tuple[float, int]:
    """(scale, zero point) of an output: (0, 0) when it is not quantized. Per-channel
    quantized outputs are refused: no shipped network has one."""
    params = detail.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", []))
    if scales.size > 1:
        raise ValueError(f"output {name!r} is quantized per channel")
    if scales.size == 0:
        return 0.0, 0
    return float(scales[0]), int(np.asarray(params["zero_points"])[0])


_workers: dict[Path, WorkerNetwork] = {}
_workers_lock = threading.Lock()


def worker_network(path: Path) -> WorkerNetwork:
    """This process's interpreter for the ``.tflite`` at ``path`` (built once)."""
    path = Path(path).resolve()
    with _workers_lock:
        if path not in _workers:
            _workers[path] = WorkerNetwork(path)
        return _workers[path]


def copy_model_files(src_dir: Path, names, out_dir: Path) -> None:
    """Copy a pretrained extractor's files (``names`` in ``src_dir``) beside a trained
    network in ``out_dir``, so that folder is a complete model; nothing when they are
    the same files."""
    import shutil

    for name in names:
        src, dst = Path(src_dir) / name, Path(out_dir) / name
        if src.resolve() != dst.resolve():
            shutil.copyfile(src, dst)


def load_network(keras_path: Path, prefer: str = "litert"):
    """Load a shipped network: its ``.tflite`` with LiteRT, else its ``.keras``.

    ``prefer="keras"`` loads the Keras file (training and the equivalence checks).
    Returns an object with ``input_names``, ``backend`` and ``__call__(feed)`` that
    maps {input name: (n, d) array} to a float32 (n, k) array.
    Raises ModelError when neither can be loaded, with each reason."""
    keras_path = Path(keras_path)
    lite = tflite_path(keras_path)
    reasons = []
    if prefer == "litert":
        if not lite.is_file():
            reasons.append(f"{lite.name} is missing")
        elif not litert_available():
            reasons.append("LiteRT (ai-edge-litert) is not installed")
        else:
            try:
                return LiteNetwork(lite)
            except Exception as exc:  # a damaged or foreign file: fall back, and say why
                reasons.append(f"LiteRT could not load {lite.name}: {type(exc).__name__}: {exc}")
        log.warning("%s; scoring with the Keras model instead", "; ".join(reasons))
    if not keras_path.is_file():
        reasons.append(f"{keras_path.name} is missing")
    elif not tensorflow_available():
        reasons.append(f"TensorFlow is not installed ({TRAIN_EXTRA_HINT})")
    else:
        return KerasNetwork(keras_path)
    raise ModelError(f"cannot load the model {keras_path.stem}: " + "; ".join(reasons))


def network_files_present(keras_path: Path) -> bool:
    """Whether a network can be loaded in this installation: its ``.tflite`` with
    LiteRT installed, or its ``.keras`` with TensorFlow installed."""
    keras_path = Path(keras_path)
    return ((tflite_path(keras_path).is_file() and litert_available())
            or (keras_path.is_file() and tensorflow_available()))


def convert_to_tflite(model, out_path: Path, int8_weights: bool = False) -> Path:
    """Write the LiteRT conversion of a Keras ``model`` to ``out_path``: float32, no
    quantization, so scores match the Keras model's; or, with ``int8_weights``, LiteRT's
    dynamic-range quantization (int8 weights, a quarter of the size and faster on CPU,
    outputs within about 5 % of the Keras model's). Needs TensorFlow."""
    from emobrowser.models.tfload import import_keras

    import_keras()
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if int8_weights:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with _Silenced(1), _Silenced(2):  # it lists every captured tensor on stdout
        data = converter.convert()
    out_path = Path(out_path)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, out_path)
    return out_path
