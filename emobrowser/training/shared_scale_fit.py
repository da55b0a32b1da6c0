"""Fit the shipped shared-scale maps (see emobrowser.models.shared_scale).

    python -m emobrowser.training.shared_scale_fit --data /work/shared/data \\
        --cache /tmp/emocache [--models audio,image] [--out resources/models] [--held-out FILE]

Each model's map is fitted on its out-of-fold predictions for its rated data, made
by the model's own trainer with the shipped settings (every item scored by a network
trained without its fold):

* audio-va: the 700 4Q clips, decoded and scored as the app does (the "audio"
  domain); their labels are the quadrant signs;
* image-va: the rated photos (OASIS and Emotion6); their labels are the ratings.

The maps are written to ``shared_scale.json`` under the model's current name and
version, beside the entries of other models already there. Needs the ``train`` extra.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from emobrowser.models import shared_scale


def audio_held_out(data: Path, cache: Path | None, log=print) -> dict:
    """Out-of-fold predictions of the audio model for the 4Q clips: {"pred" (n, 2) before
    the shared scale, "labels" (n, 2) signs, "files", "quadrants"}."""
    from emobrowser.training.train_audio import train

    held: dict = {}
    train(data, Path("/nonexistent"), save=False, held_out=held, log=log,
          cache_dir=None if cache is None else Path(cache) / "audio4q")
    return {"pred": held["4q"], "labels": held["4q_signs"], "files": held["4q_files"],
            "quadrants": held["4q_quadrants"]}


def image_held_out(data: Path, cache: Path | None, log=print) -> dict:
    """Out-of-fold predictions of the image model for the rated photos: {"pred" (n, 2)
    before the shared scale, "labels" (n, 2) ratings, "files", "datasets"}."""
    from emobrowser.training.train_image import held_out_predictions

    return held_out_predictions(data, cache_dir=None if cache is None else Path(cache) / "images", log=log)


HELD_OUT = {"audio": audio_held_out, "image": image_held_out}


def model_key(kind: str) -> str:
    if kind == "audio":
        from emobrowser.models.audio_model import AudioVAModel as cls
    else:
        from emobrowser.models.image_model import ImageVAModel as cls
    return f"{cls.info.name}/{cls.info.version}"


def fit_entry(held: dict, fitted_on: str) -> dict:
    scale = shared_scale.fit(held["pred"], held["labels"])
    shared = shared_scale.apply(held["pred"], scale)

    def agreement(values):
        return [round(float(np.mean(np.sign(values[:, j]) == np.sign(held["labels"][:, j]))), 4) for j in range(2)]

    scale.update({"fitted_on": fitted_on, "n": int(len(held["pred"])),
                  "share_at_ends": round(shared_scale.share_at_ends(shared), 4),
                  "sign_agreement_before": agreement(held["pred"]), "sign_agreement_after": agreement(shared)})
    return scale


FITTED_ON = {"audio": "out-of-fold predictions (5 artist-grouped folds) for the 700 4Q clips, signs of their quadrants",
             "image": "out-of-fold predictions (5 folds) for the rated OASIS and Emotion6 photos, their ratings"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--cache", type=Path, default=None,
                        help="feature cache folder: CACHE/audio4q for the 4Q clips, CACHE/images for the photos")
    parser.add_argument("--models", default="audio,image")
    parser.add_argument("--out", type=Path, default=None, help="folder of shared_scale.json (default: shipped)")
    parser.add_argument("--held-out", type=Path, default=None,
                        help="take the held-out predictions from this file (what bench_crossmodal.py --save "
                             "writes) instead of computing them again")
    args = parser.parse_args(argv)
    if args.out is None:
        from emobrowser.core.paths import models_dir

        args.out = models_dir()
    path = args.out / shared_scale.SCALE_FILE
    doc = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"models": {}}
    doc["reference_sd"] = shared_scale.REFERENCE_SD
    started = time.time()
    saved = np.load(args.held_out) if args.held_out else None
    for kind in [m.strip() for m in args.models.split(",") if m.strip()]:
        if saved is not None:
            prefix = {"audio": "song", "image": "photo"}[kind]
            held = {"pred": saved[f"{prefix}_pred"], "labels": saved[f"{prefix}_labels"]}
        else:
            held = HELD_OUT[kind](args.data, args.cache, log=lambda *a: print(*a, file=sys.stderr))
        key = model_key(kind)
        doc["models"][key] = fit_entry(held, FITTED_ON[kind])
        print(f"{key}: {json.dumps({k: v for k, v in doc['models'][key].items() if k not in ('valence', 'arousal')})}",
              file=sys.stderr)
    doc["command"] = ("python -m emobrowser.training.shared_scale_fit --data DATA --cache CACHE "
                      f"--models {args.models}" + (" --held-out HELD_OUT.npz" if args.held_out else ""))
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    tmp.replace(path)
    print(json.dumps({"written": str(path), "models": sorted(doc["models"]), "seconds": round(time.time() - started)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
