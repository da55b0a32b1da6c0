"""Classical learners on the DEAM feature table, as reference points for audio-va.

The DEAM table holds only the recipe's frame means (199 values per song). This script
measures, with the same shuffled 5-fold split the audio trainer uses, how far
standard learners get on it, with the recipe features alone and with features derived
from them (loudness-free mel shape, spectral centroid and spread, band shares, chroma
entropy, major/minor key-profile correlations). It shows where the table's ceiling
lies; see docs/model_card_audio.md.

    python -m emobrowser.models.deam_baselines --data /work/shared/data

Prints one JSON line per learner and a summary JSON line last.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emobrowser.features import librosa_loader
from emobrowser.features.audio_features import FEATURE_NAMES, MEL_SLICE, key_fits
from emobrowser.models.audio_model import transform_features
from emobrowser.models.train_audio import _pearson, deam_folds, load_deam

CHROMA = [FEATURE_NAMES.index(f"chroma_{i}") for i in range(12)]


def derived_features(raw: np.ndarray) -> np.ndarray:
    """Features computed from the 199 recipe means alone (so the DEAM table has them)."""
    librosa = librosa_loader.load()

    mel = np.maximum(raw[:, MEL_SLICE], 1e-10)
    total = mel.sum(axis=1, keepdims=True)
    share = mel / total
    freqs = librosa.mel_frequencies(n_mels=mel.shape[1], fmax=11025.0) / 1000.0
    centroid = share @ freqs
    spread = np.sqrt(np.maximum(share @ freqs**2 - centroid**2, 0.0))
    bands = np.log10(share.reshape(len(share), 16, -1).sum(axis=2))
    chroma = np.maximum(raw[:, CHROMA], 1e-9)
    chroma = chroma / chroma.sum(axis=1, keepdims=True)
    entropy = -(chroma * np.log(chroma)).sum(axis=1)
    major, minor = (fits.max(axis=1) for fits in key_fits(chroma))
    return np.column_stack([np.log10(total[:, 0]), centroid, spread, bands, entropy, major, minor, major - minor])


def cross_validate(x: np.ndarray, y: np.ndarray, make, folds: np.ndarray) -> np.ndarray:
    from sklearn.preprocessing import StandardScaler

    pred = np.zeros_like(y)
    for k in np.unique(folds):
        tr, te = folds != k, folds == k
        scaler = StandardScaler().fit(x[tr])
        for j in range(y.shape[1]):
            model = make().fit(scaler.transform(x[tr]), y[tr, j])
            pred[te, j] = model.predict(scaler.transform(x[te]))
    return pred


def _r(pred: np.ndarray, y: np.ndarray) -> list[float]:
    return [round(_pearson(pred[:, j], y[:, j]), 4) for j in range(y.shape[1])]


def run(data_dir: Path, folds: int = 5, seed: int = 0, log=print) -> dict:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.svm import SVR

    _, raw, y = load_deam(data_dir)
    recipe = transform_features(raw)
    derived = derived_features(raw)
    both = np.hstack([recipe, derived])
    split = deam_folds(len(y), folds, seed)
    learners = {
        "svr": lambda: SVR(C=1.0, epsilon=0.05),
        "gbm": lambda: HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                                     min_samples_leaf=20, l2_regularization=1.0, random_state=seed),
    }
    out: dict = {"n": int(len(y)), "folds": folds, "seed": seed}
    preds = {}
    for fname, x in (("recipe", recipe), ("recipe+derived", both)):
        for lname, make in learners.items():
            preds[(fname, lname)] = p = cross_validate(x, y, make, split)
            out[f"{lname} {fname}"] = _r(p, y)
            log(json.dumps({"learner": lname, "features": fname, "pearson_valence_arousal": _r(p, y)}))
    out["svr+gbm average, recipe+derived"] = _r((preds[("recipe+derived", "svr")] + preds[("recipe+derived", "gbm")]) / 2, y)
    out["max |r| of key-profile features with valence"] = round(
        max(abs(_pearson(derived[:, i], y[:, 0])) for i in range(derived.shape[1] - 3, derived.shape[1])), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder with deam/")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    print(json.dumps(run(args.data, args.folds, args.seed)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
