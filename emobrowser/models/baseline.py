"""Interim ``baseline`` models: hand-set rules, not learned from ratings.

They stand in until trained weights ship, and report themselves as
``baseline-image`` and ``baseline-audio`` (ModelInfo.interim is True) so nobody mistakes their scores for the real models'.

Image rule (after Valdez & Mehrabian 1994): brighter and more saturated pictures are
more pleasant; saturation and contrast raise arousal.
Audio rule: louder and brighter (higher spectral centroid) sound is more arousing;
brighter sound is taken as slightly more pleasant.
"""

from __future__ import annotations

import cv2
import numpy as np

from emobrowser.models.base import AudioFeatures, AudioModel, ImageModel, ModelInfo


class BaselineImageModel(ImageModel):
    info = ModelInfo(name="baseline-image", version="1", modality="image", interim=True)

    @classmethod
    def available(cls) -> bool:
        return True

    def extract(self, bgr: np.ndarray) -> np.ndarray:
        """Return [brightness, saturation, contrast], each in [0, 1]."""
        small = cv2.resize(bgr, (64, 64), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV).astype(np.float32) / 255.0
        value, sat = hsv[..., 2], hsv[..., 1]
        return np.array([value.mean(), sat.mean(), value.std() * 2.0], dtype=np.float32)

    def predict(self, features: np.ndarray) -> np.ndarray:
        f = np.atleast_2d(np.asarray(features, dtype=np.float32))
        brightness, saturation, contrast = f[:, 0], f[:, 1], f[:, 2]
        valence = 0.69 * (brightness - 0.5) * 2 + 0.22 * (saturation - 0.3) * 2
        arousal = 0.6 * (saturation - 0.3) * 2 + 0.4 * (contrast - 0.4) * 2 - 0.2 * (brightness - 0.5)
        return np.clip(np.stack([valence, arousal], axis=1), -1.0, 1.0).astype(np.float32)


class BaselineAudioModel(AudioModel):
    info = ModelInfo(name="baseline-audio", version="1", modality="audio", interim=True)
    sample_rate = 22050
    hop_seconds = 0.5
    window_seconds = 1.0

    @classmethod
    def available(cls) -> bool:
        return True

    def _frame_stats(self, samples: np.ndarray, sr: int) -> tuple[np.ndarray, np.ndarray]:
        """Per 2048-sample frame: loudness in dBFS and spectral centroid in Hz."""
        n_fft, hop = 2048, 512
        if samples.size < n_fft:
            samples = np.pad(samples, (0, n_fft - samples.size))
        n_frames = 1 + (samples.size - n_fft) // hop
        idx = np.arange(n_fft)[None, :] + hop * np.arange(n_frames)[:, None]
        frames = samples[idx] * np.hanning(n_fft)[None, :]
        rms = np.sqrt(np.mean(samples[idx] ** 2, axis=1))
        loud = 20 * np.log10(np.maximum(rms, 1e-5))
        mag = np.abs(np.fft.rfft(frames, axis=1))
        freqs = np.fft.rfftfreq(n_fft, 1.0 / sr)
        centroid = (mag * freqs).sum(axis=1) / np.maximum(mag.sum(axis=1), 1e-9)
        return loud, centroid

    def extract(self, samples: np.ndarray, sr: int) -> AudioFeatures:
        samples = np.asarray(samples, dtype=np.float32)
        duration = samples.size / float(sr)
        loud, centroid = self._frame_stats(samples, sr)
        frame_t = np.arange(loud.size) * 512 / sr
        whole = np.array([loud.mean(), centroid.mean()], dtype=np.float32)
        starts = np.arange(0.0, max(duration, 1e-9), self.hop_seconds)
        rows, times = [], []
        for start in starts:
            end = min(start + self.window_seconds, duration)
            sel = (frame_t >= start) & (frame_t < max(end, start + 1e-6))
            if not sel.any():
                sel = np.argmin(np.abs(frame_t - start)) == np.arange(frame_t.size)
            rows.append([loud[sel].mean(), centroid[sel].mean()])
            times.append([start, min(start + self.hop_seconds, duration)])
        return AudioFeatures(
            whole=whole,
            frames=np.asarray(rows, dtype=np.float32).reshape(-1, 2),
            times=np.asarray(times, dtype=np.float64).reshape(-1, 2),
            duration=duration,
        )

    def predict(self, features: np.ndarray) -> np.ndarray:
        f = np.atleast_2d(np.asarray(features, dtype=np.float32))
        loud_db, centroid = f[:, 0], f[:, 1]
        arousal = np.tanh((loud_db + 25.0) / 12.0) * 0.7 + np.tanh((centroid - 1500.0) / 1500.0) * 0.3
        valence = np.tanh((centroid - 1200.0) / 2000.0) * 0.5
        return np.clip(np.stack([valence, arousal], axis=1), -1.0, 1.0).astype(np.float32)
