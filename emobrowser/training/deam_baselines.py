"""Classical learners on the DEAM feature table, as reference points for audio-va.

The DEAM table holds only the recipe's frame means (199 values per song). This script
measures, with the same shuffled 5-fold split the audio trainer uses, how far
standard learners get on it, with the recipe features alone and with features derived
from them (loudness-free mel shape, spectral centroid and spread, band shares, chroma
entropy, major/minor key-profile correlations). It shows where the table's ceiling
lies; see docs/model_card_audio.md.

    python -m emobrowser.training.deam_baselines --data /work/shared/data [--labels as_given]
    python -m emobrowser.training.deam_baselines --data /work/shared/data --check-labels \\
        --cache /tmp/audcache/4q

Prints one JSON line per learner and a summary JSON line last. ``--check-labels``
instead measures whether the table's songs 1-1000 (the 2013 set) have their valence
and arousal columns exchanged (see audio_data.DEAM_EXCHANGED_IDS): it compares the
sets by the loudness and zero-crossing correlations of each column, and by how well
a model trained on one set predicts each column of the other.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from emobrowser.features import audio_features
from emobrowser.features.audio_features import FEATURE_NAMES
from emobrowser.models.audio_model import transform_features
from emobrowser.training.audio_data import DEAM_EXCHANGED_IDS, deam_folds, load_4q, load_deam, song_numbers
from emobrowser.training.train_audio import _pearson


def derived_features(raw: np.ndarray) -> np.ndarray:
    """Features computed from the 199 recipe means alone (so the DEAM table has them);
    audio-va uses the same ones since version 6."""
    return audio_features.derived_features(raw, audio_features.mel_band_hz())


def fit_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, make) -> np.ndarray:
    """Standardise on the training rows, fit one ``make()`` per target column, predict."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(x_train)
    a, b = scaler.transform(x_train), scaler.transform(x_test)
    return np.column_stack([make().fit(a, y_train[:, j]).predict(b) for j in range(y_train.shape[1])])


def cross_validate(x: np.ndarray, y: np.ndarray, make, folds: np.ndarray) -> np.ndarray:
    pred = np.zeros_like(y)
    for k in np.unique(folds):
        tr, te = folds != k, folds == k
        pred[te] = fit_predict(x[tr], y[tr], x[te], make)
    return pred


def _r(pred: np.ndarray, y: np.ndarray) -> list[float]:
    return [round(_pearson(pred[:, j], y[:, j]), 4) for j in range(y.shape[1])]


def check_labels(data_dir: Path, log=print, cache_dir: Path | None = None) -> dict:
    """Evidence on the exchanged columns: one JSON line per measurement, a summary last.

    With the 4Q clips present, also how well models of each 2013 column separate the
    4Q arousal and valence signs (real audio through this project's extractor;
    each domain standardised on its own)."""
    from sklearn.linear_model import Ridge
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVR

    ids, raw, y = load_deam(data_dir, labels="as_given")
    number = song_numbers(ids)
    recipe = transform_features(raw)
    x = np.hstack([recipe, derived_features(raw)])
    lo, hi = DEAM_EXCHANGED_IDS
    sets = {"2013 (songs 1-1000)": (number >= lo) & (number <= hi),
            "2014 (songs 1001-2000)": (number > hi) & (number <= 2000)}
    loudness = x[:, recipe.shape[1]]  # log10 of the total mel power (derived_features' first column)
    zcr = raw[:, FEATURE_NAMES.index("zcr")]
    out: dict = {"n": {k: int(m.sum()) for k, m in sets.items()}}
    for name, m in sets.items():
        row = {f"r({feat}, {col})": round(_pearson(f[m], y[m, j]), 3)
               for feat, f in (("loudness", loudness), ("zcr", zcr)) for j, col in enumerate(("valence", "arousal"))}
        out[f"{name}: feature correlations"] = row
        log(json.dumps({"set": name, **row}))
    folds = deam_folds(len(y), 5, 0)
    for name, m in sets.items():
        pred = cross_validate(x[m], y[m], lambda: SVR(C=0.5, epsilon=0.05), folds[m])
        row = {f"{name}, 5-fold within the set: r valence / arousal": _r(pred, y[m])}
        out.update(row)
        log(json.dumps(row))
    (a, ma), (b, mb) = sets.items()
    for (src, msrc), (dst, mdst) in (((a, ma), (b, mb)), ((b, mb), (a, ma))):
        pred = fit_predict(x[msrc], y[msrc], x[mdst], lambda: SVR(C=0.5, epsilon=0.05))
        row = {f"model of {src} {pc} -> {dst} {tc}": round(_pearson(pred[:, i], y[mdst, j]), 3)
               for i, pc in enumerate(("valence", "arousal")) for j, tc in enumerate(("valence", "arousal"))}
        out[f"trained on {src}, tested on {dst}"] = row
        log(json.dumps(row))
    if (Path(data_dir) / "audio4q" / "labels.csv").is_file():
        _, q_raw, signs, _, _, _ = load_4q(data_dir, cache_dir, log=lambda *_: None)
        zd = StandardScaler().fit_transform(recipe[ma])
        zq = StandardScaler().fit_transform(transform_features(q_raw))
        for lname, make in (("svr", lambda: SVR(C=0.5, epsilon=0.05)), ("ridge", lambda: Ridge(30.0))):
            row = {}
            for j, col in enumerate(("valence", "arousal")):
                pred = make().fit(zd, y[ma, j]).predict(zq)
                for k, sign in enumerate(("valence", "arousal")):
                    key = f"{lname} of 2013 {col} column -> r with 4Q {sign} sign"
                    row[key] = round(_pearson(pred, signs[:, k]), 3)
            out[f"2013 columns on 4Q audio ({lname})"] = row
            log(json.dumps(row))
    return out


def run(data_dir: Path, folds: int = 5, seed: int = 0, log=print, labels: str = "corrected") -> dict:
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.svm import SVR

    _, raw, y = load_deam(data_dir, labels=labels)
    recipe = transform_features(raw)
    derived = derived_features(raw)
    both = np.hstack([recipe, derived])
    split = deam_folds(len(y), folds, seed)
    learners = {
        "svr": lambda: SVR(C=1.0, epsilon=0.05),
        "gbm": lambda: HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, max_leaf_nodes=15,
                                                     min_samples_leaf=20, l2_regularization=1.0, random_state=seed),
    }
    out: dict = {"n": int(len(y)), "folds": folds, "seed": seed, "labels": labels}
    preds = {}
    for fname, x in (("recipe", recipe), ("recipe+derived", both)):
        for lname, make in learners.items():
            preds[(fname, lname)] = p = cross_validate(x, y, make, split)
            out[f"{lname} {fname}"] = _r(p, y)
            log(json.dumps({"learner": lname, "features": fname, "pearson_valence_arousal": _r(p, y)}))
    average = (preds[("recipe+derived", "svr")] + preds[("recipe+derived", "gbm")]) / 2
    out["svr+gbm average, recipe+derived"] = _r(average, y)
    out["max |r| of key-profile features with valence"] = round(
        max(abs(_pearson(derived[:, i], y[:, 0])) for i in range(derived.shape[1] - 3, derived.shape[1])), 4)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder with deam/")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--labels", choices=("corrected", "as_given"), default="corrected",
                   help="DEAM songs 1-1000 with valence and arousal exchanged back (default) or as given")
    p.add_argument("--check-labels", action="store_true", help="measure the evidence for the exchange instead")
    p.add_argument("--cache", type=Path, default=None, help="feature cache folder for the 4Q clips")
    args = p.parse_args(argv)
    if args.check_labels:
        print(json.dumps(check_labels(args.data, cache_dir=args.cache)))
        return 0
    print(json.dumps(run(args.data, args.folds, args.seed, labels=args.labels)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
