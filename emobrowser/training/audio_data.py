"""The audio model's training data: the DEAM feature table, the 4Q clips and their folds.

* ``deam/deam_librosa_features.csv``: DEAM songs, ``valence``/``arousal`` on the common
  [-1, 1] scale and the 199 recipe features (emobrowser.features.audio_features).
* ``audio4q/labels.csv`` + clips: 4Q clips with quadrant / valence_sign / arousal_sign;
  their features are extracted with this project's decoder and extractor (cached in
  ``cache_dir``: ~1 s per clip the first time).
"""

from __future__ import annotations

import csv
import hashlib
import time
from pathlib import Path

import numpy as np

from emobrowser.features.audio_features import FEATURE_NAMES, WINDOW_SECONDS, extract_features

# In the DEAM table, the ratings of songs 1-1000 (the 2013 set) behave as if the valence
# and arousal columns were exchanged: within that set the "valence" column is the one
# that loudness and zero-crossing rate predict (as arousal is everywhere else); a model
# of its "valence" column predicts the 2014 set's arousal ratings (r 0.82) far better
# than their valence (0.48); and on the 4Q clips, decoded from real audio, it separates
# the arousal signs better than a model of its "arousal" column does. The trainer
# corrects this by default; `deam_baselines --check-labels` measures it, and
# docs/model_card_audio.md gives the numbers.
DEAM_EXCHANGED_IDS = (1, 1000)


# ----------------------------------------------------------------------------- data
def load_deam(data_dir: Path, limit: int | None = None, *, labels: str):
    """Return (ids, raw features (n, 199), targets (n, 2) valence/arousal).

    ``labels="corrected"`` exchanges valence and arousal of the songs whose id lies in
    DEAM_EXCHANGED_IDS; ``"as_given"`` returns the table's columns unchanged.
    """
    if labels not in ("as_given", "corrected"):
        raise ValueError(f"unknown DEAM label choice {labels!r}")
    path = Path(data_dir) / "deam" / "deam_librosa_features.csv"
    ids, xs, ys = [], [], []
    with open(path, newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            ids.append(row["song_id"])
            xs.append([float(row[k]) for k in FEATURE_NAMES])
            ys.append([float(row["valence"]), float(row["arousal"])])
            if limit is not None and len(ids) >= limit:
                break
    y = np.asarray(ys, dtype=np.float64).reshape(-1, 2)
    return ids, np.asarray(xs, dtype=np.float64), corrected_labels(ids, y) if labels == "corrected" else y


def song_numbers(ids: list[str]) -> np.ndarray:
    """DEAM song ids as numbers; 0 for an id that is not a number (no DEAM set has it)."""
    out = np.zeros(len(ids), dtype=np.int64)
    for i, song_id in enumerate(ids):
        try:
            out[i] = int(float(song_id))
        except ValueError:
            pass
    return out


def corrected_labels(ids: list[str], y: np.ndarray) -> np.ndarray:
    """``y`` (n, 2) with valence and arousal exchanged for the ids in DEAM_EXCHANGED_IDS."""
    lo, hi = DEAM_EXCHANGED_IDS
    number = song_numbers(ids)
    exchanged = (number >= lo) & (number <= hi)
    out = np.array(y, dtype=np.float64)
    out[exchanged] = out[exchanged][:, ::-1]
    return out


def _cache_key(path: Path) -> str:
    st = path.stat()
    tag = f"{path.name}|{st.st_size}|{int(st.st_mtime)}|w{WINDOW_SECONDS}"
    return f"{path.name}.{hashlib.sha1(tag.encode()).hexdigest()[:10]}.npz"


def clip_features(path: Path, cache_dir: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Whole-clip features (199,) and timeline (t, 199) of one audio file, via
    load_audio and the extractor (cached in cache_dir if given)."""
    from emobrowser.media.audio import load_audio

    if cache_dir is not None:
        for cached in (Path(cache_dir) / _cache_key(path), Path(cache_dir) / f"{path.name}.npz"):
            if cached.exists():
                with np.load(cached) as z:
                    return z["whole"].astype(np.float64), z["frames"].astype(np.float32)
    samples = load_audio(path, sr=22050)
    whole, frames, times, duration = extract_features(samples, 22050)
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        np.savez(Path(cache_dir) / _cache_key(path), whole=whole, frames=frames, times=times, duration=duration)
    return whole.astype(np.float64), frames


def clip_tagger(path: Path, cache_dir: Path | None = None) -> np.ndarray:
    """The music tagger's embedding of one audio file (N_EMBEDDING,), the mean over the
    3 s patches the app runs (every PATCH_STRIDE-th), decoded at 22,050 Hz as the app
    does. The cache in cache_dir keeps every patch's outputs."""
    from emobrowser.features.music_tagger import N_EMBEDDING, PATCH_STRIDE, patch_outputs, tagger_digest
    from emobrowser.media.audio import load_audio

    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / f"tagger-{tagger_digest()[:10]}" / _cache_key(path)
        if cached.exists():
            with np.load(cached) as z:
                return z["patches"][::PATCH_STRIDE, :N_EMBEDDING].mean(axis=0).astype(np.float64)
    out, _centres = patch_outputs(load_audio(path, sr=22050), 22050, stride=1)
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cached, patches=out)
    return out[::PATCH_STRIDE, :N_EMBEDDING].mean(axis=0).astype(np.float64)


def crop_rows(frames: np.ndarray, n: int, rng: np.random.Generator, min_steps: int = 20) -> np.ndarray:
    """``n`` augmented whole-clip vectors: means of random contiguous runs of timeline
    rows (>= min_steps steps of 0.5 s, i.e. >= 10 s excerpts of the clip)."""
    t = len(frames)
    if t < min_steps + 2:
        return np.repeat(frames.mean(axis=0, keepdims=True), n, axis=0).astype(np.float64)
    out = []
    for _ in range(n):
        length = int(rng.integers(min_steps, t + 1))
        start = int(rng.integers(0, t - length + 1))
        out.append(frames[start : start + length].mean(axis=0))
    return np.asarray(out, dtype=np.float64)


def load_4q(data_dir: Path, cache_dir: Path | None = None, limit: int | None = None, log=print):
    """Return (files, raw features (n, 199), signs (n, 2) in {-1, +1}, quadrants, artists,
    timelines (list of (t, 199) arrays))."""
    root = Path(data_dir) / "audio4q"
    with open(root / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if limit is not None:
        rows = rows[:limit]
    files, xs, signs, quads, artists, timelines = [], [], [], [], [], []
    t0 = time.time()
    for i, row in enumerate(rows):
        try:
            x, frames = clip_features(root / row["file"], cache_dir)
        except Exception as exc:  # noqa: BLE001 - a bad clip must not stop training
            log(f"skipping {row['file']}: {exc}")
            continue
        files.append(row["file"])
        xs.append(x)
        timelines.append(frames)
        signs.append([float(np.sign(float(row["valence_sign"]))), float(np.sign(float(row["arousal_sign"])))])
        quads.append(row["quadrant"])
        artists.append(row.get("artist") or row["file"])
        if (i + 1) % 100 == 0:
            log(f"4Q features: {i + 1}/{len(rows)} ({time.time() - t0:.0f} s)")
    x = np.asarray(xs, dtype=np.float64).reshape(-1, len(FEATURE_NAMES))
    return files, x, np.asarray(signs, dtype=np.float64).reshape(-1, 2), quads, artists, timelines


# ------------------------------------------------------------------------ folds
def deam_folds(n: int, folds: int, seed: int) -> np.ndarray:
    """Shuffled round-robin fold numbers for n items."""
    rng = np.random.default_rng(seed)
    fold = np.empty(n, dtype=int)
    fold[rng.permutation(n)] = np.arange(n) % folds
    return fold


def q4_folds(quads: list[str], artists: list[str], folds: int, seed: int) -> np.ndarray:
    """Stratified by quadrant, grouped by artist (no artist in two folds)."""
    n = len(quads)
    if n == 0:
        return np.zeros(0, dtype=int)
    from sklearn.model_selection import StratifiedGroupKFold

    try:
        k = min(folds, n)
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
        fold = np.zeros(n, dtype=int)
        for i, (_, te) in enumerate(splitter.split(np.zeros(n), quads, artists)):
            fold[te] = i
        return fold
    except ValueError:  # tiny sets (fewer artists than folds): shuffled round-robin
        return deam_folds(n, folds, seed)
