"""The balanced merge: definition, invariants, and heap vs vectorised agreement."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emobrowser.core.types import Modality
from emobrowser.index.balance import (
    DEFAULT_BALANCE,
    balanced_merge,
    balanced_merge_items,
    balanced_order,
)

IMAGE, AUDIO, VIDEO = Modality.IMAGE, Modality.AUDIO, Modality.VIDEO
dist_lists = st.lists(st.floats(0, 3, allow_nan=False), max_size=25).map(sorted)
candidates = st.fixed_dictionaries({IMAGE: dist_lists, AUDIO: dist_lists, VIDEO: dist_lists})
factors = st.floats(1.0, 10.0)


def naive(cands, k, factor, floor):
    """The definition, literally: multiply the remaining candidates after each pick."""
    cur = {m: [d + floor for d in ds] for m, ds in cands.items()}
    heads = {m: 0 for m in cands}
    order = list(Modality)
    out = []
    while len(out) < k and any(heads[m] < len(cur[m]) for m in cur):
        live = [m for m in cur if heads[m] < len(cur[m])]
        m = min(live, key=lambda m: (cur[m][heads[m]], heads[m], order.index(m)))
        out.append((m, heads[m]))
        heads[m] += 1
        cur[m] = [d * factor for d in cur[m]]
    return out


def test_definition_small_example():
    cands = {IMAGE: [0.1, 0.11, 0.12, 0.13], AUDIO: [0.3]}
    # F=1: global order; F=2 (no floor): after 2 images the image multiplier is 4,
    # 0.12*4 = 0.48 > 0.3 -> audio comes third.
    assert balanced_merge(cands, factor=1.0, floor=0) == [(IMAGE, 0), (IMAGE, 1), (IMAGE, 2), (IMAGE, 3), (AUDIO, 0)]
    assert balanced_merge(cands, factor=2.0, floor=0) == [(IMAGE, 0), (IMAGE, 1), (AUDIO, 0), (IMAGE, 2), (IMAGE, 3)]


@settings(max_examples=200, deadline=None)
@given(candidates, st.sampled_from([1.0, 1.5, 2.0, 3.0]), st.integers(0, 80))
def test_matches_the_literal_definition(cands, factor, k):
    # factors with exact binary multiples keep the literal float products exact
    # enough to compare; the floor avoids 0 * F
    got = balanced_merge(cands, k, factor, floor=0.01)
    want = naive(cands, k, factor, 0.01)
    assert len(got) == len(want)
    if [m for m, _ in got] != [m for m, _ in want]:
        # Orders may differ only where two current distances are equal in exact
        # arithmetic and float rounding (logs here, products there) splits the tie:
        # every pick must still be a smallest current distance, to rounding.
        assert follows_the_definition(cands, got, factor, 0.01)


def follows_the_definition(cands, picks, factor, floor, rel=1e-9):
    cur = {m: [d + floor for d in ds] for m, ds in cands.items()}
    heads = {m: 0 for m in cands}
    for m, i in picks:
        if i != heads[m]:
            return False
        smallest = min(cur[x][heads[x]] for x in cur if heads[x] < len(cur[x]))
        if cur[m][i] > smallest * (1 + rel):
            return False
        heads[m] += 1
        cur[m] = [d * factor for d in cur[m]]
    return True


@settings(max_examples=200, deadline=None)
@given(candidates, st.integers(0, 80))
def test_factor_one_is_global_distance_order(cands, k):
    got = balanced_merge(cands, k, factor=1.0)
    dists = [cands[m][i] for m, i in got]
    assert dists == sorted(dists)
    everything = sorted(d for ds in cands.values() for d in ds)
    assert dists == everything[:k]


@settings(max_examples=200, deadline=None)
@given(candidates, factors, st.integers(0, 80))
def test_never_reorders_within_a_modality(cands, factor, k):
    got = balanced_merge(cands, k, factor)
    for m in cands:
        idx = [i for mm, i in got if mm == m]
        assert idx == list(range(len(idx)))  # each modality's prefix, in order
    assert len(got) == min(k, sum(len(v) for v in cands.values()))


@settings(max_examples=100, deadline=None)
@given(st.floats(0, 2), st.integers(1, 10), factors)
def test_equal_distances_alternate(d, n, factor):
    cands = {AUDIO: [d] * n, IMAGE: [d] * n, VIDEO: [d] * n}  # dict order must not matter
    got = balanced_merge(cands, factor=factor)
    assert [m for m, _ in got] == [IMAGE, AUDIO, VIDEO] * n


def test_zero_distances_still_balance():
    cands = {IMAGE: [0.0] * 5, AUDIO: [0.0] * 5}
    assert [m for m, _ in balanced_merge(cands, 4, 2.0)] == [IMAGE, AUDIO, IMAGE, AUDIO]
    # exact matches in one modality vs a far one: the floor lets the far one in
    cands = {IMAGE: [0.0] * 20, AUDIO: [0.05]}
    assert balanced_merge(cands, 6, DEFAULT_BALANCE)[5] == (AUDIO, 0)  # 0.01 * 1.5**5 > 0.06


@settings(max_examples=200, deadline=None)
@given(candidates, factors, st.one_of(st.none(), st.integers(0, 80)))
def test_vectorised_order_equals_heap(cands, factor, k):
    runs = balanced_order(cands, k, factor)
    flat = [(m, int(i)) for m, idx in runs for i in idx]
    assert flat == balanced_merge(cands, k, factor)


def test_items_form_and_validation():
    out = balanced_merge_items({IMAGE: ([7, 8], [0.1, 0.2]), AUDIO: ([9], [0.1])}, k=3, factor=1.0)
    assert out == [(IMAGE, 7, 0.1), (AUDIO, 9, 0.1), (IMAGE, 8, 0.2)]
    with pytest.raises(ValueError):
        balanced_merge({IMAGE: [0.2, 0.1]})
    with pytest.raises(ValueError):
        balanced_merge({IMAGE: [0.1]}, factor=0.5)
    assert balanced_order({}, 5) == [] and balanced_merge({}, 5) == []


def test_huge_lists_do_not_overflow():
    d = np.linspace(0, 1, 5000)
    runs = balanced_order({IMAGE: d, AUDIO: d}, None, 2.0)
    assert sum(len(i) for _, i in runs) == 10000


@pytest.mark.parametrize("floor", [0.0, 0.01])
def test_a_tie_after_a_pick_goes_to_the_modality_picked_fewer_times(floor):
    # after one image, image's next current distance equals audio's: audio comes next
    lists = {"image": [0.25 - floor, 0.25 - floor], "audio": [0.5 - floor]}
    expected = [("image", 0), ("audio", 0), ("image", 1)]
    assert balanced_merge(lists, factor=2.0, floor=floor) == expected
    assert [(m, int(j)) for m, run in balanced_order(lists, factor=2.0, floor=floor) for j in run] == expected


def test_the_relevance_limit_keeps_the_nearest_and_little_beyond():
    from emobrowser.index.balance import RELEVANCE_MARGIN, RELEVANCE_RADIUS, relevance_limit

    assert relevance_limit(None) == RELEVANCE_RADIUS  # nothing matched: the radius is reported
    assert relevance_limit(0.0) == RELEVANCE_RADIUS
    assert relevance_limit(RELEVANCE_RADIUS - RELEVANCE_MARGIN) == pytest.approx(RELEVANCE_RADIUS)
    assert relevance_limit(2.0) == pytest.approx(2.0 + RELEVANCE_MARGIN)  # an empty region: the nearest stay
    values = [relevance_limit(x) for x in np.linspace(0, 2 * np.sqrt(2), 50)]
    assert values == sorted(values) and all(v >= RELEVANCE_RADIUS for v in values)
