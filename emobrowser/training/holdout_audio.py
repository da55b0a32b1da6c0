"""End-to-end held-out check of the audio model on real 4Q clips, through the CLI.

Cross-validation (emobrowser.training.train_audio) measures the network on cached
features. This check measures what a user gets: one artist-grouped fold of the 4Q
clips is held out, a model is trained exactly as the shipped one on everything else
(DEAM and the other 4Q clips), and the held-out clip files are then scored by
``emobrowser score --json`` in a separate process with that model installed
(``EMOBROWSER_MODELS``). Accuracies come from the JSON the command prints; the
timeline in the same output is checked for its 0.5 s hop.

    python -m emobrowser.training.holdout_audio --data /work/shared/data \\
        --cache /tmp/audcache/4q --fold 0

The data folder is never written to: the training view of it is a temporary folder
of symbolic links plus a filtered labels.csv. Prints a JSON summary as the last line.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from emobrowser.training.audio_data import q4_folds
from emobrowser.training.train_audio import evaluate, train


def _training_view(data_dir: Path, rows: list[dict], fieldnames: list[str], dest: Path) -> Path:
    """A data folder holding DEAM and only ``rows`` of the 4Q clips (links, no copies)."""
    (dest / "audio4q").mkdir(parents=True)
    os.symlink(data_dir.resolve() / "deam", dest / "deam")
    with open(dest / "audio4q" / "labels.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fieldnames)
        writer.writeheader()
        for row in rows:
            writer.writerow(row)
            os.symlink(data_dir.resolve() / "audio4q" / row["file"], dest / "audio4q" / row["file"])
    return dest


def score_with_cli(paths: list[Path], models: Path, home: Path,
                   model: tuple[str, str] = ("--audio-model", "audio-va")) -> list[dict]:
    """Run ``emobrowser score --json`` on ``paths`` with the model in ``models``; ``model``
    is the option naming it (the held-out checks of both models use this)."""
    env = dict(os.environ, EMOBROWSER_MODELS=str(models), EMOBROWSER_HOME=str(home))
    cmd = [sys.executable, "-m", "emobrowser", "score", "--json", *model, *[str(p) for p in paths]]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode not in (0, 1):  # 1: some files failed; they are in the output
        raise RuntimeError(f"emobrowser score exited {done.returncode}: {done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def summarise(results: list[dict], labels: dict[str, dict]) -> dict:
    """Accuracies of the CLI's whole-file scores against the clips' labels, and a check
    of each timeline (0.5 s hop, contiguous, in range)."""
    scored = [r for r in results if r.get("error") is None and r.get("valence") is not None]
    bad_timelines = 0
    for r in scored:
        seg = r["segments"]
        starts = np.array([s["start"] for s in seg])
        ends = np.array([s["end"] for s in seg])
        vals = np.array([[s["valence"], s["arousal"]] for s in seg])
        if not (
            len(seg) == math.ceil(ends[-1] / 0.5 - 1e-9)
            and np.allclose(starts, 0.5 * np.arange(len(seg)))
            and np.all(ends - starts <= 0.5 + 1e-9)
            and np.all(np.abs(vals) <= 1.0)
        ):
            bad_timelines += 1
    labs = [labels[Path(r["path"]).name] for r in scored]
    preds = np.array([[r["valence"], r["arousal"]] for r in scored]).reshape(-1, 2)
    signs = np.array([[float(lab["valence_sign"]), float(lab["arousal_sign"])] for lab in labs]).reshape(-1, 2)
    accuracy = evaluate(np.zeros((0, 2)), np.zeros((0, 2)), preds, signs, [lab["quadrant"] for lab in labs])
    acc = accuracy.get("4q", {})
    return {
        "n": len(results),
        "scored": len(scored),
        "errors": len(results) - len(scored),
        "valence_sign_acc": acc.get("valence_sign_acc"),
        "arousal_sign_acc": acc.get("arousal_sign_acc"),
        "quadrant_acc": acc.get("quadrant_acc"),
        "pred_std": acc.get("pred_std"),
        "bad_timelines": bad_timelines,
    }


def split_4q(data_dir: Path, fold: int, folds: int = 5, seed: int = 0):
    """The 4Q rows, their field names, and the training and held-out rows of ``fold``
    (artist-grouped, as the trainer groups them)."""
    with open(Path(data_dir) / "audio4q" / "labels.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fieldnames = list(reader.fieldnames or [])
        rows = list(reader)
    groups = [r.get("artist") or r["file"] for r in rows]
    split = q4_folds([r["quadrant"] for r in rows], groups, folds, seed)
    if {g for g, k in zip(groups, split) if k == fold} & {g for g, k in zip(groups, split) if k != fold}:
        raise RuntimeError("an artist is on both sides of the split")
    train_rows = [r for r, k in zip(rows, split) if k != fold]
    held = [r for r, k in zip(rows, split) if k == fold]
    return fieldnames, train_rows, held


@contextlib.contextmanager
def trained_without_fold(data_dir: Path, train_rows: list[dict], fieldnames: list[str], make_view, train_fn,
                         folds: int, seed: int, cache_dir: Path | None, work: Path | None, log):
    """Train with ``train_fn`` (a trainer's ``train``) on a scratch copy of the data that
    holds only ``train_rows`` (``make_view``: the data's own ``_training_view``).

    Yields ``(models, tmp)``: the folder holding the trained model and the scratch
    folder, which is removed afterwards."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        tmp = Path(tmp)
        view = make_view(data_dir, train_rows, fieldnames, tmp / "data")
        train_fn(view, tmp / "models", seed=seed, folds=folds, cache_dir=cache_dir, log=log)
        yield tmp / "models", tmp


@contextlib.contextmanager
def fold_model(data_dir: Path, fold: int, folds: int = 5, seed: int = 0, cache_dir: Path | None = None,
               work: Path | None = None, log=print):
    """Train a model exactly as the shipped one, without the held-out 4Q fold ``fold``.

    Yields ``(models, held, tmp)``: the folder holding the trained model, the held-out
    label rows, and a scratch folder that is removed afterwards."""
    data_dir = Path(data_dir)
    fieldnames, train_rows, held = split_4q(data_dir, fold, folds, seed)
    log(f"training on DEAM + {len(train_rows)} 4Q clips; holding out {len(held)} (fold {fold})")
    with trained_without_fold(data_dir, train_rows, fieldnames, _training_view, train, folds, seed, cache_dir,
                              work, log) as (models, tmp):
        yield models, held, tmp


def run(data_dir: Path, fold: int, folds: int = 5, seed: int = 0, cache_dir: Path | None = None,
        work: Path | None = None, log=print) -> dict:
    data_dir = Path(data_dir)
    t0 = time.time()
    with fold_model(data_dir, fold, folds, seed, cache_dir, work, log) as (models, held, tmp):
        t1 = time.time()
        results = score_with_cli([data_dir / "audio4q" / r["file"] for r in held], models, tmp / "home")
        t2 = time.time()
    summary = summarise(results, {r["file"]: r for r in held})
    summary.update({"fold": fold, "folds": folds, "seed": seed, "train_s": round(t1 - t0, 1),
                    "score_s": round(t2 - t1, 1)})
    return summary


def holdout_main(argv: list[str] | None, description: str, run, data_help: str, fold_help: str,
                 cache_help: str) -> int:
    """The command line of a held-out check: parse, ``run(data, fold, folds, seed, cache)``,
    print its JSON summary (shared by the audio and the image checks)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--data", type=Path, required=True, help=data_help)
    p.add_argument("--fold", type=int, default=0, help=fold_help)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache", type=Path, default=None, help=cache_help)
    args = p.parse_args(argv)
    print(json.dumps(run(args.data, args.fold, args.folds, args.seed, args.cache)))
    return 0


def main(argv: list[str] | None = None) -> int:
    return holdout_main(argv, __doc__.split("\n")[0], run, "folder with deam/ and audio4q/",
                        "which artist-grouped fold of 4Q to hold out", "feature cache folder for the 4Q clips")


if __name__ == "__main__":
    raise SystemExit(main())
