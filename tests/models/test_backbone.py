"""The photo model's pretrained backbone: the shipped LiteRT file, and the conversion
script's parsing, dequantization and integrity check (no npm or network needed)."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO
from emobrowser.core import paths
from emobrowser.media.synth import draw_image
from emobrowser.models import backbone


def _converter():
    spec = importlib.util.spec_from_file_location("convert_backbone", REPO / "packaging" / "convert_backbone.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_backbone_gives_finite_deterministic_features_of_its_size():
    assert backbone.backbone_available()
    dim = backbone.backbone_dim()
    meta = json.loads((paths.models_dir() / backbone.BACKBONE_META).read_text())
    assert dim == meta["dim"] and meta["source"]["package"] == "nsfwjs@4.4.0"
    conv = _converter()
    agreement = {k: meta[f"{k}_keras_litert"] for k in ("max_abs_diff", "max_rel_diff", "min_correlation")}
    assert conv.check_agreement(agreement, quantized=meta["weights"] != "float32") is None
    a = backbone.backbone_features(draw_image("warm", seed=1))
    b = backbone.backbone_features(draw_image("cool", size=(480, 640), seed=2))
    assert a.shape == b.shape == (dim,) and a.dtype == np.float32
    assert np.all(np.isfinite(a)) and np.all(a >= 0) and a.max() > 0
    assert np.abs(a - b).max() > 1e-3  # different pictures, different features
    np.testing.assert_array_equal(backbone.backbone_features(draw_image("warm", seed=1)), a)


def test_backbone_input_is_rgb_in_unit_range():
    bgr = np.zeros((30, 50, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in BGR
    x = backbone.backbone_input(bgr)
    assert x.shape == (1, 224, 224, 3) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, 0, 0], [0.0, 0.0, 1.0])
    assert backbone.backbone_input(np.full((20, 20), 128, np.uint8)).shape == (1, 224, 224, 3)


def test_backbone_runs_without_tensorflow():
    code = (
        "import sys\n"
        "from emobrowser.media.synth import draw_image\n"
        "from emobrowser.models.backbone import backbone_features\n"
        "from emobrowser.models.backbone import backbone_dim\n"
        "assert backbone_features(draw_image('vivid')).size == backbone_dim()\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_parse_js_literal_reads_minified_object_literals():
    conv = _converter()
    text = 'a.exports={name:"x",n:[1,-2.5,.5,1e-3,3e2],ok:!0,no:!1,z:null,"q k":{s:\'y\'}};'
    value, end = conv.parse_js_literal(text, text.index("{"))
    assert value == {"name": "x", "n": [1, -2.5, 0.5, 1e-3, 300.0], "ok": True, "no": False, "z": None,
                     "q k": {"s": "y"}}
    assert text[end] == ";"
    with pytest.raises(ValueError):
        conv.parse_js_literal("{a:function(){}}")


def test_dequantize_applies_scale_and_min_in_manifest_order(tmp_path):
    conv = _converter()
    manifest = [{"paths": ["s1", "s2"], "weights": [
        {"name": "a/kernel", "shape": [2, 2], "dtype": "float32",
         "quantization": {"min": -1.0, "scale": 0.5, "dtype": "uint8"}},
        {"name": "b/bias", "shape": [3], "dtype": "float32",
         "quantization": {"min": 2.0, "scale": 0.25, "dtype": "uint8"}}]}]
    shards = {"s1": bytes([0, 1, 2]), "s2": bytes([4, 0, 1, 8])}
    w = conv.dequantize(manifest, shards.__getitem__)
    np.testing.assert_allclose(w["a/kernel"], [[-1.0, -0.5], [0.0, 1.0]])
    np.testing.assert_allclose(w["b/bias"], [2.0, 2.25, 4.0])
    shards["s2"] += b"\0"  # bytes left over: the manifest does not describe the shards
    with pytest.raises(ValueError):
        conv.dequantize(manifest, shards.__getitem__)


def test_shard_reader_decodes_the_base64_literal(tmp_path):
    conv = _converter()
    payload = bytes(range(256)) * 2
    js = tmp_path / "group1-shard1of1.min.js"
    js.write_text('!function(e){module.exports=e()}(function(){return function(){a.exports="'
                  + base64.b64encode(payload).decode() + '"}});')
    assert conv.read_shard_js(js) == payload


def test_integrity_check_rejects_another_tarball(tmp_path):
    conv = _converter()
    fake = tmp_path / "nsfwjs-4.4.0.tgz"
    fake.write_bytes(b"not the published tarball")
    with pytest.raises(ValueError, match="integrity"):
        conv.check_integrity(fake)
    digest = base64.b64decode(conv.INTEGRITY.split("-", 1)[1])
    assert len(digest) == hashlib.sha512().digest_size


def test_conversion_check_holds_quantized_weights_to_correlation_and_relative_difference():
    conv = _converter()
    rng = np.random.default_rng(0)
    ref = rng.gamma(1.0, 1.0, (4, 20000))
    close = ref * (1 + rng.normal(0, 0.01, ref.shape))
    agreement = conv.compare(ref, close)
    assert agreement["min_correlation"] > 0.999 and agreement["max_rel_diff"] < 0.1
    assert conv.check_agreement(agreement, quantized=True) is None
    # a float32 file is held to 1e-4, which the same numbers fail
    assert "max difference" in conv.check_agreement(agreement, quantized=False)
    # one probe whose features are scrambled fails on its correlation
    scrambled = close.copy()
    scrambled[2] = rng.permutation(scrambled[2])
    assert "correlation" in conv.check_agreement(conv.compare(ref, scrambled), quantized=True)
    # a feature off by far more than the rest fails on the relative difference
    spiked = close.copy()
    spiked[1, 7] += 0.5 * ref.max()
    assert "relative difference" in conv.check_agreement(conv.compare(ref, spiked), quantized=True)
