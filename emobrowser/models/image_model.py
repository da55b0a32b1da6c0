"""The trained image valence–arousal model ("image-va", version 5).

``extract`` (worker processes, NumPy/OpenCV/LiteRT only, never TensorFlow) returns, for
each *view* of the photo the model was trained to average (``views`` in
``image_va_norm.json``: the photo itself and, since version 4, its mirror image), the
features of the pretrained backbone (:mod:`emobrowser.models.backbone`: since version 5
Google's EfficientNet-Lite3 ImageNet classifier) followed by the hand-crafted features of
:mod:`emobrowser.features.image_features` on a fixed working size with their fixed
per-group transforms (log of Gabor energies, square root of LBP shares) – the same code
path the training uses; the views' vectors are concatenated into one. ``predict``
(inference thread) standardises each view with the mean/std from ``image_va_norm.json``,
runs the network on every view (MLPs averaged with a ridge regression; its LiteRT
conversion ``image_va.tflite``, or the Keras file ``image_va.keras`` in safe mode as a
fallback; loaded lazily, once; see emobrowser.models.runtime), averages the views, applies
the post-hoc linear rescale and then :func:`soft_bound` with the trained knee, which keeps
scores inside [-1, 1] in order, without a pile at the ends.
"""

from __future__ import annotations

import threading

import numpy as np

from emobrowser.core import paths
from emobrowser.models import shared_scale
from emobrowser.models.base import ImageModel, ModelInfo

MODEL_FILE = "image_va.keras"
NORM_FILE = "image_va_norm.json"
METRICS_FILE = "image_va_metrics.json"
# Default knee of soft_bound; the trainer picks the shipped one (image_va_norm.json).
KNEE = 0.75


def soft_bound(y: np.ndarray, knee: float = KNEE) -> np.ndarray:
    """Identity on [-knee, knee]; beyond, ``knee + (1 - knee) * tanh((|y| - knee) / (1 - knee))``
    with the sign of y: continuous with slope 1 at the knee, inside (-1, 1) (float32
    rounds to +-1 only beyond about knee + 8 (1 - knee)), so outliers stay ordered instead
    of being clipped into a pile at the ends. Returns float32 in [-1, 1]."""
    y = np.asarray(y, dtype=np.float32)
    a = np.abs(y)
    w = 1.0 - knee
    over = knee + w * np.tanh((a - knee) / w)
    return np.where(a > knee, np.sign(y) * over, y).astype(np.float32)


def model_features(bgr: np.ndarray, model_dir=None) -> np.ndarray:
    """Feature vector of one view fed to the network (float32): backbone part, then
    hand-crafted part."""
    from emobrowser.models.backbone import backbone_features

    return np.concatenate([backbone_features(bgr, model_dir), hand_features(bgr)])


# The views ``extract`` can compute, by the names ``image_va_norm.json`` lists.
VIEWS = {"plain": lambda bgr: bgr, "flip": lambda bgr: np.ascontiguousarray(bgr[:, ::-1])}


def view_features(bgr: np.ndarray, views=("plain",), model_dir=None) -> np.ndarray:
    """The features of each of ``views`` of a photo, concatenated: (len(views) * d,)."""
    return np.concatenate([model_features(VIEWS[v](bgr), model_dir) for v in views])


def hand_features(bgr: np.ndarray) -> np.ndarray:
    """Hand-crafted image features with per-group transforms (version 1's features)."""
    from emobrowser.features.image_features import feature_groups, image_features

    f = image_features(bgr).astype(np.float32)
    groups = feature_groups()
    a, b = groups["gist"]
    f[a:b] = np.log(np.maximum(f[a:b], 0.0) + 1e-3)
    a, b = groups["lbp"]
    f[a:b] = np.sqrt(np.maximum(f[a:b], 0.0))
    return f


def _views_of(norm: dict) -> tuple[str, ...]:
    """The views a norm file lists (none before version 4: the photo alone), each one
    :data:`VIEWS` can compute."""
    views = tuple(norm.get("views") or ("plain",))
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise ValueError(f"{NORM_FILE} asks for views this version cannot compute: {unknown}")
    return views


class ImageVAModel(ImageModel):
    """MLPs averaged with a ridge regression and a kernel regression, over an ImageNet
    classifier's features and hand-crafted colour/texture/layout features, averaged over
    the photo and its mirror image (see docs/model_card_image.md)."""

    info = ModelInfo(name="image-va", version="5", modality="image")

    def __init__(self, model_dir=None):
        self._dir = model_dir
        self._lock = threading.Lock()
        self._model = None
        self._norm = None
        self._views = None

    @classmethod
    def available(cls) -> bool:
        from emobrowser.models.backbone import backbone_available
        from emobrowser.models.runtime import network_files_present

        d = paths.models_dir()
        return (network_files_present(d / MODEL_FILE) and (d / NORM_FILE).is_file()
                and backbone_available(d))

    def _model_dir(self):
        from pathlib import Path

        return Path(self._dir) if self._dir is not None else paths.models_dir()

    def views(self) -> tuple[str, ...]:
        """The views of a photo the shipped network averages (``views`` in the norm file;
        files written before version 4 have none: the photo alone)."""
        if self._views is None:
            self._views = _views_of(self._read_norm())
        return self._views

    def _read_norm(self) -> dict:
        """``image_va_norm.json``, after checking that the backbone in use is the one the
        photo model was trained with (its sha256 is in the file since version 5): a foreign
        or damaged backbone, or a norm file that cannot be read, is a
        :class:`ModelFileError` naming it, in the indexing workers (through
        :meth:`extract`) as in the inference thread."""
        from emobrowser.models.runtime import model_json

        d = self._model_dir()
        norm = model_json(d / NORM_FILE)
        if norm.get("backbone_sha256"):
            from emobrowser.models.backbone import backbone_path
            from emobrowser.models.runtime import check_digest

            check_digest(backbone_path(d), norm["backbone_sha256"], "the backbone the photo model")
        return norm

    def extract(self, bgr: np.ndarray) -> np.ndarray:
        """Float32 feature vector of an 8-bit BGR image: per view (:meth:`views`), its
        backbone part and hand-crafted part."""
        return view_features(bgr, self.views(), self._dir)

    def extract_frame(self, bgr: np.ndarray) -> np.ndarray:
        """Features of a video frame: the frame alone, one view. A video has a frame per
        second, so both views would double what a long film holds in memory (7,880 values
        a frame instead of 3,940) for little gain on pictures that are averaged over a
        15-second segment anyway; ``predict`` scores one view as it is. Like :meth:`extract`,
        it refuses a backbone the model was not trained with (:meth:`views` checks it)."""
        self.views()
        return model_features(bgr, self._dir)

    def _load(self):
        with self._lock:
            if self._model is None:
                from emobrowser.models.runtime import load_network

                d = self._model_dir()
                norm = self._read_norm()
                self._mean = np.asarray(norm["mean"], dtype=np.float32)
                self._std = np.asarray(norm["std"], dtype=np.float32)
                rescale = norm.get("rescale") or {"scale": [1.0, 1.0], "offset": [0.0, 0.0]}
                self._scale = np.asarray(rescale["scale"], dtype=np.float32)
                self._offset = np.asarray(rescale["offset"], dtype=np.float32)
                self._knee = rescale.get("knee")
                self._views = _views_of(norm)  # read once: the worker-side views() reads it alone
                self._norm = norm
                self._model = load_network(d / MODEL_FILE)
        return self._model

    def backend(self) -> str:
        return self._load().backend

    def _views_in(self, features: np.ndarray) -> int:
        """How many views each row of ``features`` holds: all of :meth:`views` (what
        :meth:`extract` returns) or one (:meth:`extract_frame`)."""
        self._load()
        width, d = features.shape[1], self._mean.size
        n_views = len(self.views())
        if width == n_views * d:
            return n_views
        if width == d:
            return 1
        raise ValueError(f"expected {n_views} x {d} features (or {d} for one view), got {width}")

    def network_feed(self, features: np.ndarray) -> dict[str, np.ndarray]:
        """The network's input for (n, views * d) feature vectors (what :meth:`extract`
        returns; or (n, d), one view, from :meth:`extract_frame`): (n * views, d) rows,
        photo by photo and view by view, standardised, by input name."""
        f = np.atleast_2d(np.asarray(features, dtype=np.float32))
        model = self._load()
        f = f.reshape(len(f) * self._views_in(f), self._mean.size)
        x = np.nan_to_num((f - self._mean) / self._std, nan=0.0, posinf=0.0, neginf=0.0)
        return {model.input_names[0]: x}

    def predict(self, features: np.ndarray) -> np.ndarray:
        f = np.atleast_2d(np.asarray(features, dtype=np.float32))
        if f.shape[0] == 0:
            return np.zeros((0, 2), dtype=np.float32)
        out = self._load()(self.network_feed(f))
        out = out.reshape(len(f), self._views_in(f), 2).mean(axis=1)  # the views' mean
        out = out * self._scale + self._offset
        out = soft_bound(out, self._knee) if self._knee is not None else np.clip(out, -1.0, 1.0)
        return shared_scale.apply(out, self.shared_scale())

    def shared_scale(self) -> dict | None:
        """This version's map onto the shared scale (None: none shipped, outputs as they are)."""
        return shared_scale.scale_for(self.info.name, self.info.version, self._dir)
