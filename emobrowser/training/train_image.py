"""Train the image valence–arousal model (version 5: an ImageNet classifier's features + hand-crafted features).

``train(data_dir, out_dir)`` reads ``ratings.csv`` (columns ``file``, ``dataset``,
``valence``, ``arousal``; optionally ``category`` and the Emotion6 ``p_anger .. p_neutral``
emotion shares) from ``data_dir`` or ``data_dir/images``, takes the model's features of
every photo and its augmented copies (:mod:`emobrowser.training.image_data`: the LiteRT
backbone of :mod:`emobrowser.models.backbone`, an ImageNet classifier, and the
hand-crafted features of :mod:`emobrowser.features.image_features`; cached per photo),
runs stratified K-fold cross-validation and reports held-out metrics per dataset and
overall, then fits the final model on all data and writes ``image_va.keras`` +
``image_va.tflite``, ``image_va_norm.json``, ``image_va_metrics.json`` and a copy of the
backbone files.

The network (:mod:`emobrowser.training.image_head`) is a fixed PCA projection followed by
an average of small multi-task MLPs: the valence–arousal head is trained with squared
loss; auxiliary soft-max heads predict the Emotion6 emotion distribution and the OASIS
content category (rows without those labels get an all-zero target, which contributes
zero cross-entropy). Only the valence–arousal head is saved. For arousal their mean is
averaged with a ridge regression on all standardised features (penalty
``linear_alpha``), which predicts arousal better than the MLPs (version 3; see
docs/model_card_image.md). An RBF kernel ridge regression on the principal axes is mixed
in at a fifth (version 4). Training adds mirrored and centrally cropped copies of every
photo (``augment``); held-out and run-time predictions average the photo and its mirror
image (``views``). The output spread is calibrated on out-of-fold predictions: a linear
rescale to the labels' mean and spread, then a soft bound whose knee keeps photos off the
ends of the scale (:func:`choose_knee`). No pickle/joblib is used anywhere: the feature
normalisation and the rescale are stored as JSON.

    python -m emobrowser.training.train_image --data /work/shared/data --out resources/models \
        --cache /tmp/imgcache2
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from emobrowser.models.image_model import KNEE, soft_bound
from emobrowser.training.image_data import (CACHE_DIR, backbone_version, compute_features, image_data_dir,
                                            load_ratings, stratified_folds, targets)
from emobrowser.training.image_head import fit_ensemble, normalise, pca_projection, predict_rows, sample_weights

DEFAULTS = dict(
    hidden=(256, 128),
    va_weighting="none",  # loss weights of valence and arousal: "none" or "equal" (1 / label variance)
    pca=256,  # train the MLPs on the first 256 principal components (0: on all features)
    dropout=0.3,
    input_dropout=0.1,
    l2=1e-4,
    epochs=30,
    batch_size=128,
    lr=1e-3,
    aux_weight=0.3,
    members=3,
    linear_alpha=5000.0,  # ridge penalty of the linear member averaged with the MLPs (0: no linear member)
    linear_outputs=("arousal",),  # the outputs the linear member joins (on valence it cost r 0.007 end to end)
    # kernel member (version 4): RBF kernel ridge on the principal axes, through this many
    # training rows as centres (0: none), penalty, width (times 1 / (axes * variance)) and
    # its share of the final mix
    kernel_centres=1000,
    kernel_alpha=0.1,
    kernel_gamma=1.0,
    kernel_share=0.2,
    balance=True,
    # extra training copies (augment_image): the mirror image, and central crops of 85 %
    # and 70 % of each side, each also mirrored (version 4: +0.014 valence r over "flip" alone)
    augment=("flip", "crop", "cropflip", "crop70", "crop70flip"),
    # views of a photo whose predictions are averaged, in held-out predictions and at run
    # time (image_model.VIEWS; each but "plain" must also be in ``augment``)
    views=("plain", "flip"),
)



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


END = 0.98  # "at the ends of the scale": |valence| or |arousal| at least this
END_SHARE_LIMIT = 0.015  # at most this share of photos there (out-of-fold and training set)
KNEES = (0.75, 0.7, 0.65, 0.6, 0.55, 0.5, 0.45, 0.4)  # soft-bound knees tried, gentlest first


def share_at_ends(pred: np.ndarray, ds: np.ndarray | None = None, end: float = END) -> dict:
    """Share of rows with |valence| or |arousal| >= ``end``, overall and per dataset."""
    at = np.any(np.abs(pred) >= end, axis=1)
    out = {"overall": round(float(at.mean()), 4) if len(at) else 0.0}
    if ds is not None:
        for d in np.unique(ds):
            out[str(d)] = round(float(at[ds == d].mean()), 4)
    return out


def fit_rescale(pred: np.ndarray, true: np.ndarray) -> dict:
    """Per output y = a*p + b matching the label mean and std (the CCC-optimal linear map),
    followed at run time by :func:`soft_bound` with knee ``KNEE``."""
    a = true.std(axis=0) / np.maximum(pred.std(axis=0), 1e-6)
    b = true.mean(axis=0) - a * pred.mean(axis=0)
    return {"scale": [float(x) for x in a], "offset": [float(x) for x in b], "knee": KNEE}


def apply_rescale(pred: np.ndarray, rescale: dict, bound: bool = True) -> np.ndarray:
    """The linear map of ``rescale``, then the soft bound (or a clip, for old files
    without a knee); ``bound=False``: the linear map only."""
    a = np.asarray(rescale["scale"], dtype=np.float32)
    b = np.asarray(rescale["offset"], dtype=np.float32)
    y = pred * a + b
    if not bound:
        return y
    knee = rescale.get("knee")
    return soft_bound(y, knee) if knee is not None else np.clip(y, -1.0, 1.0)


def _augmentations(cfg: dict) -> list[str]:
    """The training copies' augmentations, in order (``augment``; older settings named
    the mirror copy ``flip_aug``)."""
    return list(cfg.get("augment") or []) or (["flip"] if cfg.get("flip_aug") else [])


def _view_rows(x, x_aug, cfg: dict) -> list[np.ndarray]:
    """The feature rows of each of ``cfg['views']``: ``x`` for "plain", else the copy of
    ``x_aug`` (in :func:`_augmentations` order) made with that augmentation."""
    augs = _augmentations(cfg)
    out = []
    for view in cfg.get("views") or ("plain",):
        if view == "plain":
            out.append(x)
        elif view in augs and x_aug is not None:
            out.append(x_aug[augs.index(view)])
        else:
            raise ValueError(f"view {view!r} needs the {view!r} augmentation in the training settings")
    return out


def _predict_views(model, views: list[np.ndarray], mean, std) -> np.ndarray:
    """The mean of the model's predictions over the views of the same photos (as
    ImageVAModel.predict averages them)."""
    return np.mean([predict_rows(model, (v - mean) / std) for v in views], axis=0).astype(np.float32)


def _fit_rows(x, x_flip, va, emo, cat, ds, cfg, seed, log):
    """Normalise, optionally add the mirrored copies, train; return (model, mean, std)."""
    mean, std = normalise(x)
    xs, vas, emos, cats, dss = x, va, emo, cat, ds
    if x_flip is not None:
        extra = list(x_flip) if isinstance(x_flip, (list, tuple)) else [x_flip]
        xs = np.concatenate([x] + extra)
        vas, emos, cats, dss = (np.concatenate([a] * (1 + len(extra))) for a in (va, emo, cat, ds))
    z = ((xs - mean) / std).astype(np.float32)
    projection = pca_projection(z, cfg["pca"], seed) if cfg.get("pca") else None
    model = fit_ensemble(z, vas, emos, cats, sample_weights(dss, cfg["balance"]), cfg, seed, log, projection)
    return model, mean, std


def cross_validate(x, va, emo, cat, ds, cfg: dict, folds: int, seed: int, log=print,
                   x_flip=None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions (raw, and with a cross-fitted rescale) for every row."""
    fold = stratified_folds(ds, va[:, 0], folds, seed)
    oof = np.zeros_like(va)
    views = _view_rows(x, x_flip, cfg)
    for k in range(folds):
        tr, te = fold != k, fold == k
        if te.sum() == 0 or tr.sum() == 0:
            continue
        t0 = time.time()
        model, mean, std = _fit_rows(x[tr], None if x_flip is None else [a[tr] for a in x_flip], va[tr], emo[tr],
                                     cat[tr], ds[tr], cfg, seed + k, log)
        oof[te] = _predict_views(model, [v[te] for v in views], mean, std)
        m = _metrics(oof[te], va[te])
        log(f"fold {k + 1}/{folds}: valence r={m['valence']['r']:.3f} arousal r={m['arousal']['r']:.3f} "
            f"({time.time() - t0:.0f} s)")
    cross_validate.last = (oof, fold)  # unclipped, for choosing the knee (train)
    return np.clip(oof, -1, 1), cross_fitted(oof, va, fold, KNEE)


def cross_fitted(oof: np.ndarray, va: np.ndarray, fold: np.ndarray, knee: float | None = KNEE) -> np.ndarray:
    """Out-of-fold predictions after a cross-fitted rescale: fold k's linear map is
    fitted on the other folds' held-out predictions, then the soft bound at ``knee``
    (``None``: the linear map only)."""
    out = np.zeros_like(oof)
    for k in np.unique(fold):
        te = fold == k
        other = ~te
        if other.sum() < 3:
            out[te] = np.clip(oof[te], -1, 1)
            continue
        out[te] = apply_rescale(oof[te], dict(fit_rescale(oof[other], va[other]), knee=knee), bound=knee is not None)
    return out


def choose_knee(candidates: list[np.ndarray], limit: float = END_SHARE_LIMIT) -> float:
    """The highest knee in ``KNEES`` at which every (n, 2) array of *linearly rescaled*
    predictions in ``candidates`` has at most ``limit`` of its rows at the ends after
    :func:`soft_bound` (the lowest knee if none qualifies)."""
    for knee in KNEES:
        if all(share_at_ends(soft_bound(c, knee))["overall"] <= limit for c in candidates):
            return knee
    return KNEES[-1]


# --------------------------------------------------------------------------- main
def _copy_backbone(src_dir: Path, out_dir: Path) -> None:
    """Put the backbone files beside the trained head, so ``out_dir`` is a complete model."""
    from emobrowser.models.backbone import BACKBONE_FILE, BACKBONE_META
    from emobrowser.models.runtime import copy_model_files

    copy_model_files(src_dir, (BACKBONE_FILE, BACKBONE_META), out_dir)


def _backbone_names(model_dir: Path) -> list[str]:
    """Names of the backbone part's features: ``backbone_<output>_<i>``, the logits by their
    ImageNet class."""
    from emobrowser.models.backbone import BACKBONE_META, backbone_path

    meta = json.loads(backbone_path(model_dir).with_name(BACKBONE_META).read_text())
    names = []
    for out in meta["outputs"]:
        if out["name"] == "logits":
            names += [f"backbone_logit_{c}" for c in meta["logit_classes"]]
        else:
            names += [f"backbone_{out['name']}_{i}" for i in range(out["shape"][-1])]
    return names


def _training_data(data_dir: Path, cfg: dict, limit, log, cache_dir, backbone_dir):
    """The rated photos with finite ratings: (rows, features, augmented features or None,
    valence-arousal, emotion distributions, categories, dataset names)."""
    rows = load_ratings(data_dir)
    if limit is not None:
        rows = rows[: int(limit)]
    feat_args = dict(log=log, cache_dir=cache_dir, model_dir=backbone_dir)
    x = compute_features(data_dir, rows, **feat_args)
    x_flip = [compute_features(data_dir, rows, aug=a, **feat_args) for a in _augmentations(cfg)] or None
    va, emo, cat, ds = targets(rows)
    ok = np.all(np.isfinite(va), axis=1)
    x, va, emo, cat, ds = x[ok], va[ok], emo[ok], cat[ok], ds[ok]
    if x_flip is not None:
        x_flip = [a[ok] for a in x_flip]
    log(f"data: {len(x)} images, {x.shape[1]} features; datasets: "
        + ", ".join(f"{d}={int((ds == d).sum())}" for d in np.unique(ds)))
    return [r for r, keep in zip(rows, ok) if keep], x, x_flip, va, emo, cat, ds


def held_out_predictions(data_dir: Path, cache_dir: Path | None = None, log=print, seed: int = 0,
                         folds: int = 5) -> dict:
    """Out-of-fold predictions for the rated photos with the shipped settings, as the
    shipped model's ``predict`` gives them before the shared scale (cross-fitted linear
    rescale and the shipped knee of the soft bound). Returns {"pred" (n, 2), "labels"
    (n, 2) ratings, "files", "datasets"}. Needs the feature cache to be quick."""
    from emobrowser.core import paths
    from emobrowser.models.image_model import NORM_FILE

    cfg = dict(DEFAULTS)
    data_dir = image_data_dir(Path(data_dir))
    shipped = json.loads((paths.models_dir() / NORM_FILE).read_text())["rescale"]
    rows, x, x_flip, va, emo, cat, ds = _training_data(data_dir, cfg, None, log, cache_dir, paths.models_dir())
    cross_validate(x, va, emo, cat, ds, cfg, folds, seed, log, x_flip=x_flip)
    oof_linear, fold = cross_validate.last
    use_rescale = shipped.get("scale", [1.0, 1.0]) != [1.0, 1.0] or shipped.get("offset", [0.0, 0.0]) != [0.0, 0.0]
    knee = shipped.get("knee", KNEE)
    pred = cross_fitted(oof_linear, va, fold, knee) if use_rescale else soft_bound(oof_linear, knee)
    return {"pred": pred, "labels": va, "files": [r["file"] for r in rows], "datasets": ds}


def train(data_dir: Path, out_dir: Path, seed: int = 0, epochs: int | None = None, folds: int = 5,
          limit: int | None = None, log=print, config: dict | None = None, cache_dir: Path | None = None,
          backbone_dir: Path | None = None) -> dict:
    """Cross-validate, fit on all data and write the model files to ``out_dir``.

    ``data_dir`` holds ``ratings.csv`` (or is the shared data folder with ``images/``).
    The backbone (``image_backbone.tflite``) is taken from ``backbone_dir`` (default: the
    shipped models folder) and copied to ``out_dir`` if that is elsewhere. Features are
    cached in ``cache_dir`` (default ``CACHE_DIR``). ``limit`` keeps only the first
    ``limit`` rows (for smoke tests); ``epochs`` overrides the number of training epochs;
    ``folds`` < 2 skips cross-validation.
    Returns the metrics dictionary that is also written to image_va_metrics.json.
    """
    import keras

    from emobrowser.core import paths
    from emobrowser.features.image_features import FEATURE_VERSION, feature_names
    from emobrowser.models.backbone import backbone_dim, backbone_path
    from emobrowser.models.runtime import file_digest
    from emobrowser.models.image_model import MODEL_FILE, METRICS_FILE, NORM_FILE, ImageVAModel

    t_start = time.time()
    cfg = dict(DEFAULTS)
    cfg.update(config or {})
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    data_dir, out_dir = image_data_dir(Path(data_dir)), Path(out_dir)
    backbone_dir = Path(backbone_dir) if backbone_dir is not None else paths.models_dir()
    rows, x, x_flip, va, emo, cat, ds = _training_data(data_dir, cfg, limit, log, cache_dir, backbone_dir)
    bb_dim = backbone_dim(backbone_dir)
    feature_version = f"{backbone_version(backbone_dir)}+hand-{FEATURE_VERSION}"

    metrics: dict = {
        "model": ImageVAModel.info.name,
        "version": ImageVAModel.info.version,
        "feature_version": feature_version,
        "seed": seed,
        "folds": folds,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.items()},
        "n_images": int(len(x)),
        "datasets": {str(d): int((ds == d).sum()) for d in np.unique(ds)},
    }
    rescale = {"scale": [1.0, 1.0], "offset": [0.0, 0.0], "knee": KNEE}
    oof_linear = fold = None
    use_rescale = False
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
        oof_linear, fold = cross_validate.last

    # final model on all data
    model, mean, std = _fit_rows(x, x_flip, va, emo, cat, ds, cfg, seed, log)
    out_dir.mkdir(parents=True, exist_ok=True)
    _copy_backbone(backbone_dir, out_dir)
    model.save(out_dir / MODEL_FILE)
    train_pred = _predict_views(model, _view_rows(x, x_flip, cfg), mean, std)
    if oof_linear is not None:
        # the soft bound's knee: the gentlest one that keeps the out-of-fold predictions
        # (cross-fitted) and the training set's predictions off the ends
        cf_linear = cross_fitted(oof_linear, va, fold, knee=None) if use_rescale else oof_linear
        knee = choose_knee([cf_linear, apply_rescale(train_pred, rescale, bound=False)] if use_rescale
                           else [cf_linear, train_pred])
        rescale["knee"] = knee
        final_oof = cross_fitted(oof_linear, va, fold, knee) if use_rescale else soft_bound(oof_linear, knee)
        metrics["cv_rescaled"] = evaluate(final_oof, va, ds)
        metrics["cv"] = metrics["cv_rescaled"] if use_rescale else metrics["cv_raw"]
        metrics["knee"] = knee
        metrics["cv_share_at_ends"] = share_at_ends(final_oof, ds)
        metrics["label_share_at_ends"] = share_at_ends(va, ds)
        for name, block in metrics["cv"].items():
            log(f"CV {name:9s} n={block['n']:5d}  " + "  ".join(
                f"{t}: r={block[t]['r']:.3f} ccc={block[t]['ccc']:.3f} rmse={block[t]['rmse']:.3f} "
                f"std {block[t]['pred_std']:.3f}/{block[t]['label_std']:.3f}" for t in ("valence", "arousal")))
        log(f"knee {knee}; CV share at |v| or |a| >= {END}: {metrics['cv_share_at_ends']}")
    metrics["train_share_at_ends"] = share_at_ends(apply_rescale(train_pred, rescale), ds)
    norm = {
        "model": ImageVAModel.info.name,
        "version": ImageVAModel.info.version,
        "feature_version": feature_version,
        "dim": int(x.shape[1]),
        "views": list(cfg.get("views") or ("plain",)),
        "backbone_dim": int(bb_dim),
        "backbone_sha256": file_digest(backbone_path(backbone_dir)),  # checked when the model loads
        "feature_names": _backbone_names(backbone_dir) + feature_names(),
        "mean": [float(v) for v in mean],
        "std": [float(v) for v in std],
        "rescale": rescale,
    }
    (out_dir / NORM_FILE).write_text(json.dumps(norm))
    metrics["train_seconds"] = round(time.time() - t_start, 1)
    (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2))
    # check the saved model loads in safe mode, and write the LiteRT file scoring runs
    keras.saving.load_model(out_dir / MODEL_FILE, safe_mode=True)
    from emobrowser.training.convert import write_pair

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


def main(argv: list[str] | None = None) -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder with ratings.csv, or its parent")
    p.add_argument("--out", type=Path, required=True, help="folder for the model files")
    p.add_argument("--cache", type=Path, default=None, help=f"feature cache folder (default {CACHE_DIR})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--config", type=str, default=None, help="JSON overrides of the training settings")
    args = p.parse_args(argv)
    metrics = train(args.data, args.out, seed=args.seed, epochs=args.epochs, folds=args.folds, limit=args.limit,
                    cache_dir=args.cache, config=json.loads(args.config) if args.config else None)
    print(json.dumps(metrics.get("cv", {})))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
