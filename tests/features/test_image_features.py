"""Tests of the hand-crafted image features (no TensorFlow needed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from emobrowser.features import image_features as F


def _scene(seed: int = 0, h: int = 240, w: int = 320) -> np.ndarray:
    """A synthetic photo: gradient sky, textured ground, a few filled shapes, noise."""
    rng = np.random.default_rng(seed)
    img = np.zeros((h, w, 3), np.uint8)
    sky = np.linspace(230, 120, h // 2).astype(np.uint8)
    img[: h // 2, :, 0] = sky[:, None]
    img[: h // 2, :, 1] = (sky * 0.8).astype(np.uint8)[:, None]
    img[: h // 2, :, 2] = (sky * 0.5).astype(np.uint8)[:, None]
    img[h // 2:] = (40, 120, 60)
    for _ in range(6):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(10, 50)), c, -1)
        cv2.rectangle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))),
                      (int(rng.integers(0, w)), int(rng.integers(0, h))), c, 3)
    noise = rng.normal(0, 12, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def test_feature_vector_shape_and_names():
    f = F.image_features(_scene())
    assert f.dtype == np.float32 and f.ndim == 1
    assert f.size == F.feature_dim() == len(F.feature_names())
    assert np.all(np.isfinite(f))
    groups = F.feature_groups()
    assert groups["gist"][1] - groups["gist"][0] == 512
    assert groups["lbp"][1] - groups["lbp"][0] == 5 * 59


@pytest.mark.parametrize("shape", [(50, 40, 3), (240, 320, 3), (768, 1024, 3), (300, 20, 3)])
def test_any_size_gives_same_dim(shape):
    img = np.random.default_rng(1).integers(0, 255, shape, dtype=np.uint8)
    assert F.image_features(img).shape == (F.feature_dim(),)


@pytest.mark.parametrize("shape", [(1, 4000, 3), (4000, 1, 3), (2, 900, 3), (3, 3000, 3), (1, 1, 3)])
def test_panorama_strips_give_every_feature_without_empty_cells(shape):
    """A strip a few pixels high shrinks to one or two rows at the working size: every
    grid cell and the centre still hold pixels, so no feature is the mean of nothing."""
    import warnings

    img = np.random.default_rng(2).integers(0, 255, shape, dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns on the mean of an empty slice
        f = F.image_features(img)
    assert f.shape == (F.feature_dim(),) and np.isfinite(f).all()
    a = np.arange(12.0).reshape(1, 12)  # one row, 3 x 3 grid: the rows are shared
    assert np.allclose(F._grid_means(a, 3), np.tile([1.5, 5.5, 9.5], 3))


def test_grey_and_bgra_and_flat_inputs():
    img = _scene()
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(img, cv2.COLOR_BGR2BGRA)
    assert F.image_features(grey).shape == (F.feature_dim(),)
    np.testing.assert_allclose(F.image_features(bgra), F.image_features(img))
    for value in (0, 255):
        flat = np.full((100, 150, 3), value, np.uint8)
        assert np.all(np.isfinite(F.image_features(flat)))


def test_lbp_histogram_sums_to_one():
    gray = cv2.cvtColor(_scene(2), cv2.COLOR_BGR2GRAY)
    h = F.lbp_histogram(gray)
    assert h.shape == (59,)
    assert h.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.all(h >= 0)
    grid = F.lbp_features(gray)
    assert grid.reshape(5, 59).sum(axis=1) == pytest.approx(np.ones(5), abs=1e-5)


def test_lbp_flat_image_is_single_uniform_pattern():
    h = F.lbp_histogram(np.full((32, 32), 128, np.uint8))
    assert h.max() == pytest.approx(1.0)


def test_gist_stable_under_jpeg_reencoding():
    img = _scene(3)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
    assert ok
    again = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
    a, b = F.gist_features(gray), F.gist_features(again)
    assert a.shape == (512,)
    assert _cos(a, b) > 0.98
    assert np.corrcoef(np.log(a + 1e-3), np.log(b + 1e-3))[0, 1] > 0.95
    other = F.gist_features(cv2.cvtColor(_scene(4), cv2.COLOR_BGR2GRAY))
    # a different picture is further away than the re-encoded one
    assert np.linalg.norm(a - b) < np.linalg.norm(a - other)


def test_full_features_stable_under_resize_and_jpeg():
    """The run-time path (bigger decode, resized to the working size) matches training."""
    img = _scene(5)
    big = cv2.resize(img, (1024, 768), interpolation=cv2.INTER_CUBIC)
    ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, 85])
    f1 = F.image_features(img)
    f2 = F.image_features(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    assert np.corrcoef(f1, f2)[0, 1] > 0.97


def test_colour_features_follow_brightness_and_saturation():
    dark = np.full((64, 64, 3), 30, np.uint8)
    bright = np.full((64, 64, 3), 220, np.uint8)
    vivid = np.zeros((64, 64, 3), np.uint8)
    vivid[..., 2] = 255  # pure red
    cd, cb, cv = (F.colour_features(x) for x in (dark, bright, vivid))
    assert cb[0] > cd[0]  # brightness
    assert cv[1] > cb[1]  # saturation
    assert cv[5] > cb[5]  # colourfulness
    assert F.colourfulness(bright) == pytest.approx(0.0, abs=1e-6)


def test_features_are_fast_enough():
    import time

    img = _scene(6)
    big = cv2.resize(img, (1024, 768))
    F.image_features(big)
    t = time.perf_counter()
    for _ in range(5):
        F.image_features(big)
    per_image = (time.perf_counter() - t) / 5
    assert per_image < 0.25  # generous: ~20 ms on the dev machine, CI may be slower
