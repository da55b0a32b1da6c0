"""End-to-end held-out check of the photo model, through the CLI.

Cross-validation (emobrowser.training.train_image) measures the network on cached
features. This check measures what a user gets: one fold of the rated photos (the same
stratified folds as the trainer's, seed 0) is held out, a model is trained exactly as
the shipped one on the other photos, and the held-out photo files are then scored by
``emobrowser score --json`` in a separate process with that model installed
(``EMOBROWSER_MODELS``): decode, backbone, hand-crafted features, network and rescale.

    python -m emobrowser.training.holdout_image --data /work/shared/data \\
        --cache /tmp/imgcache --fold 0

The data folder is never written to: the training view of it is a temporary folder of
symbolic links to its photo folders plus a filtered ratings.csv. Prints a JSON summary
as the last line: Pearson r per dimension, overall and per dataset, and the share of
photos scored at |valence| or |arousal| >= 0.98.
"""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import numpy as np

from emobrowser.training.holdout_audio import holdout_main, score_with_cli, trained_without_fold
from emobrowser.training.image_data import image_data_dir, load_ratings, stratified_folds, targets
from emobrowser.training.train_image import END, share_at_ends, train


def split(data_dir: Path, fold: int, folds: int = 5, seed: int = 0):
    """(field names, training rows, held-out rows) of ``fold``, as the trainer folds."""
    data_dir = image_data_dir(data_dir)
    with open(data_dir / "ratings.csv", newline="", encoding="utf-8") as fh:
        fieldnames = list(csv.DictReader(fh).fieldnames or [])
    rows = load_ratings(data_dir)
    va, _, _, ds = targets(rows)
    k = stratified_folds(ds, va[:, 0], folds, seed)
    return fieldnames, [r for r, f in zip(rows, k) if f != fold], [r for r, f in zip(rows, k) if f == fold]


def _training_view(data_dir: Path, rows: list[dict], fieldnames: list[str], dest: Path) -> Path:
    """A data folder whose ratings.csv lists only ``rows`` (photo folders are links)."""
    dest.mkdir(parents=True)
    for top in sorted({r["file"].split("/")[0] for r in rows if "/" in r["file"]}):
        os.symlink(data_dir.resolve() / top, dest / top)
    for r in rows:
        if "/" not in r["file"]:
            os.symlink(data_dir.resolve() / r["file"], dest / r["file"])
    with open(dest / "ratings.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return dest


def summarise(results: list[dict], held: list[dict], data_dir: Path) -> dict:
    """Pearson r of the CLI's scores against the held-out ratings, and the share at the ends."""
    by_path = {str((data_dir / r["file"]).resolve()): r for r in held}
    scored = [r for r in results if r.get("error") is None and r.get("valence") is not None]
    labels = [by_path[str(Path(r["path"]).resolve())] for r in scored]
    pred = np.array([[r["valence"], r["arousal"]] for r in scored], dtype=np.float64).reshape(-1, 2)
    va, _, _, ds = targets(labels) if labels else (np.zeros((0, 2)), None, None, np.array([]))
    out = {"n": len(held), "scored": len(scored), "errors": len(held) - len(scored)}
    for name in ["overall", *sorted(set(ds.tolist()))]:
        m = np.ones(len(ds), bool) if name == "overall" else ds == name
        if m.sum() > 2:
            out[name] = {t: round(float(np.corrcoef(pred[m, j], va[m, j])[0, 1]), 4)
                         for j, t in enumerate(("valence_r", "arousal_r"))}
            out[name]["pred_std"] = [round(float(v), 4) for v in pred[m].std(axis=0)]
            out[name]["label_std"] = [round(float(v), 4) for v in va[m].std(axis=0)]
    out["share_at_ends"] = share_at_ends(pred, ds, END) if len(pred) else {}
    return out


def run(data_dir: Path, fold: int, folds: int = 5, seed: int = 0, cache_dir: Path | None = None,
        work: Path | None = None, log=print) -> dict:
    data_dir = image_data_dir(Path(data_dir))
    t0 = time.time()
    fieldnames, train_rows, held = split(data_dir, fold, folds, seed)
    log(f"training on {len(train_rows)} photos; holding out {len(held)} (fold {fold})")
    # with the trainer's own cross-validation on the training photos: it fits the
    # output rescale and the soft bound's knee, as for the shipped model
    with trained_without_fold(data_dir, train_rows, fieldnames, _training_view, train, folds, seed, cache_dir,
                              work, log) as (models, tmp):
        t1 = time.time()
        results = score_with_cli([data_dir / r["file"] for r in held], models, tmp / "home",
                                 ("--image-model", "image-va"))
        t2 = time.time()
    summary = summarise(results, held, data_dir)
    summary.update({"fold": fold, "folds": folds, "seed": seed, "train_s": round(t1 - t0, 1),
                    "score_s": round(t2 - t1, 1)})
    return summary


def main(argv: list[str] | None = None) -> int:
    return holdout_main(argv, __doc__.split("\n")[0], run, "folder with ratings.csv (or its parent)",
                        "which stratified fold to hold out", "feature cache folder")


if __name__ == "__main__":
    raise SystemExit(main())
