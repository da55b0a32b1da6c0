"""The balanced merge of per-modality result lists.

Definition (the seed system's): given one candidate list per modality, each sorted
by distance to the query, repeatedly take the candidate with the smallest *current*
distance; after taking one, multiply the current distances of all remaining
candidates of that same modality by the balance factor F (F >= 1).

Consequences that the tests check:

* Within one modality the output keeps the input (distance) order.
* F = 1 is plain global distance order.
* Larger F mixes harder: once a modality has contributed n items more than another,
  the other's next item is taken as soon as it is less than F**n times as far.
* With equal distances the modalities alternate (ties go to the modality picked
  fewer times, then to the fixed order image, audio, video, then any other keys in
  ``str`` order). Before the fixed order, keys equal after adding the floor fall
  back to the current distance without it, d_j * F**j; with F = 1 (where picks do
  not count) that comes first, so F = 1 is exactly the global distance order even
  for distances the floor makes equal (e.g. 1e-20 vs 0).

Implementation. The multiplier of a modality is F**picks, and its head is the
picks-th item of its list, so the j-th item of list m is taken with the key
(d_j + floor) * F**j. That sequence is non-decreasing in j, hence the merge is a
k-way merge of sorted sequences: ``balanced_merge`` does it with a heap over one head
per modality (O(k log M)); ``balanced_order`` sorts all keys at once (vectorised, for
region queries that return thousands of items). Both compare keys in the log domain,
log(d + floor) + j * log(F), so F**j never overflows, and both compute them through
the same helper, so they agree bit for bit.

Distances are circumplex (Euclidean) distances: valence and arousal each in [-1, 1],
so a distance lies in [0, 2*sqrt(2)].

Relevance limit. The merge takes whatever candidates it is given; point queries
first drop those farther than ``relevance_limit(nearest)`` (RELEVANCE_RADIUS,
RELEVANCE_MARGIN below), so a scarce modality's far items cannot fill a page.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

from emobrowser.core.types import Modality

DEFAULT_BALANCE = 1.5
"""Default balance factor F.

With F = 1.5 the closer modality may run ahead of another by about log_1.5(r)
items, r being how many times farther the other modality's next item is:

* equal distances -> strict alternation;
* the other's item twice as far -> it comes after ~2 of the leader's items
  (1.5**2 = 2.25 >= 2);
* five times as far -> after ~4; ten times -> after ~6; a hundred times -> ~11.

So on a 20-item page the best matches still come first, yet a second modality shows
up unless its nearest item is more than ~1.5**19 (about 2,200) times as far, i.e.
practically always when the other modality has any item at all; the relevance limit
(RELEVANCE_RADIUS, RELEVANCE_MARGIN), not F, keeps far items off the page. F = 2
would let a 10x-farther modality in after ~3 items, which interleaves clearly worse
matches too early on a dense library; F close to 1 degenerates to global order,
which on a photo-heavy library is a page of photos only.
"""

DEFAULT_FLOOR = 0.01
"""Added to every distance before the balance factor applies.

F**n * 0 stays 0, so without it an exact match (distance 0) would shut the other
modalities out; likewise 0.001 vs 0.01 would count as a 10x difference although
both are far below the models' error (RMSE ~0.15 on the [-1, 1] axes). 0.01 is
0.5 % of an axis range: it leaves meaningful ratios alone. With F = 1 it changes
nothing (the keys stay monotone in the distance).
"""

RELEVANCE_RADIUS = 0.5
"""Default relevance limit, part 1: a point, mood or ``--like`` query leaves out items
farther than ``relevance_limit(nearest) = max(RELEVANCE_RADIUS, nearest +
RELEVANCE_MARGIN)`` (circumplex units), ``nearest`` being the distance of the nearest
match of any requested modality.

Why a limit at all: the balance factor lets a scarce modality's next item in once the
others have run ahead by ~log_F(r) items (see DEFAULT_BALANCE), however far it is. On a
real library the same three videos at distance 0.90-0.93 came 8th, 11th and 14th for
happy, sad and angry queries alike: a page of mixed results should mix *relevant* items.

Why 0.5: a quadrant's centre (+-0.5, +-0.5) with radius 0.5 touches the two axes but
does not cross them, so a mood query there stays within the quadrant's reach (happy
does not bring in sad); 0.5 is also ~2.4 times the models' distance error (RMSE ~0.15
per axis, ~0.21 in distance), so it does not cut items the models merely misplaced.
"""

RELEVANCE_MARGIN = 0.25
"""Default relevance limit, part 2: how much farther than the nearest match an item may
be when even the nearest lies beyond RELEVANCE_RADIUS.

A query in an empty region (no item within 0.5) still returns the closest things, but
nothing far beyond them: 0.25 is about one model error in distance (~0.21), so items
the models cannot tell apart from the nearest one stay, while the far side of the
circle (up to 2*sqrt(2) away) does not fill the page. It is also the results header's
"nothing close" threshold (gui.results_panel.FAR).

Both constants are single numbers on purpose, to be tuned by a cross-modal benchmark.
An explicit ``max_distance`` replaces the rule (``math.inf``: no limit); regions are
their own limit.
"""


def relevance_limit(nearest: float | None) -> float:
    """The default distance limit (circumplex units) of a query whose nearest match of
    any requested modality lies at ``nearest`` (None: nothing matches):
    max(RELEVANCE_RADIUS, nearest + RELEVANCE_MARGIN)."""
    if nearest is None:
        return RELEVANCE_RADIUS
    return max(RELEVANCE_RADIUS, float(nearest) + RELEVANCE_MARGIN)


_ORDER = {m: i for i, m in enumerate(Modality)}


def modality_rank(key: Hashable) -> tuple[int, str]:
    """Fixed tie-break order: image, audio, video, then other keys by ``str``."""
    if key in _ORDER:
        return (_ORDER[key], "")  # type: ignore[index]
    return (len(_ORDER), str(key))


def _check_factor(factor: float, floor: float) -> float:
    if not (factor >= 1.0 and math.isfinite(factor)):
        raise ValueError(f"balance factor must be a finite number >= 1, got {factor!r}")
    if not (floor >= 0.0 and math.isfinite(floor)):
        raise ValueError(f"distance floor must be a finite number >= 0, got {floor!r}")
    return math.log(factor)


def _as_distances(dists: Sequence[float] | np.ndarray) -> np.ndarray:
    d = np.asarray(dists, dtype=np.float64).reshape(-1)
    if d.size and (np.isnan(d).any() or d.min() < 0):
        raise ValueError("distances must be non-negative numbers")
    if d.size > 1 and (np.diff(d) < 0).any():
        raise ValueError("each candidate list must be sorted by distance")
    return d


def _log_keys(d: np.ndarray, floor: float) -> np.ndarray:
    """log(d + floor), with -inf for 0 when floor is 0 (still ordered correctly)."""
    with np.errstate(divide="ignore"):
        return np.log(d + floor)


def balanced_merge(
    candidates: Mapping[Any, Sequence[float] | np.ndarray],
    k: int | None = None,
    factor: float = DEFAULT_BALANCE,
    floor: float = DEFAULT_FLOOR,
) -> list[tuple[Any, int]]:
    """Merge per-modality distance lists; return up to k (modality, index) pairs.

    ``candidates`` maps a modality (any hashable; Modality members get the fixed tie
    order) to its distances sorted ascending. ``index`` is the position in that
    modality's list. k=None merges everything.
    """
    log_f = _check_factor(factor, floor)
    dists = {m: _as_distances(d) for m, d in candidates.items()}
    keys = {m: _log_keys(d, floor) for m, d in dists.items()}
    total = sum(len(v) for v in keys.values())
    limit = total if k is None else min(k, total)
    bare = {m: _log_keys(d, 0.0) for m, d in dists.items()}
    counts = log_f > 0  # whether the number of picks breaks a tie
    heap: list[tuple[float, int, float, int, tuple[int, str], Any]] = []
    for m, lk in keys.items():
        if len(lk):
            heap.append((float(lk[0]), 0, float(bare[m][0]), 0, modality_rank(m), m))
    heapq.heapify(heap)
    out: list[tuple[Any, int]] = []
    while len(out) < limit:
        _, _, _, picks, rank, m = heapq.heappop(heap)
        out.append((m, picks))
        nxt = picks + 1
        lk = keys[m]
        if nxt < len(lk):
            # the head's current distance: its own times F**picks (log domain);
            # must be computed exactly as in balanced_order (float(lk[j]) + j*log_f).
            heapq.heappush(heap, (float(lk[nxt]) + nxt * log_f, nxt * counts, float(bare[m][nxt]) + nxt * log_f,
                                  nxt, rank, m))
    return out


def balanced_order(
    candidates: Mapping[Any, Sequence[float] | np.ndarray],
    k: int | None = None,
    factor: float = DEFAULT_BALANCE,
    floor: float = DEFAULT_FLOOR,
) -> list[tuple[Any, np.ndarray]]:
    """Vectorised equivalent of ``balanced_merge`` for long lists.

    Returns the merged order as runs: a list of (modality, indices) pairs in output
    order would be long, so instead it returns, in output order, one pair per
    maximal run of consecutive picks from the same modality. Flattening the runs
    gives exactly ``balanced_merge``'s sequence.
    """
    log_f = _check_factor(factor, floor)
    mods = list(candidates)
    parts_key, parts_d, parts_j, parts_m = [], [], [], []
    for mi, m in enumerate(mods):
        d = _as_distances(candidates[m])
        lk = _log_keys(d, floor)
        j = np.arange(len(lk), dtype=np.int64)
        parts_d.append(_log_keys(d, 0.0) + j.astype(np.float64) * log_f)
        parts_key.append(lk + j.astype(np.float64) * log_f)
        parts_j.append(j)
        parts_m.append(np.full(len(lk), mi, dtype=np.int64))
    if not mods or sum(len(p) for p in parts_j) == 0:
        return []
    key = np.concatenate(parts_key)
    raw = np.concatenate(parts_d)
    jj = np.concatenate(parts_j)
    mm = np.concatenate(parts_m)
    # tie order as in balanced_merge: fewer picks (when F > 1), smaller current
    # distance without the floor, then the fixed modality rank
    ranks = sorted(range(len(mods)), key=lambda i: modality_rank(mods[i]))
    rank_of = np.empty(len(mods), dtype=np.int64)
    rank_of[ranks] = np.arange(len(mods))
    order = np.lexsort((rank_of[mm], jj, raw, jj * (log_f > 0), key))
    if k is not None:
        order = order[:k]
    if not len(order):
        return []
    sel_m = mm[order]
    sel_j = jj[order]
    cuts = np.flatnonzero(np.diff(sel_m)) + 1
    runs = []
    for seg_m, seg_j in zip(np.split(sel_m, cuts), np.split(sel_j, cuts)):
        runs.append((mods[int(seg_m[0])], seg_j))
    return runs


def balanced_merge_items(
    candidates: Mapping[Any, tuple[Sequence[Any], Sequence[float] | np.ndarray]],
    k: int | None = None,
    factor: float = DEFAULT_BALANCE,
    floor: float = DEFAULT_FLOOR,
) -> list[tuple[Any, Any, float]]:
    """Convenience form: ``{modality: (ids, distances)}`` -> [(modality, id, distance)]."""
    dists = {m: np.asarray(d, dtype=np.float64) for m, (_, d) in candidates.items()}
    picked = balanced_merge(dists, k, factor, floor)
    return [(m, candidates[m][0][i], float(dists[m][i])) for m, i in picked]
