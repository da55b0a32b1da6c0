"""Leave-one-video-out evaluation of alignment methods.

For each video v: fit the method on the anchors of every other video (plus, for the
statistical methods, the library's photos and songs, which never contain v's
segments), map v's image values, and compare them with v's audio values.

Metrics, pooled over every held-out segment (each segment counts once):

* ``residual``     -- mean Euclidean distance on the circumplex (valence, arousal in
  [-1, 1], so 0 .. 2*sqrt(2)) between the aligned image value and the audio value of
  the same segment. Lower is better.
* ``recall_at_1`` / ``recall_at_5`` -- cross-modal retrieval as in "See, Hear, and
  Read" (Aytar et al. 2017): the aligned image value of a segment is the query, the
  audio values of the candidate segments are ranked by distance, and the hit is the
  segment's own soundtrack. Fraction of queries whose match is in the top 1 / 5.
* ``median_rank``  -- median rank of the match (1 = best).

Candidates: all segments of the held-out video (retrieving the right moment within
a film is what alignment should help with). A video with fewer than
``min_candidates`` segments is padded with audio values of other videos' segments,
picked by a fixed-seed random draw, so recall@5 is never trivially 1. Ties count
against the query (rank = 1 + number of candidates at least as close), so a method
that collapses everything to one point cannot score well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from emobrowser.align.anchors import Anchors
from emobrowser.align.methods import fit_method
from emobrowser.align.transform import Transform

MIN_CANDIDATES = 10


def retrieval_ranks(queries: np.ndarray, candidates: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rank (1-based) of candidate ``truth[q]`` for each query q, by Euclidean distance.

    Ties are pessimistic: every other candidate at the same distance ranks ahead.
    """
    queries, candidates = np.atleast_2d(queries), np.atleast_2d(candidates)
    dist = np.linalg.norm(queries[:, None, :] - candidates[None, :, :], axis=2)
    true_d = dist[np.arange(len(queries)), truth]
    closer_or_tied = (dist <= true_d[:, None] + 1e-12).sum(axis=1) - 1  # minus the match itself
    return 1 + closer_or_tied


def _candidates(anchors: Anchors, held: np.ndarray, video, min_candidates: int, seed: int) -> np.ndarray:
    """Audio values (m, 2) of the candidates: the held-out video's segments first, then padding."""
    own = anchors.audio[held]
    need = min_candidates - len(own)
    if need <= 0:
        return own
    others = np.flatnonzero(~held)
    rng = np.random.default_rng([seed, int(video) & 0x7FFFFFFF])
    pick = others[rng.permutation(others.size)[:need]]
    return np.concatenate([own, anchors.audio[pick]])


def summarise(distances: list[np.ndarray], ranks: list[np.ndarray]) -> dict[str, float]:
    """Pool per-fold distances and ranks into the reported metrics."""
    d, r = np.concatenate(distances), np.concatenate(ranks)
    return {"residual": float(d.mean()), "recall_at_1": float(np.mean(r <= 1)),
            "recall_at_5": float(np.mean(r <= 5)), "median_rank": float(np.median(r))}


def leave_one_video_out(anchors: Anchors, fit: Callable[[Anchors], Transform],
                        min_candidates: int = MIN_CANDIDATES, seed: int = 0,
                        step: Callable[[], None] | None = None) -> dict[str, float]:
    """Metrics of the transforms ``fit(training anchors)`` on each held-out video.

    ``step`` is called before each fold (to report progress)."""
    distances, ranks = [], []
    for video in np.unique(anchors.video):
        if step is not None:
            step()
        held = anchors.video == video
        transform = fit(anchors.subset(~held))
        aligned = transform.apply(anchors.image[held])
        distances.append(np.linalg.norm(aligned - anchors.audio[held], axis=1))
        candidates = _candidates(anchors, held, video, min_candidates, seed)
        ranks.append(retrieval_ranks(aligned, candidates, np.arange(int(held.sum()))))
    return summarise(distances, ranks)


def evaluate_methods(anchors: Anchors, methods: Iterable[str], extra_image: np.ndarray | None = None,
                     extra_audio: np.ndarray | None = None, min_candidates: int = MIN_CANDIDATES,
                     seed: int = 0, step: Callable[[], None] | None = None) -> dict[str, dict[str, float]]:
    """Leave-one-video-out metrics of each named method; "identity" is always included.

    ``step`` is called before each fit: len(names) * anchors.n_videos times."""
    names = list(dict.fromkeys(["identity", *methods]))
    results = {}
    for name in names:
        def fit(train: Anchors, name=name) -> Transform:
            return fit_method(name, train.image, train.audio, extra_image, extra_audio, seed=seed)

        results[name] = leave_one_video_out(anchors, fit, min_candidates, seed, step)
    return results
