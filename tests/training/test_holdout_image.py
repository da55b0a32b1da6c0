"""The photo model's end-to-end held-out check: its split, its training view of the data
folder (links, never copies or writes) and its summary of the CLI's scores."""

from __future__ import annotations

import csv

import numpy as np

from emobrowser.media import synth
from emobrowser.training import holdout_image as ho


def _data(root, n=20):
    rows = []
    for i in range(n):
        ds = "setA" if i % 2 else "setB"
        (root / ds).mkdir(parents=True, exist_ok=True)
        name = f"{ds}/p{i}.jpg"
        synth.write_image(root / name, synth.draw_image("warm" if i % 3 else "dark", (40, 50), seed=i))
        rows.append({"file": name, "dataset": ds, "valence": f"{(i % 5 - 2) / 3:.3f}",
                     "arousal": f"{(i % 4 - 1.5) / 3:.3f}"})
    with open(root / "ratings.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_split_and_training_view_keep_the_held_out_photos_out(tmp_path):
    data = tmp_path / "data"
    rows = _data(data)
    before = sorted(p.name for p in data.rglob("*"))
    fieldnames, train_rows, held = ho.split(data, fold=0, folds=5)
    assert held and train_rows and len(held) + len(train_rows) == len(rows)
    assert not {r["file"] for r in held} & {r["file"] for r in train_rows}
    view = ho._training_view(data, train_rows, fieldnames, tmp_path / "view")
    with open(view / "ratings.csv", newline="") as fh:
        listed = [r["file"] for r in csv.DictReader(fh)]
    assert listed == [r["file"] for r in train_rows]
    assert (view / "setA").is_symlink() and (view / listed[0]).is_file()
    assert sorted(p.name for p in data.rglob("*")) == before  # nothing written to the data


def test_summary_correlates_scores_with_ratings_per_dataset(tmp_path):
    data = tmp_path / "data"
    rows = _data(data)
    rng = np.random.default_rng(0)
    results = []
    for r in rows:
        v, a = float(r["valence"]), float(r["arousal"])
        results.append({"path": str(data / r["file"]), "valence": v + rng.normal(0, 0.05),
                        "arousal": -a if r["dataset"] == "setB" else a, "error": None})
    results[-1] = {"path": str(data / rows[-1]["file"]), "valence": None, "arousal": None, "error": "boom"}
    results[0]["valence"] = 0.99  # one photo at the end of the scale
    out = ho.summarise(results, rows, data)
    assert out["n"] == 20 and out["scored"] == 19 and out["errors"] == 1
    assert out["setA"]["arousal_r"] > 0.99 and out["setB"]["arousal_r"] < -0.99
    assert 0.5 < out["overall"]["valence_r"] < 0.9  # close scores, but one outlier
    assert out["share_at_ends"]["overall"] == round(1 / 19, 4)
