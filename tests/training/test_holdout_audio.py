"""The end-to-end held-out check's bookkeeping: accuracies from the CLI's JSON, and
the timeline check that flags a wrong hop."""

from __future__ import annotations

import csv

import pytest

from emobrowser.training import holdout_audio as ho


def _result(name, v, a, duration=2.0, hop=0.5, error=None):
    n = int(-(-duration // hop))
    segs = [{"start": i * hop, "end": min((i + 1) * hop, duration), "valence": v, "arousal": a} for i in range(n)]
    return {"path": f"/clips/{name}", "modality": "audio", "valence": None if error else v,
            "arousal": None if error else a, "error": error, "segments": [] if error else segs}


LABELS = {
    "a.mp3": {"quadrant": "Q1", "valence_sign": "1", "arousal_sign": "1"},
    "b.mp3": {"quadrant": "Q2", "valence_sign": "-1", "arousal_sign": "1"},
    "c.mp3": {"quadrant": "Q3", "valence_sign": "-1", "arousal_sign": "-1"},
    "d.mp3": {"quadrant": "Q4", "valence_sign": "1", "arousal_sign": "-1"},
}


def test_accuracies_follow_the_signs():
    results = [
        _result("a.mp3", 0.4, 0.5),  # Q1 right
        _result("b.mp3", 0.2, 0.3),  # said Q1: valence wrong, arousal right
        _result("c.mp3", -0.1, -0.6),  # Q3 right
        _result("d.mp3", -0.3, 0.2),  # said Q2: both wrong
    ]
    s = ho.summarise(results, LABELS)
    assert (s["n"], s["scored"], s["errors"]) == (4, 4, 0)
    assert s["valence_sign_acc"] == pytest.approx(0.5)
    assert s["arousal_sign_acc"] == pytest.approx(0.75)
    assert s["quadrant_acc"] == pytest.approx(0.5)
    assert s["bad_timelines"] == 0


def test_errors_are_counted_not_scored():
    s = ho.summarise([_result("a.mp3", 0.4, 0.5), _result("b.mp3", 0, 0, error="no audio stream")], LABELS)
    assert (s["n"], s["scored"], s["errors"]) == (2, 1, 1)
    assert s["quadrant_acc"] == 1.0


def test_wrong_hop_is_flagged():
    s = ho.summarise([_result("a.mp3", 0.4, 0.5, duration=3.0, hop=1.0), _result("c.mp3", -0.2, -0.2, 2.3)], LABELS)
    assert s["bad_timelines"] == 1


def test_training_view_links_without_copying(tmp_path):
    data = tmp_path / "data"
    (data / "deam").mkdir(parents=True)
    (data / "audio4q").mkdir()
    for name in ("a.mp3", "b.mp3"):
        (data / "audio4q" / name).write_bytes(b"x" * 10)
    rows = [{"file": "a.mp3", "quadrant": "Q1"}]
    view = ho._training_view(data, rows, ["file", "quadrant"], tmp_path / "view")
    assert (view / "deam").is_symlink() and (view / "audio4q" / "a.mp3").is_symlink()
    assert not (view / "audio4q" / "b.mp3").exists()
    with open(view / "audio4q" / "labels.csv", newline="") as fh:
        assert [r["file"] for r in csv.DictReader(fh)] == ["a.mp3"]
