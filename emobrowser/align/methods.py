"""Alignment methods: fit a Transform from image-model values onto audio-model values.

Inputs are anchors -- matched (image, audio) scores of the same video segment, each
(n, 2) [valence, arousal] in [-1, 1] -- and, for the statistical methods, optional
extra unmatched values of the library's photos and songs. Every method returns a
transform.Transform that maps IMAGE values into the audio (reference) space; audio
values are never changed. Results are clipped to [-1, 1] by Transform.apply.

Methods (the names used by fit.align_library and the CLI):

* ``identity``    -- nothing changes; the baseline every method must beat.
* ``statistical`` -- the seed's statistics-based calibration, moment matching: per
  axis, the image distribution's mean and standard deviation are mapped onto the
  audio distribution's (an affine map with a diagonal matrix).
* ``quantile``    -- the same calibration by quantile matching: per axis, a monotone
  piecewise-linear map sends image quantiles onto audio quantiles.
* ``procrustes``  -- the similarity transform (rotation, uniform scale, translation)
  from the anchors: the rotation minimising the squared distance between mapped
  image values and audio values (scipy.linalg.orthogonal_procrustes on centred
  data), and the scale that gives the photos the songs' spread (see fit_procrustes).
* ``learned``     -- the seed's joint loss with two small Keras networks (see
  fit_learned); TensorFlow is imported only inside that function, and the fitted
  network is stored as JSON weights evaluated with NumPy.
"""

from __future__ import annotations

import numpy as np

from emobrowser.align.transform import Transform

METHOD_NAMES = ("identity", "statistical", "quantile", "procrustes", "learned")
# Largest factor by which a calibration may stretch an axis: an almost constant image
# axis would otherwise be blown up to the audio axis' full spread on noise alone.
MAX_STRETCH = 5.0


def _pool(values: np.ndarray, extra: np.ndarray | None) -> np.ndarray:
    if extra is None or len(extra) == 0:
        return np.asarray(values, np.float64)
    return np.concatenate([np.asarray(values, np.float64), np.asarray(extra, np.float64).reshape(-1, 2)])


def fit_identity(image, audio, **_) -> Transform:
    return Transform("identity", {}, method="identity")


def fit_statistical(image, audio, extra_image=None, extra_audio=None, **_) -> Transform:
    """Moment matching per axis: y = (x - mean_img) / std_img * std_aud + mean_aud.

    Fitted on the anchors plus any extra values (all photos' image-model scores and
    all songs' audio-model scores), i.e. on each modality's library distribution.
    """
    img, aud = _pool(image, extra_image), _pool(audio, extra_audio)
    mu_i, mu_a = img.mean(axis=0), aud.mean(axis=0)
    sd_i, sd_a = img.std(axis=0), aud.std(axis=0)
    scale = np.where(sd_i > 1e-6, sd_a / np.maximum(sd_i, 1e-12), 1.0)
    scale = np.clip(scale, 1.0 / MAX_STRETCH, MAX_STRETCH)
    matrix = np.diag(scale)
    offset = mu_a - mu_i * scale
    return Transform("affine", {"matrix": matrix.tolist(), "offset": offset.tolist(),
                                "image_mean": mu_i.tolist(), "image_std": sd_i.tolist(),
                                "audio_mean": mu_a.tolist(), "audio_std": sd_a.tolist(),
                                "fitted_on": [int(len(img)), int(len(aud))]}, method="statistical")


def fit_quantile(image, audio, extra_image=None, extra_audio=None, knots: int | None = None, **_) -> Transform:
    """Quantile matching per axis on the pooled library distributions.

    Knots sit at evenly spaced levels between the 5th and 95th percentiles (fewer
    with few values, so small libraries are not over-fitted); outside them the map
    continues linearly. Falls back to moment matching for an axis with fewer than
    two distinct knots.
    """
    img, aud = _pool(image, extra_image), _pool(audio, extra_audio)
    n = min(len(img), len(aud))
    k = knots or int(np.clip(n // 8, 3, 21))
    levels = np.linspace(0.05, 0.95, k)
    moments = fit_statistical(image, audio, extra_image, extra_audio)
    src, dst = [], []
    for j in range(2):
        s, d = np.quantile(img[:, j], levels), np.quantile(aud[:, j], levels)
        s, first = np.unique(s, return_index=True)  # ties in the image quantiles would make the map a jump
        d = np.maximum.accumulate(d[first])
        if s.size < 2:
            scale, offset = moments.params["matrix"][j][j], moments.params["offset"][j]
            s = np.array([-1.0, 1.0])
            d = offset + scale * s
        src.append(s.tolist())
        dst.append(d.tolist())
    return Transform("quantile", {"src": src, "dst": dst, "levels": levels.tolist()}, method="quantile")


def procrustes_disparity(image, audio, allow_reflection: bool = True) -> float | None:
    """Procrustes disparity of the anchors (0 = same shape, 1 = unrelated).

    Both point sets are centred and scaled to unit norm first, so this measures how
    well the *shapes* agree whatever the models' offsets and spreads. None when one
    set has no spread (procrustes is undefined then).

    With reflections allowed this is scipy.spatial.procrustes' disparity. A mirror
    image (say, valence flipped) then scores as perfect agreement although no
    alignment may use it (see fit_procrustes); ``allow_reflection=False`` gives the
    disparity under the best proper rotation, the one the procrustes method can reach.
    """
    a, i = np.asarray(audio, np.float64), np.asarray(image, np.float64)
    if len(a) < 3 or np.allclose(a, a[0]) or np.allclose(i, i[0]):
        return None
    if allow_reflection:
        from scipy.spatial import procrustes

        return float(procrustes(a, i)[2])
    ac, ic = a - a.mean(axis=0), i - i.mean(axis=0)
    ac, ic = ac / np.linalg.norm(ac), ic / np.linalg.norm(ic)
    u, s, vt = np.linalg.svd(ic.T @ ac)
    return float(max(0.0, 1.0 - (s[0] + np.sign(np.linalg.det(u @ vt)) * s[1]) ** 2))


def fit_procrustes(image, audio, allow_reflection: bool = False, **_) -> Transform:
    """Similarity transform y = s * x @ R + t from image to audio values.

    R comes from scipy.linalg.orthogonal_procrustes on the centred anchors. That may
    return a reflection; by default it is replaced by the best proper rotation
    (Kabsch), because a reflection would swap the meaning of one circumplex axis
    (e.g. turn pleasant into unpleasant), which two models of the same scale never
    legitimately disagree on.

    s is the ratio of the anchors' spreads, |y - mean y| / |x - mean x|, as in
    scipy.spatial.procrustes, which scales both sets to unit norm. The least-squares
    scale, sum of singular values / |x - mean x|^2, shrinks towards 0 as the anchors
    get noisier (regression dilution): with the image values' noise at 0.5 it pulled
    every photo 27 % towards the centre, and a held-out residual rewards that. For
    browsing, photos and songs should cover the same range.
    """
    from scipy.linalg import orthogonal_procrustes

    x, y = np.asarray(image, np.float64), np.asarray(audio, np.float64)
    mu_x, mu_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mu_x, y - mu_y
    norm = float((xc ** 2).sum())
    if norm < 1e-12:
        # All image values equal: only the shift is identifiable.
        return Transform("affine", {"matrix": np.eye(2).tolist(), "offset": (mu_y - mu_x).tolist(),
                                    "rotation": np.eye(2).tolist(), "scale": 1.0, "angle_degrees": 0.0,
                                    "translation": (mu_y - mu_x).tolist()}, method="procrustes")
    rotation, _ = orthogonal_procrustes(xc, yc)
    if not allow_reflection and np.linalg.det(rotation) < 0:
        u, _, vt = np.linalg.svd(xc.T @ yc)
        rotation = u @ np.diag([1.0, np.sign(np.linalg.det(u @ vt))]) @ vt
    scale = float(np.sqrt((yc ** 2).sum() / norm))
    matrix = scale * rotation
    offset = mu_y - mu_x @ matrix
    angle = float(np.degrees(np.arctan2(rotation[0, 1], rotation[0, 0])))
    return Transform("affine", {"matrix": matrix.tolist(), "offset": offset.tolist(),
                                "rotation": rotation.tolist(), "scale": scale, "angle_degrees": angle,
                                "translation": offset.tolist()}, method="procrustes")


def fit_learned(image, audio, seed: int = 0, steps: int = 400, hidden: int = 8, anchor_weight: float = 1.0,
                cov_weight: float = 1.0, weight_decay: float = 1e-3, learning_rate: float = 0.02,
                **_) -> Transform:
    """The seed's joint loss, made usable for retrieval and safe from collapse.

    With a1 = audio values, i1 = image values, and free per-anchor embeddings a2, i2
    (trainable (n, 2) variables initialised at a1 and i1), f1 and f2 two small Keras
    networks (2 -> linear + 8 tanh units -> 2, starting as the identity):

        L = mean |a2 - i2|^2 + mean |f1(a1) - a2|^2 + mean |f2(i1) - i2|^2     (seed)
          + anchor_weight * mean |f1(a1) - a1|^2                               (a)
          + cov_weight * (|W cov f1(a1) W - I|_F^2 + |W cov f2(i1) W - I|_F^2)  (b)
          + weight_decay * |nonlinear kernels|^2

    Alone, the seed's three terms are minimised by mapping everything to one point.
    (a) pins the joint space to the audio space (f1 stays near the identity), which
    is what retrieval needs: audio values are used as they are, and f2 alone maps
    image values into that same space -- no inverse of f1 is needed. (b) keeps the
    embeddings' covariance at the audio values' covariance, so the image embedding
    cannot shrink to a point (or to a line) even when anchors are noisy. W = cov(a1)^(-1/2)
    whitens, so the penalty is relative (halving the spread costs the same whatever
    the audio model's spread) and strong enough to compete with the pulling terms.

    Only f2 is stored (as JSON weights); f1's mean deviation from the identity is
    recorded in the parameters as a diagnostic.
    """
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:  # the desktop app shares the machine; one thread is plenty for a few hundred points
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # already initialised in this process
    import keras

    a1 = tf.constant(np.asarray(audio, np.float32))
    i1 = tf.constant(np.asarray(image, np.float32))
    f1, f2 = _network(keras, hidden, seed, "f1"), _network(keras, hidden, seed + 1, "f2")
    a2 = tf.Variable(a1)
    i2 = tf.Variable(i1)
    whiten = tf.constant(_inverse_sqrt(np.cov(np.asarray(audio, np.float64).T, bias=True)), tf.float32)
    eye = tf.eye(2)

    def cov_gap(x):
        return tf.reduce_sum(tf.square(whiten @ _cov(tf, x) @ whiten - eye))
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    variables = f1.trainable_variables + f2.trainable_variables + [a2, i2]
    decayed = [v for net in (f1, f2) for v in net.trainable_variables if "kernel" in v.path and "linear" not in v.path]

    def sq(t):
        return tf.reduce_mean(tf.reduce_sum(tf.square(t), axis=1))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            fa, fi = f1(a1, training=True), f2(i1, training=True)
            loss = sq(a2 - i2) + sq(fa - a2) + sq(fi - i2)
            loss += anchor_weight * sq(fa - a1)
            loss += cov_weight * (cov_gap(fa) + cov_gap(fi))
            loss += weight_decay * tf.add_n([tf.reduce_sum(tf.square(v)) for v in decayed])
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    loss = float("nan")
    for _ in range(steps):
        loss = float(step())
    weights = {layer.name: layer.get_weights() for layer in f2.layers if layer.get_weights()}
    params = {
        "linear": weights["linear"][0].astype(np.float64).tolist(),
        "linear_bias": weights["linear"][1].astype(np.float64).tolist(),
        "hidden": weights["hidden"][0].astype(np.float64).tolist(),
        "hidden_bias": weights["hidden"][1].astype(np.float64).tolist(),
        "out": weights["out"][0].astype(np.float64).tolist(),
        "f1_deviation": float(np.mean(np.linalg.norm(f1(a1).numpy() - a1.numpy(), axis=1))),
        "final_loss": loss, "steps": steps, "hidden_units": hidden,
    }
    return Transform("mlp", params, method="learned")


def _network(keras, hidden: int, seed: int, name: str):
    """x -> x @ linear + b + tanh(x @ hidden + c) @ out; starts as the identity (out = 0)."""
    inp = keras.Input((2,), name=f"{name}_in")
    linear = keras.layers.Dense(2, kernel_initializer="identity", bias_initializer="zeros", name="linear")(inp)
    h = keras.layers.Dense(hidden, activation="tanh", name="hidden",
                           kernel_initializer=keras.initializers.GlorotUniform(seed=seed))(inp)
    out = keras.layers.Dense(2, use_bias=False, kernel_initializer="zeros", name="out")(h)
    return keras.Model(inp, keras.layers.Add(name="sum")([linear, out]), name=name)


def _inverse_sqrt(cov: np.ndarray) -> np.ndarray:
    """cov^(-1/2) with eigenvalues floored, so near-degenerate audio spreads stay finite."""
    values, vectors = np.linalg.eigh(cov)
    values = np.maximum(values, 1e-4)
    return (vectors / np.sqrt(values)) @ vectors.T


def _cov(tf, x):
    centred = x - tf.reduce_mean(x, axis=0, keepdims=True)
    return tf.matmul(centred, centred, transpose_a=True) / tf.cast(tf.shape(x)[0], x.dtype)


FITTERS = {"identity": fit_identity, "statistical": fit_statistical, "quantile": fit_quantile,
           "procrustes": fit_procrustes, "learned": fit_learned}
# Which methods use the extra unmatched library values (photos, songs).
USES_LIBRARY = {"statistical", "quantile"}


def fit_method(name: str, image, audio, extra_image=None, extra_audio=None, seed: int = 0) -> Transform:
    """Fit the method called ``name`` on anchors (and, if it uses them, extra library values)."""
    if name not in FITTERS:
        raise KeyError(name)
    if name in USES_LIBRARY:
        return FITTERS[name](image, audio, extra_image=extra_image, extra_audio=extra_audio)
    return FITTERS[name](image, audio, seed=seed)
