"""Retrieval engine: nearest items to a circumplex point, balanced across modalities.

Coordinates are valence and arousal, each in [-1, 1] (0 = neutral); distances are
Euclidean in that plane, so in [0, 2*sqrt(2)]. Qt-free and store-independent: the
caller feeds arrays (or rows) of (id, modality, valence, arousal) and edits.

Structure (per modality image / audio / video):

* base   - the items of the last build: one Annoy index (2-D euclidean, memory-
           mapped from the cache folder; see ``_persist``) and the same points as
           float64 arrays; Annoy only proposes candidates, distances are recomputed
           in float64 so the approximate and the exact path rank identically.
* delta  - items added or changed since the build (Annoy cannot add after a build),
           searched exactly with NumPy.
* tombstones - base items deleted or changed since the build (``alive`` mask).

An update is delete + add. ``needs_rebuild`` turns true once delta + tombstones
pass ``rebuild_threshold``; call ``rebuild_if_needed()`` from a worker thread (or
with background=True). Queries stay correct at any time; the build runs on a
snapshot, and edits made meanwhile are replayed onto the new base.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from emobrowser.core.paths import private_dir
from emobrowser.core.types import Modality
from emobrowser.index import _persist
from emobrowser.index._search import MODALITIES, Hit, QueryResult, SearchMixin, as_modality
from emobrowser.index.balance import DEFAULT_FLOOR

__all__ = ["DEFAULT_TREES", "Hit", "MODALITIES", "QueryResult", "RetrievalEngine"]

log = logging.getLogger(__name__)

DEFAULT_TREES = 4  # 2-D data: a few trees already give recall ~1 (see benchmarks/bench_query.py)


class _Part:
    """One modality's base: Annoy position i <-> ids[i], (v[i], a[i])."""

    __slots__ = ("ids", "v", "a", "alive", "n_dead", "ann", "tree")

    def __init__(self, ids: np.ndarray, v: np.ndarray, a: np.ndarray, ann=None, alive=None):
        self.ids, self.v, self.a, self.ann, self.tree = ids, v, a, ann, None
        self.alive = np.ones(len(ids), bool) if alive is None else alive
        self.n_dead = int(len(ids) - self.alive.sum())


def _modality_codes(modality: Any, n: int) -> np.ndarray:
    """Index into MODALITIES per item; accepts Modality members or their strings."""
    if isinstance(modality, (str, Modality)):
        return np.full(n, MODALITIES.index(as_modality(modality)), np.int8)
    lut = {m.value: i for i, m in enumerate(MODALITIES)}  # Modality members hash as their value
    values = np.asarray(modality, dtype=object).reshape(-1).tolist()
    try:
        return np.fromiter((lut[x] for x in values), np.int8, count=len(values))
    except KeyError as exc:
        raise ValueError(f"unknown modality {exc.args[0]!r}") from None


def _columns(ids, modality, valence, arousal) -> dict[Modality, tuple[np.ndarray, ...]]:
    """Validate arrays; split by modality, each sorted by id (a canonical order)."""
    ids = np.asarray(ids, dtype=np.int64).reshape(-1)
    v = np.asarray(valence, dtype=np.float64).reshape(-1)
    a = np.asarray(arousal, dtype=np.float64).reshape(-1)
    codes = _modality_codes(modality, len(ids))
    if not len(ids) == len(v) == len(a) == len(codes):
        raise ValueError("ids, modality, valence and arousal must have the same length")
    if not (np.isfinite(v).all() and np.isfinite(a).all()):
        raise ValueError("valence and arousal must be finite")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("item ids must be unique")
    out = {}
    for j, m in enumerate(MODALITIES):
        sel = np.flatnonzero(codes == j)
        sel = sel[np.argsort(ids[sel], kind="stable")]
        out[m] = (ids[sel], v[sel], a[sel])
    return out


class RetrievalEngine(SearchMixin):
    """Balanced nearest-neighbour and region search over scored items.

    ``cache_dir=None`` keeps indices in memory only (tests, one-off scripts);
    otherwise pass e.g. ``emobrowser.core.paths.cache_dir() / "index"``.
    """

    def __init__(self, ids=(), modality=(), valence=(), arousal=(), *, cache_dir: str | Path | None = None,
                 name: str = "items", n_trees: int = DEFAULT_TREES, search_k: int | None = None,
                 rebuild_threshold: int | None = None, floor: float = DEFAULT_FLOOR):
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.name, self.n_trees, self.floor = name, int(n_trees), floor
        self.search_k = search_k  # None: max(128, 2 * n_trees * fetched candidates)
        self._threshold = rebuild_threshold
        self._lock = threading.RLock()  # guards all state below
        self._build_lock = threading.Lock()  # one build at a time
        self._journal: list[tuple] | None = None  # edits made while a build runs
        self._built = False
        self._install({m: _Part(*c) for m, c in _columns(ids, modality, valence, arousal).items()}, {})

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[int, Any, float, float]], **kwargs) -> RetrievalEngine:
        """Build from (id, modality, valence, arousal) rows, e.g. a SQLite cursor."""
        cols = list(zip(*rows))
        return cls(*(cols if cols else ((), (), (), ())), **kwargs)

    # ----- state -------------------------------------------------------------------

    def _install(self, parts: dict[Modality, _Part], delta: dict[int, tuple[Modality, float, float]]) -> None:
        with self._lock:
            self._parts, self._delta, self._delta_arrays = parts, delta, None
            all_ids = np.concatenate([parts[m].ids for m in MODALITIES])
            order = np.argsort(all_ids, kind="stable")
            self._loc_ids = all_ids[order]
            self._loc_mod = np.repeat(np.arange(len(MODALITIES)), [len(parts[m].ids) for m in MODALITIES])[order]
            self._loc_pos = np.concatenate([np.arange(len(parts[m].ids)) for m in MODALITIES])[order]

    def _locate(self, item_id: int) -> tuple[Modality, _Part, int] | None:
        """The live base item's (modality, part, Annoy position), or None."""
        i = int(np.searchsorted(self._loc_ids, item_id))
        if i < len(self._loc_ids) and self._loc_ids[i] == item_id:
            m = MODALITIES[self._loc_mod[i]]
            pos = int(self._loc_pos[i])
            return (m, self._parts[m], pos) if self._parts[m].alive[pos] else None
        return None

    def get(self, item_id: int) -> tuple[Modality, float, float] | None:
        """The live item's (modality, valence, arousal), or None."""
        with self._lock:
            if item_id in self._delta:
                return self._delta[item_id]
            found = self._locate(item_id)
            if found is None:
                return None
            m, part, pos = found
            return (m, float(part.v[pos]), float(part.a[pos]))

    def __contains__(self, item_id: int) -> bool:
        return self.get(item_id) is not None

    def __len__(self) -> int:
        with self._lock:
            return sum(len(p.ids) - p.n_dead for p in self._parts.values()) + len(self._delta)

    def add(self, item_id: int, modality: Modality | str, valence: float, arousal: float) -> None:
        """Add an item, or update it (delete + add) when the id exists."""
        valence, arousal = float(valence), float(arousal)
        if not (np.isfinite(valence) and np.isfinite(arousal)):
            raise ValueError("valence and arousal must be finite")
        with self._lock:
            self._remove_locked(int(item_id))
            self._delta[int(item_id)] = (as_modality(modality), valence, arousal)
            self._delta_arrays = None
            if self._journal is not None:
                self._journal.append((int(item_id), as_modality(modality), valence, arousal))

    def add_many(self, ids, modality, valence, arousal) -> None:
        cols = _columns(ids, modality, valence, arousal)
        with self._lock:
            for m, (ii, vv, aa) in cols.items():
                for row in zip(ii.tolist(), vv.tolist(), aa.tolist()):
                    self.add(row[0], m, row[1], row[2])

    def remove(self, item_id: int) -> bool:
        """Delete an item; False if it was not there."""
        with self._lock:
            if self._journal is not None:
                self._journal.append((int(item_id), None, 0.0, 0.0))
            return self._remove_locked(int(item_id))

    def remove_many(self, ids: Iterable[int]) -> int:
        with self._lock:
            return sum(self.remove(int(i)) for i in ids)

    def _remove_locked(self, item_id: int) -> bool:
        if self._delta.pop(item_id, None) is not None:
            self._delta_arrays = None
            return True
        found = self._locate(item_id)
        if found is None:
            return False
        _, part, pos = found
        part.alive[pos] = False  # tombstone
        part.n_dead += 1
        return True

    @property
    def pending(self) -> int:
        """Edits since the last build: delta items plus tombstones."""
        with self._lock:
            return len(self._delta) + sum(p.n_dead for p in self._parts.values())

    @property
    def rebuild_threshold(self) -> int:
        if self._threshold is not None:
            return self._threshold
        # exact delta search costs ~1 us per 100 items: 5 % of the library (at least
        # 4096) keeps it well under a millisecond while rebuilding rarely
        return max(4096, len(self) // 20)

    @property
    def is_built(self) -> bool:
        return self._built

    @property
    def needs_rebuild(self) -> bool:
        return not self._built or self.pending > self.rebuild_threshold

    def _snapshot(self) -> dict[Modality, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The live set per modality, sorted by id; starts journaling edits."""
        with self._lock:
            snap = {}
            for m in MODALITIES:
                p = self._parts[m]
                ids, v, a = p.ids[p.alive], p.v[p.alive], p.a[p.alive]
                d = [(i, x[1], x[2]) for i, x in self._delta.items() if x[0] == m]
                if d:
                    di, dv, da = (np.array(c) for c in zip(*d))
                    ids, v, a = np.concatenate([ids, di]), np.concatenate([v, dv]), np.concatenate([a, da])
                o = np.argsort(ids, kind="stable")
                snap[m] = (ids[o].astype(np.int64), v[o].astype(np.float64), a[o].astype(np.float64))
            self._journal = []
            return snap

    def _finish(self, parts: dict[Modality, _Part], delta: dict) -> None:
        """Install a base made from the snapshot, then replay the edits since."""
        with self._lock:
            old = self._parts
            journal, self._journal = self._journal or [], None
            self._install(parts, delta)
            self._built = True
            for item_id, m, v, a in journal:
                if m is None:
                    self._remove_locked(item_id)
                else:
                    self._remove_locked(item_id)
                    self._delta[item_id] = (m, v, a)
                    self._delta_arrays = None
        for p in old.values():  # no query can use them now (queries hold the lock)
            if p.ann is not None and p.ann not in [q.ann for q in parts.values()]:
                p.ann.unload()

    # ----- building ----------------------------------------------------------------

    def build(self) -> None:
        """Build and install fresh indices over the live set. Safe in a worker thread."""
        with self._build_lock:
            self._build_locked()

    def rebuild_if_needed(self, background: bool = False) -> bool | threading.Thread:
        """Load the cached index if valid, then rebuild if none or too many edits.

        Returns True if it built. background=True runs in a daemon thread and
        returns the thread.
        """
        if background:
            t = threading.Thread(target=self.rebuild_if_needed, name="emobrowser-index", daemon=True)
            t.start()
            return t
        with self._build_lock:
            if not self._built and self.cache_dir is not None:
                self._try_load()
            if self.needs_rebuild:
                self._build_locked()
                return True
            return False

    def _new_index(self, v: np.ndarray, a: np.ndarray):
        index = _persist.new_annoy()
        for i, p in enumerate(np.column_stack((v, a)).astype(np.float32).tolist()):
            index.add_item(i, p)  # position i = row i of the sorted snapshot
        index.build(self.n_trees)  # Annoy releases the GIL while building
        return index

    def _build_locked(self) -> None:
        snap = self._snapshot()
        try:
            gen = _persist.new_generation()
            persist = self.cache_dir is not None
            parts, entries = {}, {}
            for m, (ids, v, a) in snap.items():
                index = self._new_index(v, a) if len(ids) else None
                if persist and index is not None:
                    items = np.empty(len(ids), _persist.ITEM_DTYPE)
                    items["id"], items["v"], items["a"] = ids, v, a
                    try:
                        private_dir(self.cache_dir)
                        entries[m] = _persist.save_part(self.cache_dir, self.name, gen, m, items, index)
                        index = entries[m]["_index"]
                    except OSError as exc:  # a cache we cannot write is not fatal
                        log.warning("cannot write the index cache in %s (%s); keeping it in memory",
                                    self.cache_dir, exc)
                        persist = False
                        if index.get_n_items() != len(ids):  # unloaded by a failed save
                            index = self._new_index(v, a)
                parts[m] = _Part(ids, v, a, index)
            if persist:
                try:
                    private_dir(self.cache_dir)
                    _persist.write_meta(self.cache_dir, self.name, gen, self.n_trees, entries)
                except OSError as exc:
                    log.warning("cannot write the index metadata in %s (%s)", self.cache_dir, exc)
                    persist = False
        except BaseException:
            with self._lock:
                self._journal = None
            raise
        self._finish(parts, {})
        if persist:
            _persist.cleanup(self.cache_dir, self.name, gen)
        log.info("built the %s index: %d items", self.name, sum(len(p.ids) for p in parts.values()))

    def _try_load(self) -> bool:
        """Adopt the cached generation; differences from the live set become delta."""
        loaded = _persist.load(self.cache_dir, self.name)
        if loaded is None:
            return False
        snap = self._snapshot()
        try:
            parts, delta = {}, {}
            for m in MODALITIES:
                items, index = loaded.get(m, (np.empty(0, _persist.ITEM_DTYPE), None))
                ids, v, a = snap[m]
                _, i_d, i_c = np.intersect1d(items["id"], ids, assume_unique=True, return_indices=True)
                same = (items["v"][i_d] == v[i_c]) & (items["a"][i_d] == a[i_c])
                alive = np.zeros(len(items), bool)
                alive[i_d[same]] = True
                fresh = np.ones(len(ids), bool)
                fresh[i_c[same]] = False
                for i, vv, aa in zip(ids[fresh].tolist(), v[fresh].tolist(), a[fresh].tolist()):
                    delta[i] = (m, vv, aa)
                parts[m] = _Part(items["id"].copy(), items["v"].copy(), items["a"].copy(), index, alive)
        except BaseException:
            with self._lock:
                self._journal = None
            raise
        self._finish(parts, delta)
        # debug: the window reloads the library every 2 s while indexing
        log.debug("loaded the cached %s index (%d pending edits)", self.name, self.pending)
        return True

    def close(self) -> None:
        with self._lock:
            for p in self._parts.values():
                if p.ann is not None:
                    p.ann.unload()
                p.ann = None
            self._built = False
