"""The rated photos for training the image model: their ratings, targets, folds, and the
model's input features of every photo (and of its augmented copies), cached on disk.

The features are those the app computes (:func:`emobrowser.models.image_model.model_features`:
the backbone's, then the hand-crafted ones), so a model trained on them scores photos the
same way. The cache holds plain arrays in ``.npz`` files, read without pickle.
"""

from __future__ import annotations

import csv
import hashlib
import os
import time
from pathlib import Path

import numpy as np

EMOTIONS = ["p_anger", "p_disgust", "p_fear", "p_joy", "p_sadness", "p_surprise", "p_neutral"]
OASIS_CATEGORIES = ["Person", "Animal", "Object", "Scenery"]
CACHE_DIR = Path(os.environ.get("EMOBROWSER_IMG_CACHE", "/tmp/imgcache"))


def image_data_dir(data_dir: Path) -> Path:
    """The folder holding ``ratings.csv``: ``data_dir`` itself or its ``images/``
    (so both the shared data folder and its ``images`` folder can be given)."""
    data_dir = Path(data_dir)
    if not (data_dir / "ratings.csv").is_file() and (data_dir / "images" / "ratings.csv").is_file():
        return data_dir / "images"
    return data_dir


def load_ratings(data_dir: Path) -> list[dict]:
    with open(image_data_dir(data_dir) / "ratings.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ValueError(f"no rows in {data_dir}/ratings.csv")
    for r in rows:
        r.setdefault("dataset", "unknown")
    return rows


def _float(value, default=np.nan) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


# The central share of each side that the crop augmentations keep.
CROPS = {"crop": 0.85, "crop70": 0.70}


def augment_image(img: np.ndarray, aug: str) -> np.ndarray:
    """Training augmentations: "flip" (mirror), "crop" (the central 85 % of each side),
    "crop70" (70 %), and "cropflip" / "crop70flip" (cropped, then mirrored)."""
    import cv2

    crop = aug[:-len("flip")] if aug.endswith("flip") and aug != "flip" else aug
    if crop in CROPS:
        h, w = img.shape[:2]
        margin = (1.0 - CROPS[crop]) / 2.0
        dh, dw = int(round(h * margin)), int(round(w * margin))
        img = img[dh:h - dh, dw:w - dw]
    elif aug != "flip":
        raise ValueError(f"unknown augmentation {aug!r}")
    if aug.endswith("flip"):
        img = cv2.flip(img, 1)
    return np.ascontiguousarray(img)


def _features_of_file(job) -> np.ndarray:
    """Features (``part``: "hand" or "backbone") of one photo file, optionally augmented."""
    import cv2

    from emobrowser.models.backbone import backbone_features
    from emobrowser.models.image_model import hand_features

    path, aug, part, model_dir = job
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(path)
    if aug:
        img = augment_image(img, aug)
    return backbone_features(img, model_dir) if part == "backbone" else hand_features(img)


def _file_digest(path: Path) -> str:
    return hashlib.sha1(Path(path).read_bytes()).hexdigest()[:12]


def backbone_version(model_dir: Path | None) -> str:
    """Cache key of the backbone's features: "bb-" and its file's hash."""
    from emobrowser.models.backbone import backbone_path

    return "bb-" + _file_digest(backbone_path(model_dir))


def compute_features(data_dir: Path, rows: list[dict], log=print, use_cache: bool = True,
                     flip: bool = False, aug: str | None = None, part: str = "all",
                     cache_dir: Path | None = None, model_dir: Path | None = None,
                     workers: int | None = None) -> np.ndarray:
    """Model-input features (``image_model.model_features``) of every row, cached.

    ``part`` "hand" or "backbone" computes one half only; "all" joins both (backbone
    first, as ``model_features`` does). ``aug`` (or ``flip=True`` for "flip") computes
    them on augmented photos instead (see :func:`augment_image`). The cache (``cache_dir``,
    default ``CACHE_DIR``) is one ``.npz`` per part, augmentation and feature version
    (for the backbone: the backbone file's hash) holding the features of each photo by
    its resolved path, so any subset or superset of the photos (a held-out split, a
    folder of links) reuses what is there and computes only the rest. Large sets are
    computed in ``workers`` processes (default: up to 2).
    """
    if flip and aug is None:
        aug = "flip"
    if part == "all":
        parts = [compute_features(data_dir, rows, log, use_cache, aug=aug, part=p, cache_dir=cache_dir,
                                  model_dir=model_dir, workers=workers) for p in ("backbone", "hand")]
        return np.concatenate(parts, axis=1)
    from emobrowser.features.image_features import FEATURE_VERSION
    cache_dir = Path(cache_dir) if cache_dir is not None else CACHE_DIR
    data_dir = Path(data_dir)
    version = FEATURE_VERSION if part == "hand" else backbone_version(model_dir)
    cache = cache_dir / f"{part}_{aug or 'plain'}_{version}.npz"
    files = [str((data_dir / r["file"]).resolve()) for r in rows]
    known: dict[str, np.ndarray] = {}
    if use_cache and cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            known = dict(zip(z["files"].tolist(), z["feats"]))
    missing = [i for i, f in enumerate(files) if f not in known]
    if not missing:
        log(f"features ({part}, {aug or 'plain'}): {len(files)} from cache {cache}")
        return np.stack([known[f] for f in files]).astype(np.float32)
    t0 = time.time()
    jobs = [(files[i], aug, part, model_dir) for i in missing]
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    if workers > 1 and len(jobs) >= 200:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            out = list(pool.map(_features_of_file, jobs, chunksize=32))
    else:
        out = [_features_of_file(j) for j in jobs]
    for i, f in zip(missing, out):
        known[files[i]] = np.asarray(f, dtype=np.float32)
    if use_cache:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.stem + f".{os.getpid()}.tmp.npz")
            names = sorted(known)
            np.savez(tmp, files=np.array(names), feats=np.stack([known[n] for n in names]))
            os.replace(tmp, cache)
        except OSError:
            pass
    log(f"features ({part}, {aug or 'plain'}): computed {len(missing)} of {len(files)} "
        f"in {time.time() - t0:.1f} s")
    return np.stack([known[f] for f in files]).astype(np.float32)


def targets(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(va (n,2), emotion distribution (n,7) or zeros, category one-hot (n,4) or zeros, dataset)."""
    va = np.array([[_float(r["valence"]), _float(r["arousal"])] for r in rows], dtype=np.float32)
    emo = np.zeros((len(rows), len(EMOTIONS)), dtype=np.float32)
    cat = np.zeros((len(rows), len(OASIS_CATEGORIES)), dtype=np.float32)
    for i, r in enumerate(rows):
        p = np.array([_float(r.get(c)) for c in EMOTIONS], dtype=np.float32)
        if np.all(np.isfinite(p)) and p.sum() > 0:
            emo[i] = p / p.sum()
        c = r.get("category") or ""
        if r.get("dataset") == "oasis" and c in OASIS_CATEGORIES:
            cat[i, OASIS_CATEGORIES.index(c)] = 1.0
    ds = np.array([r.get("dataset") or "unknown" for r in rows])
    return va, emo, cat, ds


def stratified_folds(ds: np.ndarray, y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold id per row, stratified by dataset and by valence (sorted, dealt round-robin)."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(ds), dtype=int)
    for d in np.unique(ds):
        idx = np.flatnonzero(ds == d)
        idx = idx[np.argsort(y[idx] + rng.uniform(0, 1e-6, len(idx)), kind="stable")]
        for start in range(0, len(idx), k):
            block = idx[start:start + k]
            fold[block] = rng.permutation(k)[: len(block)]
    return fold
