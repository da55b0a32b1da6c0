"""Alignment methods and the stored transform: recovery, no collapse, identity, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from emobrowser.align import methods
from emobrowser.align.transform import IDENTITY, SETTING_KEY, Transform, active_transform

ANGLE, SCALE, SHIFT = 25.0, 0.8, (0.1, -0.05)


def _anchors(n: int = 200, noise: float = 0.0, seed: int = 0):
    """Audio values, and image values that are a known similarity transform of them."""
    rng = np.random.default_rng(seed)
    audio = rng.uniform(-0.45, 0.45, (n, 2))
    # image = inverse of (rotate ANGLE, scale SCALE, shift SHIFT); the alignment must find the forward map.
    t = np.radians(ANGLE)
    rotation = np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]])
    image = ((audio - SHIFT) / SCALE) @ rotation.T + rng.normal(0, noise, (n, 2))
    return image, audio


def test_identity_is_exactly_identity():
    values = np.random.default_rng(1).uniform(-1, 1, (50, 2))
    transform = methods.fit_identity(values, values[::-1])
    assert transform.is_identity
    out = transform.apply(values)
    assert np.array_equal(out, values)
    assert out is not values
    assert np.array_equal(IDENTITY.apply(values[0]), values[0])


def test_procrustes_recovers_rotation_scale_shift():
    image, audio = _anchors()
    assert np.abs(image).max() <= 1.0
    transform = methods.fit_procrustes(image, audio)
    p = transform.params
    assert p["angle_degrees"] == pytest.approx(ANGLE, abs=1e-6)
    assert p["scale"] == pytest.approx(SCALE, abs=1e-9)
    assert p["translation"] == pytest.approx(list(SHIFT), abs=1e-9)
    assert np.abs(transform.apply(image) - audio).max() < 1e-9
    assert methods.procrustes_disparity(image, audio) == pytest.approx(0.0, abs=1e-12)


def test_procrustes_with_noise_and_no_reflection():
    image, audio = _anchors(noise=0.05)
    p = methods.fit_procrustes(image, audio).params
    assert p["angle_degrees"] == pytest.approx(ANGLE, abs=3.0)
    assert p["scale"] == pytest.approx(SCALE, rel=0.08)
    # A mirrored image space is answered with a proper rotation unless reflections are allowed.
    mirrored = image * np.array([-1.0, 1.0])
    assert np.linalg.det(np.asarray(methods.fit_procrustes(mirrored, audio).params["rotation"])) > 0
    assert np.linalg.det(np.asarray(methods.fit_procrustes(mirrored, audio, allow_reflection=True)
                                    .params["rotation"])) < 0


def test_procrustes_keeps_the_photos_spread_on_noisy_anchors():
    # photos that are a pure rotation of the songs, seen through heavy noise: a
    # least-squares scale would pull them towards the centre (0.58 here)
    rng = np.random.default_rng(7)
    audio = rng.uniform(-0.8, 0.8, (400, 2))
    t = np.radians(45.0)
    image = audio @ np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) + rng.normal(0, 0.5, (400, 2))
    fitted = methods.fit_procrustes(image, audio)
    assert fitted.params["angle_degrees"] == pytest.approx(45.0, abs=8.0)
    mapped = fitted.apply(image)
    assert np.linalg.norm(mapped - mapped.mean(0)) == pytest.approx(np.linalg.norm(audio - audio.mean(0)), rel=0.1)


def test_a_mirror_image_is_perfect_only_when_reflections_count():
    image, audio = _anchors()
    mirrored = image * np.array([-1.0, 1.0])  # valence flipped: no alignment may undo this
    assert methods.procrustes_disparity(mirrored, audio) == pytest.approx(0.0, abs=1e-12)
    assert methods.procrustes_disparity(mirrored, audio, allow_reflection=False) > 0.3
    # unmirrored, both agree (scipy's own figure and the proper-rotation one)
    assert methods.procrustes_disparity(image, audio, allow_reflection=False) == pytest.approx(0.0, abs=1e-12)
    noisy, audio2 = _anchors(noise=0.1, seed=2)
    assert methods.procrustes_disparity(noisy, audio2, allow_reflection=False) == pytest.approx(
        methods.procrustes_disparity(noisy, audio2), abs=1e-12)


def test_procrustes_disparity_of_unrelated_points_is_large():
    rng = np.random.default_rng(3)
    assert methods.procrustes_disparity(rng.uniform(-1, 1, (100, 2)), rng.uniform(-1, 1, (100, 2))) > 0.8
    assert methods.procrustes_disparity(np.zeros((10, 2)), rng.uniform(-1, 1, (10, 2))) is None


def test_statistical_matches_moments_and_uses_library_values():
    rng = np.random.default_rng(4)
    image = rng.normal(0.3, 0.1, (300, 2))
    audio = rng.normal(-0.1, 0.3, (300, 2))
    out = methods.fit_statistical(image, audio).apply(image)
    assert out.mean(axis=0) == pytest.approx(audio.mean(axis=0), abs=0.02)
    assert out.std(axis=0) == pytest.approx(audio.std(axis=0), rel=0.05)
    # Extra (unmatched) photo and song values shift the fitted distributions.
    with_library = methods.fit_statistical(image, audio, extra_image=np.full((300, 2), 0.3),
                                           extra_audio=np.full((300, 2), 0.5))
    assert with_library.params["fitted_on"] == [600, 600]
    assert with_library.params["audio_mean"][0] == pytest.approx((audio[:, 0].mean() + 0.5) / 2)


def test_quantile_is_monotone_and_matches_distribution():
    rng = np.random.default_rng(5)
    image = rng.uniform(-0.2, 0.6, (400, 2))
    audio = np.tanh(rng.normal(0, 0.5, (400, 2)))
    transform = methods.fit_quantile(image, audio)
    grid = np.column_stack([np.linspace(-1, 1, 101)] * 2)
    mapped = transform.apply(grid)
    assert np.all(np.diff(mapped, axis=0) >= 0)
    out = transform.apply(image)
    assert np.median(out, axis=0) == pytest.approx(np.median(audio, axis=0), abs=0.05)


def test_transforms_clip_to_common_scale():
    transform = Transform("affine", {"matrix": [[3.0, 0.0], [0.0, 3.0]], "offset": [0.5, -0.5]})
    out = transform.apply(np.array([[0.9, -0.9], [0.0, 0.0]]))
    assert out.min() >= -1.0 and out.max() <= 1.0
    assert out[1].tolist() == [0.5, -0.5]


def test_learned_recovers_map_and_does_not_collapse():
    image, audio = _anchors(n=150, noise=0.02)
    transform = methods.fit_learned(image, audio, seed=0, steps=400)
    assert transform.kind == "mlp"
    out = transform.apply(image)
    # Approximately the true map...
    assert np.mean(np.linalg.norm(out - audio, axis=1)) < 0.06
    # ...keeping the spread of the reference (no collapse to a point or a line)...
    assert out.var(axis=0) == pytest.approx(audio.var(axis=0), rel=0.2)
    assert np.linalg.eigvalsh(np.cov(out.T)).min() > 0.5 * np.linalg.eigvalsh(np.cov(audio.T)).min()
    # ...distinct inputs stay distinct...
    pairwise = np.linalg.norm(out[:, None] - out[None], axis=2)[np.triu_indices(len(out), 1)]
    assert pairwise.min() > 1e-4
    # ...and f1 stayed close to the identity, so audio values need no mapping.
    assert transform.params["f1_deviation"] < 0.05
    # Stored without pickle: JSON round trip, then applied with NumPy only.
    again = Transform.from_dict(json.loads(json.dumps(transform.to_dict())))
    assert np.allclose(again.apply(image), out)


def test_learned_with_unrelated_anchors_keeps_spread():
    """With anchors that carry no signal, a regression would shrink every image to the mean."""
    rng = np.random.default_rng(6)
    image, audio = rng.uniform(-0.7, 0.7, (120, 2)), rng.uniform(-0.7, 0.7, (120, 2))
    out = methods.fit_learned(image, audio, seed=1, steps=300).apply(image)
    assert out.var(axis=0) == pytest.approx(audio.var(axis=0), rel=0.35)


def test_active_transform(store):
    models = {"image": ("img", "2"), "audio": ("aud", "1")}
    assert active_transform(store, models) is IDENTITY
    image, audio = _anchors()
    fitted = methods.fit_procrustes(image, audio)
    fitted.models = {"image": ["img", "2"], "audio": ["aud", "1"]}
    fitted.version = 3
    store.set_setting(SETTING_KEY, json.dumps(fitted.to_dict()))
    active = active_transform(store, models)
    assert active.version == 3 and active.method == "procrustes"
    assert np.allclose(active.apply(image), audio)
    assert active_transform(store, models) is active  # parsed once, cached by the stored text
    # Fitted for another image model version: identity.
    assert active_transform(store, {"image": ("img", "3"), "audio": ("aud", "1")}) is IDENTITY
    # A damaged setting never breaks browsing.
    store.set_setting(SETTING_KEY, "{not json")
    assert active_transform(store, models) is IDENTITY


def test_no_pickle_in_align_package():
    from pathlib import Path

    import emobrowser.align as pkg

    for path in Path(pkg.__file__).parent.glob("*.py"):
        text = path.read_text()
        assert "pickle" not in text.replace("without pickle", "").replace("never pickled", "").replace(
            "no pickle", "").replace("WITHOUT pickle", ""), path.name
        assert "import tensorflow" not in text.split("def ", 1)[0], path.name
