"""Train the image valence–arousal model (issue 3).

``train(data_dir, out_dir)`` reads ``data_dir/ratings.csv`` (columns ``file``, ``dataset``,
``valence``, ``arousal``; optionally ``category`` and the Emotion6 ``p_anger .. p_neutral``
emotion shares), computes hand-crafted features for every photo
(:mod:`emobrowser.features.image_features`), runs stratified K-fold cross-validation and
reports held-out metrics per dataset and overall, then fits the final model on all data
and writes ``image_va.keras``, ``image_va_norm.json`` and ``image_va_metrics.json``.

The model is a small multi-task MLP: the valence–arousal head is trained with squared
loss; auxiliary soft-max heads predict the Emotion6 emotion distribution and the OASIS
content category (rows without those labels get an all-zero target, which contributes
zero cross-entropy). Only the valence–arousal head is saved. Several members with
different seeds are averaged inside one Keras model. No pickle/joblib is used anywhere:
the feature normalisation and the post-hoc rescale are stored as JSON.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np

EMOTIONS = ["p_anger", "p_disgust", "p_fear", "p_joy", "p_sadness", "p_surprise", "p_neutral"]
OASIS_CATEGORIES = ["Person", "Animal", "Object", "Scenery"]
CACHE_DIR = Path(os.environ.get("EMOBROWSER_IMG_CACHE", "/tmp/imgcache"))

DEFAULTS = dict(
    hidden=(512, 256),
    dropout=0.3,
    input_dropout=0.1,
    l2=1e-4,
    epochs=30,
    batch_size=64,
    lr=1e-3,
    aux_weight=0.3,
    members=3,
    balance=True,
    augment=("flip",),  # extra training copies: "flip", "crop", "cropflip"
)


# --------------------------------------------------------------------------- data
def load_ratings(data_dir: Path) -> list[dict]:
    with open(Path(data_dir) / "ratings.csv", newline="") as fh:
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


def augment_image(img: np.ndarray, aug: str) -> np.ndarray:
    """Training augmentations: "flip" (mirror), "crop" (central 85 %), "cropflip"."""
    import cv2

    if aug in ("crop", "cropflip"):
        h, w = img.shape[:2]
        dh, dw = int(round(h * 0.075)), int(round(w * 0.075))
        img = img[dh:h - dh, dw:w - dw]
    if aug in ("flip", "cropflip"):
        img = cv2.flip(img, 1)
    return np.ascontiguousarray(img)


def compute_features(data_dir: Path, rows: list[dict], log=print, use_cache: bool = True,
                     flip: bool = False, aug: str | None = None) -> np.ndarray:
    """Model-input features (``image_model.model_features``) of every row, cached in /tmp.

    ``aug`` (or ``flip=True`` for "flip") computes them on augmented photos instead
    (see :func:`augment_image`).
    """
    if flip and aug is None:
        aug = "flip"
    import cv2

    from emobrowser.features.image_features import FEATURE_VERSION
    from emobrowser.models.image_model import model_features

    data_dir = Path(data_dir).resolve()
    key = hashlib.sha1(
        (str(data_dir) + FEATURE_VERSION + (aug or "") + "\n".join(r["file"] for r in rows)).encode()
    ).hexdigest()[:16]
    cache = CACHE_DIR / f"features_{key}.npy"
    if use_cache and cache.is_file():
        feats = np.load(cache)
        if feats.shape[0] == len(rows):
            log(f"features: loaded {feats.shape} from cache {cache}")
            return feats
    t0 = time.time()
    out = []
    for i, r in enumerate(rows):
        img = cv2.imread(str(data_dir / r["file"]), cv2.IMREAD_COLOR)
        if img is None:
            raise FileNotFoundError(data_dir / r["file"])
        if aug:
            img = augment_image(img, aug)
        out.append(model_features(img))
        if (i + 1) % 500 == 0:
            log(f"features: {i + 1}/{len(rows)} ({time.time() - t0:.0f} s)")
    feats = np.asarray(out, dtype=np.float32)
    if use_cache:
        try:
            CACHE_DIR.mkdir(parents=True, exist_ok=True)
            np.save(cache, feats)
        except OSError:
            pass
    log(f"features: {feats.shape} in {time.time() - t0:.1f} s")
    return feats


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


# --------------------------------------------------------------------------- metrics
def _metrics(pred: np.ndarray, true: np.ndarray) -> dict:
    out = {}
    for j, name in enumerate(["valence", "arousal"]):
        p, t = pred[:, j].astype(np.float64), true[:, j].astype(np.float64)
        r = float(np.corrcoef(p, t)[0, 1]) if len(p) > 2 and p.std() > 0 and t.std() > 0 else float("nan")
        ccc = 2 * np.cov(p, t, bias=True)[0, 1] / (p.var() + t.var() + (p.mean() - t.mean()) ** 2 + 1e-12)
        out[name] = {
            "r": round(r, 4),
            "ccc": round(float(ccc), 4),
            "rmse": round(float(np.sqrt(np.mean((p - t) ** 2))), 4),
            "pred_std": round(float(p.std()), 4),
            "label_std": round(float(t.std()), 4),
        }
    out["n"] = int(len(pred))
    return out


def evaluate(pred: np.ndarray, true: np.ndarray, ds: np.ndarray) -> dict:
    res = {"overall": _metrics(pred, true)}
    for d in np.unique(ds):
        m = ds == d
        res[str(d)] = _metrics(pred[m], true[m])
    return res


def fit_rescale(pred: np.ndarray, true: np.ndarray) -> dict:
    """Per output y = a*p + b matching the label mean and std (the CCC-optimal linear map)."""
    a = true.std(axis=0) / np.maximum(pred.std(axis=0), 1e-6)
    b = true.mean(axis=0) - a * pred.mean(axis=0)
    return {"scale": [float(x) for x in a], "offset": [float(x) for x in b]}


def apply_rescale(pred: np.ndarray, rescale: dict) -> np.ndarray:
    a = np.asarray(rescale["scale"], dtype=np.float32)
    b = np.asarray(rescale["offset"], dtype=np.float32)
    return np.clip(pred * a + b, -1.0, 1.0)


# --------------------------------------------------------------------------- model
def _set_threads():
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(os.environ.get("TF_NUM_INTRAOP_THREADS", "1")))
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


def _build_member(inp, cfg: dict, seed: int, name: str):
    from keras import layers, regularizers

    x = inp
    if cfg["input_dropout"] > 0:
        x = layers.Dropout(cfg["input_dropout"], name=f"{name}_indrop")(x)
    for i, h in enumerate(cfg["hidden"]):
        reg = regularizers.l2(cfg["l2"]) if cfg["l2"] > 0 else None
        x = layers.Dense(h, activation="relu", kernel_regularizer=reg, name=f"{name}_d{i}")(x)
        if cfg["dropout"] > 0:
            x = layers.Dropout(cfg["dropout"], name=f"{name}_drop{i}")(x)
    va = layers.Dense(2, name=f"{name}_va")(x)
    emo = layers.Dense(len(EMOTIONS), activation="softmax", name=f"{name}_emo")(x)
    cat = layers.Dense(len(OASIS_CATEGORIES), activation="softmax", name=f"{name}_cat")(x)
    return va, emo, cat


def _multitask_loss(aux_weight: float):
    """Squared error on (valence, arousal) + weighted cross-entropy on the auxiliary heads.

    Used only for training; the saved model holds just the VA head, so no custom object
    is needed to load it.
    """
    from keras import ops

    n_emo = len(EMOTIONS)

    def loss(y_true, y_pred):
        mse = ops.mean(ops.square(y_true[:, :2] - y_pred[:, :2]), axis=-1)
        eps = 1e-7
        ce_emo = -ops.sum(y_true[:, 2:2 + n_emo] * ops.log(y_pred[:, 2:2 + n_emo] + eps), axis=-1)
        ce_cat = -ops.sum(y_true[:, 2 + n_emo:] * ops.log(y_pred[:, 2 + n_emo:] + eps), axis=-1)
        return mse + aux_weight * ce_emo + 0.5 * aux_weight * ce_cat

    return loss


def fit_ensemble(x, va, emo, cat, weights, cfg: dict, seed: int, log=print):
    """Train ``cfg['members']`` MLPs; return a single Keras model averaging their VA heads."""
    import keras
    from keras import layers

    _set_threads()
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape=(x.shape[1],), name="features")
    heads = []
    for m in range(cfg["members"]):
        ms = seed * 1000 + m * 17 + 1
        keras.utils.set_random_seed(ms)
        va_o, emo_o, cat_o = _build_member(inp, cfg, ms, f"m{m}")
        train_model = keras.Model(inp, layers.Concatenate(name=f"m{m}_all")([va_o, emo_o, cat_o]))
        n = len(x)
        steps = max(1, int(np.ceil(n / cfg["batch_size"])))
        schedule = keras.optimizers.schedules.CosineDecay(cfg["lr"], decay_steps=steps * cfg["epochs"])
        train_model.compile(optimizer=keras.optimizers.Adam(schedule), loss=_multitask_loss(cfg["aux_weight"]))
        y = np.concatenate([va, emo, cat], axis=1).astype(np.float32)
        train_model.fit(x, y, sample_weight=weights, epochs=cfg["epochs"],
                        batch_size=cfg["batch_size"], shuffle=True, verbose=0)
        heads.append(va_o)
    out = heads[0] if len(heads) == 1 else layers.Average(name="va_mean")(heads)
    return keras.Model(inp, out, name="image_va")


def _sample_weights(ds: np.ndarray, balance: bool) -> np.ndarray:
    w = np.ones(len(ds), dtype=np.float32)
    if balance:
        names, counts = np.unique(ds, return_counts=True)
        for d, c in zip(names, counts):
            w[ds == d] = len(ds) / (len(names) * c)
    return w


def _normalise(x_train: np.ndarray):
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std < 1e-6, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def _predict(model, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=512, verbose=0), dtype=np.float32)


def _fit_rows(x, x_flip, va, emo, cat, ds, cfg, seed, log):
    """Normalise, optionally add the mirrored copies, train; return (model, mean, std)."""
    mean, std = _normalise(x)
    xs, vas, emos, cats, dss = x, va, emo, cat, ds
    if x_flip is not None:
        extra = list(x_flip) if isinstance(x_flip, (list, tuple)) else [x_flip]
        xs = np.concatenate([x] + extra)
        vas, emos, cats, dss = (np.concatenate([a] * (1 + len(extra))) for a in (va, emo, cat, ds))
    model = fit_ensemble((xs - mean) / std, vas, emos, cats, _sample_weights(dss, cfg["balance"]), cfg, seed, log)
    return model, mean, std


def cross_validate(x, va, emo, cat, ds, cfg: dict, folds: int, seed: int, log=print,
                   x_flip=None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions (raw, and with a cross-fitted rescale) for every row."""
    fold = stratified_folds(ds, va[:, 0], folds, seed)
    oof = np.zeros_like(va)
    for k in range(folds):
        tr, te = fold != k, fold == k
        if te.sum() == 0 or tr.sum() == 0:
            continue
        t0 = time.time()
        model, mean, std = _fit_rows(x[tr], None if x_flip is None else [a[tr] for a in x_flip], va[tr], emo[tr],
                                     cat[tr], ds[tr], cfg, seed + k, log)
        oof[te] = _predict(model, (x[te] - mean) / std)
        m = _metrics(oof[te], va[te])
        log(f"fold {k + 1}/{folds}: valence r={m['valence']['r']:.3f} arousal r={m['arousal']['r']:.3f} "
            f"({time.time() - t0:.0f} s)")
    # cross-fitted rescale: fold k uses a map fitted on the other folds' held-out predictions
    oof_rescaled = np.zeros_like(oof)
    for k in range(folds):
        te = fold == k
        other = ~te
        if other.sum() < 3:
            oof_rescaled[te] = np.clip(oof[te], -1, 1)
            continue
        oof_rescaled[te] = apply_rescale(oof[te], fit_rescale(oof[other], va[other]))
    return np.clip(oof, -1, 1), oof_rescaled


# --------------------------------------------------------------------------- main
def train(data_dir: Path, out_dir: Path, seed: int = 0, epochs: int | None = None, folds: int = 5,
          limit: int | None = None, log=print, config: dict | None = None) -> dict:
    """Cross-validate, fit on all data and write the three model files to ``out_dir``.

    ``limit`` keeps only the first ``limit`` rows (for smoke tests); ``epochs`` overrides
    the number of training epochs; ``folds`` < 2 skips cross-validation.
    Returns the metrics dictionary that is also written to image_va_metrics.json.
    """
    import keras

    from emobrowser.features.image_features import FEATURE_VERSION, feature_names
    from emobrowser.models.image_model import MODEL_FILE, METRICS_FILE, NORM_FILE, ImageVAModel

    t_start = time.time()
    cfg = dict(DEFAULTS)
    cfg.update(config or {})
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    rows = load_ratings(data_dir)
    if limit is not None:
        rows = rows[: int(limit)]
    x = compute_features(data_dir, rows, log=log)
    augs = list(cfg.get("augment") or []) or (["flip"] if cfg.get("flip_aug") else [])
    x_flip = [compute_features(data_dir, rows, log=log, aug=a) for a in augs] or None
    va, emo, cat, ds = targets(rows)
    ok = np.all(np.isfinite(va), axis=1)
    x, va, emo, cat, ds = x[ok], va[ok], emo[ok], cat[ok], ds[ok]
    if x_flip is not None:
        x_flip = [a[ok] for a in x_flip]
    log(f"data: {len(x)} images, {x.shape[1]} features; datasets: "
        + ", ".join(f"{d}={int((ds == d).sum())}" for d in np.unique(ds)))

    metrics: dict = {
        "model": ImageVAModel.info.name,
        "version": ImageVAModel.info.version,
        "feature_version": FEATURE_VERSION,
        "seed": seed,
        "folds": folds,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
        "n_images": int(len(x)),
        "datasets": {str(d): int((ds == d).sum()) for d in np.unique(ds)},
    }
    rescale = {"scale": [1.0, 1.0], "offset": [0.0, 0.0]}
    if folds >= 2 and len(x) >= folds * 2:
        oof, oof_rescaled = cross_validate(x, va, emo, cat, ds, cfg, folds, seed, log, x_flip=x_flip)
        raw = evaluate(oof, va, ds)
        res = evaluate(oof_rescaled, va, ds)
        metrics["cv_raw"] = raw
        metrics["cv_rescaled"] = res
        use_rescale = res["overall"]["valence"]["ccc"] + res["overall"]["arousal"]["ccc"] > \
            raw["overall"]["valence"]["ccc"] + raw["overall"]["arousal"]["ccc"]
        if use_rescale:
            rescale = fit_rescale(oof, va)
        metrics["rescale_used"] = bool(use_rescale)
        metrics["cv"] = res if use_rescale else raw
        for name, block in metrics["cv"].items():
            log(f"CV {name:9s} n={block['n']:5d}  " + "  ".join(
                f"{t}: r={block[t]['r']:.3f} ccc={block[t]['ccc']:.3f} rmse={block[t]['rmse']:.3f} "
                f"std {block[t]['pred_std']:.3f}/{block[t]['label_std']:.3f}" for t in ("valence", "arousal")))

    # final model on all data
    model, mean, std = _fit_rows(x, x_flip, va, emo, cat, ds, cfg, seed, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / MODEL_FILE)
    norm = {
        "model": ImageVAModel.info.name,
        "version": ImageVAModel.info.version,
        "feature_version": FEATURE_VERSION,
        "dim": int(x.shape[1]),
        "feature_names": feature_names(),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "rescale": rescale,
    }
    (out_dir / NORM_FILE).write_text(json.dumps(norm))
    metrics["train_seconds"] = round(time.time() - t_start, 1)
    (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    # check the saved model loads in safe mode, and write the LiteRT file scoring runs
    keras.saving.load_model(out_dir / MODEL_FILE, safe_mode=True)
    from emobrowser.models.convert import write_pair

    lite = write_pair(out_dir / MODEL_FILE)
    log(f"wrote {out_dir / MODEL_FILE}, {NORM_FILE}, {METRICS_FILE} ({metrics['train_seconds']} s) and "
        f"{Path(lite['tflite']).name} (max difference {lite['max_abs_diff']:.1e})")
    return metrics


def metrics_table(metrics: dict, key: str = "cv") -> str:
    """Markdown table of the held-out metrics in ``metrics[key]`` (for the model card)."""
    lines = [
        "| subset | n | valence r | valence CCC | valence RMSE | valence pred/label std "
        "| arousal r | arousal CCC | arousal RMSE | arousal pred/label std |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, b in metrics.get(key, {}).items():
        cells = [name, str(b["n"])]
        for t in ("valence", "arousal"):
            m = b[t]
            cells += [f"{m['r']:.3f}", f"{m['ccc']:.3f}", f"{m['rmse']:.3f}",
                      f"{m['pred_std']:.3f} / {m['label_std']:.3f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
