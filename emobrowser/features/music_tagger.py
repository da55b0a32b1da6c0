"""The song model's pretrained music tagger: musicnn's MSD model, run by LiteRT.

``resources/models/music_tagger.tflite`` is the MSD_musicnn network of the PyPI package
musicnn 0.1.0 (ISC licence), trained to tag 3 s of music with 50 Last.fm tags ("happy",
"sad", "Mellow", "party", "heavy metal", ...); ``packaging/convert_musicnn.py`` rebuilds
it. The song model (emobrowser.models.audio_model) reads its 200-value **embedding**, the
layer the tags are computed from: what a network trained on a million songs hears in
the music, beyond the DEAM recipe's frame means.

Input recipe (musicnn's own): mono audio at 16 kHz; librosa's mel spectrogram (n_fft
512, hop 256, 96 bands, power); log10(10000 · power + 1); non-overlapping patches of
187 frames (3 s). A recording shorter than one patch is repeated to fill it, as
musicnn's training did (its configuration: ``"pad_short": "repeat-pad"``). Only every PATCH_STRIDE-th patch is run (3 s out of every 6 s): one patch
costs about 50 ms on one core, so a 3-minute song costs 1.5 s instead of 3 s, and the
track's mean or a 10 s window's is hardly changed by seeing half of it. It runs in indexing worker processes, so this module imports LiteRT only,
never TensorFlow: one interpreter per process, one thread, loaded on first use.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TAGGER_FILE = "music_tagger.tflite"
TAGGER_META = "music_tagger.json"
SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187
PATCH_SECONDS = PATCH_FRAMES * HOP / SAMPLE_RATE  # 2.99 s
PATCH_STRIDE = 2  # run every second patch
MAX_SAMPLE = 1e4  # the decoder's own ceiling (emobrowser.media.audio.MAX_PEAK)
# Recordings longer than audio_features.LONG_AUDIO_SECONDS are resampled and
# spectrogrammed in blocks of this many patches run (with PATCH_STRIDE 2, 10 minutes of
# audio), so memory does not grow with length: two hours at 16 kHz would hold a 1 GB
# STFT at once.
BLOCK_PATCHES = 100
N_EMBEDDING = 200
N_TAGS = 50
EMBEDDING_NAMES = [f"musicnn_{i}" for i in range(N_EMBEDDING)]


def tagger_path(model_dir: Path | None = None) -> Path:
    from emobrowser.core import paths

    return Path(model_dir if model_dir is not None else paths.models_dir()) / TAGGER_FILE


def tagger_available(model_dir: Path | None = None) -> bool:
    """Whether the tagger file is there and LiteRT is installed (without loading either)."""
    from emobrowser.models.runtime import litert_available

    return tagger_path(model_dir).is_file() and litert_available()


def tagger_digest(model_dir: Path | None = None) -> str:
    """sha256 of the tagger file (read once per file version and process). The song
    model's norm file records it, and the training cache is keyed by it."""
    from emobrowser.models.runtime import file_digest

    return file_digest(tagger_path(model_dir))


def tag_names(model_dir: Path | None = None) -> list[str]:
    """The 50 tags, in output order, from ``music_tagger.json``."""
    return list(json.loads(tagger_path(model_dir).with_name(TAGGER_META).read_text())["tags"])


def log_mel_patches(samples: np.ndarray, sr: int, stride: int = 1) -> np.ndarray:
    """(p, 187, 96) float32 log-mel patches of mono audio, p >= 1 (see the module doc):
    the consecutive 3 s patches, then every ``stride``-th of them."""
    import librosa

    from emobrowser.media.audio import resample

    y = resample(np.asarray(samples, dtype=np.float32), sr, SAMPLE_RATE)
    if y.size == 0:
        y = np.zeros(N_FFT, dtype=np.float32)
    mel = librosa.feature.melspectrogram(y=y, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS).T
    logmel = np.log10(10000.0 * mel.astype(np.float32) + 1.0)
    if len(logmel) < PATCH_FRAMES:  # repeat-pad, as musicnn's training configuration says
        logmel = np.tile(logmel, (int(np.ceil(PATCH_FRAMES / len(logmel))), 1))[:PATCH_FRAMES]
    n = len(logmel) // PATCH_FRAMES
    patches = logmel[: n * PATCH_FRAMES].reshape(n, PATCH_FRAMES, N_MELS)[::stride]
    return np.ascontiguousarray(patches, dtype=np.float32)


def network(model_dir: Path | None = None):
    """This process's tagger interpreter for ``model_dir`` (built once): (1, 187, 96)
    log-mel patch -> (1, 250), the embedding then the tags."""
    from emobrowser.models.runtime import worker_network

    return worker_network(tagger_path(model_dir))


def patch_outputs(samples: np.ndarray, sr: int, model_dir: Path | None = None,
                  stride: int = PATCH_STRIDE) -> tuple[np.ndarray, np.ndarray]:
    """The tagger's outputs for every ``stride``-th 3 s patch: ((p, 250) float32, (p,)
    patch centres in seconds of the original audio). Recordings longer than
    LONG_AUDIO_SECONDS go through in blocks of BLOCK_PATCHES patches, each resampled
    and spectrogrammed on its own (a partial patch at the very end is left out, as in
    one pass)."""
    from emobrowser.features.audio_features import LONG_AUDIO_SECONDS

    net = network(model_dir)
    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    # as the recipe's extractor does: non-finite samples are silence; and no sample
    # beyond the decoder's own ceiling, so the spectrogram stays finite. A copy only
    # when needed: a two-hour recording is 600 MB of float32.
    if samples.size and not (np.isfinite(samples.max()) and np.isfinite(samples.min())
                             and max(samples.max(), -samples.min()) <= MAX_SAMPLE):
        samples = np.clip(np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0), -MAX_SAMPLE, MAX_SAMPLE)
    if samples.size <= LONG_AUDIO_SECONDS * sr:
        blocks = [(0.0, samples)]
    else:
        span = BLOCK_PATCHES * stride * PATCH_SECONDS
        starts = np.arange(0.0, samples.size / sr, span)
        blocks = [(t, samples[int(round(t * sr)) : int(round((t + span) * sr))]) for t in starts]
        blocks = [(t, b) for t, b in blocks if b.size >= PATCH_SECONDS * sr - 1]
    outs, centres = [], []
    for start, block in blocks:
        patches = log_mel_patches(block, sr, stride)
        outs.append(np.concatenate([net(p[None]).reshape(1, -1) for p in patches]))
        centres.append(start + (stride * np.arange(len(patches)) + 0.5) * PATCH_SECONDS)
    return np.concatenate(outs), np.concatenate(centres)


def embeddings(samples: np.ndarray, sr: int, step_times: np.ndarray, context: float | None,
               model_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The tagger's embedding of a recording: the mean over the patches run (N_EMBEDDING,),
    and for each step time the mean over the patches centred within ``context`` / 2 of it
    ((t, N_EMBEDDING); with ``context`` None, the whole recording's for every step)."""
    patches, centres = patch_outputs(samples, sr, model_dir)
    embedding = patches[:, :N_EMBEDDING]
    whole = embedding.mean(axis=0)
    times = np.asarray(step_times, dtype=np.float64).reshape(-1)
    if context is None:
        return whole, np.repeat(whole[None, :].astype(np.float32), len(times), axis=0)
    return whole, local_means(embedding, centres, times, context)


def local_means(values: np.ndarray, centres: np.ndarray, times: np.ndarray, context: float) -> np.ndarray:
    """For each time, the mean of the rows whose patch centre lies within context / 2 of
    it (the nearest patch when none does): (len(times), d)."""
    values = np.asarray(values, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64).reshape(-1)
    out = np.empty((len(times), values.shape[1]), dtype=np.float32)
    if len(times) == 0:
        return out
    cum = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    lo = np.searchsorted(centres, times - context / 2.0, side="left")
    hi = np.searchsorted(centres, times + context / 2.0, side="right")
    nearest = np.clip(np.searchsorted(centres, times), 0, len(centres) - 1)
    closer_below = (nearest > 0) & (np.abs(centres[nearest - 1] - times) <= np.abs(centres[nearest] - times))
    nearest = np.where(closer_below, nearest - 1, nearest)
    empty = hi <= lo
    lo = np.where(empty, nearest, lo)
    hi = np.where(empty, nearest + 1, hi)
    out[:] = (cum[hi] - cum[lo]) / (hi - lo)[:, None]
    return out
