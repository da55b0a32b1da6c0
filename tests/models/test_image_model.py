"""Tests of the image valence–arousal model: shipped weights and a training smoke test."""

from __future__ import annotations

import csv
import json

import cv2
import numpy as np
import pytest

from emobrowser.core import paths
from emobrowser.models.image_model import METRICS_FILE, MODEL_FILE, NORM_FILE, ImageVAModel


def _photo(seed: int, kind: str = "mixed", h: int = 240, w: int = 320) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "bright":
        base = np.array([120, 200, 250], np.float64)  # warm, bright
    elif kind == "dark":
        base = np.array([30, 25, 20], np.float64)
    else:
        base = rng.integers(40, 220, 3).astype(np.float64)
    img = np.ones((h, w, 3)) * base
    for _ in range(5):
        c = tuple(int(v) for v in np.clip(base + rng.normal(0, 40, 3), 0, 255))
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(8, 40)), c, -1)
    return np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)


def test_constructor_is_cheap_and_info():
    from emobrowser.features.image_features import feature_dim
    from emobrowser.models.backbone import backbone_dim

    m = ImageVAModel()
    assert m.info.name == "image-va" and m.info.version == "5" and m.info.modality == "image"
    assert not m.info.interim
    assert m.views() == ("plain", "flip")
    f = m.extract(_photo(0))
    assert f.ndim == 1 and f.dtype == np.float32 and np.all(np.isfinite(f))
    assert f.size == 2 * (backbone_dim() + feature_dim())


def test_soft_bound_keeps_scores_inside_without_a_pile_at_the_ends():
    from emobrowser.models.image_model import soft_bound

    y = np.linspace(-1.3, 1.3, 261, dtype=np.float32)  # the linear scores of unusual photos
    clipped = np.mean(np.abs(np.clip(y, -1, 1)) >= 0.98)  # 25 %
    for knee in (0.75, 0.55):
        out = soft_bound(y, knee)
        assert np.all(np.abs(out) < 1.0)
        assert np.all(np.diff(out) > 0)  # order kept: outliers are ranked, not clipped together
        inside = np.abs(y) <= knee
        np.testing.assert_allclose(out[inside], y[inside])
        assert np.mean(np.abs(out) >= 0.98) < 0.5 * clipped
    assert np.all(np.abs(soft_bound(np.array([-50.0, 50.0]), 0.55)) <= 1.0)


def test_falls_back_to_baseline_without_backbone(tmp_path, monkeypatch):
    """With the head's files but not the backbone's, image-va is unavailable and the
    registry's default image model is the baseline."""
    import shutil

    from emobrowser.models import registry
    from emobrowser.models.backbone import BACKBONE_FILE, BACKBONE_META

    src = paths.models_dir()
    for name in (MODEL_FILE, NORM_FILE, METRICS_FILE, MODEL_FILE.replace(".keras", ".tflite")):
        shutil.copyfile(src / name, tmp_path / name)
    monkeypatch.setenv("EMOBROWSER_MODELS", str(tmp_path))
    monkeypatch.setattr(registry, "_cache", {})
    assert not ImageVAModel.available()
    assert registry.default_names()[0] == "baseline-image"
    assert registry.image_model().info.interim
    shutil.copyfile(src / BACKBONE_FILE, tmp_path / BACKBONE_FILE)
    assert not ImageVAModel.available()  # its list of outputs is missing still
    shutil.copyfile(src / BACKBONE_META, tmp_path / BACKBONE_META)
    assert ImageVAModel.available()
    assert registry.default_names()[0] == "image-va"


def test_the_photo_model_refuses_another_backbone(tmp_path):
    """A model folder whose backbone is not the file the head was trained on (or is
    damaged) fails by name, in the indexing workers (extract) as in predict, and the
    photos that met it are retried on the next run."""
    import shutil

    from emobrowser.core.errors import ModelFileError, environment_failure
    from emobrowser.models.backbone import BACKBONE_FILE, BACKBONE_META

    src = paths.models_dir()
    for name in (MODEL_FILE, NORM_FILE, MODEL_FILE.replace(".keras", ".tflite"), BACKBONE_FILE, BACKBONE_META):
        shutil.copyfile(src / name, tmp_path / name)
    assert json.loads((tmp_path / NORM_FILE).read_text())["backbone_sha256"]
    ImageVAModel(model_dir=tmp_path).extract(_photo(2))  # the shipped files pass
    data = bytearray((tmp_path / BACKBONE_FILE).read_bytes())
    data[-100] ^= 0xFF  # one byte changed
    (tmp_path / BACKBONE_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="image_backbone.tflite is not the backbone the photo model "
                                             "was trained with"):
        ImageVAModel(model_dir=tmp_path).extract(_photo(2))
    with pytest.raises(ModelFileError, match="image_backbone.tflite is not the backbone"):
        ImageVAModel(model_dir=tmp_path).extract_frame(_photo(2))  # video frames too
    with pytest.raises(ModelFileError, match="not the backbone") as caught:
        ImageVAModel(model_dir=tmp_path).predict(np.zeros((1, 10), np.float32))
    assert environment_failure(caught.value).startswith("a model file of this installation cannot be loaded")


@pytest.mark.parametrize("damage", ["garbled", "not an object", "missing"])
def test_a_photo_norm_file_that_cannot_be_read_is_an_installation_fault(tmp_path, damage):
    """In the indexing workers too, so the photos that met it are retried once the
    installation is mended instead of being recorded as failed for good."""
    from emobrowser.core.errors import ModelFileError, environment_failure

    norm = tmp_path / NORM_FILE
    if damage == "garbled":
        norm.write_text('{"views": ["plain"', encoding="utf-8")
    elif damage == "not an object":
        norm.write_text('"plain"', encoding="utf-8")
    with pytest.raises(ModelFileError, match=f"{NORM_FILE} is missing or damaged") as caught:
        ImageVAModel(model_dir=tmp_path).extract(_photo(2))
    assert environment_failure(caught.value).startswith("a model file of this installation cannot be loaded")


def test_extract_does_not_import_tensorflow():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from emobrowser.models.image_model import ImageVAModel\n"
        "m = ImageVAModel(); m.extract(np.zeros((50, 60, 3), np.uint8)); ImageVAModel.available()\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    root = paths.resources_dir().parent
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_shipped_files_present_and_consistent():
    d = paths.models_dir()
    assert ImageVAModel.available()
    norm = json.loads((d / NORM_FILE).read_text())
    from emobrowser.features.image_features import FEATURE_VERSION, feature_dim
    from emobrowser.models.backbone import BACKBONE_FILE, backbone_dim
    from emobrowser.models.runtime import file_digest

    assert norm["version"] == ImageVAModel.info.version == "5"
    assert norm["views"] == ["plain", "flip"]
    assert norm["dim"] == backbone_dim() + feature_dim() == len(norm["mean"]) == len(norm["std"])
    assert norm["dim"] == len(norm["feature_names"])
    assert norm["backbone_dim"] == backbone_dim()
    assert norm["backbone_sha256"] == file_digest(d / BACKBONE_FILE)
    assert norm["feature_version"].endswith(f"+hand-{FEATURE_VERSION}")
    metrics = json.loads((d / METRICS_FILE).read_text())
    assert metrics["version"] == "5"
    assert metrics["cv"]["overall"]["valence"]["r"] > 0.5
    assert metrics["cv_share_at_ends"]["overall"] <= 0.02
    assert metrics["train_share_at_ends"]["overall"] <= 0.02
    size = sum((d / name).stat().st_size for name in (MODEL_FILE, MODEL_FILE.replace(".keras", ".tflite"),
                                                      BACKBONE_FILE))
    assert size < 40_000_000


@pytest.mark.slow
def test_shipped_model_loads_safe_and_predicts():
    import keras

    keras.saving.load_model(paths.models_dir() / MODEL_FILE, safe_mode=True)
    m = ImageVAModel()
    imgs = [_photo(i) for i in range(4)] + [cv2.resize(_photo(9), (1024, 768))]
    feats = np.stack([m.extract(x) for x in imgs])
    out = m.predict(feats)
    assert out.shape == (5, 2) and out.dtype == np.float32
    assert np.all(np.isfinite(out)) and np.all(np.abs(out) <= 1.0)
    assert m.predict(feats[:1]).shape == (1, 2)
    assert m.predict(np.zeros((0, feats.shape[1]), np.float32)).shape == (0, 2)
    # deterministic
    np.testing.assert_allclose(m.predict(feats), out, atol=1e-6)


@pytest.mark.slow
def test_shipped_model_behaviour_is_sane():
    """Robust behaviour checks that need no rated photos.

    * The average picture (standardised features all zero) scores near neutral and inside
      the range of the training labels: checks the normalisation and rescale are wired up.
    * Different pictures get different scores (no collapse to one constant).
    * The same picture at two resolutions (training-size vs. run-time decode size)
      gets nearly the same score, because extract resizes to a fixed working size.
    """
    m = ImageVAModel()
    m._load()
    mean_pred = m.predict(np.tile(m._mean, len(m.views()))[None, :])[0]
    assert np.all(np.abs(mean_pred) < 0.5)
    photos = [_photo(i) for i in range(8)]
    out = m.predict(np.stack([m.extract(p) for p in photos]))
    assert out[:, 0].std() > 0.01 and out[:, 1].std() > 0.01
    small = m.predict(m.extract(photos[0])[None])[0]
    big = m.predict(m.extract(cv2.resize(photos[0], (960, 720), interpolation=cv2.INTER_CUBIC))[None])[0]
    assert np.all(np.abs(small - big) < 0.35)


@pytest.mark.slow
def test_a_photo_and_its_mirror_image_score_alike():
    """Version 4 averages the network over the photo and its mirror image, so a mirrored
    photo (whose two views are the photo's, swapped) gets the photo's score, although the
    network alone tells the two views apart."""
    m = ImageVAModel()
    for i in range(3):
        photo = _photo(60 + i, "bright" if i % 2 else "dark", h=180, w=260)
        mirrored = np.ascontiguousarray(photo[:, ::-1])
        a, b = m.predict(np.stack([m.extract(photo), m.extract(mirrored)]))
        np.testing.assert_allclose(a, b, atol=1e-4)
    f = m.extract(_photo(70, h=180, w=260))
    half = f.size // 2
    one_view = m._load()(m.network_feed(np.concatenate([f[:half], f[:half]])[None]))
    other_view = m._load()(m.network_feed(np.concatenate([f[half:], f[half:]])[None]))
    assert np.abs(one_view - other_view).max() > 1e-3


def test_predict_averages_the_network_over_the_views():
    """predict's output before the rescale is the mean of the network's outputs on the
    views, each standardised on its own (checked against the network called on the
    photo's and on the mirror image's features separately)."""
    from emobrowser.models.image_model import model_features, soft_bound

    m = ImageVAModel()
    photos = [_photo(80 + i, h=150, w=200) for i in range(2)]
    f = np.stack([m.extract(p) for p in photos])
    net = m._load()
    name = net.input_names[0]

    def alone(rows):
        return net({name: ((np.stack(rows) - m._mean) / m._std).astype(np.float32)})

    plain = alone([model_features(p) for p in photos])
    mirror = alone([model_features(np.ascontiguousarray(p[:, ::-1])) for p in photos])
    scale = m.shared_scale()
    m.shared_scale = lambda: None
    expected = soft_bound((plain + mirror) / 2 * m._scale + m._offset, m._knee)
    np.testing.assert_allclose(m.predict(f), expected, atol=1e-5)
    # a video frame's features are one view, the frame alone, and predict scores them so
    frames = np.stack([m.extract_frame(p) for p in photos])
    assert frames.shape == (2, m._mean.size)
    np.testing.assert_allclose(m.predict(frames), soft_bound(plain * m._scale + m._offset, m._knee), atol=1e-5)
    m.shared_scale = lambda: scale
    with pytest.raises(ValueError, match="features"):
        m.predict(f[:, : m._mean.size + 1])


def _tiny_dataset(root, n=12):
    (root / "setA").mkdir(parents=True)
    (root / "setB").mkdir(parents=True)
    rows = []
    for i in range(n):
        kind = "bright" if i % 2 else "dark"
        ds = "setA" if i < n // 2 else "setB"
        name = f"{ds}/img_{i}.jpg"
        cv2.imwrite(str(root / name), _photo(i, kind, h=120 + 10 * i, w=160))
        v = 0.5 if kind == "bright" else -0.5
        rows.append({"file": name, "dataset": ds, "valence": v, "arousal": 0.1 * (i % 3 - 1)})
    with open(root / "ratings.csv", "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=["file", "dataset", "valence", "arousal"])
        wr.writeheader()
        wr.writerows(rows)


@pytest.mark.slow
def test_training_smoke(tmp_path, monkeypatch):
    import keras

    from emobrowser.training import image_data, train_image

    monkeypatch.setattr(image_data, "CACHE_DIR", tmp_path / "cache")
    data, out = tmp_path / "data", tmp_path / "out"
    _tiny_dataset(data)
    metrics = train_image.train(data, out, seed=0, epochs=1, folds=2, log=lambda *a: None,
                                config={"members": 1, "hidden": (32,)})
    from emobrowser.models.backbone import BACKBONE_FILE, BACKBONE_META

    for name in (MODEL_FILE, NORM_FILE, METRICS_FILE, BACKBONE_FILE, BACKBONE_META):
        assert (out / name).is_file()  # the backbone is copied beside the head
    assert "overall" in metrics["cv"] and metrics["n_images"] == 12
    keras.saving.load_model(out / MODEL_FILE, safe_mode=True)
    norm = json.loads((out / NORM_FILE).read_text())
    assert norm["dim"] == len(norm["mean"]) and norm["rescale"]["knee"] > 0
    assert any((tmp_path / "cache").glob("backbone_*.npz"))  # a rerun would read these
    m = ImageVAModel(model_dir=out)
    pred = m.predict(np.stack([m.extract(_photo(50)), m.extract(_photo(51))]))
    assert pred.shape == (2, 2) and np.all(np.isfinite(pred)) and np.all(np.abs(pred) <= 1)
    assert m.backend() == "litert"  # training writes the LiteRT pair that scoring runs
    from emobrowser.training.convert import TOLERANCE, max_difference

    assert max_difference(out / MODEL_FILE, [m.network_feed(np.stack([m.extract(_photo(52))]))]) <= TOLERANCE


def test_fit_linear_is_a_weighted_ridge_in_both_forms():
    """The linear member's ridge: with a tiny penalty it recovers an exact linear relation
    (fewer rows than features: the dual form; more: the primal), weights count like
    repeated rows, and a larger penalty shrinks the coefficients."""
    from emobrowser.training.image_head import fit_linear

    rng = np.random.default_rng(0)
    for n, d in ((40, 60), (200, 30)):
        z = rng.normal(size=(n, d))
        beta = rng.normal(size=(d, 2))
        y = z @ beta + np.array([0.3, -0.2])
        coef, intercept = fit_linear(z, y, np.ones(n), 1e-6)
        assert np.allclose(z @ coef + intercept, y, atol=1e-3)
        assert np.linalg.norm(fit_linear(z, y, np.ones(n), 100.0)[0]) < np.linalg.norm(coef)
    z = rng.normal(size=(50, 8))
    y = rng.normal(size=(50, 2))
    w = rng.integers(1, 4, 50).astype(float)
    weighted = fit_linear(z, y, w, 5.0)
    repeated = fit_linear(np.repeat(z, w.astype(int), axis=0), np.repeat(y, w.astype(int), axis=0),
                          np.ones(int(w.sum())), 5.0 * w.mean())
    assert np.allclose(weighted[0], repeated[0], atol=1e-4) and np.allclose(weighted[1], repeated[1], atol=1e-4)


@pytest.mark.slow
def test_ensemble_averages_the_mlps_with_the_linear_member():
    """With ``linear_alpha`` the saved model's output is the mean of the MLPs' output and
    the ridge regression on all features (a fixed Dense layer "linear"); an output the
    ridge does not join (``linear_outputs``) is half the MLPs' there."""
    import keras

    from emobrowser.training import image_head
    from emobrowser.training.image_data import EMOTIONS, OASIS_CATEGORIES
    from emobrowser.training.train_image import DEFAULTS

    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 20)).astype(np.float32)
    va = np.tanh(x[:, :2] * 0.5).astype(np.float32)
    emo = np.zeros((64, len(EMOTIONS)), np.float32)
    cat = np.zeros((64, len(OASIS_CATEGORIES)), np.float32)
    w = np.ones(64, np.float32)
    coef, intercept = image_head.fit_linear(x, va, w, 10.0)
    for outputs in (("valence", "arousal"), ("arousal",)):
        cfg = dict(DEFAULTS, members=1, hidden=(8,), epochs=1, linear_alpha=10.0, pca=0,
                   linear_outputs=outputs)
        model = image_head.fit_ensemble(x, va, emo, cat, w, cfg, 0, log=lambda *a: None)
        kernel, bias = model.get_layer("linear").get_weights()
        joined = np.array(["valence" in outputs, True])
        assert np.allclose(kernel, coef * joined) and np.allclose(bias, intercept * joined)
        mlp = keras.Model(model.inputs, model.get_layer("va_with_linear").input[0]).predict(x, verbose=0)
        expected = 0.5 * (mlp + (x @ coef + intercept) * joined)
        assert np.allclose(model.predict(x, verbose=0), expected, atol=1e-5)


@pytest.mark.slow
def test_kernel_member_is_an_rbf_kernel_ridge_on_the_projections(tmp_path):
    """The kernel member built from plain layers computes exp(-gamma |p - c|^2) @ coef on
    the principal-axis projections p, mixed in at its share; it saves, loads in safe mode
    and converts to LiteRT like the rest, and it learns what a linear model cannot."""
    import keras

    from emobrowser.training import image_head
    from emobrowser.training.image_data import EMOTIONS, OASIS_CATEGORIES
    from emobrowser.training.train_image import DEFAULTS
    from emobrowser.training.convert import TOLERANCE, write_pair

    rng = np.random.default_rng(2)
    n = 400
    x = rng.normal(size=(n, 12)).astype(np.float32)
    x[:, :3] *= 3.0  # the directions that matter are the principal ones
    va = np.stack([np.cos(0.5 * x[:, 0]), x[:, 1] * x[:, 2] / 9.0], axis=1).astype(np.float32) * 0.5
    emo = np.zeros((n, len(EMOTIONS)), np.float32)
    cat = np.zeros((n, len(OASIS_CATEGORIES)), np.float32)
    w = np.ones(n, np.float32)
    cfg = dict(DEFAULTS, members=1, hidden=(8,), epochs=1, pca=6, linear_alpha=0,
               kernel_centres=120, kernel_alpha=0.1, kernel_share=0.2)
    projection = image_head.pca_projection(x, 6, 0)
    model = image_head.fit_ensemble(x, va, emo, cat, w, cfg, 0, log=lambda *a: None, projection=projection)
    p = x @ projection
    centres, gamma = image_head.kernel_centres(p, 120, 1.0, 0)
    coef, intercept = image_head.fit_linear(image_head.rbf_features(p, centres, gamma), va, w, 0.1)
    kernel = image_head.rbf_features(p, centres, gamma) @ coef + intercept
    heads = keras.Model(model.inputs, model.get_layer("va_with_kernel").input[0]).predict(x, verbose=0)
    expected = 0.5 * (heads + 0.25 * kernel)  # share 0.2: the kernel's weight is 0.2 / 0.8
    assert np.allclose(model.predict(x, verbose=0), expected, atol=1e-4)
    # the kernel part fits the non-linear targets far better than a ridge on the features
    linear = x @ image_head.fit_linear(x, va, w, 0.1)[0]
    assert np.corrcoef(kernel[:, 0], va[:, 0])[0, 1] > 0.8 > abs(np.corrcoef(linear[:, 0], va[:, 0])[0, 1]) + 0.5
    model.save(tmp_path / "m.keras")
    again = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    assert np.allclose(again.predict(x[:20], verbose=0), model.predict(x[:20], verbose=0), atol=1e-6)
    assert write_pair(tmp_path / "m.keras")["max_abs_diff"] <= TOLERANCE


def test_training_augmentations_crop_the_centre_and_mirror():
    from emobrowser.training.image_data import augment_image

    img = np.random.default_rng(3).integers(0, 256, (200, 120, 3)).astype(np.uint8)
    np.testing.assert_array_equal(augment_image(img, "flip"), img[:, ::-1])
    crop = augment_image(img, "crop")
    np.testing.assert_array_equal(crop, img[15:185, 9:111])  # the central 85 % of each side
    np.testing.assert_array_equal(augment_image(img, "crop70"), img[30:170, 18:102])
    np.testing.assert_array_equal(augment_image(img, "cropflip"), crop[:, ::-1])
    np.testing.assert_array_equal(augment_image(img, "crop70flip"), img[30:170, 18:102][:, ::-1])
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment_image(img, "rotate")


def test_a_norm_file_asking_for_an_unknown_view_is_refused_by_name(tmp_path):
    import shutil

    from emobrowser.models.backbone import BACKBONE_FILE, BACKBONE_META

    for name in (BACKBONE_FILE, BACKBONE_META):
        shutil.copyfile(paths.models_dir() / name, tmp_path / name)
    norm = json.loads((paths.models_dir() / NORM_FILE).read_text())
    norm["views"] = ["plain", "rotate90"]
    (tmp_path / NORM_FILE).write_text(json.dumps(norm))
    with pytest.raises(ValueError, match=r"cannot compute: \['rotate90'\]"):
        ImageVAModel(model_dir=tmp_path).extract(_photo(1))
    del norm["views"]  # a file from before version 4: the photo alone
    (tmp_path / NORM_FILE).write_text(json.dumps(norm))
    assert ImageVAModel(model_dir=tmp_path).views() == ("plain",)
