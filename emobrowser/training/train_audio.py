"""Train the audio valence-arousal model ("audio-va") and measure it by cross-validation.

Data (a folder laid out like the project's data folder):

* ``deam/deam_librosa_features.csv``: DEAM songs, ``valence``/``arousal`` on the common
  [-1, 1] scale and the 199 recipe features (emobrowser.features.audio_features); the
  two rating columns of songs 1-1000 are exchanged back (audio_data.DEAM_EXCHANGED_IDS).
* ``audio4q/labels.csv`` + clips: 4Q clips with quadrant / valence_sign / arousal_sign;
  their features are extracted with this project's decoder and extractor (cache them
  with ``cache_dir``: ~1 s per clip). Loading and folds live in emobrowser.training.audio_data.

Model: an average of 3 MLPs on normalised features with a tanh (valence, arousal)
output, trained multi-task: squared error on the DEAM ratings, and logistic loss on the
4Q signs applied to the same outputs (sigmoid(SIGN_SCALE * output)), so a 4Q clip's
sign is the sign of the shipped output. Features are normalised per domain (DEAM table
vs. our own decoded audio; quantile mapping to normal scores), because the two feature
sources differ systematically, and a domain input adds a domain-specific output term.
See docs/model_card_audio.md for the settings tried and their CV numbers.

Evaluation: 5 folds over both sets at once (DEAM: shuffled k-fold; 4Q: stratified by
quadrant and grouped by artist); every metric comes from held-out folds. The shipped
model is then trained on everything with the same settings.

    python -m emobrowser.training.train_audio --data /work/shared/data \\
        --out resources/models --cache /tmp/audcache/4q

No pickle/joblib anywhere: weights are a .keras file, the rest JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from emobrowser.features.audio_features import (
    DERIVED_NAMES,
    FEATURE_NAMES,
    N_TRACK,
    TRACK_NAMES,
    WINDOW_SECONDS,
    mel_band_hz,
    track_vector,
)
from emobrowser.features.music_tagger import EMBEDDING_NAMES, N_EMBEDDING, tagger_digest
from emobrowser.training.audio_data import (
    clip_tagger,
    corrected_labels,
    crop_rows,
    deam_folds,
    load_4q,
    load_deam,
    q4_folds,
)
from emobrowser.models.audio_model import (
    AudioVAModel,
    DOMAIN_AUDIO,
    DOMAIN_DEAM,
    METRICS_FILE,
    NORM_FILE,
    WEIGHTS_FILE,
    calibrate,
    network_inputs,
    normalise,
    transform_features,
)

SIGN_SCALE = 4.0

DEFAULTS = {
    "hidden": [256, 64],
    "dropout": 0.3,
    "input_noise": 0.3,
    "l2": 1e-3,
    "lr": 1e-3,
    "batch": 64,
    "epochs": 80,
    "sign_weight": 0.15,
    "per_domain_norm": True,
    "domain_head": True,
    "ensemble": 3,
    "sign_loss": "bce",  # "bce": logistic on SIGN_SCALE * output; "hinge": relu(margin - sign * output)
    "sign_margin": 0.1,
    "norm": "quantile",  # per-feature "standard" (mean/std) or "quantile" (normal scores)
    "crops": 0,  # augmented excerpts per 4Q training clip (tried: 4 made CV worse)
    "dynamics": 64,  # width of the track-descriptor branch (decoded audio only); 0 = none
    "deam_labels": "corrected",  # "corrected": songs 1-1000 get their two rating columns exchanged; or "as_given"
    "derived": True,  # the N_DERIVED values computed from the recipe means (version 6)
    "tagger": True,  # the music tagger's embedding joins the track branch (version 8)
}

# ------------------------------------------------------------------------ model
def norm_stats(x: np.ndarray, kind: str = "standard") -> dict:
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(std < 1e-8, 1.0, std)
    stats = {"mean": mean.tolist(), "std": std.tolist()}
    if kind == "quantile" and len(x) >= 20:
        from scipy.stats import norm

        levels = np.linspace(0.0, 1.0, 51)
        q = np.quantile(x, levels, axis=0)
        # strictly increasing knots so interpolation is well defined with ties
        q = q + np.arange(len(levels))[:, None] * 1e-9 * std[None, :]
        stats["quantiles"] = q.tolist()
        stats["targets"] = norm.ppf(np.clip(levels, 0.01, 0.99)).tolist()
    return stats


def build_model(n_in: int, cfg: dict, seed: int):
    """MLP(s) -> tanh (valence, arousal).

    With cfg["domain_head"], a second input (0 = DEAM table, 1 = our decoded audio)
    switches on an extra linear term before the tanh, so the two feature sources can
    disagree about where neutral lies without bending the shared trunk.

    With cfg["dynamics"] as well, a third input ("dynamics") carries the track
    descriptors (audio_features.TRACK_NAMES: dynamics and tonality), which only
    decoded audio has: a small branch
    reads them and feeds the domain term, so they shape decoded-audio outputs only
    and DEAM rows (domain 0) neither use nor train it. With cfg["tagger"], a fourth
    input ("tagger": the music tagger's embedding, emobrowser.features.music_tagger)
    joins the descriptors at the branch's input.
    """
    import keras

    inputs = keras.Input(shape=(n_in,), name="features")
    domain = keras.Input(shape=(1,), name="domain") if cfg.get("domain_head") else None
    dyn_width = int(cfg.get("dynamics") or 0) if domain is not None else 0
    dyn = keras.Input(shape=(N_TRACK,), name="dynamics") if dyn_width else None
    tag = keras.Input(shape=(N_EMBEDDING,), name="tagger") if dyn_width and cfg.get("tagger") else None
    branch_in = keras.layers.Concatenate(name="track_and_tagger")([dyn, tag]) if tag is not None else dyn
    members = []
    for m in range(int(cfg["ensemble"])):
        h = inputs
        if cfg["input_noise"]:
            h = keras.layers.GaussianNoise(cfg["input_noise"], seed=seed + 101 * m)(h)
        for j, width in enumerate(cfg["hidden"]):
            h = keras.layers.Dense(
                width,
                activation="gelu",
                kernel_regularizer=keras.regularizers.L2(cfg["l2"]),
                kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 101 * m + j),
            )(h)
            if cfg["dropout"]:
                h = keras.layers.Dropout(cfg["dropout"], seed=seed + 101 * m + 50 + j)(h)
        pre = keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 101 * m + 99))(h)
        if domain is not None:
            side = h
            if dyn is not None:
                g = keras.layers.GaussianNoise(cfg["input_noise"], seed=seed + 101 * m + 70)(branch_in) \
                    if cfg["input_noise"] else branch_in
                g = keras.layers.Dense(
                    dyn_width, activation="gelu", kernel_regularizer=keras.regularizers.L2(cfg["l2"]),
                    kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 101 * m + 71),
                )(g)
                if cfg["dropout"]:
                    g = keras.layers.Dropout(cfg["dropout"], seed=seed + 101 * m + 72)(g)
                side = keras.layers.Concatenate()([h, g])
            extra = keras.layers.Dense(
                2, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 101 * m + 98),
                kernel_regularizer=keras.regularizers.L2(cfg["l2"]),
            )(side)
            pre = keras.layers.Add()([pre, keras.layers.Multiply()([extra, domain])])
        members.append(keras.layers.Activation("tanh")(pre))
    out = members[0] if len(members) == 1 else keras.layers.Average(name="mean")(members)
    model_inputs = [i for i in (inputs, domain, dyn, tag) if i is not None]
    model = keras.Model(model_inputs if len(model_inputs) > 1 else inputs, out, name="audio_va")
    return model, members


def fit_model(xd, yd, xq, sq, cfg: dict, seed: int, epochs: int, log=None, dq=None, eq=None):
    """Train on DEAM rows (xd, yd) and 4Q rows (xq, signs sq, normalised dynamics dq and
    tagger embeddings eq); return the Keras model."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model, members = build_model(xd.shape[1] if len(xd) else xq.shape[1], cfg, seed)
    train_model = keras.Model(model.inputs, members) if len(members) > 1 else model
    n_inputs = len(model.inputs)

    x = np.concatenate([xd, xq]).astype(np.float32)
    if dq is None:
        dq = np.zeros((len(xq), N_TRACK), np.float32)
    xdyn = np.concatenate([np.zeros((len(xd), N_TRACK), np.float32), dq]).astype(np.float32)
    if eq is None:
        eq = np.zeros((len(xq), N_EMBEDDING), np.float32)
    xtag = np.concatenate([np.zeros((len(xd), N_EMBEDDING), np.float32), eq]).astype(np.float32)
    y = np.concatenate([yd, np.zeros((len(xq), 2))]).astype(np.float32)
    s = np.concatenate([np.zeros((len(xd), 2)), (sq + 1.0) / 2.0]).astype(np.float32)
    is_deam = np.concatenate([np.ones(len(xd)), np.zeros(len(xq))]).astype(np.float32)
    n = len(x)
    batch = int(cfg["batch"])
    steps = max(1, int(np.ceil(n / batch)))
    schedule = keras.optimizers.schedules.CosineDecay(cfg["lr"], decay_steps=steps * max(1, epochs), alpha=0.05)
    opt = keras.optimizers.Adam(schedule)
    # weights so each loss is a mean over its own rows whatever the batch mix
    wd = 1.0 / max(1.0, is_deam.mean())
    # sign_weight: one number, or [valence, arousal] weights of the 4Q sign losses
    sw = np.broadcast_to(np.asarray(cfg["sign_weight"], dtype=np.float32), (2,))
    wq = (sw / max(1e-6, 1.0 - is_deam.mean())).astype(np.float32) if len(xq) else np.zeros(2, np.float32)
    wq = tf.constant(wq)

    hinge = cfg.get("sign_loss", "bce") == "hinge"
    margin = float(cfg.get("sign_margin", 0.1))

    @tf.function(reduce_retracing=True)
    def step(xb, yb, sb, db, gb, eb):
        with tf.GradientTape() as tape:
            feed = [xb, 1.0 - db[:, None], gb, eb][:n_inputs]
            outs = train_model(feed if n_inputs > 1 else xb, training=True)
            outs = outs if isinstance(outs, (list, tuple)) else [outs]
            loss = 0.0
            for o in outs:
                mse = tf.reduce_mean(tf.square(o - yb), axis=1)
                if hinge:
                    bce = tf.reduce_mean(wq * tf.nn.relu(margin - (2.0 * sb - 1.0) * o), axis=1)
                else:
                    bce = tf.reduce_mean(
                        wq * tf.nn.sigmoid_cross_entropy_with_logits(labels=sb, logits=SIGN_SCALE * o), axis=1
                    )
                loss += tf.reduce_mean(wd * db * mse + (1.0 - db) * bce)
            # members are independent: sum their losses so each sees the same balance
            # of data loss and its own L2 penalty as a single network would
            if train_model.losses:
                loss = loss + tf.add_n(train_model.losses)
        grads = tape.gradient(loss, train_model.trainable_variables)
        opt.apply_gradients(zip(grads, train_model.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for b in range(steps):
            idx = order[b * batch : (b + 1) * batch]
            total += float(step(x[idx], y[idx], s[idx], is_deam[idx], xdyn[idx], xtag[idx]))
        if log is not None and (epoch + 1) % 40 == 0:
            log(f"  epoch {epoch + 1}/{epochs} loss {total / steps:.4f}")
    return model


def _predict(model, z: np.ndarray, domain: float, dyn: np.ndarray | None = None,
             tag: np.ndarray | None = None) -> np.ndarray:
    if len(z) == 0:
        return np.zeros((0, 2))
    return np.asarray(model(network_inputs(model, z, domain, dyn, tag), training=False), dtype=np.float64)


def _prepare_dynamics(gq_raw, cfg, tr_q, key: str = "dynamics"):
    """Normalised track descriptors (or, with key "tagger", tagger embeddings) of the 4Q
    clips, with statistics from the training rows only."""
    raw = np.asarray(gq_raw, np.float64)
    if not int(cfg.get("dynamics") or 0) or not cfg.get(key) or tr_q.sum() < 2:
        return np.zeros(raw.shape, np.float32), None
    stats = norm_stats(raw[tr_q], cfg.get("norm", "standard"))
    return normalise(raw, stats), stats


def _mel_hz(cfg) -> list[float] | None:
    """The mel bands' frequencies for the derived features, if the settings use them."""
    return mel_band_hz().tolist() if cfg.get("derived") else None


def _prepare(xd_raw, xq_raw, cfg, tr_d, tr_q):
    """Transform + per-domain standardisation fitted on the training rows only."""
    mel_hz = _mel_hz(cfg)
    td = transform_features(xd_raw, mel_hz)
    tq = transform_features(xq_raw, mel_hz) if len(xq_raw) else np.zeros((0, td.shape[1]))
    kind = cfg.get("norm", "standard")
    deam_stats = norm_stats(td[tr_d], kind)
    if cfg["per_domain_norm"] and tr_q.sum() >= 2:
        audio_stats = norm_stats(tq[tr_q], kind)
    else:
        audio_stats = deam_stats
    zd = normalise(td, deam_stats)
    zq = normalise(tq, audio_stats) if len(tq) else np.zeros((0, td.shape[1]), np.float32)
    return zd, zq, deam_stats, audio_stats


def _crops(timelines, sq, idx, cfg, stats, seed, gq, eq):
    """Augmented 4Q rows (random >= 10 s excerpts of the training clips), normalised;
    each keeps its clip's (normalised) dynamics ``gq`` and tagger embedding ``eq``."""
    n = int(cfg.get("crops", 0))
    if n <= 0 or len(idx) == 0:
        return (np.zeros((0, len(stats["mean"])), np.float32), np.zeros((0, 2)), np.zeros((0, N_TRACK), np.float32),
                np.zeros((0, N_EMBEDDING), np.float32))
    rng = np.random.default_rng(seed + 7)
    raw = np.concatenate([crop_rows(timelines[i], n, rng) for i in idx])
    return (normalise(transform_features(raw, _mel_hz(cfg)), stats), np.repeat(sq[idx], n, axis=0),
            np.repeat(gq[idx], n, axis=0), np.repeat(eq[idx], n, axis=0))


def _copy_tagger(out_dir: Path) -> None:
    """Put the music tagger the 4Q embeddings came from beside the trained network, so
    ``out_dir`` is a complete model."""
    from emobrowser.features.music_tagger import TAGGER_FILE, TAGGER_META, tagger_path
    from emobrowser.models.runtime import copy_model_files

    copy_model_files(tagger_path().parent, (TAGGER_FILE, TAGGER_META), out_dir)


def _fit_gain(pred: np.ndarray, target_std: float) -> float:
    """Gain g in [0.1, 5] with std(tanh(g * atanh(pred))) closest to target_std."""
    if len(pred) < 2:
        return 1.0
    pre = np.arctanh(np.clip(pred, -0.999999, 0.999999))
    lo, hi = np.log(0.1), np.log(5.0)
    for _ in range(40):  # std grows with the gain: bisection on log-gain
        mid = 0.5 * (lo + hi)
        if np.tanh(np.exp(mid) * pre).std() < target_std:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


# ---------------------------------------------------------------------- metrics
def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    if len(a) < 3 or a.std() < 1e-12 or b.std() < 1e-12:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _quadrant(va: np.ndarray) -> np.ndarray:
    v, a = va[:, 0] >= 0, va[:, 1] >= 0
    return np.where(v & a, "Q1", np.where(~v & a, "Q2", np.where(~v & ~a, "Q3", "Q4")))


def evaluate(pd_, yd, pq, sq, quads) -> dict:
    out: dict = {}
    if len(yd):
        out["deam"] = {
            "n": int(len(yd)),
            "pearson_valence": round(_pearson(pd_[:, 0], yd[:, 0]), 4),
            "pearson_arousal": round(_pearson(pd_[:, 1], yd[:, 1]), 4),
            "rmse_valence": round(float(np.sqrt(np.mean((pd_[:, 0] - yd[:, 0]) ** 2))), 4),
            "rmse_arousal": round(float(np.sqrt(np.mean((pd_[:, 1] - yd[:, 1]) ** 2))), 4),
            "pred_std": [round(float(v), 4) for v in pd_.std(axis=0)],
            "label_std": [round(float(v), 4) for v in yd.std(axis=0)],
        }
    if len(sq):
        sign = np.where(pq >= 0, 1.0, -1.0)
        out["4q"] = {
            "n": int(len(sq)),
            "valence_sign_acc": round(float(np.mean(sign[:, 0] == sq[:, 0])), 4),
            "arousal_sign_acc": round(float(np.mean(sign[:, 1] == sq[:, 1])), 4),
            "quadrant_acc": round(float(np.mean(_quadrant(pq) == np.asarray(quads))), 4),
            "pred_std": [round(float(v), 4) for v in pq.std(axis=0)],
            "pred_mean": [round(float(v), 4) for v in pq.mean(axis=0)],
        }
    return out


# ------------------------------------------------------------------------ train
def _setup_tf(threads: int | None) -> None:
    import tensorflow as tf

    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass
    try:
        tf.config.experimental.enable_op_determinism()
    except Exception:  # noqa: BLE001
        pass


def train(
    data_dir: Path,
    out_dir: Path,
    seed: int = 0,
    epochs: int | None = None,
    folds: int = 5,
    limit: int | None = None,
    log=print,
    cache_dir: Path | None = None,
    config: dict | None = None,
    threads: int | None = 1,
    save: bool = True,
    held_out: dict | None = None,
) -> dict:
    """Cross-validate, train the shipped model on all data and write it to ``out_dir``.

    Returns the metrics dict (also written to audio_va_metrics.json). ``held_out``, if
    given, receives the calibrated out-of-fold predictions: "4q" (n, 2) with "4q_signs",
    "4q_files" and "4q_quadrants", and "deam" with "deam_labels".
    """
    cfg = dict(DEFAULTS)
    cfg.update(config or {})
    if epochs is not None:
        cfg["epochs"] = int(epochs)
    epochs = int(cfg["epochs"])
    if cache_dir is None and os.environ.get("EMOBROWSER_AUDIO_CACHE"):
        cache_dir = Path(os.environ["EMOBROWSER_AUDIO_CACHE"])
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    t0 = time.time()
    _setup_tf(threads)

    deam_ids, xd_raw, yd_given = load_deam(data_dir, limit, labels="as_given")
    label_sets = {"as_given": yd_given, "corrected": corrected_labels(deam_ids, yd_given)}
    if cfg["deam_labels"] not in label_sets:
        raise ValueError(f"unknown DEAM label choice {cfg['deam_labels']!r}")
    yd = label_sets[cfg["deam_labels"]]
    log(f"DEAM: {len(yd)} songs, labels {cfg['deam_labels']}")
    has_4q = (data_dir / "audio4q" / "labels.csv").is_file()
    if has_4q:
        files_q, xq_raw, sq, quads, artists, timelines = load_4q(data_dir, cache_dir, limit, log)
    else:
        files_q, xq_raw, sq, quads, artists, timelines = [], np.zeros((0, len(FEATURE_NAMES))), np.zeros((0, 2)), [], [], []
    log(f"4Q: {len(sq)} clips ({time.time() - t0:.0f} s)")
    gq_raw = np.asarray([track_vector(t) for t in timelines], np.float64).reshape(-1, N_TRACK)
    eq_raw = np.zeros((len(files_q), N_EMBEDDING))
    if cfg.get("tagger") and files_q:
        eq_raw = np.asarray([clip_tagger(data_dir / "audio4q" / f, cache_dir) for f in files_q], np.float64)
        log(f"4Q tagger embeddings: {len(eq_raw)} clips ({time.time() - t0:.0f} s)")

    fd = deam_folds(len(yd), folds, seed)
    fq = q4_folds(quads, artists, folds, seed)
    oof_d = np.zeros_like(yd)
    oof_q = np.zeros((len(sq), 2))
    for k in range(folds):
        tr_d, tr_q = fd != k, fq != k
        zd, zq, _, audio_stats = _prepare(xd_raw, xq_raw, cfg, tr_d, tr_q)
        gq, _ = _prepare_dynamics(gq_raw, cfg, tr_q)
        eq, _ = _prepare_dynamics(eq_raw, cfg, tr_q, "tagger")
        zc, sc, gc, ec = _crops(timelines, sq, np.flatnonzero(tr_q), cfg, audio_stats, seed + k, gq, eq)
        model = fit_model(zd[tr_d], yd[tr_d], np.concatenate([zq[tr_q], zc]), np.concatenate([sq[tr_q], sc]),
                          cfg, seed + k, epochs, dq=np.concatenate([gq[tr_q], gc]), eq=np.concatenate([eq[tr_q], ec]))
        oof_d[~tr_d] = _predict(model, zd[~tr_d], 0.0)
        if len(sq):
            oof_q[~tr_q] = _predict(model, zq[~tr_q], 1.0, gq[~tr_q], eq[~tr_q])
        fold_m = evaluate(oof_d[~tr_d], yd[~tr_d], oof_q[~tr_q], sq[~tr_q], [quads[i] for i in np.flatnonzero(~tr_q)])
        log(f"fold {k + 1}/{folds}: {json.dumps(fold_m)} ({time.time() - t0:.0f} s)")

    # Output calibration, per domain: a gain per dimension before the final tanh so
    # that the spread (std) of held-out predictions matches the DEAM ratings' spread
    # (MSE shrinks DEAM predictions towards the mean; the sign loss pushes audio-domain
    # outputs towards +-1). Monotonic: signs (4Q accuracies) are unchanged.
    raw_cv = evaluate(oof_d, yd, oof_q, sq, quads)
    target_std = yd.std(axis=0) if len(yd) > 10 else np.array([0.3, 0.3])
    calibration = {}
    for name, oof in ((DOMAIN_DEAM, oof_d), (DOMAIN_AUDIO, oof_q if len(sq) > 10 else oof_d)):
        calibration[name] = {"gain": [round(_fit_gain(oof[:, j], target_std[j]), 4) for j in range(2)]}
    cv = evaluate(
        calibrate(oof_d, calibration[DOMAIN_DEAM]), yd, calibrate(oof_q, calibration[DOMAIN_AUDIO]), sq, quads
    )
    # The same held-out predictions against both DEAM label sets (see DEAM_EXCHANGED_IDS).
    deam_pred = calibrate(oof_d, calibration[DOMAIN_DEAM])
    for kind, labels in label_sets.items():
        if len(yd):
            cv[f"deam_{kind}"] = evaluate(deam_pred, labels, oof_q[:0], sq[:0], [])["deam"]
    log(f"CV (calibrated): {json.dumps(cv)}")
    if held_out is not None:
        held_out.update({"4q": calibrate(oof_q, calibration[DOMAIN_AUDIO]), "4q_signs": sq, "4q_files": files_q,
                         "4q_quadrants": quads, "deam": deam_pred, "deam_labels": yd})

    metrics = {
        "model": "audio-va",
        "version": AudioVAModel.info.version,
        "seed": seed,
        "folds": folds,
        "config": cfg,
        "window_seconds": WINDOW_SECONDS,
        "cv": cv,
        "cv_uncalibrated": raw_cv,
        "calibration": calibration,
        "command": "python -m emobrowser.training.train_audio --data /work/shared/data --out resources/models "
        f"--cache /tmp/audcache/4q --seed {seed} --folds {folds}",
    }
    if not save:
        metrics["seconds"] = round(time.time() - t0, 1)
        return metrics

    all_d, all_q = np.ones(len(yd), bool), np.ones(len(sq), bool)
    zd, zq, deam_stats, audio_stats = _prepare(xd_raw, xq_raw, cfg, all_d, all_q)
    gq, dyn_stats = _prepare_dynamics(gq_raw, cfg, all_q)
    eq, tag_stats = _prepare_dynamics(eq_raw, cfg, all_q, "tagger")
    zc, sc, gc, ec = _crops(timelines, sq, np.arange(len(sq)), cfg, audio_stats, seed + 1000, gq, eq)
    model = fit_model(zd, yd, np.concatenate([zq, zc]), np.concatenate([sq, sc]), cfg, seed + 1000, epochs,
                      dq=np.concatenate([gq, gc]), eq=np.concatenate([eq, ec]))
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / WEIGHTS_FILE)
    from emobrowser.training.convert import write_pair

    lite = write_pair(out_dir / WEIGHTS_FILE)  # the LiteRT file scoring runs
    if cfg.get("tagger"):
        _copy_tagger(out_dir)
    log(f"wrote {Path(lite['tflite']).name} (max difference {lite['max_abs_diff']:.1e})")
    norm = {
        "feature_names": FEATURE_NAMES,
        "transform": "mel_*: log10(max(x, 1e-10)); tempo: log2(max(x, 30) / 120)"
                     + ("; then audio_features.derived_features(x, derived_mel_hz)" if cfg.get("derived") else ""),
        "derived_names": DERIVED_NAMES if cfg.get("derived") else None,
        "derived_mel_hz": _mel_hz(cfg),
        "domains": {DOMAIN_DEAM: deam_stats, DOMAIN_AUDIO: audio_stats},
        "dynamics_names": TRACK_NAMES,
        "dynamics": dyn_stats,
        "tagger_names": EMBEDDING_NAMES if tag_stats else None,
        "tagger": tag_stats,
        "tagger_sha256": tagger_digest() if tag_stats else None,  # the file the 4Q embeddings came from
        "calibration": calibration,
        "sign_scale": SIGN_SCALE,
        "window_seconds": WINDOW_SECONDS,
    }
    (out_dir / NORM_FILE).write_text(json.dumps(norm), encoding="utf-8")
    metrics["seconds"] = round(time.time() - t0, 1)
    (out_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    log(f"wrote {out_dir / WEIGHTS_FILE} ({metrics['seconds']} s)")
    return metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, required=True, help="folder with deam/ and audio4q/")
    p.add_argument("--out", type=Path, required=True, help="folder for the three model files")
    p.add_argument("--cache", type=Path, default=None, help="feature cache folder for the 4Q clips")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--config", type=str, default=None, help="JSON overrides of the training settings")
    p.add_argument("--no-save", action="store_true", help="cross-validate only")
    args = p.parse_args(argv)
    metrics = train(
        args.data, args.out, seed=args.seed, epochs=args.epochs, folds=args.folds, limit=args.limit,
        cache_dir=args.cache, config=json.loads(args.config) if args.config else None, save=not args.no_save,
    )
    print(json.dumps(metrics["cv"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
