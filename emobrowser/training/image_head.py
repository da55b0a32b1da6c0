"""The image model's network: small multi-task MLPs on the principal axes of the
standardised features, averaged with a ridge regression on all of them and an RBF kernel
ridge regression on the axes, all in plain Keras layers (so the saved model loads with
``safe_mode`` and converts to LiteRT). See :func:`fit_ensemble`; the settings are
``train_image.DEFAULTS``.
"""

from __future__ import annotations

import os

import numpy as np

from emobrowser.training.image_data import EMOTIONS, OASIS_CATEGORIES


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


def _multitask_loss(aux_weight: float, va_weights=(1.0, 1.0)):
    """Squared error on (valence, arousal), each weighted by ``va_weights``, + weighted
    cross-entropy on the auxiliary heads.

    Used only for training; the saved model holds just the VA head, so no custom object
    is needed to load it.
    """
    from keras import ops

    n_emo = len(EMOTIONS)

    def loss(y_true, y_pred):
        w = ops.convert_to_tensor(np.asarray(va_weights, dtype=np.float32))
        mse = ops.mean(w * ops.square(y_true[:, :2] - y_pred[:, :2]), axis=-1)
        eps = 1e-7
        ce_emo = -ops.sum(y_true[:, 2:2 + n_emo] * ops.log(y_pred[:, 2:2 + n_emo] + eps), axis=-1)
        ce_cat = -ops.sum(y_true[:, 2 + n_emo:] * ops.log(y_pred[:, 2 + n_emo:] + eps), axis=-1)
        return mse + aux_weight * ce_emo + 0.5 * aux_weight * ce_cat

    return loss


def pca_projection(z: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(d, k) projection onto the first ``k`` principal axes of standardised rows ``z``,
    scaled by one common factor so the projections have mean variance 1 (their relative
    variances are kept: weak directions are not blown up into noise)."""
    from sklearn.utils.extmath import randomized_svd

    k = int(min(k, z.shape[0] - 1, z.shape[1]))
    _, s, vt = randomized_svd(z.astype(np.float32), k, n_iter=4, random_state=seed)
    scale = np.sqrt(np.mean(s ** 2) / len(z))
    return (vt.T / scale).astype(np.float32)


def fit_ensemble(x, va, emo, cat, weights, cfg: dict, seed: int, log=print, projection=None):
    """Train ``cfg['members']`` MLPs; return a single Keras model averaging their VA heads
    (and, with ``cfg['linear_alpha']`` > 0, averaging that mean with a ridge regression on
    all of ``x`` for the outputs in ``cfg['linear_outputs']``: :func:`fit_linear`, a fixed
    Dense layer named "linear"; then, with a projection and ``cfg['kernel_centres']``,
    mixing in an RBF kernel ridge regression on the projections: :func:`_add_kernel_member`).

    With a ``projection`` (d, k) the members are trained on ``x @ projection`` (much
    cheaper than on all d features), and the returned model starts with that projection as
    a fixed bias-free Dense layer named "pca", so it still takes the d features."""
    import keras
    from keras import layers

    _set_threads()
    keras.utils.set_random_seed(seed)
    full_dim = x.shape[1]
    x_full = x
    if projection is not None:
        x = x @ projection
    inp = keras.Input(shape=(x.shape[1],), name="features" if projection is None else "projected")
    heads = []
    for m in range(cfg["members"]):
        ms = seed * 1000 + m * 17 + 1
        keras.utils.set_random_seed(ms)
        va_o, emo_o, cat_o = _build_member(inp, cfg, ms, f"m{m}")
        train_model = keras.Model(inp, layers.Concatenate(name=f"m{m}_all")([va_o, emo_o, cat_o]))
        n = len(x)
        steps = max(1, int(np.ceil(n / cfg["batch_size"])))
        schedule = keras.optimizers.schedules.CosineDecay(cfg["lr"], decay_steps=steps * cfg["epochs"])
        # "equal" weighs each output's squared error by 1 / its label variance, so arousal
        # (about half valence's spread) counts as much as valence in the shared layers
        va_w = (1.0 / np.maximum(va.var(axis=0), 1e-3) * va.var(axis=0).mean()
                if cfg.get("va_weighting") == "equal" else np.ones(2))
        train_model.compile(optimizer=keras.optimizers.Adam(schedule),
                            loss=_multitask_loss(cfg["aux_weight"], va_w))
        y = np.concatenate([va, emo, cat], axis=1).astype(np.float32)
        train_model.fit(x, y, sample_weight=weights, epochs=cfg["epochs"],
                        batch_size=cfg["batch_size"], shuffle=True, verbose=0)
        heads.append(va_o)
    out = heads[0] if len(heads) == 1 else layers.Average(name="va_mean")(heads)
    if projection is None and not cfg.get("linear_alpha"):
        return keras.Model(inp, out, name="image_va")
    full = inp
    if projection is not None:
        heads_model = keras.Model(inp, out, name="heads")
        full = keras.Input(shape=(full_dim,), name="features")
        pca = layers.Dense(projection.shape[1], use_bias=False, trainable=False, name="pca")
        projected = pca(full)
        out = heads_model(projected)
        pca.set_weights([projection])
    if cfg.get("linear_alpha"):
        # a ridge regression on all standardised features, averaged with the MLPs: it
        # spreads arousal where the MLPs (whose loss valence dominates) stay flat
        coef, intercept = fit_linear(x_full, va, weights, float(cfg["linear_alpha"]))
        # an output the linear member does not join gets a zero column: the mean then
        # halves the MLPs' output there, which the linear rescale fitted afterwards undoes
        for j, name in enumerate(("valence", "arousal")):
            if name not in tuple(cfg.get("linear_outputs", ("valence", "arousal"))):
                coef[:, j] = 0.0
                intercept[j] = 0.0
        linear = layers.Dense(2, trainable=False, name="linear")
        out = layers.Average(name="va_with_linear")([out, linear(full)])
        linear.set_weights([coef, intercept])
    if projection is not None and cfg.get("kernel_centres"):
        out = _add_kernel_member(out, projected, x, va, weights, cfg, seed)
    return keras.Model(full, out, name="image_va")


def kernel_centres(projected: np.ndarray, count: int, gamma_scale: float, seed: int) -> tuple[np.ndarray, float]:
    """``count`` training rows (seeded draw) as the kernel member's centres, and its RBF
    width: ``gamma_scale`` / (axes * variance of the projections)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(projected), size=min(int(count), len(projected)), replace=False)
    gamma = float(gamma_scale) / (projected.shape[1] * float(np.var(projected)))
    return projected[np.sort(pick)].astype(np.float32), gamma


def rbf_features(projected: np.ndarray, centres: np.ndarray, gamma: float) -> np.ndarray:
    """exp(-gamma * |p - c|^2) for every row p and centre c: (n, centres)."""
    p = np.asarray(projected, np.float64)
    c = np.asarray(centres, np.float64)
    d2 = (p * p).sum(1)[:, None] - 2.0 * p @ c.T + (c * c).sum(1)[None, :]
    return np.exp(-gamma * np.maximum(d2, 0.0))


def _add_kernel_member(out, projected_in, projected: np.ndarray, va, weights, cfg: dict, seed: int):
    """Average ``out`` with an RBF kernel ridge regression on the principal axes (a
    Nystroem approximation through ``cfg['kernel_centres']`` training rows), built from
    plain Dense/Multiply/Add/exponential layers so it saves and converts like the rest:
    |p - c|^2 = |p|^2 - 2 p.c + |c|^2, with the centres and -gamma folded into the
    weights. Its output is scaled so it makes up ``cfg['kernel_share']`` of the mix of
    raw outputs (the rescale fitted afterwards restores the overall spread; for valence,
    which the linear member halves, the kernel weighs more against the MLPs themselves)."""
    from keras import layers

    centres, gamma = kernel_centres(projected, cfg["kernel_centres"], cfg.get("kernel_gamma", 1.0), seed)
    coef, intercept = fit_linear(rbf_features(projected, centres, gamma), va, weights, float(cfg["kernel_alpha"]))
    share = float(cfg.get("kernel_share", 0.5))
    factor = share / (1.0 - share)  # mean([out, factor * kernel]) is proportional to the mix
    m, k = len(centres), centres.shape[1]
    cross = layers.Dense(m, trainable=False, name="kernel_cross")
    norm = layers.Dense(m, use_bias=False, trainable=False, name="kernel_norm")
    head = layers.Dense(2, trainable=False, name="kernel_out")
    squared = layers.Multiply(name="kernel_square")([projected_in, projected_in])
    exponent = layers.Add(name="kernel_exponent")([cross(projected_in), norm(squared)])
    kernel = head(layers.Activation("exponential", name="kernel_rbf")(exponent))
    cross.set_weights([(2.0 * gamma * centres.T).astype(np.float32),
                       (-gamma * (centres.astype(np.float64) ** 2).sum(1)).astype(np.float32)])
    norm.set_weights([np.full((k, m), -gamma, np.float32)])
    head.set_weights([(coef * factor).astype(np.float32), (intercept * factor).astype(np.float32)])
    return layers.Average(name="va_with_kernel")([out, kernel])


def fit_linear(z: np.ndarray, y: np.ndarray, weights: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Weighted ridge regression of ``y`` (n, t) on the standardised features ``z`` (n, d)
    with penalty ``alpha`` (the intercept is not penalised): (coef (d, t), intercept (t,))
    in float32. Solved in the dual (an n × n system) when there are fewer rows than
    features."""
    w = np.asarray(weights, dtype=np.float64)
    w = w / w.mean()
    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    mu = w @ z / w.sum()
    y_mu = w @ y / w.sum()
    root = np.sqrt(w)[:, None]
    a = (z - mu) * root
    b = (y - y_mu) * root
    if len(a) <= a.shape[1]:
        gram = a @ a.T
        gram[np.diag_indices_from(gram)] += alpha
        coef = a.T @ np.linalg.solve(gram, b)
    else:
        cov = a.T @ a
        cov[np.diag_indices_from(cov)] += alpha
        coef = np.linalg.solve(cov, a.T @ b)
    return coef.astype(np.float32), (y_mu - mu @ coef).astype(np.float32)


def sample_weights(ds: np.ndarray, balance: bool) -> np.ndarray:
    """Per-row training weights: with ``balance``, each dataset weighs as much in total
    as every other (OASIS and Emotion6 differ in size); otherwise all 1."""
    w = np.ones(len(ds), dtype=np.float32)
    if balance:
        names, counts = np.unique(ds, return_counts=True)
        for d, c in zip(names, counts):
            w[ds == d] = len(ds) / (len(names) * c)
    return w


def normalise(x_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) of the training rows per feature, float32; a constant feature gets std 1."""
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std < 1e-6, 1.0, std)
    return mean.astype(np.float32), std.astype(np.float32)


def predict_rows(model, x: np.ndarray) -> np.ndarray:
    """The Keras model's (n, 2) outputs for standardised rows ``x``, float32."""
    return np.asarray(model.predict(x, batch_size=512, verbose=0), dtype=np.float32)
