"""Leave-one-video-out metrics on a tiny hand-made case."""

from __future__ import annotations

import numpy as np
import pytest

from emobrowser.align.anchors import Anchors
from emobrowser.align.evaluate import _candidates, evaluate_methods, leave_one_video_out, retrieval_ranks
from emobrowser.align.transform import IDENTITY, Transform

# Three videos of two segments each.
AUDIO = np.array([[0, 0], [0.5, 0], [0, 0.5], [0, -0.5], [-0.5, -0.5], [0.5, 0.5]], float)
IMAGE = np.array([[0, 0.1], [0.5, 0.3], [0, -0.4], [0, 0.5], [-0.5, -0.5], [0.5, 0.5]], float)
VIDEO = np.array([1, 1, 2, 2, 3, 3])


def test_retrieval_ranks_and_pessimistic_ties():
    candidates = np.array([[0, 0], [1, 0], [0, 1]], float)
    assert retrieval_ranks(np.array([[0.9, 0], [0.1, 0.2]]), candidates, np.array([1, 2])).tolist() == [1, 2]
    # A query at equal distance from its match and another candidate does not get rank 1.
    assert retrieval_ranks(np.array([[0.5, 0]]), candidates, np.array([0])).tolist() == [2]


def test_identity_metrics_by_hand():
    anchors = Anchors(IMAGE, AUDIO, VIDEO)
    m = leave_one_video_out(anchors, lambda train: IDENTITY, min_candidates=2)
    # Distances: 0.1, 0.3 (video 1), 0.9, 1.0 (video 2: swapped), 0, 0 (video 3).
    assert m["residual"] == pytest.approx(2.3 / 6)
    # Ranks within each video: 1, 1 | 2, 2 | 1, 1.
    assert m["recall_at_1"] == pytest.approx(4 / 6)
    assert m["recall_at_5"] == 1.0
    assert m["median_rank"] == 1.0


def test_fit_sees_only_other_videos():
    anchors = Anchors(IMAGE, AUDIO, VIDEO)
    seen = []

    def fit(train: Anchors) -> Transform:
        seen.append(sorted(set(train.video.tolist())))
        # A shift fitted on the training videos' mean offset.
        return Transform("affine", {"matrix": np.eye(2).tolist(),
                                    "offset": (train.audio - train.image).mean(axis=0).tolist()})

    m = leave_one_video_out(anchors, fit, min_candidates=2)
    assert seen == [[2, 3], [1, 3], [1, 2]]
    offsets = {1: (AUDIO[2:] - IMAGE[2:]).mean(0), 2: (AUDIO[[0, 1, 4, 5]] - IMAGE[[0, 1, 4, 5]]).mean(0),
               3: (AUDIO[:4] - IMAGE[:4]).mean(0)}
    expected = np.concatenate([np.linalg.norm(IMAGE[VIDEO == v] + offsets[v] - AUDIO[VIDEO == v], axis=1)
                               for v in (1, 2, 3)])
    assert m["residual"] == pytest.approx(expected.mean())


def test_short_videos_are_padded_with_other_segments():
    anchors = Anchors(IMAGE, AUDIO, VIDEO)
    held = VIDEO == 1
    cands = _candidates(anchors, held, 1, min_candidates=5, seed=0)
    assert len(cands) == 5
    assert np.array_equal(cands[:2], AUDIO[:2])  # the video's own segments come first, in order
    assert all(any(np.array_equal(c, a) for a in AUDIO[2:]) for c in cands[2:])
    # Deterministic.
    assert np.array_equal(cands, _candidates(anchors, held, 1, min_candidates=5, seed=0))
    m = leave_one_video_out(anchors, lambda train: IDENTITY, min_candidates=6)
    assert m["recall_at_5"] < 1.0 or m["median_rank"] >= 1.0


def test_evaluate_methods_always_includes_identity():
    rng = np.random.default_rng(0)
    audio = rng.uniform(-0.5, 0.5, (30, 2))
    anchors = Anchors(audio * 0.5 + 0.2, audio, np.repeat([1, 2, 3], 10))
    results = evaluate_methods(anchors, ["procrustes"])
    assert list(results) == ["identity", "procrustes"]
    assert results["procrustes"]["residual"] < 1e-9 < results["identity"]["residual"]
    assert results["procrustes"]["recall_at_1"] == 1.0
    assert set(results["identity"]) == {"residual", "recall_at_1", "recall_at_5", "median_rank"}
