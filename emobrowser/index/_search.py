"""Query methods of the retrieval engine (internal; use emobrowser.index.engine).

Kept apart from engine.py (state, edits, builds) only to keep modules short. Every
distance is Euclidean on the (valence, arousal) plane, both axes in [-1, 1].

Ordering rule everywhere: within a modality by (distance, id) - ids break exact
ties so the Annoy path, the exact path and the tests agree - then the balanced
merge across modalities (emobrowser.index.balance).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from emobrowser.core.types import Modality
from emobrowser.index.balance import DEFAULT_BALANCE, balanced_merge, balanced_order, relevance_limit

MODALITIES: tuple[Modality, ...] = tuple(Modality)
Allowed = Callable[[int], bool] | Collection[int] | np.ndarray | None
# An allowed-id filter (e.g. a folder's items) with at most this many ids per
# requested result, or at most 1/16 of a modality, is searched exactly over just
# those ids: cheaper than over-fetching from Annoy and hoping enough survive.
_SELECTIVE_PER_K = 64
_EMPTY_I = np.empty(0, np.int64)
_EMPTY_F = np.empty(0, np.float64)
_Cands = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # ids, v, a, distance


@dataclass(frozen=True, slots=True)
class Hit:
    """One result: item id, its modality and point, and its distance to the query
    point (or to the region's centre); distance is in circumplex units."""

    id: int
    modality: Modality
    valence: float
    arousal: float
    distance: float


class QueryResult(list):
    """The hits of a query, best first (a plain list of hits to every caller), and
    what its distance limit left out.

    ``limit``: the distance limit applied, in circumplex units; None when there was
    none (``max_distance=math.inf``, or a region, which is its own limit).
    ``left_out``: how many items beyond ``limit`` the same query without a limit
    would have put among its k results - exactly the farther items that rerunning
    it with ``max_distance=math.inf`` brings onto the page. Counted within the
    requested modalities and filters; between 0 and k. (Not "k minus returned":
    on a dense library the limit replaces far items by nearer ones and the page
    stays full, yet those far items were left out.)
    """

    __slots__ = ("left_out", "limit")

    def __init__(self, hits: Iterable[Any] = (), left_out: int = 0, limit: float | None = None):
        super().__init__(hits)
        self.left_out = int(left_out)
        self.limit = limit


def as_modality(value: Any) -> Modality:
    return value if isinstance(value, Modality) else Modality(str(value))


def _dist(v: np.ndarray, a: np.ndarray, qv: float, qa: float) -> np.ndarray:
    # The one distance formula (elementwise and correctly rounded), so every path
    # gives bit-identical distances for the same point.
    return np.sqrt((v - qv) ** 2 + (a - qa) ** 2)


def _topk(ids: np.ndarray, d: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k smallest by (distance, id), in that order."""
    if k <= 0:
        return _EMPTY_I
    if len(d) > k:
        kth = np.partition(d, k - 1)[k - 1]
        cand = np.flatnonzero(d <= kth)
    else:
        cand = np.arange(len(d))
    return cand[np.lexsort((ids[cand], d[cand]))][:k]


def _select(ids: np.ndarray, d: np.ndarray, k: int, pred: Callable[[int], bool] | None) -> np.ndarray:
    """Like _topk, but only items the predicate accepts; calls it in result order."""
    if pred is None or k <= 0:
        return _topk(ids, d, k)
    got: list[int] = []
    done, size = 0, 4 * k
    while True:
        top = _topk(ids, d, min(size, len(d)))
        for i in top[done:].tolist():
            if pred(int(ids[i])):
                got.append(i)
                if len(got) == k:
                    return np.array(got, np.int64)
        done = len(top)
        if done >= len(d):
            return np.array(got, np.int64)
        size *= 4


def _isin_sorted(x: np.ndarray, sorted_values: np.ndarray) -> np.ndarray:
    if not len(sorted_values):
        return np.zeros(len(x), bool)
    idx = np.minimum(np.searchsorted(sorted_values, x), len(sorted_values) - 1)
    return sorted_values[idx] == x


def _id_array(values: Iterable[int]) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return np.unique(values.astype(np.int64))
    return np.unique(np.fromiter((int(x) for x in values), np.int64))


def _take(c: _Cands, idx: np.ndarray) -> _Cands:
    return (c[0][idx], c[1][idx], c[2][idx], c[3][idx])


def _concat(a: _Cands, b: _Cands) -> _Cands:
    return tuple(np.concatenate([x, y]) for x, y in zip(a, b))  # type: ignore[return-value]


class SearchMixin:
    """query / query_like / query_circle / query_rect for RetrievalEngine."""

    def _mods(self, modalities: Iterable[Modality | str] | None) -> list[Modality]:
        if modalities is None:
            return list(MODALITIES)
        wanted = {as_modality(m) for m in ([modalities] if isinstance(modalities, str) else modalities)}
        return [m for m in MODALITIES if m in wanted]

    def _filters(self, allowed: Allowed, exclude: Iterable[int] | None):
        pred = allowed if callable(allowed) else None
        allow = _id_array(allowed) if allowed is not None and pred is None else None
        excl = _id_array(exclude) if exclude is not None else None
        return allow, pred, excl

    def _keep(self, ids, allow, excl) -> np.ndarray:
        keep = np.ones(len(ids), bool)
        if allow is not None:
            keep &= _isin_sorted(ids, allow)
        if excl is not None and len(excl):
            keep &= ~_isin_sorted(ids, excl)
        return keep

    def _delta_for(self, m: Modality) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._delta_arrays is None:
            arrays = {}
            for mod in MODALITIES:
                rows = [(i, x[1], x[2]) for i, x in self._delta.items() if x[0] is mod]
                cols = list(zip(*rows)) if rows else ((), (), ())
                arrays[mod] = (np.array(cols[0], np.int64), np.array(cols[1], np.float64),
                               np.array(cols[2], np.float64))
            self._delta_arrays = arrays
        return self._delta_arrays[m]

    def _from(self, ids, v, a, d, keep, k, pred) -> _Cands:
        idx = np.flatnonzero(keep)
        sel = idx[_select(ids[idx], d[idx], k, pred)]
        return ids[sel], v[sel], a[sel], d[sel]

    def _search_delta(self, m, qv, qa, k, allow, pred, excl) -> _Cands:
        ids, v, a = self._delta_for(m)
        if not len(ids):
            return (_EMPTY_I, _EMPTY_F, _EMPTY_F, _EMPTY_F)
        d = _dist(v, a, qv, qa)
        return self._from(ids, v, a, d, self._keep(ids, allow, excl), k, pred)

    def _search_part(self, m, qv, qa, k, allow, pred, excl, exact) -> _Cands:
        p = self._parts[m]
        n = len(p.ids)
        if n == p.n_dead:
            return (_EMPTY_I, _EMPTY_F, _EMPTY_F, _EMPTY_F)
        if allow is not None and len(allow) <= max(_SELECTIVE_PER_K * k, n // 16):
            # selective id filter: look the allowed ids up and rank just those
            i = np.minimum(np.searchsorted(self._loc_ids, allow), max(len(self._loc_ids) - 1, 0))
            hit = (self._loc_ids[i] == allow) & (self._loc_mod[i] == MODALITIES.index(m))
            pos = self._loc_pos[i[hit]]
            pos = pos[p.alive[pos]]
            ids, v, a = p.ids[pos], p.v[pos], p.a[pos]
            d = _dist(v, a, qv, qa)
            return self._from(ids, v, a, d, self._keep(ids, None, excl), k, pred)
        if exact or p.ann is None:
            d = _dist(p.v, p.a, qv, qa)
            keep = self._keep(p.ids, allow, excl)
            if p.n_dead:
                keep &= p.alive
            if keep.all():  # the common case: skip the index copy
                sel = _select(p.ids, d, k, pred)
                return p.ids[sel], p.v[sel], p.a[sel], d[sel]
            return self._from(p.ids, p.v, p.a, d, keep, k, pred)
        # Annoy proposes candidates; over-fetch for tombstones and filters, grow
        # geometrically if too few survive, and go exact once that gets expensive.
        fetch = k + min(p.n_dead, 4 * k)
        if allow is not None:  # expect about k / (allowed fraction) candidates to be needed
            fetch = int(fetch * 1.5 * len(self._loc_ids) / max(len(allow), 1))
        elif pred is not None or excl is not None:
            fetch += 2 * k
        if fetch > max(n // 8, 4 * k):  # filters this selective: exact is cheaper
            return self._search_part(m, qv, qa, k, allow, pred, excl, True)
        while True:
            fetch = min(fetch, n)
            search_k = self.search_k or max(128, 2 * self.n_trees * fetch)
            pos = np.asarray(p.ann.get_nns_by_vector((qv, qa), fetch, search_k=search_k), np.int64)
            ids, v, a = p.ids[pos], p.v[pos], p.a[pos]
            d = _dist(v, a, qv, qa)
            keep = p.alive[pos] & self._keep(ids, allow, excl)
            out = self._from(ids, v, a, d, keep, k, pred)
            if len(out[0]) >= k or len(pos) < fetch or fetch >= n:
                return out
            fetch *= 4
            if fetch > n // 8:
                return self._search_part(m, qv, qa, k, allow, pred, excl, True)

    def _hits(self, per: dict[Modality, _Cands], picks: list[tuple[Modality, np.ndarray]]) -> list:
        out = []
        for m, idx in picks:
            ids, v, a, d = _take(per[m], idx)
            out.extend(Hit(i, m, x, y, z) for i, x, y, z in zip(ids.tolist(), v.tolist(), a.tolist(), d.tolist()))
        return out

    def query(self, valence: float, arousal: float, k: int = 20,
              modalities: Iterable[Modality | str] | None = None, balance: float = DEFAULT_BALANCE,
              max_distance: float | None = None, allowed: Allowed = None,
              exclude: Iterable[int] | None = None, exact: bool = False) -> QueryResult:
        """The k items nearest to (valence, arousal), balanced across modalities.

        modalities: restrict to these (default all). balance: factor F >= 1 (1 =
        plain distance order). max_distance: None (default) applies the relevance
        limit, leaving out items farther than ``balance.relevance_limit(nearest)``,
        nearest being the distance of the nearest match of any requested modality;
        a number drops items farther than that instead; ``math.inf`` keeps all.
        allowed: a collection of permitted ids (e.g. a folder's items, from the
        store) or a predicate id -> bool. exclude: ids to leave out. exact: brute
        force instead of Annoy (reference results; slow on big libraries).

        Returns a QueryResult: the hits, with ``limit`` (the radius applied) and
        ``left_out`` (the farther items the limit kept off the page).
        """
        if max_distance is not None and not max_distance >= 0:
            raise ValueError(f"max_distance must be a number >= 0 (or math.inf), got {max_distance!r}")
        if k <= 0:
            return QueryResult()
        qv, qa = float(valence), float(arousal)
        allow, pred, excl = self._filters(allowed, exclude)
        per: dict[Modality, _Cands] = {}
        with self._lock:
            for m in self._mods(modalities):
                # unlimited: the limit is decided below, and what lies beyond it is counted
                base = self._search_part(m, qv, qa, k, allow, pred, excl, exact)
                delta = self._search_delta(m, qv, qa, k, allow, pred, excl)
                both = _concat(base, delta) if len(delta[0]) else base
                per[m] = _take(both, _topk(both[0], both[3], k)) if len(delta[0]) else both
        dists = {m: c[3] for m, c in per.items()}  # each ascending
        if max_distance is None:
            limit = relevance_limit(min((float(d[0]) for d in dists.values() if len(d)), default=None))
        else:
            limit = None if math.isinf(max_distance) else float(max_distance)
        picks = balanced_merge(dists, k, balance, self.floor)
        left_out = 0
        if limit is not None:
            left_out = sum(1 for m, i in picks if dists[m][i] > limit)
            if left_out:
                within = {m: d[:int(np.searchsorted(d, limit, side="right"))] for m, d in dists.items()}
                # Within-limit items keep their per-modality positions, hence their
                # merge keys: the limited page is the unlimited one minus its far items,
                # refilled with the next nearer ones.
                picks = balanced_merge(within, k, balance, self.floor)
        cols = {m: tuple(x.tolist() for x in c) for m, c in per.items()}  # one conversion per modality
        hits = [Hit(cols[m][0][i], m, cols[m][1][i], cols[m][2][i], cols[m][3][i]) for m, i in picks]
        return QueryResult(hits, left_out, limit)

    def query_like(self, item_id: int, k: int = 20, modalities: Iterable[Modality | str] | None = None,
                   *, other_modalities: bool = False, **kwargs) -> QueryResult:
        """Query by example: items near item_id's point, the item itself excluded.

        other_modalities=True searches only modalities other than the example's
        ("photos that feel like this song"). Other keywords as for ``query``.
        Raises KeyError for an unknown id.
        """
        found = self.get(item_id)
        if found is None:
            raise KeyError(item_id)
        m, v, a = found
        mods = [x for x in self._mods(modalities) if not (other_modalities and x is m)]
        exclude = {int(item_id), *(kwargs.pop("exclude", None) or ())}
        return self.query(v, a, k, modalities=mods, exclude=exclude, **kwargs)

    def query_circle(self, valence: float, arousal: float, radius: float, **kwargs) -> QueryResult:
        """All items within ``radius`` of the centre (inclusive), balanced and
        ordered by distance to the centre. Keywords: modalities, balance, allowed,
        exclude, limit (None = all)."""
        return self._region(float(valence), float(arousal), float(radius), None, **kwargs)

    def query_rect(self, v0: float, a0: float, v1: float, a1: float, **kwargs) -> QueryResult:
        """All items with v0 <= valence <= v1 and a0 <= arousal <= a1 (inclusive),
        balanced and ordered by distance to the rectangle's centre. Keywords as
        for ``query_circle``."""
        v0, v1 = sorted((float(v0), float(v1)))
        a0, a1 = sorted((float(a0), float(a1)))
        cv, ca = (v0 + v1) / 2, (a0 + a1) / 2
        # the circumscribed circle's ball query, then the exact rectangle test
        return self._region(cv, ca, math.hypot(v1 - v0, a1 - a0) / 2, (v0, a0, v1, a1), **kwargs)

    def _region(self, cv, ca, r, rect, modalities=None, balance: float = DEFAULT_BALANCE,
                allowed: Allowed = None, exclude=None, limit: int | None = None) -> QueryResult:
        from scipy.spatial import cKDTree

        allow, pred, excl = self._filters(allowed, exclude)
        per: dict[Modality, _Cands] = {}
        with self._lock:
            for m in self._mods(modalities):
                p = self._parts[m]
                cands = (_EMPTY_I, _EMPTY_F, _EMPTY_F)
                if len(p.ids) > p.n_dead:
                    if p.tree is None:  # built lazily, once per base; tombstones masked below
                        p.tree = cKDTree(np.column_stack((p.v, p.a)))
                    # slightly wider than r: the exact test below on _dist decides
                    pos = np.asarray(p.tree.query_ball_point((cv, ca), r * (1 + 1e-9) + 1e-12), np.int64)
                    pos = pos[p.alive[pos]]
                    cands = (p.ids[pos], p.v[pos], p.a[pos])
                dids, dv, da = self._delta_for(m)
                ids, v, a = (np.concatenate([x, y]) for x, y in zip(cands, (dids, dv, da)))
                d = _dist(v, a, cv, ca)
                if rect is None:
                    inside = d <= r
                else:
                    inside = (v >= rect[0]) & (v <= rect[2]) & (a >= rect[1]) & (a <= rect[3])
                keep = inside & self._keep(ids, allow, excl)
                per[m] = self._from(ids, v, a, d, keep, int(keep.sum()), pred)
        runs = balanced_order({m: c[3] for m, c in per.items()}, limit, balance, self.floor)
        return QueryResult(self._hits(per, runs))  # the region is the limit: nothing is left out by distance
