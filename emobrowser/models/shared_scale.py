"""One circumplex scale for every model: a monotone map per model and dimension.

The photo and the music models are trained apart, on different data, with different
losses, so they use the [-1, 1] scale differently: the music model kept songs' valence
within about ±0.6 while photos filled the circle, and each model puts its neutral
point where its own training happened to leave it. Without a shared scale, "calm"
means one place for photos and another for songs, and "songs for this photo" fails
even when both models rank their own items well.

The shared scale is defined by two rules, each fitted on a model's out-of-fold
predictions (every item scored by a network trained without it) for its rated data:

1. **Zero is the neutral boundary.** Per dimension, the model's raw output ``b`` that
   best separates items that people rated below and above neutral (highest balanced
   accuracy of the sign) is moved to 0.
2. **Each side follows the same reference spread.** Values below ``b`` are mapped by
   their rank among the model's held-out values below ``b`` onto the negative half of
   one reference distribution; values above ``b`` onto its positive half. So the
   calmest tenth of songs and the calmest tenth of photos land at the same arousal,
   and likewise for every other share on either side.

The reference is the same for every model and both dimensions: a normal distribution
with standard deviation REFERENCE_SD, cut at ±1. 0.25 is the spread of people's ratings
on the narrower dimensions of our rated data (photos' arousal 0.25, DEAM songs'
valence 0.28; photos' valence is wider, 0.44). It was chosen with
``benchmarks/bench_crossmodal.py`` on held-out photos and 4Q clips, among 0.25, 0.3,
0.35, 0.45 and 0.6 (and 0.45 for valence with 0.25 or 0.3 for arousal): at 0.45 the
balanced pages at the quadrant centres held 0.48 correct photos on average over pages
of 40, 100 and 200, against 0.59 at 0.25, with the same share of correct songs (0.81).
A wider scale puts the quadrant centres (±0.5, ±0.5) inside the bulk of the photos,
where the photo model's weak arousal decides; at 0.25 they lie two reference SDs out,
among the items the models are surest of. One spread for both dimensions keeps
valence and arousal equal in every distance.

The map is piecewise linear through the knots and continues beyond them with the
outermost pieces' slopes or, where gentler, each side's average slope, then is
clipped to [-1, 1]: strictly increasing (so monotone and
invertible on the open range, see ``invert``), and the knots stop at the 99.5th
percentile of the reference (0.64), so only the most extreme outliers reach the ends.

The maps live in ``resources/models/shared_scale.json``, keyed by "name/version".
A model applies its map at the end of ``predict``, so a change of map is a change of
model version, and libraries rescore on the next ``index``. The fit is
``python -m emobrowser.training.shared_scale_fit``.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SCALE_FILE = "shared_scale.json"
REFERENCE_SD = 0.25
# Rank levels of the knots on each side (shares of that side's items, nearest 0 first).
SIDE_LEVELS = tuple(np.round(np.linspace(0.0, 0.99, 34), 4))

_lock = threading.Lock()
_loaded: dict[Path, dict[str, dict]] = {}
_warned: set[str] = set()  # model keys already reported as having no map


def _reference_half(levels: np.ndarray) -> np.ndarray:
    """Distance from 0 of the reference's quantiles at these shares of one side (0 = at 0,
    0.99 = the 99.5th percentile of the whole distribution): a half-normal cut at 1."""
    from scipy.stats import norm

    cut = norm.cdf(1.0 / REFERENCE_SD) - 0.5  # mass of one side below the cut at 1
    return np.minimum(REFERENCE_SD * norm.ppf(0.5 + np.asarray(levels) * cut), 1.0)


def best_boundary(pred: np.ndarray, positive: np.ndarray) -> float:
    """The raw value that best separates ``positive`` items (rated above neutral) from the
    rest: highest balanced accuracy of ``pred > b``; ties broken towards the median of the
    tied range. Candidates are the predictions' 10th–90th percentiles."""
    pred = np.asarray(pred, np.float64)
    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        return float(np.median(pred))
    candidates = np.unique(np.percentile(pred, np.linspace(10, 90, 161)))
    scores = []
    for b in candidates:
        above = pred > b
        tpr = (above & positive).sum() / positive.sum()
        tnr = (~above & ~positive).sum() / (~positive).sum()
        scores.append(0.5 * (tpr + tnr))
    scores = np.asarray(scores)
    best = candidates[scores >= scores.max() - 1e-9]
    return float(np.median(best))


def fit_dimension(pred: np.ndarray, b: float) -> dict:
    """The map of one dimension from held-out raw predictions and the raw value ``b`` that
    goes to 0. Returns {"x": raw knots, "y": shared-scale knots, "boundary": b}, both
    strictly increasing."""
    pred = np.asarray(pred, np.float64)
    levels = np.asarray(SIDE_LEVELS)
    below, above = np.sort(b - pred[pred < b]), np.sort(pred[pred > b] - b)
    ref = _reference_half(levels)
    xs, ys = [b], [0.0]
    for side, sign in ((above, 1.0), (below, -1.0)):
        if len(side) < 10:  # too few to rank: a plain scale on this side
            spread = float(np.max(side)) if len(side) else 1.0
            dist = levels[1:] * max(spread, 1e-3)
        else:
            dist = np.quantile(side, levels[1:])
        xs.extend(b + sign * dist)
        ys.extend(sign * ref[1:])
    order = np.argsort(xs)
    x, y = np.asarray(xs)[order], np.asarray(ys)[order]
    # Ties (repeated predictions) would make the map a step: keep the first of each.
    keep = np.concatenate([[True], np.diff(x) > 1e-9])
    keep &= np.concatenate([[True], np.diff(y) > 1e-9])
    return {"x": [float(v) for v in x[keep]], "y": [float(v) for v in y[keep]], "boundary": b}


def fit(pred: np.ndarray, labels: np.ndarray) -> dict:
    """Maps of both dimensions from held-out (n, 2) predictions and (n, 2) human labels
    on the common scale (ratings, or signs ±1). Items rated exactly neutral on a
    dimension do not vote for its boundary."""
    pred, labels = np.asarray(pred, np.float64), np.asarray(labels, np.float64)
    out = {}
    for j, name in enumerate(("valence", "arousal")):
        rated = labels[:, j] != 0
        out[name] = fit_dimension(pred[:, j], best_boundary(pred[rated, j], labels[rated, j] > 0))
    return out


def _tail_slopes(kx: np.ndarray, ky: np.ndarray) -> tuple[float, float]:
    """Slopes beyond the first and the last knot: the outermost piece's, or the side's
    average slope (from 0 to its outermost knot) where that is gentler, so that values
    the model gives beyond everything it gave its rated data move on slowly instead of
    piling at the clip."""
    zero = float(np.interp(0.0, ky, kx))
    lo = (ky[1] - ky[0]) / (kx[1] - kx[0])
    hi = (ky[-1] - ky[-2]) / (kx[-1] - kx[-2])
    if kx[0] < zero:
        lo = min(lo, -ky[0] / (zero - kx[0]))
    if kx[-1] > zero:
        hi = min(hi, ky[-1] / (kx[-1] - zero))
    return float(lo), float(hi)


def _apply_dim(x: np.ndarray, knots: dict, inverse: bool = False) -> np.ndarray:
    kx, ky = np.asarray(knots["x"], np.float64), np.asarray(knots["y"], np.float64)
    lo, hi = _tail_slopes(kx, ky)
    if inverse:
        kx, ky, lo, hi = ky, kx, 1.0 / lo, 1.0 / hi
    y = np.interp(x, kx, ky)
    below, above = x < kx[0], x > kx[-1]
    y[below] = ky[0] + (x[below] - kx[0]) * lo
    y[above] = ky[-1] + (x[above] - kx[-1]) * hi
    return y


def apply(va: np.ndarray, scale: dict | None) -> np.ndarray:
    """(n, 2) raw model outputs -> the shared scale, clipped to [-1, 1] (float32).
    ``scale`` None is the identity (clipped)."""
    va = np.asarray(va, np.float64).reshape(-1, 2)
    if scale is None:
        return np.clip(va, -1.0, 1.0).astype(np.float32)
    out = np.column_stack([_apply_dim(va[:, j], scale[name]) for j, name in enumerate(("valence", "arousal"))])
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def invert(shared: np.ndarray, scale: dict) -> np.ndarray:
    """The raw model outputs that ``apply`` maps to ``shared`` (n, 2), for values inside
    (-1, 1); the inverse of the strictly increasing map."""
    shared = np.asarray(shared, np.float64).reshape(-1, 2)
    return np.column_stack([_apply_dim(shared[:, j], scale[name], inverse=True)
                            for j, name in enumerate(("valence", "arousal"))])


def _load_all(folder: Path | None = None) -> dict[str, dict]:
    """The maps in ``folder`` (default: the shipped models), read once per folder."""
    if folder is None:
        from emobrowser.core.paths import models_dir

        folder = models_dir()
    path = Path(folder) / SCALE_FILE
    with _lock:
        if path not in _loaded:
            _loaded[path] = json.loads(path.read_text(encoding="utf-8"))["models"] if path.is_file() else {}
        return _loaded[path]


def scale_for(name: str, version: str, folder: Path | None = None) -> dict | None:
    """The shared-scale map of model ``name`` at ``version`` (None when there is none:
    the model's outputs are then used as they are, and a warning is logged once)."""
    key = f"{name}/{version}"
    scale = _load_all(folder).get(key)
    if scale is None and key not in _warned:
        _warned.add(key)
        log.warning("no shared-scale map for %s: its scores are used as the model gives them", key)
    return scale



def share_at_ends(va: np.ndarray, limit: float = 0.98) -> float:
    """The share of rows with |valence| or |arousal| at or beyond ``limit``."""
    va = np.asarray(va, np.float64).reshape(-1, 2)
    return float(np.mean(np.any(np.abs(va) >= limit, axis=1))) if len(va) else math.nan
