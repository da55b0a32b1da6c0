"""The retrieval engine against brute force: Annoy path, delta, tombstones, rebuilds,
filters, regions, the on-disk cache (stale, corrupt) and concurrent builds."""

import json
import math
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emobrowser.core.types import Modality
from emobrowser.index.balance import DEFAULT_BALANCE, RELEVANCE_MARGIN, RELEVANCE_RADIUS, balanced_merge
from emobrowser.index.engine import MODALITIES, Hit, QueryResult, RetrievalEngine

# Scores are float32 model outputs. Annoy holds float32 too, so two points whose
# distances differ only below that (5e-95 against 0) are a tie it may break either
# way; such coordinates are not generated.
coord = st.floats(-1, 1, allow_nan=False, width=32).filter(lambda x: x == 0.0 or abs(x) >= 1e-6)
mod = st.sampled_from(list(Modality))
item = st.tuples(mod, coord, coord)


def d(v, a, qv, qa):
    return math.sqrt((v - qv) * (v - qv) + (a - qa) * (a - qa))


def brute(live, qv, qa, k=20, modalities=None, balance=DEFAULT_BALANCE, max_distance=None,
          allowed=None, exclude=()):
    """Reference: per-modality (distance, id) order within the distance limit (None: the
    relevance limit, max(RELEVANCE_RADIUS, nearest + RELEVANCE_MARGIN); inf: none), then
    the balanced merge."""
    rows = {m: sorted((d(v, a, qv, qa), i) for i, (mm, v, a) in live.items()
                      if mm is m and i not in exclude and (allowed is None or i in allowed))
            for m in modalities or MODALITIES}
    if max_distance is None:
        nearest = min((r[0][0] for r in rows.values() if r), default=0.0)
        max_distance = max(RELEVANCE_RADIUS, nearest + RELEVANCE_MARGIN)
    per = {m: [x for x in r if x[0] <= max_distance][:k] for m, r in rows.items()}
    picks = balanced_merge({m: [r[0] for r in rows] for m, rows in per.items()}, k, balance)
    return [per[m][j][1] for m, j in picks]


def brute_region(live, inside, cv, ca, balance=DEFAULT_BALANCE):
    per = {m: sorted((d(v, a, cv, ca), i) for i, (mm, v, a) in live.items() if mm is m and inside(v, a))
           for m in MODALITIES}
    return [per[m][j][1] for m, j in balanced_merge({m: [r[0] for r in rows] for m, rows in per.items()}, None, balance)]


def make(live, **kw):
    ids = list(live)
    return RetrievalEngine(ids, [live[i][0] for i in ids], [live[i][1] for i in ids],
                           [live[i][2] for i in ids], **kw)


def random_live(n, seed=0, start=0):
    rng = np.random.default_rng(seed)
    mods = rng.integers(0, len(MODALITIES), n)
    pts = rng.uniform(-1, 1, (n, 2))
    return {start + 3 * i: (MODALITIES[mods[i]], float(pts[i, 0]), float(pts[i, 1])) for i in range(n)}


def ids_of(hits):
    return [h.id for h in hits]


def test_hits_and_input_forms():
    e = RetrievalEngine.from_rows([(1, "image", 0.1, 0.1), (2, Modality.AUDIO, 0.2, 0.2), (3, "video", -0.5, 0.5)])
    hits = e.query(0.1, 0.1, k=2)
    assert hits[0] == Hit(1, Modality.IMAGE, 0.1, 0.1, 0.0)
    assert len(e) == 3 and 2 in e and e.get(3) == (Modality.VIDEO, -0.5, 0.5)
    assert RetrievalEngine.from_rows([]).query(0, 0) == []
    with pytest.raises(ValueError):
        RetrievalEngine([1, 1], ["image", "audio"], [0, 0], [0, 0])
    with pytest.raises(ValueError):
        RetrievalEngine([1], ["text"], [0], [0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.integers(0, 300), item, max_size=120),
       st.lists(st.tuples(st.sampled_from(["add", "remove", "build"]), st.integers(0, 400), item), max_size=60),
       st.lists(st.tuples(coord, coord), min_size=1, max_size=3), st.integers(1, 25),
       st.sampled_from([1.0, 1.5, 3.0]))
def test_edits_and_rebuilds_equal_brute_force(initial, ops, queries, k, balance):
    live = dict(initial)
    e = make(live, rebuild_threshold=10**9)
    e.build()
    for op, i, (m, v, a) in ops:
        if op == "add":  # a new id or an update (delete + add)
            e.add(i, m, v, a)
            live[i] = (m, v, a)
        elif op == "remove":
            assert e.remove(i) == (i in live)
            live.pop(i, None)
        else:
            e.build()
            assert e.pending == 0
    assert len(e) == len(live)
    for qv, qa in queries:
        want = brute(live, qv, qa, k, balance=balance)
        assert ids_of(e.query(qv, qa, k, balance=balance)) == want
        assert ids_of(e.query(qv, qa, k, balance=balance, exact=True)) == want
        assert ids_of(e.query(qv, qa, k, balance=balance, max_distance=math.inf)) == brute(
            live, qv, qa, k, balance=balance, max_distance=math.inf)
    e.build()
    for qv, qa in queries:
        assert ids_of(e.query(qv, qa, k, balance=balance)) == brute(live, qv, qa, k, balance=balance)


def test_recall_at_20_of_the_annoy_path():
    live = random_live(30000, seed=3)
    e = make(live)
    e.build()
    rng = np.random.default_rng(4)
    recalls = []
    for qv, qa in rng.uniform(-1, 1, (60, 2)):
        approx = set(ids_of(e.query(qv, qa, 20)))
        exact = set(ids_of(e.query(qv, qa, 20, exact=True)))
        recalls.append(len(approx & exact) / 20)
    assert np.mean(recalls) >= 0.99


def test_filters_equal_brute_force():
    live = random_live(5000, seed=5)
    e = make(live, rebuild_threshold=10**9)
    e.build()
    for i in list(live)[:300]:  # tombstones, and a delta
        e.remove(i)
        del live[i]
    for j in range(200):
        live[10**6 + j] = (MODALITIES[j % 3], (j % 20) / 10 - 1, (j // 20) / 10 - 0.5)
        e.add(10**6 + j, *live[10**6 + j])
    ids = sorted(live)
    few = set(ids[::400])  # selective: exact over just these
    many = set(ids[::2])  # not selective: Annoy with over-fetch
    for qv, qa in [(0.0, 0.0), (0.9, -0.9), (-0.3, 0.7)]:
        for kw in [dict(allowed=few), dict(allowed=many), dict(max_distance=0.05),
                   dict(modalities=["audio"]), dict(exclude=ids[:50]), dict(allowed=many, max_distance=0.3),
                   dict(allowed=few, max_distance=math.inf)]:
            want = brute(live, qv, qa, 20, **{k: (set(v) if k == "exclude" else v) for k, v in kw.items()
                                              if k != "modalities"},
                         modalities=[Modality(x) for x in kw.get("modalities", [])] or None)
            assert ids_of(e.query(qv, qa, 20, **kw)) == want, kw
        pred = [i for i in ids if i % 7 == 0]
        assert ids_of(e.query(qv, qa, 20, allowed=lambda i: i % 7 == 0)) == brute(live, qv, qa, 20, allowed=set(pred))


def test_query_like():
    live = random_live(2000, seed=6)
    e = make(live)
    e.rebuild_if_needed()
    i = next(iter(live))
    m, v, a = live[i]
    hits = e.query_like(i, k=10)
    assert i not in ids_of(hits) and ids_of(hits) == brute(live, v, a, 10, exclude={i})
    others = e.query_like(i, k=10, other_modalities=True)
    assert all(h.modality is not m for h in others)
    with pytest.raises(KeyError):
        e.query_like(-1)


# ----- the relevance limit ---------------------------------------------------------------

HAPPY, SAD, ANGRY = (0.6, 0.5), (-0.6, -0.4), (-0.6, 0.6)


def far_videos_library(seed=0):
    """1,200 photos and songs over the whole circle, and three videos together near
    (0, -0.95): 0.8 to 1.7 away from a happy, a sad and an angry query."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(-1, 1, (1200, 2))
    live = {i: (MODALITIES[i % 2], float(v), float(a)) for i, (v, a) in enumerate(pts)}
    for j, (v, a) in enumerate([(0.0, -0.95), (0.03, -0.97), (-0.03, -0.93)]):
        live[10_000 + j] = (Modality.VIDEO, v, a)
    return live


def test_a_far_scarce_modality_no_longer_fills_the_page():
    live = far_videos_library()
    e = make(live)
    e.build()
    videos = {i for i, row in live.items() if row[0] is Modality.VIDEO}
    for qv, qa in (HAPPY, SAD, ANGRY):
        everything = e.query(qv, qa, 20, max_distance=math.inf)
        # without a limit the balance rule lets the same far videos into every page
        far = [h.distance for h in everything if h.id in videos]
        assert len(far) >= 2 and min(far) > 0.75 > RELEVANCE_RADIUS
        hits = e.query(qv, qa, 20)
        assert isinstance(hits, QueryResult) and hits.limit == RELEVANCE_RADIUS
        assert len(hits) == 20 and not videos & set(ids_of(hits))  # nearer photos and songs took their places
        assert max(h.distance for h in hits) <= RELEVANCE_RADIUS
        assert hits.left_out == len(far)  # though the page is full: "k minus returned" would say 0
        assert ids_of(hits) == brute(live, qv, qa, 20)
        assert ids_of(e.query(qv, qa, 20, exact=True)) == ids_of(hits)


def test_a_query_in_an_empty_region_still_returns_the_nearest_items():
    rng = np.random.default_rng(1)
    pts = rng.uniform(0.3, 1.0, (60, 2))  # all pleasant and excited; the query is sad and calm
    live = {i: (MODALITIES[i % 3], float(v), float(a)) for i, (v, a) in enumerate(pts)}
    e = make(live)
    e.build()
    nearest = min(d(v, a, -0.9, -0.9) for _, v, a in live.values())
    assert nearest + RELEVANCE_MARGIN > RELEVANCE_RADIUS  # nothing within the radius
    hits = e.query(-0.9, -0.9, 20)
    assert hits and hits[0].distance == pytest.approx(nearest)
    assert hits.limit == pytest.approx(nearest + RELEVANCE_MARGIN)
    assert all(h.distance <= hits.limit for h in hits)
    everything = e.query(-0.9, -0.9, 20, max_distance=math.inf)
    assert len(everything) == 20 and hits.left_out == sum(h.distance > hits.limit for h in everything) > 0
    assert ids_of(hits) == brute(live, -0.9, -0.9, 20)
    # the nearest item of any modality sets the limit for all of them
    only_far = e.query(-0.9, -0.9, 20, modalities=["audio"])
    audio_nearest = min(d(v, a, -0.9, -0.9) for m, v, a in live.values() if m is Modality.AUDIO)
    assert only_far.limit == pytest.approx(max(RELEVANCE_RADIUS, audio_nearest + RELEVANCE_MARGIN))


def test_max_distance_replaces_the_relevance_limit():
    live = far_videos_library()
    e = make(live)
    e.build()
    qv, qa = SAD  # the videos are 0.8 away
    unlimited = e.query(qv, qa, 20, max_distance=math.inf)
    assert unlimited.limit is None and unlimited.left_out == 0 and len(unlimited) == 20
    assert ids_of(unlimited) == brute(live, qv, qa, 20, max_distance=math.inf)
    assert Modality.VIDEO in {h.modality for h in unlimited}
    wide = e.query(qv, qa, 20, max_distance=1.0)  # that radius, no relative rule
    assert wide.limit == 1.0 and wide.left_out == 0 and ids_of(wide) == ids_of(unlimited)
    narrow = e.query(qv, qa, 20, max_distance=0.1)
    assert narrow.limit == 0.1 and narrow and all(h.distance <= 0.1 for h in narrow)
    assert ids_of(narrow) == brute(live, qv, qa, 20, max_distance=0.1)
    assert narrow.left_out == sum(h.distance > 0.1 for h in unlimited)
    # nearer than the nearest item: an empty page, and the whole unlimited page left out
    none = e.query(qv, qa, 5, max_distance=0.0)
    assert list(none) == [] and none.left_out == 5 and none.limit == 0.0
    for bad in (float("nan"), -0.5):
        with pytest.raises(ValueError):
            e.query(qv, qa, 5, max_distance=bad)
    # regions are their own limit
    region = e.query_circle(qv, qa, 0.3)
    assert isinstance(region, QueryResult) and region.limit is None and region.left_out == 0


def test_left_out_counts_the_farther_items_of_the_unlimited_page():
    rng = np.random.default_rng(11)
    seen = set()
    for seed, n in enumerate((15, 40, 90, 200, 600)):  # sparse to dense
        live = random_live(n, seed=seed)
        e = make(live)
        e.build()
        for qv, qa in rng.uniform(-1, 1, (8, 2)):
            for k in (3, 20):
                hits = e.query(qv, qa, k)
                everything = e.query(qv, qa, k, max_distance=math.inf)
                far = {h.id for h in everything if h.distance > hits.limit}
                assert hits.left_out == len(far) <= k
                # the unlimited page minus its far items, refilled with nearer ones
                assert set(ids_of(everything)) - far <= set(ids_of(hits))
                assert len(hits) == min(k, sum(d(v, a, qv, qa) <= hits.limit for _, v, a in live.values()))
                seen.add((hits.left_out > 0, len(hits) == k))
    assert {(True, True), (True, False), (False, True)} <= seen


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.integers(0, 500), item, max_size=150), st.lists(st.integers(0, 500), max_size=30),
       st.lists(st.tuples(st.integers(501, 600), item), max_size=30), coord, coord, coord, coord)
def test_regions_return_exactly_the_items_inside(initial, removed, added, x0, y0, x1, y1):
    live = dict(initial)
    e = make(live)
    e.build()
    for i in removed:
        e.remove(i)
        live.pop(i, None)
    for i, row in added:
        e.add(i, *row)
        live[i] = row
    v0, v1, a0, a1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    cv, ca = (v0 + v1) / 2, (a0 + a1) / 2
    want = brute_region(live, lambda v, a: v0 <= v <= v1 and a0 <= a <= a1, cv, ca)
    assert ids_of(e.query_rect(x0, y0, x1, y1)) == want
    r = abs(x1 - x0)
    assert ids_of(e.query_circle(x0, y0, r)) == brute_region(live, lambda v, a: d(v, a, x0, y0) <= r, x0, y0)
    assert ids_of(e.query_circle(x0, y0, r, limit=5)) == brute_region(
        live, lambda v, a: d(v, a, x0, y0) <= r, x0, y0)[:5]


def test_cache_reload_stale_and_corrupt(tmp_path):
    live = random_live(3000, seed=7)
    e = make(live, cache_dir=tmp_path)
    assert e.rebuild_if_needed() is True and e.is_built
    files = sorted(p.name for p in tmp_path.iterdir())
    assert "items.meta.json" in files and not any(".tmp-" in f for f in files)
    q = [(0.1, 0.2), (-0.8, 0.5)]
    want = {p: brute(live, *p) for p in q}

    reopened = make(live, cache_dir=tmp_path)  # same items: reuses the files
    assert reopened.rebuild_if_needed() is False and reopened.pending == 0
    assert all(ids_of(reopened.query(*p)) == want[p] for p in q)

    stale = dict(live)  # a few edits since the cache was written: adopted as delta
    for i in list(stale)[:10]:
        del stale[i]
    i = next(iter(stale))
    stale[i] = (stale[i][0], 0.1, 0.2)
    stale[99999] = (Modality.VIDEO, 0.1, 0.2)
    s = make(stale, cache_dir=tmp_path)
    assert s.rebuild_if_needed() is False and s.pending == 10 + 2 + 1
    assert all(ids_of(s.query(*p)) == brute(stale, *p) for p in q)

    ann = next(tmp_path.glob("items-*-image.ann"))
    for damage in ("truncate", "flip", "meta", "items"):
        if damage == "truncate":
            ann.write_bytes(ann.read_bytes()[:1000])
        elif damage == "flip":
            data = bytearray(ann.read_bytes())
            data[len(data) // 2] ^= 0xFF
            ann.write_bytes(bytes(data))
        elif damage == "meta":
            (tmp_path / "items.meta.json").write_text("{not json")
        else:
            next(tmp_path.glob("items-*-audio.items.npy")).write_bytes(b"garbage")
        fresh = make(live, cache_dir=tmp_path)
        assert fresh.rebuild_if_needed() is True  # detected, rebuilt, never fatal
        assert all(ids_of(fresh.query(*p)) == want[p] for p in q)
        json.loads((tmp_path / "items.meta.json").read_text())
        ann = next(tmp_path.glob("items-*-image.ann"))  # the new generation
        fresh.close()


def test_threshold_triggers_rebuild():
    live = random_live(500, seed=8)
    e = make(live, rebuild_threshold=20)
    e.rebuild_if_needed()
    for j in range(15):
        e.add(10**6 + j, "audio", 0.0, 0.0)
    assert not e.needs_rebuild and e.rebuild_if_needed() is False
    for j in range(10):
        e.remove(3 * j)
    assert e.needs_rebuild and e.rebuild_if_needed() is True and e.pending == 0


def test_edits_during_a_background_build_survive(monkeypatch):
    live = random_live(20000, seed=9)
    e = make(live)
    started, release = threading.Event(), threading.Event()
    from emobrowser.index import _persist

    real = _persist.new_annoy

    def slow_annoy():  # hold the build after its snapshot until the edits are made
        started.set()
        release.wait(10)
        return real()

    monkeypatch.setattr(_persist, "new_annoy", slow_annoy)
    t = e.rebuild_if_needed(background=True)
    assert started.wait(10)
    for i in list(live)[:100]:
        e.remove(i)
        del live[i]
    for j in range(100):
        row = (MODALITIES[j % 3], 0.5 - j / 200, 0.25)
        e.add(10**7 + j, *row)
        live[10**7 + j] = row
    assert ids_of(e.query(0.3, 0.25)) == brute(live, 0.3, 0.25)  # correct mid-build
    release.set()
    t.join(30)
    assert e.is_built and e.pending == 200
    for p in [(0.3, 0.25), (0.0, 0.0)]:
        assert ids_of(e.query(*p)) == brute(live, *p)


def test_unwritable_cache_is_not_fatal(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    live = random_live(300, seed=10)
    e = make(live, cache_dir=blocker / "index")
    assert e.rebuild_if_needed() is True and e.is_built
    assert ids_of(e.query(0.2, -0.2)) == brute(live, 0.2, -0.2)


def test_a_new_alignment_drops_the_indexes_of_older_ones(tmp_path):
    import hashlib

    from emobrowser.core.paths import cache_dir
    from emobrowser.index.library import LibraryPoints, engine_cache_dir, open_engine

    rng = np.random.default_rng(0)
    n = 300
    points = LibraryPoints(np.arange(1, n + 1), [f"/m/{i}" for i in range(n)],
                           np.array(["image", "audio"] * (n // 2), dtype=object),
                           rng.uniform(-1, 1, n), rng.uniform(-1, 1, n))
    db = tmp_path / "lib.sqlite3"
    # a folder of the earlier layout (one per library and alignment)
    old_key = hashlib.blake2b(f"{db.resolve()}|0".encode(), digest_size=8).hexdigest()
    (cache_dir() / "index" / old_key).mkdir(parents=True)
    for version in (1, 3, 2):  # an older process opening version 2 after 3 keeps 3
        engine = open_engine(points, db, version)
        engine.rebuild_if_needed()
    library = engine_cache_dir(db, 0).parent
    assert sorted(p.name for p in library.iterdir()) == ["align-2", "align-3"]
    assert any(engine_cache_dir(db, 3).iterdir())  # holds the index files
    assert not (cache_dir() / "index" / old_key).exists()
    # back to no alignment (align --method identity stores fit 4, which is identity):
    # the fitted folders go, also when the identity folder is there already
    open_engine(points, db, 0, newest_alignment=4).rebuild_if_needed()
    assert sorted(p.name for p in library.iterdir()) == ["align-0"]
    # a fit that no longer applies (models changed) is older than nothing: its folder stays
    open_engine(points, db, 5).rebuild_if_needed()
    open_engine(points, db, 0, newest_alignment=5).rebuild_if_needed()
    assert sorted(p.name for p in library.iterdir()) == ["align-0", "align-5"]
