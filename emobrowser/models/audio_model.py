"""The trained audio valence-arousal model ("audio-va").

Features: the DEAM librosa recipe (emobrowser.features.audio_features), whole track and
a timeline of 3 s windows every 0.5 s, with track descriptors and, for decoded audio, the
embedding of a pretrained music tagger (emobrowser.features.music_tagger). Model: a
small Keras MLP trained on DEAM's ratings and the 4Q clips' quadrant signs
(emobrowser.training.train_audio); see docs/model_card_audio.md.

Weights: ``audio_va.keras`` (plain Keras layers, loads with safe_mode=True), its LiteRT
conversion ``audio_va.tflite`` (what scoring runs; see emobrowser.models.runtime) and
``audio_va_norm.json`` (feature names, per-domain standardisation, output calibration)
in ``emobrowser.core.paths.models_dir()``.
"""

from __future__ import annotations

import csv
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from emobrowser.core.errors import InputError
from emobrowser.core.paths import models_dir
from emobrowser.features.audio_features import (
    DERIVED_NAMES,
    DESCRIPTOR_CONTEXT_SECONDS,
    FEATURE_NAMES,
    HOP_SECONDS,
    MEL_SLICE,
    N_FEATURES,
    N_TRACK,
    SAMPLE_RATE,
    TEMPO_INDEX,
    TRACK_NAMES,
    derived_features,
    extract_features,
    local_track_vectors,
    track_vector,
)
from emobrowser.features.music_tagger import EMBEDDING_NAMES, N_EMBEDDING
from emobrowser.models import shared_scale
from emobrowser.models.base import AudioFeatures, AudioModel, ModelInfo

WEIGHTS_FILE = "audio_va.keras"
NORM_FILE = "audio_va_norm.json"
METRICS_FILE = "audio_va_metrics.json"

# Domains of feature vectors, each with its own standardisation (see the model card):
# "audio" = our own extractor on decoded files (what the app sees; fitted on the 4Q
# clips), "deam" = the DEAM feature table's recordings.
DOMAIN_AUDIO = "audio"
DOMAIN_DEAM = "deam"

# (Near-)silence guard, on the log10 of the mean mel power (the power average, so a
# loud pure tone, whose power sits in a few bands, is not mistaken for silence). The
# quietest training vectors are at about -1.0 (a 4Q clip) and -1.7 (a DEAM song), the
# quietest 3 s timeline window of a 4Q clip at -4.3; white noise at -80 dBFS gives
# -6.2 and digital silence -10; a sine at half scale gives +1.5. The network
# extrapolates wildly that far outside its data (silence came out as valence -0.96,
# arousal +0.75), so vectors below this floor - whole tracks or timeline windows - are
# scored as neutral and calm instead.
SILENCE_LOG10_MEL = -6.0
SILENCE_VA = (0.0, -1.0)


def transform_features(x: np.ndarray, mel_hz=None) -> np.ndarray:
    """Raw recipe features (n, 199) -> model inputs before standardisation.

    Mel band means are power: log10 with a floor (as the DEAM baseline does); tempo
    is taken on a log scale (tempo doublings are the usual estimation error). With
    ``mel_hz`` (the bands' frequencies; version 6 and later), the N_DERIVED values of
    ``audio_features.derived_features`` follow.
    """
    raw = np.nan_to_num(np.array(np.atleast_2d(x), dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if raw.shape[1] != len(FEATURE_NAMES):
        raise ValueError(f"expected {len(FEATURE_NAMES)} features, got {raw.shape[1]}")
    x = raw.copy()
    x[:, MEL_SLICE] = np.log10(np.maximum(x[:, MEL_SLICE], 1e-10))
    x[:, TEMPO_INDEX] = np.log2(np.maximum(x[:, TEMPO_INDEX], 30.0) / 120.0)
    if mel_hz is not None:
        x = np.hstack([x, derived_features(raw, mel_hz)])
    return x


def standardise(x: np.ndarray, mean, std) -> np.ndarray:
    z = (x - np.asarray(mean, dtype=np.float64)) / np.asarray(std, dtype=np.float64)
    return np.clip(z, -8.0, 8.0).astype(np.float32)


def normalise(x: np.ndarray, stats: dict) -> np.ndarray:
    """Per-feature normalisation of transformed features with one domain's statistics.

    Either mean/std standardisation, or (when ``quantiles`` are stored) a quantile
    mapping to normal scores: each feature's training distribution in that domain is
    mapped onto the same standard normal shape, which also aligns the two domains'
    distributions beyond their means and spreads. Beyond the outer quantiles values
    continue linearly (in units of the feature's std).
    """
    if "quantiles" not in stats:
        return standardise(x, stats["mean"], stats["std"])
    q = np.asarray(stats["quantiles"], dtype=np.float64)  # (levels, d)
    t = np.asarray(stats["targets"], dtype=np.float64)  # (levels,)
    std = np.asarray(stats["std"], dtype=np.float64)
    z = np.empty_like(x, dtype=np.float64)
    for j in range(x.shape[1]):
        z[:, j] = np.interp(x[:, j], q[:, j], t)
    with np.errstate(over="ignore", invalid="ignore"):  # huge or infinite inputs end up at the clip below
        z += (x - np.clip(x, q[0], q[-1])) / std
    return np.clip(z, -8.0, 8.0).astype(np.float32)


def network_inputs(model, z: np.ndarray, domain_flag: float, dynamics: np.ndarray | None = None,
                   tagger: np.ndarray | None = None):
    """The inputs ``model`` takes for normalised features ``z``: the features alone
    (oldest files), or with the domain flag (1 = our decoded audio, 0 = DEAM table) and,
    for version 2 and later networks, the normalised track descriptors (input
    "dynamics"), and for version 8 and later the normalised tagger embedding (input
    "tagger"); zeros, i.e. the median, where absent."""
    z = np.asarray(z, dtype=np.float32)
    n_inputs = len(model.inputs)
    if n_inputs == 1:
        return z
    feed = network_feed(["features", "domain", "dynamics", "tagger"], z, domain_flag, dynamics, tagger)
    return list(feed.values())[:n_inputs]


def network_feed(input_names, z: np.ndarray, domain_flag: float, dynamics: np.ndarray | None = None,
                 tagger: np.ndarray | None = None):
    """The same inputs as ``network_inputs``, by input name, for a network from
    ``emobrowser.models.runtime`` (LiteRT or Keras)."""
    z = np.asarray(z, dtype=np.float32)
    if dynamics is None:
        dynamics = np.zeros((len(z), N_TRACK), dtype=np.float32)
    if tagger is None:
        tagger = np.zeros((len(z), N_EMBEDDING), dtype=np.float32)
    values = {"features": z, "domain": np.full((len(z), 1), domain_flag, dtype=np.float32),
              "dynamics": np.asarray(dynamics, dtype=np.float32), "tagger": np.asarray(tagger, dtype=np.float32)}
    unknown = [name for name in input_names if name not in values]
    if unknown:
        raise ValueError(f"the audio network has inputs this code does not know: {unknown}")
    return {name: values[name] for name in input_names}


def calibrate(va: np.ndarray, calibration: dict | None) -> np.ndarray:
    """Apply a stored per-dimension output calibration, then clip to [-1, 1].

    ``{"gain": [gv, ga]}``: tanh(gain * atanh(va)), i.e. a gain before the network's
    final tanh. It changes the spread without touching signs or order, and unlike a
    plain scale it keeps the full (-1, 1) range reachable.
    ``{"offset": [...], "scale": [...]}``: (va - offset) * scale (older files).
    """
    va = np.asarray(va, dtype=np.float64)
    if calibration and "gain" in calibration:
        gain = np.asarray(calibration["gain"], dtype=np.float64)
        va = np.tanh(gain * np.arctanh(np.clip(va, -0.999999, 0.999999)))
    elif calibration:
        offset = np.asarray(calibration.get("offset", [0.0, 0.0]), dtype=np.float64)
        scale = np.asarray(calibration.get("scale", [1.0, 1.0]), dtype=np.float64)
        va = (va - offset) * scale
    return np.clip(va, -1.0, 1.0).astype(np.float32)


class AudioVAModel(AudioModel):
    """Valence-arousal of music: whole track plus a 0.5 s timeline."""

    # Version 8: the music tagger's embedding (emobrowser.features.music_tagger) joins
    # the track descriptors in the decoded-audio branch; outputs on the shared scale
    # (emobrowser.models.shared_scale) since version 7.
    info = ModelInfo(name="audio-va", version="8", modality="audio")
    sample_rate = SAMPLE_RATE
    hop_seconds = HOP_SECONDS

    def __init__(self, model_dir: str | Path | None = None) -> None:
        self._dir = Path(model_dir) if model_dir is not None else None
        self._model = None
        self._norm: dict | None = None
        self._lock = threading.Lock()

    @classmethod
    def available(cls) -> bool:
        from emobrowser.features.music_tagger import tagger_available
        from emobrowser.models.runtime import network_files_present

        d = models_dir()
        return network_files_present(d / WEIGHTS_FILE) and (d / NORM_FILE).is_file() and tagger_available(d)

    @property
    def model_dir(self) -> Path:
        return self._dir if self._dir is not None else models_dir()

    # -- extraction (worker processes; no TensorFlow) ---------------------------------
    def extract(self, samples: np.ndarray, sr: int) -> AudioFeatures:
        """Recipe features (199), the track descriptors (107: dynamics and tonality) and
        the music tagger's embedding (200; emobrowser.features.music_tagger), for the
        whole track and for every timeline step. A step's descriptors are those of the
        DESCRIPTOR_CONTEXT_SECONDS around it, its embedding the mean of the tagger's
        patches centred there (one or two: the tagger runs 3 s of every 6 s); it carries
        the whole track's tempo."""
        from emobrowser.features.music_tagger import embeddings

        self.norm()  # a foreign tagger or norm file stops here, before any work on the file
        whole, frames, times, duration = extract_features(samples, sr, hop_seconds=self.hop_seconds)
        steps = np.asarray(times, dtype=np.float64).reshape(len(frames), -1).mean(axis=1)
        embedding, local_embedding = embeddings(samples, sr, steps, DESCRIPTOR_CONTEXT_SECONDS, self.tagger_dir())
        whole = np.concatenate([whole, track_vector(frames), embedding]).astype(np.float32)
        local = local_track_vectors(frames, DESCRIPTOR_CONTEXT_SECONDS, self.hop_seconds)
        frames = np.hstack([frames, local, local_embedding]).astype(np.float32)
        return AudioFeatures(whole=whole, frames=frames, times=times, duration=duration)

    def tagger_dir(self) -> Path | None:
        """The folder of the music tagger this model was trained with: the model's own
        folder when the tagger is there (training puts it beside the network), else the
        shipped one (None)."""
        from emobrowser.features.music_tagger import TAGGER_FILE

        return self._dir if self._dir is not None and (self._dir / TAGGER_FILE).is_file() else None

    # -- the norm file (workers and inference) ----------------------------------------
    def norm(self) -> dict:
        """``audio_va_norm.json``, checked against the features this code extracts and the
        tagger file in use. It is read in the indexing workers (:meth:`extract`) and in
        the inference thread; a missing, damaged or mismatched file is a
        :class:`ModelFileError` (the installation's fault: files that met it are tried
        again on the next run)."""
        if self._norm is None:
            from emobrowser.core.errors import ModelFileError
            from emobrowser.models.runtime import model_json

            norm = model_json(self.model_dir / NORM_FILE)
            for wanted, key, expected, what in (
                    (True, "feature_names", FEATURE_NAMES, "other features"),
                    (norm.get("dynamics"), "dynamics_names", TRACK_NAMES, "other track descriptors"),
                    (norm.get("derived_mel_hz"), "derived_names", DERIVED_NAMES, "other derived features"),
                    (norm.get("tagger"), "tagger_names", EMBEDDING_NAMES, "another music tagger")):
                if wanted and norm.get(key) != expected:
                    raise ModelFileError(f"{NORM_FILE} was made for {what}; reinstall emobrowser")
            if norm.get("tagger_sha256"):
                self._check_tagger(norm["tagger_sha256"])
            self._norm = norm
        return self._norm

    def _check_tagger(self, expected: str) -> None:
        """Raise unless the tagger file in use is the one the network was trained with."""
        from emobrowser.features.music_tagger import tagger_path
        from emobrowser.models.runtime import check_digest

        check_digest(tagger_path(self.tagger_dir()), expected, "the music tagger the song model")

    # -- inference (one thread) -------------------------------------------------------
    def network(self):
        """The loaded network: the LiteRT conversion, or the Keras file as a fallback."""
        with self._lock:
            if self._model is None:
                from emobrowser.models.runtime import load_network

                self._model = load_network(self.model_dir / WEIGHTS_FILE)
        return self._model

    def backend(self) -> str:
        return self.network().backend

    def network_feeds(self, features: np.ndarray, domain: str = DOMAIN_AUDIO, batch: int = 4096):
        """The network's inputs for (n, 199), (n, 306) or (n, 506) vectors (recipe; +
        track descriptors; + tagger embedding), by input name, in batches of at most
        ``batch`` rows; and the (n,) mask of silent vectors."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        widths = (N_FEATURES, N_FEATURES + N_TRACK, N_FEATURES + N_TRACK + N_EMBEDDING)
        if x.shape[1] not in widths:
            raise ValueError(f"expected {', '.join(map(str, widths[:-1]))} or {widths[-1]} features, "
                             f"got {x.shape[1]}")
        norm = self.norm()
        stats = norm["domains"][domain]
        t = transform_features(x[:, :N_FEATURES], norm.get("derived_mel_hz"))
        mel_power = np.nan_to_num(x[:, MEL_SLICE]).mean(axis=1)
        silent = np.log10(np.maximum(mel_power, 1e-10)) < SILENCE_LOG10_MEL
        z = normalise(t, stats)
        g = e = None
        if domain == DOMAIN_AUDIO and norm.get("dynamics") and x.shape[1] > N_FEATURES:
            g = normalise(np.nan_to_num(x[:, N_FEATURES : N_FEATURES + N_TRACK]), norm["dynamics"])
        if domain == DOMAIN_AUDIO and norm.get("tagger") and x.shape[1] > N_FEATURES + N_TRACK:
            e = normalise(np.nan_to_num(x[:, N_FEATURES + N_TRACK :]), norm["tagger"])
        names = self.network().input_names
        flag = 1.0 if domain == DOMAIN_AUDIO else 0.0
        feeds = [network_feed(names, z[i : i + batch], flag, None if g is None else g[i : i + batch],
                              None if e is None else e[i : i + batch])
                 for i in range(0, z.shape[0], batch)]
        return feeds, silent

    def predict(self, features: np.ndarray, domain: str = DOMAIN_AUDIO) -> np.ndarray:
        """Score (n, 199) recipe vectors, (n, 306) recipe + track descriptors, or (n, 506)
        vectors from ``extract`` (+ the tagger embedding). What a row lacks (e.g. a
        DEAM-layout table) the decoded-audio branch gets as the training median, i.e. no
        evidence either way."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if x.shape[0] == 0:
            return np.zeros((0, 2), dtype=np.float32)
        feeds, silent = self.network_feeds(x, domain)
        net = self.network()
        out = np.concatenate([net(feed) for feed in feeds], axis=0)
        va = calibrate(out, self.norm().get("calibration", {}).get(domain))
        if domain == DOMAIN_AUDIO:  # the DEAM-table domain stays on DEAM's own rating scale
            va = shared_scale.apply(va, self.shared_scale())
        va[silent] = SILENCE_VA
        return va

    def shared_scale(self) -> dict | None:
        """This version's map onto the shared scale (None: none shipped, outputs as they are)."""
        return shared_scale.scale_for(self.info.name, self.info.version,
                                      self._dir if self._dir is not None else None)


def read_feature_table(csv_path: str | Path) -> tuple[list[str], np.ndarray, list[dict]]:
    """Read a CSV in the DEAM layout.

    Returns (song ids, (n, 199) features in recipe order, rejected rows). A row with
    a missing, empty, non-numeric or non-finite feature value is not guessed at: it
    goes to the rejected list as {"row", "line", "song_id", "error"} (row 1 = the
    first row after the header; line = where the row ends in the file). In a table
    without a song_id column, each row's id is its row number; in one with it, a row
    whose song_id is empty is rejected (a row number could be another song's id).
    Raises InputError if the file itself cannot be used.
    """
    path = Path(csv_path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: also files that start with a BOM
            reader = csv.DictReader(fh)
            header = reader.fieldnames
            if not header:
                raise InputError(f"{path}: the file is empty (expected a header row with song_id and the "
                                 f"{len(FEATURE_NAMES)} feature columns)")
            missing = [name for name in FEATURE_NAMES if name not in header]
            if missing:
                shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                raise InputError(f"{path}: missing feature columns: {shown}")
            ids, rows, rejected = [], [], []
            has_id = "song_id" in header
            for i, row in enumerate(reader, start=1):
                song_id = (row.get("song_id") or "").strip() if has_id else str(i)
                values, problem = [], None
                if has_id and not song_id:  # a row number would be mistaken for another song's id
                    problem = "empty song_id"
                for name in FEATURE_NAMES if problem is None else []:
                    cell = row.get(name)
                    if cell is None or not cell.strip():
                        problem = f"no value for {name}"
                        break
                    try:
                        value = float(cell)
                    except ValueError:
                        problem = f"{name} is not a number: {cell.strip()[:40]!r}"
                        break
                    if not np.isfinite(value):
                        problem = f"{name} is not a finite number: {cell.strip()[:40]!r}"
                        break
                    values.append(value)
                if problem:
                    rejected.append({"row": i, "line": reader.line_num, "song_id": song_id, "error": problem})
                else:
                    ids.append(song_id)
                    rows.append(values)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, not a CSV file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV file ({exc})") from None
    return ids, np.asarray(rows, dtype=np.float64).reshape(-1, len(FEATURE_NAMES)), rejected


def predict_feature_table(
    csv_path: str | Path, model: AudioVAModel | None = None, domain: str = DOMAIN_DEAM
) -> Iterator[dict]:
    """Score every row of a DEAM-layout feature CSV, in file order.

    Yields {"song_id", "valence", "arousal"} per usable row, and {"row", "song_id",
    "error"} for a row that cannot be scored (see read_feature_table). The table's
    features are taken as DEAM-domain vectors (standardised with the DEAM
    statistics); pass domain="audio" for tables written by this project's own extractor.
    """
    ids, x, rejected = read_feature_table(csv_path)
    scored = []
    if ids:
        model = model or AudioVAModel()
        va = model.predict(x, domain=domain)
        scored = [{"song_id": s, "valence": float(v), "arousal": float(a)} for s, (v, a) in zip(ids, va)]
    # Back into file order: rejected rows carry their row numbers.
    bad = {r["row"]: r for r in rejected}
    good = iter(scored)
    for row in range(1, len(scored) + len(rejected) + 1):
        yield bad[row] if row in bad else next(good)
