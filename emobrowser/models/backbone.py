"""The photo model's pretrained backbone: pooled mid-level CNN activations, run by LiteRT.

``resources/models/image_backbone.tflite`` holds two CNNs with the weights of the npm
package nsfwjs 4.4.0, both reading the same 224 px input: MobileNetV2 cut at four
mid-level layers and InceptionV3 cut at five (``mixed2``, ``mixed4`` to ``mixed7``), each
layer's output global-average pooled, all concatenated, with int8 weights (LiteRT's
dynamic-range quantization; ``image_backbone.json`` lists the layers;
``packaging/convert_backbone.py`` rebuilds the file from the npm tarball). It runs in
indexing worker processes, so this module imports LiteRT only, never TensorFlow: one
interpreter per process, one thread, loaded on first use.

Input: the whole photo squashed to 224 × 224 (INTER_AREA), RGB, scaled to [0, 1].
Output: float32 (d,) vector of non-negative pooled ReLU activations (d = 5472:
MobileNetV2 192 + 384 + 576 + 960, InceptionV3 288 + 768 + 768 + 768 + 768).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

BACKBONE_FILE = "image_backbone.tflite"
BACKBONE_META = "image_backbone.json"
INPUT_SIZE = 224


def backbone_path(model_dir: Path | None = None) -> Path:
    from emobrowser.core import paths

    return Path(model_dir if model_dir is not None else paths.models_dir()) / BACKBONE_FILE


def backbone_available(model_dir: Path | None = None) -> bool:
    """Whether the backbone file is there and LiteRT is installed (without loading either)."""
    from emobrowser.models.runtime import litert_available

    return backbone_path(model_dir).is_file() and litert_available()


def backbone_dim(model_dir: Path | None = None) -> int:
    """Length of the backbone's output vector, from ``image_backbone.json``."""
    meta = backbone_path(model_dir).with_name(BACKBONE_META)
    return int(json.loads(meta.read_text())["dim"])


def backbone_input(bgr: np.ndarray) -> np.ndarray:
    """(1, 224, 224, 3) float32 RGB in [0, 1] from an 8-bit BGR (or grey) image."""
    import cv2

    img = np.asarray(bgr)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    elif img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    img = cv2.resize(img, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
    rgb = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).astype(np.float32) * np.float32(1.0 / 255.0)
    return rgb[None]


def network(model_dir: Path | None = None):
    """This process's backbone interpreter for ``model_dir`` (built once): (1, 224, 224, 3)
    input -> (1, d) pooled activations."""
    from emobrowser.models.runtime import worker_network

    return worker_network(backbone_path(model_dir))


def backbone_features(bgr: np.ndarray, model_dir: Path | None = None) -> np.ndarray:
    """Pooled backbone activations of an 8-bit BGR image: float32 (d,), all >= 0."""
    return network(model_dir)(backbone_input(bgr)).reshape(-1)
