"""The shared circumplex scale: monotone, invertible maps that put each model's neutral
boundary at 0 and give every model the same spread on each side."""

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from emobrowser.models import shared_scale as ss


def _held_out(seed=0, n=800, squeeze=0.3, shift=0.1):
    rng = np.random.default_rng(seed)
    labels = rng.normal(0, 0.4, (n, 2))
    pred = squeeze * np.tanh(labels + rng.normal(0, 0.3, (n, 2))) + shift
    return pred, labels


def test_the_map_is_strictly_increasing_and_inverts():
    pred, labels = _held_out()
    scale = ss.fit(pred, labels)
    for name in ("valence", "arousal"):
        assert np.all(np.diff(scale[name]["x"]) > 0) and np.all(np.diff(scale[name]["y"]) > 0)
    grid = np.linspace(-2, 2, 2001)
    out = ss.apply(np.column_stack([grid, grid]), scale)
    assert np.all(np.diff(out[:, 0]) >= 0) and np.all(np.diff(out[:, 1]) >= 0)
    inside = (np.abs(out) < 0.999).all(axis=1)
    assert np.all(np.diff(out[inside, 0]) > 0)  # strictly, below the clip at the ends
    targets = np.column_stack([np.linspace(-0.95, 0.95, 77)] * 2)
    np.testing.assert_allclose(ss.apply(ss.invert(targets, scale), scale), targets, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.05, 2.0), st.floats(-0.5, 0.5), st.integers(0, 10_000))
def test_two_models_on_different_scales_end_up_on_one(squeeze, shift, seed):
    """Whatever scale and offset a model uses, the same share of its items lands at the
    same place: the calmest tenth of songs and of photos meet."""
    pred_a, labels_a = _held_out(seed, squeeze=1.0, shift=0.0)
    pred_b = squeeze * pred_a + shift  # the same ranking, another use of the scale
    a = ss.apply(pred_a, ss.fit(pred_a, labels_a))
    b = ss.apply(pred_b, ss.fit(pred_b, labels_a))
    np.testing.assert_allclose(np.percentile(a, [10, 50, 90], axis=0), np.percentile(b, [10, 50, 90], axis=0),
                               atol=0.02)


def test_zero_moves_to_the_best_sign_boundary_and_the_ends_stay_thin():
    pred, labels = _held_out(shift=0.15)
    raw_agreement = np.mean(np.sign(pred) == np.sign(labels), axis=0)
    shared = ss.apply(pred, ss.fit(pred, labels))
    agreement = np.mean(np.sign(shared) == np.sign(labels), axis=0)
    assert np.all(agreement > raw_agreement + 0.05)  # the offset no longer costs signs
    assert ss.share_at_ends(shared) <= 0.02
    assert abs(np.std(shared[:, 0]) - ss.REFERENCE_SD) < 0.08


def test_sign_labels_work_as_well_as_ratings():
    rng = np.random.default_rng(3)
    signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]] * 100, np.float64)
    pred = 0.2 * np.tanh(signs * 0.7 + rng.normal(0, 0.6, signs.shape)) - 0.05
    shared = ss.apply(pred, ss.fit(pred, signs))
    assert np.mean(np.sign(shared) == signs) >= np.mean(np.sign(pred) == signs)
    assert np.all(np.std(shared, axis=0) > 1.5 * np.std(pred, axis=0))  # no longer squeezed towards the centre
    assert np.all(np.abs(np.std(shared, axis=0) - ss.REFERENCE_SD) < 0.05)


def test_no_map_is_the_identity_clipped():
    va = np.array([[0.3, -0.2], [1.5, -3.0]])
    np.testing.assert_allclose(ss.apply(va, None), [[0.3, -0.2], [1.0, -1.0]], atol=1e-7)


def test_the_shipped_audio_model_scores_on_its_map():
    from emobrowser.core.paths import models_dir
    from emobrowser.models.audio_model import AudioVAModel

    doc = json.loads((models_dir() / ss.SCALE_FILE).read_text())
    model = AudioVAModel()
    key = f"{model.info.name}/{model.info.version}"
    assert key in doc["models"], "each shipped model version has its map"
    scale = model.shared_scale()
    from emobrowser.media import synth

    feats = model.extract(synth.synth_music(6.0, bpm=130), 22050)
    rows = np.vstack([feats.whole[None, :], feats.frames])
    shared = model.predict(rows)
    feeds, _ = model.network_feeds(rows)
    from emobrowser.models.audio_model import calibrate

    raw = calibrate(np.concatenate([model.network()(f) for f in feeds]), model.norm()["calibration"]["audio"])
    np.testing.assert_allclose(shared, ss.apply(raw, scale), atol=1e-6)


def test_the_shipped_image_model_scores_on_its_map(monkeypatch):
    from emobrowser.media import synth
    from emobrowser.models.image_model import ImageVAModel

    model = ImageVAModel()
    scale = model.shared_scale()
    assert scale is not None, "each shipped model version has its map"
    feats = np.stack([model.extract(synth.draw_image(kind, (120, 160), seed=1))
                      for kind in ("warm", "dark", "vivid", "grey")])
    shared = model.predict(feats)
    monkeypatch.setattr(model, "shared_scale", lambda: None)
    raw = model.predict(feats)
    np.testing.assert_allclose(shared, ss.apply(raw, scale), atol=1e-6)


def test_values_beyond_the_rated_range_move_on_gently_instead_of_piling_at_the_ends():
    rng = np.random.default_rng(5)
    labels = rng.normal(0, 0.4, (600, 2))
    pred = np.tanh(labels + rng.normal(0, 0.3, (600, 2))) * 0.5
    pred[:, 1] = np.sign(pred[:, 1]) * np.abs(pred[:, 1]) ** 3  # a tail that thins out fast
    scale = ss.fit(pred, labels)
    for j, name in enumerate(("valence", "arousal")):
        kx, b = np.asarray(scale[name]["x"]), scale[name]["boundary"]
        beyond = np.zeros((2, 2))
        beyond[:, j] = [kx[0] - 0.25 * (b - kx[0]), kx[-1] + 0.25 * (kx[-1] - b)]
        out = ss.apply(beyond, scale)[:, j]
        assert -0.95 < out[0] < -0.5 and 0.5 < out[1] < 0.95
