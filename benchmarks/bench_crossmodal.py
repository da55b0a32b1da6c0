"""Cross-modal agreement: do photos and songs that people feel the same way find each other?

    python benchmarks/bench_crossmodal.py --data ../shared/data --cache /tmp/emocache [--quick]
        [--save OOF.npz | --held-out OOF.npz] [-k 40]

Builds held-out predictions for the rated photos (OASIS, Emotion6) and the 4Q music
clips: each item is scored by a model trained without its fold (the trainers' own
cross-validation, with the shipped settings). The points go into the app's retrieval
engine as one library with no videos, and four measures are taken:

* photo_precision: balanced top-40 at each quadrant centre (±0.5, ±0.5): the share
  of returned photos whose human rating lies in that quadrant;
* song_precision: the same for the returned songs (their 4Q quadrant);
* photo_to_songs: for every photo as a query ("songs like this photo", the 10
  nearest songs), the share of returned songs in the photo's quadrant;
* song_to_photos: the same from every song to the 10 nearest photos;
* crossmodal: the mean of the last two.

Each is printed beside its chance rate (what random items would score, from the
quadrant shares). The measures are taken twice: on the models' raw outputs
(``raw``) and on the shared scale (``shared``; emobrowser.models.shared_scale). The
shared-scale maps are cross-fitted here: the items are split in two halves, and
each half is mapped with the maps fitted on the other half, so no item's own label
shapes its position. Photos rated exactly neutral on a dimension have no quadrant
and are left out of the measures (not of the library).

--quick replaces the data and the training by a synthetic library of the same
shape (noisy labels standing in for held-out predictions), to check the benchmark
runs; its figures mean nothing. The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CENTRES = {"Q1": (0.5, 0.5), "Q2": (-0.5, 0.5), "Q3": (-0.5, -0.5), "Q4": (0.5, -0.5)}


def quadrant(va: np.ndarray) -> np.ndarray:
    """'Q1'..'Q4' per row from signs (valence, arousal); '' where either is 0."""
    v, a = np.sign(va[:, 0]), np.sign(va[:, 1])
    out = np.full(len(va), "", dtype=object)
    out[(v > 0) & (a > 0)] = "Q1"
    out[(v < 0) & (a > 0)] = "Q2"
    out[(v < 0) & (a < 0)] = "Q3"
    out[(v > 0) & (a < 0)] = "Q4"
    return out


def measures(photo_pts, photo_q, song_pts, song_q, k: int = 40, like_k: int = 10, balance: float | None = None) -> dict:
    """The four measures through the retrieval engine, for points on one scale."""
    from emobrowser.index.balance import DEFAULT_BALANCE
    from emobrowser.index.engine import RetrievalEngine

    balance = DEFAULT_BALANCE if balance is None else balance
    n_p, n_s = len(photo_pts), len(song_pts)
    ids = np.arange(n_p + n_s)
    modality = ["image"] * n_p + ["audio"] * n_s
    pts = np.vstack([photo_pts, song_pts])
    engine = RetrievalEngine(ids, modality, pts[:, 0], pts[:, 1])
    engine.build()
    truth = np.concatenate([photo_q, song_q])
    hits_p, hits_s = [], []
    for name, (cv, ca) in CENTRES.items():
        for hit in engine.query(cv, ca, k=k, balance=balance):
            (hits_p if hit.id < n_p else hits_s).append((truth[hit.id], name))
    photo_precision = np.mean([t == q for t, q in hits_p if t]) if any(t for t, _ in hits_p) else float("nan")
    song_precision = np.mean([t == q for t, q in hits_s]) if hits_s else float("nan")

    def like(queries, own_q, other_modality):
        agree = []
        for i in np.flatnonzero(own_q != ""):
            for hit in engine.query(*queries[i], k=like_k, modalities=[other_modality]):
                if truth[hit.id]:
                    agree.append(truth[hit.id] == own_q[i])
        return float(np.mean(agree)) if agree else float("nan")

    p2s, s2p = like(photo_pts, photo_q, "audio"), like(song_pts, song_q, "image")
    engine.close()
    return {"photo_precision": round(float(photo_precision), 4), "song_precision": round(float(song_precision), 4),
            "photo_to_songs": round(p2s, 4), "song_to_photos": round(s2p, 4),
            "crossmodal": round((p2s + s2p) / 2, 4),
            "photos_returned": len(hits_p), "songs_returned": len(hits_s)}


def chance(photo_q, song_q) -> dict:
    shares_p = {q: float(np.mean(photo_q[photo_q != ""] == q)) for q in CENTRES}
    shares_s = {q: float(np.mean(song_q == q)) for q in CENTRES}
    cross = sum(shares_p[q] * shares_s[q] for q in CENTRES)
    return {"photo_precision": round(float(np.mean(list(shares_p.values()))), 4),
            "song_precision": round(float(np.mean(list(shares_s.values()))), 4),
            "photo_to_songs": round(cross, 4), "song_to_photos": round(cross, 4), "crossmodal": round(cross, 4)}


def cross_fitted(pred: np.ndarray, labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """Shared-scale values of held-out predictions, each half mapped by the other half's fit."""
    from emobrowser.models import shared_scale

    rng = np.random.default_rng(seed)
    half = rng.permutation(len(pred)) % 2 == 0
    out = np.empty_like(pred, dtype=np.float64)
    for part in (half, ~half):
        out[part] = shared_scale.apply(pred[part], shared_scale.fit(pred[~part], labels[~part]))
    return out


def synthetic(seed: int = 0) -> tuple[dict, dict]:
    """A stand-in for the held-out predictions: 600 photos and 200 songs whose predictions
    are their labels plus noise, on different scales (songs squeezed towards 0)."""
    rng = np.random.default_rng(seed)
    ratings = np.clip(rng.normal(0, [0.45, 0.25], (600, 2)), -1, 1)
    photos = {"pred": np.tanh(ratings + rng.normal(0, 0.3, ratings.shape)), "labels": ratings}
    signs = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1]] * 50, np.float64)
    songs = {"pred": 0.3 * np.tanh(signs * 0.6 + rng.normal(0, 0.5, signs.shape)) + 0.1, "labels": signs}
    return photos, songs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=None, help="the trainers' feature cache folder")
    parser.add_argument("--quick", action="store_true", help="synthetic stand-in data, to check the code runs")
    parser.add_argument("--save", type=Path, default=None, help="also write the held-out predictions (.npz)")
    parser.add_argument("--held-out", type=Path, default=None,
                        help="read the held-out predictions from a file --save wrote, instead of training")
    parser.add_argument("-k", type=int, default=40, help="results per quadrant-centre page (default 40)")
    args = parser.parse_args(argv)
    started = time.time()
    if args.quick:
        photos, songs = synthetic()
    elif args.held_out:
        saved = np.load(args.held_out)
        photos = {"pred": saved["photo_pred"], "labels": saved["photo_labels"]}
        songs = {"pred": saved["song_pred"], "labels": saved["song_labels"]}
    else:
        from emobrowser.training.shared_scale_fit import audio_held_out, image_held_out

        def log(*a):
            print(*a, file=sys.stderr)

        songs = audio_held_out(args.data, args.cache, log)
        photos = image_held_out(args.data, args.cache, log)
        if args.save:
            np.savez(args.save, photo_pred=photos["pred"], photo_labels=photos["labels"],
                     song_pred=songs["pred"], song_labels=songs["labels"])
    photo_q, song_q = quadrant(np.asarray(photos["labels"])), quadrant(np.asarray(songs["labels"]))
    result = {"quick": bool(args.quick), "photos": len(photo_q), "songs": len(song_q),
              "chance": chance(photo_q, song_q)}
    result["raw"] = measures(np.clip(photos["pred"], -1, 1), photo_q, np.clip(songs["pred"], -1, 1), song_q, k=args.k)
    result["shared"] = measures(cross_fitted(np.asarray(photos["pred"]), np.asarray(photos["labels"])), photo_q,
                                cross_fitted(np.asarray(songs["pred"]), np.asarray(songs["labels"])), song_q, k=args.k)
    result["k"] = args.k
    print(json.dumps(result["raw"]), "(raw)", file=sys.stderr)
    print(json.dumps(result["shared"]), "(shared)", file=sys.stderr)
    for key in ("photo_precision", "song_precision", "photo_to_songs", "song_to_photos", "crossmodal"):
        result[key] = result["shared"][key]  # the app's scale: the headline figures
    result["targets"] = {"photo_precision": 0.60, "song_precision": 0.85, "crossmodal": 0.55}
    result["seconds"] = round(time.time() - started, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
