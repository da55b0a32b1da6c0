"""Rebuild the photo model's pretrained backbone (``resources/models/image_backbone.tflite``)
from the npm package ``nsfwjs`` 4.4.0.

Why here, in ``packaging/``: this is a build step run by developers (it needs npm's
tarball and TensorFlow), like the icon script beside it. The app never runs it and never
needs npm: it ships only the resulting ``.tflite`` file, which LiteRT runs without
TensorFlow. Keeping it out of the ``emobrowser`` package keeps it out of the wheel.

    npm pack nsfwjs@4.4.0                     # writes nsfwjs-4.4.0.tgz (24.9 MB)
    python packaging/convert_backbone.py --tgz nsfwjs-4.4.0.tgz
    # or let the script run `npm pack` itself into a temporary folder:
    python packaging/convert_backbone.py

Steps, in order:

1. **Get the tarball.** ``--tgz`` names one made by ``npm pack nsfwjs@4.4.0``; without
   it the script runs that command in a temporary folder (npm is needed only here).
2. **Check its integrity.** The sha512 of the ``.tgz`` must equal the integrity hash the
   npm registry publishes for nsfwjs 4.4.0 (``npm view nsfwjs@4.4.0 dist.integrity``),
   hard-coded below as ``INTEGRITY``. A mismatch stops the script.
3. **Read the model files without executing JavaScript.** For each of nsfwjs's
   ``package/dist/models/mobilenet_v2/`` and ``package/dist/models/inception_v3/``:
   ``model.min.js`` is a UMD module whose factory returns an object literal
   (TensorFlow.js's ``model.json``: the Keras topology and the ``weightsManifest``).
   It is JavaScript, not JSON (unquoted keys, ``!0``/``!1`` for true/false, ``.5``), so a
   small literal parser (:func:`parse_js_literal`) reads the literal after ``exports=``.
   Each ``group1-shard*.min.js`` holds one string literal, the shard's bytes in base64;
   the shards are decoded and joined in the manifest's ``paths`` order.
4. **Dequantize.** Every tensor in the manifest is uint8-quantized: ``value = q * scale
   + min`` with its own ``scale`` and ``min``; tensors follow each other in the joined
   bytes in manifest order, one byte per element (float32 tensors, if any, 4 bytes).
5. **Load into Keras** (no download: ``weights=None``).
   ``keras.applications.MobileNetV2(alpha=1.0, include_top=False)``: every weight is set
   by name ``layer/variable`` (``Conv1/kernel``, ``bn_Conv1/moving_mean``; nsfwjs's
   ``…/depthwise_kernel`` is Keras 3's ``kernel`` of a DepthwiseConv2D). Every variable
   must be found with the same shape, and every manifest tensor used except nsfwjs's own
   classifier (``dense_*``). ``keras.applications.InceptionV3(include_top=False)``:
   the 94 Conv2D and 94 BatchNormalization layers are matched by creation order
   (:func:`build_inception`), every shape checked.
6. **Cut and pool.** Each network is cut at mid-level layers (``LAYERS``,
   ``INCEPTION_LAYERS``; the last layers are fitted to nsfwjs's own task and carry less
   about mood); each layer's output is global-average pooled and all are concatenated
   into one output ``(n, 5472)`` = MobileNetV2 192 + 384 + 576 + 960, InceptionV3
   288 + 768 + 768 + 768 + 768. Both read the same input: RGB in [0, 1], 224 × 224.
   ``--no-inception`` builds the MobileNetV2 part alone (2112 values).
7. **Write LiteRT** with int8 weights: ``emobrowser.models.runtime.convert_to_tflite``
   with LiteRT's dynamic-range quantization (weights stored as int8 per channel,
   activations computed in float32, products in int8 with a per-row scale chosen at run
   time) writes ``image_backbone.tflite`` (10.6 MB; float32 would be 40.6 MB, float16
   20.4 MB and 2.3 times slower) into ``resources/models`` (``--out``), and
   ``image_backbone.json`` records the layers, sizes, input scaling and origin.
   nsfwjs's own weights are 8-bit already (step 4), so little is lost; the photo model is
   trained on the features of this very file, so training and scoring agree.
   ``--float32`` writes the unquantized file instead.
8. **Check.** The LiteRT file and the Keras model must agree on the scenes
   ``emobrowser.media.synth.draw_image`` draws, plus uniform noise: within 1e-4 (max
   absolute difference) for float32; with int8 weights, each probe's features must
   correlate with Keras's at ≥ 0.999 and differ by at most 10 % of their largest value
   (measured: 0.9996 and 4.7 %). Otherwise the ``.tflite`` is deleted and the script fails.

The weights are nsfwjs's (MIT licence, Infinite Red), fine-tuned from the ImageNet
weights of ``keras.applications`` (Apache 2.0); see ``resources/THIRD_PARTY_NOTICES.md``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "nsfwjs"
VERSION = "4.4.0"
# `npm view nsfwjs@4.4.0 dist.integrity`
INTEGRITY = "sha512-krC1fgeTLXtZwgdpKJ0jm7hqv0gTSRQQRL+FhOaxaJ9Wj92t42BO3csO2odwgTAgZgf2RvkwPtp0R8Aa7dc+MA=="
MODEL_DIR = "package/dist/models/mobilenet_v2"
INPUT_SIZE = 224
# Mid-level layers, global-average pooled (channels): 192 + 384 + 576 + 960 = 2112.
LAYERS = ("block_6_expand_relu", "block_10_expand_relu", "block_13_expand_relu", "block_15_expand_relu")
# InceptionV3, cut at five mid-level layers: 288 + 768 * 4 = 3360. It runs at 224 px from
# the same input as MobileNetV2 (299 px would cost 1.8x the time). mixed5-mixed7 added
# 0.02 valence r to the photo model (docs/model_card_image.md); mixed8 and later are
# fitted to nsfwjs's task and were no better.
INCEPTION_DIR = "package/dist/models/inception_v3"
INCEPTION_LAYERS = ("mixed2", "mixed4", "mixed5", "mixed6", "mixed7")
OUT_NAME = "image_backbone"
TOLERANCE = 1e-4  # float32 file
MIN_CORRELATION = 0.999  # int8 weights: per probe image, LiteRT against Keras
MAX_RELATIVE_DIFF = 0.1  # int8 weights: max |difference| / max |Keras feature|
ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- 1-2 tarball
def npm_pack(dest: Path) -> Path:
    """Run ``npm pack nsfwjs@4.4.0`` in ``dest``; return the .tgz path."""
    subprocess.run(["npm", "pack", f"{PACKAGE}@{VERSION}"], cwd=dest, check=True,
                   stdout=subprocess.DEVNULL)
    return dest / f"{PACKAGE}-{VERSION}.tgz"


def check_integrity(tgz: Path) -> str:
    """Raise ValueError unless the sha512 of ``tgz`` equals the published ``INTEGRITY``."""
    digest = "sha512-" + base64.b64encode(hashlib.sha512(Path(tgz).read_bytes()).digest()).decode()
    if digest != INTEGRITY:
        raise ValueError(f"{tgz}: integrity {digest} is not the published {INTEGRITY}")
    return digest


# --------------------------------------------------------------------------- 3 parse JS
_TOKEN = re.compile(r"""\s*(?:
    (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<num>-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<bool>![01])
  | (?P<ident>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>[{}\[\]:,])
)""", re.VERBOSE)


def parse_js_literal(text: str, start: int = 0):
    """Parse one JavaScript object/array literal (as minifiers write them) at ``start``.

    Returns (value, end index). Handles objects with bare or quoted keys, arrays,
    strings, numbers, ``!0``/``!1``, ``true``/``false``/``null``. Nothing is executed."""
    pos = start

    def token():
        nonlocal pos
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot parse JavaScript at {pos}: {text[pos:pos + 40]!r}")
        pos = m.end()
        return m.lastgroup, m.group(m.lastgroup)

    def value(kind, tok):
        if kind == "punct" and tok == "{":
            out = {}
            kind, tok = token()
            while not (kind == "punct" and tok == "}"):
                key = json.loads(tok) if kind == "str" and tok[0] == '"' else tok.strip("'")
                if token() != ("punct", ":"):
                    raise ValueError(f"expected ':' at {pos}")
                out[key] = value(*token())
                kind, tok = token()
                if kind == "punct" and tok == ",":
                    kind, tok = token()
            return out
        if kind == "punct" and tok == "[":
            out = []
            kind, tok = token()
            while not (kind == "punct" and tok == "]"):
                out.append(value(kind, tok))
                kind, tok = token()
                if kind == "punct" and tok == ",":
                    kind, tok = token()
            return out
        if kind == "str":
            return json.loads(tok) if tok[0] == '"' else tok[1:-1]
        if kind == "num":
            return float(tok) if any(c in tok for c in ".eE") else int(tok)
        if kind == "bool":
            return tok == "!0"
        if kind == "ident" and tok in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[tok]
        raise ValueError(f"unexpected {tok!r} at {pos}")

    return value(*token()), pos


def read_model_js(path: Path) -> dict:
    """The model.json object exported by a TensorFlow.js UMD ``model.min.js``."""
    text = Path(path).read_text(encoding="utf-8")
    i = text.find("exports={")
    if i < 0:
        raise ValueError(f"{path}: no 'exports={{' literal")
    obj, _ = parse_js_literal(text, i + len("exports="))
    if "weightsManifest" not in obj:
        raise ValueError(f"{path}: no weightsManifest")
    return obj


def read_shard_js(path: Path) -> bytes:
    """The bytes of a ``group1-shard*.min.js``: its one (long) base64 string literal."""
    text = Path(path).read_text(encoding="ascii")
    literals = re.findall(r'"([A-Za-z0-9+/=]{64,})"', text)
    if len(literals) != 1:
        raise ValueError(f"{path}: expected one base64 literal, found {len(literals)}")
    return base64.b64decode(literals[0], validate=True)


# --------------------------------------------------------------------------- 4 dequantize
def dequantize(manifest: list[dict], read_shard) -> dict[str, np.ndarray]:
    """{tensor name: float32 array} from a weights manifest; ``read_shard(path)`` -> bytes."""
    weights = {}
    for group in manifest:
        data = b"".join(read_shard(p) for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            shape = tuple(int(s) for s in spec["shape"])
            count = int(np.prod(shape)) if shape else 1
            q = spec.get("quantization")
            if q:
                if q["dtype"] != "uint8":
                    raise ValueError(f"{spec['name']}: unsupported quantization {q['dtype']}")
                raw = np.frombuffer(data, np.uint8, count, offset)
                arr = raw.astype(np.float32) * np.float32(q["scale"]) + np.float32(q["min"])
                offset += count
            else:
                if spec["dtype"] != "float32":
                    raise ValueError(f"{spec['name']}: unsupported dtype {spec['dtype']}")
                arr = np.frombuffer(data, np.float32, count, offset).copy()
                offset += 4 * count
            weights[spec["name"]] = arr.reshape(shape)
        if offset != len(data):
            raise ValueError(f"weights use {offset} bytes, shards hold {len(data)}")
    return weights


# --------------------------------------------------------------------------- 5-6 keras
def build_backbone(weights: dict[str, np.ndarray], layers: tuple[str, ...] = LAYERS):
    """keras.applications.MobileNetV2 with the nsfwjs weights, cut at ``layers``, each
    global-average pooled, concatenated: a Keras model (n, 224, 224, 3) -> (n, d)."""
    from emobrowser.models.tfload import import_keras

    keras = import_keras()
    full = keras.applications.MobileNetV2(input_shape=(INPUT_SIZE, INPUT_SIZE, 3), alpha=1.0,
                                          include_top=False, weights=None)
    used = set()
    for layer in full.layers:
        for var in layer.weights:
            key = f"{layer.name}/{var.name}"
            if key not in weights and var.name == "kernel":  # Keras 3 names it "kernel"
                key = f"{layer.name}/depthwise_kernel"
            if key not in weights:
                raise KeyError(f"no weight {key} in the nsfwjs manifest")
            if tuple(var.shape) != weights[key].shape:
                raise ValueError(f"{key}: shape {weights[key].shape}, Keras wants {tuple(var.shape)}")
            var.assign(weights[key])
            used.add(key)
    unused = sorted(set(weights) - used)
    # nsfwjs's own classifier head (after MobileNetV2's last layer) is not needed
    if any(not name.startswith(("dense", "predictions", "global")) for name in unused):
        raise ValueError(f"manifest tensors not loaded: {unused[:8]}")
    inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
    cut = keras.Model(full.input, [full.get_layer(n).output for n in layers])
    outs = cut(inp)
    pooled = [keras.layers.GlobalAveragePooling2D(name=f"pool_{i}")(o) for i, o in enumerate(outs)]
    out = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="pooled")(pooled)
    return keras.Model(inp, out, name=OUT_NAME)


def build_inception(weights: dict[str, np.ndarray], layers: tuple[str, ...], size: int = 299):
    """keras.applications.InceptionV3 with the nsfwjs weights (matched by the creation order
    of its 94 Conv2D and 94 BatchNormalization layers: nsfwjs's ``conv2d_N`` and
    ``batch_normalization_N`` in N order; Keras's own auto-names in suffix order; every
    shape is checked), cut at ``layers``, pooled and concatenated."""
    from emobrowser.models.tfload import import_keras

    keras = import_keras()
    full = keras.applications.InceptionV3(input_shape=(size, size, 3), include_top=False, weights=None)

    def numbered(prefix):
        names = {n.split("/")[0] for n in weights if re.fullmatch(prefix + r"_\d+", n.split("/")[0])}
        return sorted(names, key=lambda n: int(n.rsplit("_", 1)[1]))

    convs, bns = numbered("conv2d"), numbered("batch_normalization")
    def created(layer):  # Keras numbers auto-named layers in creation order: conv2d, conv2d_1, ...
        tail = layer.name.rsplit("_", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    k_convs = sorted((la for la in full.layers if isinstance(la, keras.layers.Conv2D)), key=created)
    k_bns = sorted((la for la in full.layers if isinstance(la, keras.layers.BatchNormalization)), key=created)
    if (len(convs), len(bns)) != (len(k_convs), len(k_bns)):
        raise ValueError(f"nsfwjs has {len(convs)}/{len(bns)} conv/BN layers, Keras {len(k_convs)}/{len(k_bns)}")
    for src, layer in list(zip(convs, k_convs)) + list(zip(bns, k_bns)):
        for var in layer.weights:
            w = weights[f"{src}/{var.name}"]
            if tuple(var.shape) != w.shape:
                raise ValueError(f"{src}/{var.name}: shape {w.shape}, Keras {layer.name} wants {tuple(var.shape)}")
            var.assign(w)
    inp = keras.Input((size, size, 3), name="image")
    cut = keras.Model(full.input, [full.get_layer(n).output for n in layers])
    outs = cut(inp)
    pooled = [keras.layers.GlobalAveragePooling2D(name=f"pool_{i}")(o) for i, o in enumerate(outs)]
    out = pooled[0] if len(pooled) == 1 else keras.layers.Concatenate(name="pooled")(pooled)
    return keras.Model(inp, out, name="inception_backbone")


# --------------------------------------------------------------------------- 8 check
def probe_images() -> np.ndarray:
    """Photo-like RGB test inputs in [0, 1], (8, 224, 224, 3): the scenes that
    ``emobrowser.media.synth.draw_image`` draws (warm, cool, dark, vivid, face, grey,
    noise) and one of uniform noise."""
    import cv2

    from emobrowser.media.synth import draw_image

    out = []
    for i, kind in enumerate(("warm", "cool", "dark", "vivid", "face", "grey", "noise")):
        bgr = cv2.resize(draw_image(kind, seed=i), (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)
    out.append(np.random.default_rng(0).uniform(0, 1, (INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32))
    return np.stack(out)


def read_weights(tar: tarfile.TarFile, model_dir: str, tmp: Path) -> dict[str, np.ndarray]:
    """Parse and dequantize one nsfwjs model folder of the tarball (steps 3-4)."""
    def member(name):
        return tar.extractfile(f"{model_dir}/{name}").read().decode("utf-8")

    (tmp / "model.min.js").write_text(member("model.min.js"))
    manifest = read_model_js(tmp / "model.min.js")["weightsManifest"]
    shards = {}
    for group in manifest:
        for path in group["paths"]:
            (tmp / f"{path}.min.js").write_text(member(f"{path}.min.js"))
            shards[path] = read_shard_js(tmp / f"{path}.min.js")
            (tmp / f"{path}.min.js").unlink()
    weights = dequantize(manifest, shards.__getitem__)
    print(f"{model_dir}: {len(weights)} tensors, {sum(w.size for w in weights.values()):,} values", file=sys.stderr)
    return weights


def compare(ref: np.ndarray, got: np.ndarray) -> dict:
    """How closely LiteRT's features ``got`` follow Keras's ``ref`` (both (n, d)): the max
    absolute difference, that over the largest |ref|, and the lowest per-row Pearson r."""
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64)
    diff = float(np.max(np.abs(ref - got)))
    corr = min(float(np.corrcoef(a, b)[0, 1]) for a, b in zip(ref, got))
    return {"max_abs_diff": diff, "max_rel_diff": diff / max(float(np.max(np.abs(ref))), 1e-12),
            "min_correlation": corr}


def check_agreement(agreement: dict, quantized: bool) -> str | None:
    """Why the converted file is not good enough (None: it is)."""
    if not quantized:
        if not agreement["max_abs_diff"] <= TOLERANCE:
            return f"max difference {agreement['max_abs_diff']:.2e} (> {TOLERANCE})"
        return None
    if not agreement["min_correlation"] >= MIN_CORRELATION:
        return f"correlation {agreement['min_correlation']:.5f} (< {MIN_CORRELATION})"
    if not agreement["max_rel_diff"] <= MAX_RELATIVE_DIFF:
        return f"relative difference {agreement['max_rel_diff']:.3f} (> {MAX_RELATIVE_DIFF})"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tgz", type=Path, help="nsfwjs-4.4.0.tgz from `npm pack nsfwjs@4.4.0` (default: run it)")
    p.add_argument("--out", type=Path, default=ROOT / "resources" / "models")
    p.add_argument("--no-inception", action="store_true", help="MobileNetV2 only")
    p.add_argument("--float32", action="store_true", help="float32 weights (40.6 MB) instead of int8")
    args = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from emobrowser.models.runtime import LiteNetwork, convert_to_tflite
    from emobrowser.models.tfload import import_keras

    keras = import_keras()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        tgz = args.tgz or npm_pack(tmp)
        digest = check_integrity(tgz)
        print(f"{tgz.name}: integrity ok ({digest[:24]}...)", file=sys.stderr)
        with tarfile.open(tgz) as tar:
            mobilenet = build_backbone(read_weights(tar, MODEL_DIR, tmp))
            inception = None if args.no_inception else build_inception(
                read_weights(tar, INCEPTION_DIR, tmp), INCEPTION_LAYERS, INPUT_SIZE)
    if inception is None:
        model = mobilenet
    else:
        inp = keras.Input((INPUT_SIZE, INPUT_SIZE, 3), name="image")
        out = keras.layers.Concatenate(name="both")([mobilenet(inp), inception(inp)])
        model = keras.Model(inp, out, name=OUT_NAME)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{OUT_NAME}.tflite"
    lite_path = convert_to_tflite(model, target, int8_weights=not args.float32)
    x = probe_images()
    ref = np.asarray(model(x, training=False), dtype=np.float32)
    lite = LiteNetwork(lite_path)
    got = np.concatenate([lite({lite.input_names[0]: x[i:i + 1]}) for i in range(len(x))])
    agreement = compare(ref, got)
    problem = check_agreement(agreement, quantized=not args.float32)
    if problem:
        lite_path.unlink()
        raise RuntimeError(f"LiteRT and Keras disagree: {problem}")
    parts = [{"architecture": "keras.applications.MobileNetV2 (alpha 1.0), include_top=False",
              "file": f"{MODEL_DIR}/model.min.js", "layers": list(LAYERS)}]
    if inception is not None:
        parts.append({"architecture": "keras.applications.InceptionV3, include_top=False",
                      "file": f"{INCEPTION_DIR}/model.min.js", "layers": list(INCEPTION_LAYERS)})
    meta = {
        "name": OUT_NAME,
        "parts": parts,
        "pooling": "global average of each layer, concatenated in the order listed",
        "dim": int(ref.shape[1]),
        "weights": "float32" if args.float32 else
                   "int8 per channel (LiteRT dynamic-range quantization; activations float32)",
        "input": {"size": INPUT_SIZE, "color": "RGB", "scale": "pixel / 255 (range [0, 1])"},
        "source": {"package": f"{PACKAGE}@{VERSION}", "integrity": INTEGRITY, "licence": "MIT (Infinite Red, Inc.)"},
        "tflite_bytes": lite_path.stat().st_size,
        "max_abs_diff_keras_litert": agreement["max_abs_diff"],
        "max_rel_diff_keras_litert": agreement["max_rel_diff"],
        "min_correlation_keras_litert": agreement["min_correlation"],
    }
    (args.out / f"{OUT_NAME}.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
