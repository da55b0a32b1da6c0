"""The interface every valence–arousal model implements.

A model is split in two halves because they run in different places:

* ``extract`` turns decoded media into a feature vector. It runs in indexing worker
  processes, so it must be pure NumPy/OpenCV/librosa and must never import TensorFlow.
* ``predict`` turns a batch of feature vectors into (valence, arousal). It runs in the
  single inference thread, which loads the model once; it may import TensorFlow lazily.

Scores are stored keyed by ``info.name`` and ``info.version``, so bump the version
whenever the weights or the features change.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ModelInfo:
    """Identity of a model: scores are keyed by (name, version)."""

    name: str
    version: str
    modality: str  # "image" or "audio"
    interim: bool = False  # True for the placeholder baseline models


@dataclass
class AudioFeatures:
    """Features of one audio signal.

    whole: (d,) features of the whole signal.
    frames: (t, d) features of windows along the signal (the emotion timeline).
    times: (t, 2) start and end of each window, in seconds.
    duration: length of the signal in seconds.
    """

    whole: np.ndarray
    frames: np.ndarray
    times: np.ndarray
    duration: float


class ImageModel(ABC):
    """Scores images. ``extract`` runs in worker processes, ``predict`` in one thread."""

    info: ModelInfo

    def backend(self) -> str:
        """What runs the network: "litert", "keras", or "numpy" for models without one."""
        return "numpy"

    @abstractmethod
    def extract(self, bgr: np.ndarray) -> np.ndarray:
        """Return a 1-D float32 feature vector for an 8-bit BGR image (H, W, 3)."""

    def extract_frame(self, bgr: np.ndarray) -> np.ndarray:
        """Features of one video frame (``predict`` takes them too); the same as
        ``extract`` unless a model has a cheaper form for the many frames of a video."""
        return self.extract(bgr)

    @abstractmethod
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Return (n, 2) float32 valence, arousal in [-1, 1] for (n, d) features."""


class AudioModel(ABC):
    """Scores audio signals: the whole signal and a timeline of windows."""

    info: ModelInfo
    sample_rate: int = 22050
    hop_seconds: float = 0.5

    def backend(self) -> str:
        """What runs the network: "litert", "keras", or "numpy" for models without one."""
        return "numpy"

    @abstractmethod
    def extract(self, samples: np.ndarray, sr: int) -> AudioFeatures:
        """Return features of mono float32 ``samples`` at rate ``sr``."""

    @abstractmethod
    def predict(self, features: np.ndarray) -> np.ndarray:
        """Return (n, 2) float32 valence, arousal in [-1, 1] for (n, d) features."""
