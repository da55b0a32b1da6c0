"""Write the LiteRT conversion of a trained Keras network, and check that it agrees.

A model version is the pair of files trained together: ``NAME.keras`` and
``NAME.tflite``. The trainers call :func:`write_pair` after saving the Keras file;
``python -m emobrowser.training.convert [DIR]`` converts every ``.keras`` in DIR
(default: the shipped ``resources/models``) and checks each pair. Needs TensorFlow
(the ``train`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

# Scores must agree with the Keras model's to this, on every output.
TOLERANCE = 1e-4


def probe_inputs(input_shapes: dict[str, tuple[int, ...]], n: int = 64, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal inputs of ``n`` rows for each named input (the networks take
    standardised features, so this spans what real inputs look like, and more)."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal((n, *shape)).astype(np.float32) for name, shape in input_shapes.items()}


def max_difference(keras_path: Path, feeds: list[dict[str, np.ndarray]] | None = None,
                   reference=None) -> float:
    """The largest absolute difference between the Keras network and its LiteRT
    conversion over ``feeds`` (default: random standardised inputs). ``reference``: the
    Keras network, if already loaded."""
    from emobrowser.models.runtime import KerasNetwork, LiteNetwork, tflite_path

    reference = reference or KerasNetwork(keras_path)
    lite = LiteNetwork(tflite_path(keras_path))
    if feeds is None:
        shapes = {name: tuple(int(d) for d in t.shape[1:])
                  for name, t in zip(reference.input_names, reference.model.inputs)}
        feeds = [probe_inputs(shapes, seed=s) for s in range(3)]
    worst = 0.0
    for feed in feeds:
        worst = max(worst, float(np.max(np.abs(reference(feed) - lite(feed)))))
    return worst


def write_pair(keras_path: Path) -> dict:
    """Convert ``keras_path`` to its ``.tflite`` beside it and check the pair agrees.

    Returns {"tflite", "bytes", "max_abs_diff"}; raises RuntimeError beyond TOLERANCE."""
    from emobrowser.models.runtime import KerasNetwork, convert_to_tflite, tflite_path

    keras_path = Path(keras_path)
    reference = KerasNetwork(keras_path)
    out = convert_to_tflite(reference.model, tflite_path(keras_path))
    diff = max_difference(keras_path, reference=reference)
    if not diff <= TOLERANCE:
        out.unlink()
        raise RuntimeError(f"{out.name} differs from {keras_path.name} by {diff:.2e} (> {TOLERANCE})")
    return {"tflite": str(out), "bytes": out.stat().st_size, "max_abs_diff": diff}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", help="folder of .keras files (default: the shipped models)")
    args = parser.parse_args(argv)
    if args.folder:
        folder = Path(args.folder)
    else:
        from emobrowser.core.paths import models_dir

        folder = models_dir()
    results = {}
    for keras_path in sorted(folder.glob("*.keras")):
        results[keras_path.name] = write_pair(keras_path)
        print(f"{keras_path.name}: {results[keras_path.name]}", file=sys.stderr)
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
