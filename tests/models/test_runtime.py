"""Scoring runs on LiteRT; Keras is the fallback, and the two agree."""

from __future__ import annotations

import json
import logging
import shutil
import sys

import numpy as np
import pytest

from emobrowser.core.errors import ModelError
from emobrowser.core.paths import models_dir
from emobrowser.media import synth
from emobrowser.models import runtime
from emobrowser.models.audio_model import AudioVAModel
from emobrowser.training.convert import TOLERANCE, max_difference
from emobrowser.models.image_model import ImageVAModel


# what the shipped image model's extract returns: one feature vector per view of a photo
_NORM = json.loads((models_dir() / "image_va_norm.json").read_text())
IMAGE_DIM = _NORM["dim"] * len(_NORM.get("views") or ["plain"])


def _copy_models(dest, *names):
    dest.mkdir(exist_ok=True)
    for name in names:
        shutil.copy2(models_dir() / name, dest / name)
    return dest


def _image_features(n=6):
    model = ImageVAModel()
    kinds = ["warm", "dark", "vivid", "face", "cool", "grey"]
    return np.stack([model.extract(synth.draw_image(kinds[i % len(kinds)], (120, 160), seed=i))
                     for i in range(n)])


@pytest.mark.slow
def test_shipped_pairs_agree_on_real_inputs():
    image = ImageVAModel()
    assert max_difference(models_dir() / "image_va.keras", [image.network_feed(_image_features())]) <= TOLERANCE

    audio = AudioVAModel()
    feats = audio.extract(synth.synth_music(8.0, bpm=140, loudness=0.8), 22050)
    rows = np.vstack([feats.whole[None, :], feats.frames])
    assert audio.backend() == "litert"
    feeds, _silent = audio.network_feeds(rows)
    assert max_difference(models_dir() / "audio_va.keras", feeds) <= TOLERANCE


def test_scoring_uses_litert_without_importing_tensorflow():
    code = ("import sys, numpy as np; from emobrowser.models.image_model import ImageVAModel; "
            f"m = ImageVAModel(); m.predict(np.zeros((2, {IMAGE_DIM}), np.float32)); "
            "print(m.backend(), 'tensorflow' in sys.modules, 'keras' in sys.modules)")
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["litert", "False", "False"]
    assert "XNNPACK" not in out.stderr  # LiteRT's native notice is not shown to users


@pytest.mark.slow
def test_a_missing_or_damaged_tflite_falls_back_to_keras_and_says_why(tmp_path, caplog):
    f = _image_features(3)
    expected = ImageVAModel().predict(f)
    folder = _copy_models(tmp_path / "m", "image_va.keras", "image_va_norm.json", "shared_scale.json",
                          "image_backbone.tflite")  # the head checks its backbone when it loads
    with caplog.at_level(logging.WARNING, logger="emobrowser.models.runtime"):
        model = ImageVAModel(model_dir=folder)
        got = model.predict(f)
    assert model.backend() == "keras"
    assert "image_va.tflite is missing" in caplog.text
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)

    (folder / "image_va.tflite").write_bytes(b"TFL3" + bytes(200))
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="emobrowser.models.runtime"):
        model = ImageVAModel(model_dir=folder)
        got = model.predict(f)
    assert model.backend() == "keras" and "LiteRT could not load image_va.tflite" in caplog.text
    np.testing.assert_allclose(got, expected, atol=TOLERANCE)


def test_without_litert_file_or_tensorflow_the_error_says_what_to_install(tmp_path, monkeypatch):
    folder = _copy_models(tmp_path / "m", "image_va.keras", "image_va_norm.json", "image_backbone.tflite")
    monkeypatch.setattr(runtime, "tensorflow_available", lambda: False)
    with pytest.raises(ModelError, match=r"image_va.tflite is missing; TensorFlow is not installed "
                                         r"\(install the training extra"):
        ImageVAModel(model_dir=folder).predict(np.zeros((1, IMAGE_DIM), np.float32))
    assert not ImageVAModel.available() or (models_dir() / "image_va.tflite").is_file()


def test_thread_count_follows_the_setting(monkeypatch):
    monkeypatch.setattr(runtime, "_threads", 1)
    net = runtime.load_network(models_dir() / "image_va.keras")
    x = {"features": np.zeros((2, _NORM["dim"]), np.float32)}  # the network takes one view a row
    one = net(x)
    assert net._threads == 1
    runtime.set_threads(2)
    two = net(x)
    assert net._threads == 2  # rebuilt with the new count at the next call
    np.testing.assert_allclose(one, two, atol=1e-6)
    runtime.set_threads(0)
    assert runtime.threads() == 1


def test_indexing_sets_the_threads_from_its_workers(store, tmp_path, monkeypatch):
    from emobrowser.index.pipeline import index_library

    monkeypatch.setattr(runtime, "_threads", 1)
    root = tmp_path / "lib"
    root.mkdir()
    synth.write_image(root / "a.png", synth.draw_image("warm", (40, 40)))
    index_library(store, [str(root)], workers=2, image_model="baseline", audio_model="baseline")
    assert runtime.threads() == 2


_BLOCK_TENSORFLOW = """
import sys

class _NoTensorFlow:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "keras", "h5py"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, _NoTensorFlow())
"""


@pytest.mark.slow
def test_the_self_test_passes_without_tensorflow(tmp_path):
    """What `pip install .` gives: no TensorFlow at all; the app still scores, on LiteRT."""
    import json
    import os
    import subprocess

    code = _BLOCK_TENSORFLOW + "from emobrowser.selftest import run_self_test; sys.exit(run_self_test())"
    env = {**os.environ, "EMOBROWSER_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=900)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0, summary
    assert summary["backends"] == {"image": "litert", "audio": "litert"}
    assert summary["tensorflow_loaded"] is False and summary["import_failures"] == []


def test_the_runtime_dependencies_leave_tensorflow_to_the_train_extra():
    import tomllib

    from conftest import REPO

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    names = [d.split("==")[0].split(">")[0].lower() for d in project["dependencies"]]
    assert "ai-edge-litert" in names
    assert not {"tensorflow", "tensorflow-cpu", "keras", "h5py"} & set(names)
    assert any(d.startswith("tensorflow") for d in project["optional-dependencies"]["train"])
