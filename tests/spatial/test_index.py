import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kayou_dispatch import (
    InvalidCoordinateError,
    InvalidParameterError,
    ResponderIndex,
    Status,
    UnknownResponderError,
)

from ..strategies import latlngs, random_cloud
from .oracle import Row, assert_nearby, assert_nearest, brute

CAPS = ["tow", "mechanic", "first_aid", "crane", "fuel", "tyre"]


class Clock:
    def __init__(self, t=1_000.0):
        self.t = t

    def __call__(self):
        return self.t


def populate(seed, n, center, spread_m, res, ttl=300.0):
    """An index and its dict model with random positions, ages, statuses, capabilities."""
    rng = np.random.default_rng(seed)
    clock = Clock()
    index = ResponderIndex(resolution=res, position_ttl_s=ttl, clock=clock)
    lat, lng = random_cloud(rng, n, center, spread_m)
    ts = clock.t - rng.uniform(0, 2 * ttl, n)
    statuses = rng.choice(list(Status), n, p=[0.7, 0.06, 0.06, 0.06, 0.06, 0.06])
    model = {}
    for i in range(n):
        rid = f"r{i}"
        caps = frozenset(c for c in CAPS if rng.random() < 0.3)
        index.update_position(rid, lat[i], lng[i], ts=ts[i], capabilities=caps)
        index.set_status(rid, statuses[i])
        model[rid] = Row(float(lat[i]), float(lng[i]), float(ts[i]), Status(statuses[i]), caps)
    return index, model, clock


query_cases = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "n": st.integers(0, 1500),
        "center": latlngs(),
        "spread_m": st.sampled_from([500.0, 5_000.0, 30_000.0]),
        "res": st.sampled_from([6, 7, 8, 9]),
    }
)


@settings(max_examples=150, deadline=None)
@given(
    query_cases,
    st.floats(min_value=0.0, max_value=1.0),
    st.lists(st.sampled_from(CAPS), max_size=2),
    st.sampled_from([(Status.AVAILABLE,), None, (Status.OFFERED, Status.EN_ROUTE)]),
)
def test_nearby_equals_brute_force(case, radius_frac, needs, statuses):
    index, model, clock = populate(**case)
    radius = radius_frac * case["spread_m"]
    qlat, qlng = case["center"]
    got = index.nearby(qlat, qlng, radius, needs=needs, statuses=statuses)
    expected = brute(model, clock(), 300.0, qlat, qlng, needs=needs, statuses=statuses)
    assert_nearby(got, expected, radius)


@settings(max_examples=150, deadline=None)
@given(
    query_cases,
    st.integers(1, 40),
    st.lists(st.sampled_from(CAPS), max_size=2),
    st.sampled_from([(Status.AVAILABLE,), None]),
)
def test_nearest_equals_brute_force(case, k, needs, statuses):
    index, model, clock = populate(**case)
    qlat, qlng = case["center"]
    got = index.nearest(qlat, qlng, k=k, needs=needs, statuses=statuses)
    expected = brute(model, clock(), 300.0, qlat, qlng, needs=needs, statuses=statuses)
    assert_nearest(got, expected, k)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(0, 400),
    st.lists(st.frozensets(st.sampled_from(CAPS), max_size=2), min_size=1, max_size=3),
    st.integers(0, 30),
)
def test_the_batch_pool_is_every_fresh_available_responder_with_some_needs(
    seed, n, needs_any, n_excluded
):
    # The batch planner's one-read pool against the index read one responder at a time.
    index, model, _ = populate(seed, n, (22.7, 114.2), 5_000.0, 8)
    rng = np.random.default_rng(seed)
    exclude = {f"r{i}" for i in rng.integers(0, max(n, 1), n_excluded)} | {"nobody"}
    ids, lats, lngs, caps = index._pool(needs_any, exclude)
    want = [
        rid
        for rid in model
        if rid not in exclude
        and (r := index.get(rid)).status is Status.AVAILABLE
        and r.fresh
        and any(need <= r.capabilities for need in needs_any)
    ]
    assert sorted(ids) == sorted(want)
    for rid, la, ln, c in zip(ids, lats.tolist(), lngs.tolist(), caps, strict=True):
        r = index.get(rid)
        assert (la, ln, c) == (r.lat, r.lng, r.capabilities)



@pytest.mark.parametrize(
    "center",
    [(89.99, 10.0), (-89.95, -120.0), (0.0, 179.999), (-16.5, -179.99), (66.5, 25.7)],
)
def test_poles_and_antimeridian(center):
    index, model, clock = populate(7, 800, center, 20_000.0, 8)
    for radius in (1_000.0, 10_000.0, 25_000.0):
        got = index.nearby(*center, radius, statuses=None)
        assert_nearby(got, brute(model, clock(), 300.0, *center, statuses=None), radius)
    got = index.nearest(*center, k=15, statuses=None)
    assert_nearest(got, brute(model, clock(), 300.0, *center, statuses=None), 15)


def test_dense_city_uses_the_disk_and_stays_exact():
    center = (22.72, 114.25)
    index, model, clock = populate(3, 20_000, center, 25_000.0, 8)
    for radius in (0.0, 300.0, 2_000.0, 8_000.0):
        got = index.nearby(*center, radius)
        assert_nearby(got, brute(model, clock(), 300.0, *center), radius)
    for k in (1, 10, 100):
        got = index.nearest(*center, k=k, needs={"tow"})
        assert_nearest(got, brute(model, clock(), 300.0, *center, needs={"tow"}), k)


def test_out_of_order_updates_never_overwrite_newer():
    index = ResponderIndex(clock=Clock())
    assert index.update_position("a", 22.7, 114.2, ts=100.0)
    assert not index.update_position("a", 23.0, 115.0, ts=99.0)
    assert index.get("a").lat == 22.7
    assert index.update_position("a", 22.8, 114.3, ts=100.0)  # same time: not older
    assert index.get("a").lat == 22.8
    applied = index.update_positions(["a", "b"], [30.0, 31.0], [110.0, 111.0], ts=[50.0, 50.0])
    assert applied == 1
    assert index.get("a").lat == 22.8
    assert index.get("b").lat == 31.0


def test_bulk_duplicate_ids_keep_newest_row():
    index = ResponderIndex(clock=Clock())
    ids = ["a", "b", "a", "a", "b"]
    lats = [1.0, 2.0, 3.0, 4.0, 5.0]
    ts = [10.0, 20.0, 30.0, 5.0, 20.0]
    assert index.update_positions(ids, lats, [0.0] * 5, ts=ts) == 2
    assert index.get("a").lat == 3.0  # newest ts
    assert index.get("b").lat == 5.0  # equal ts: the later row
    assert len(index) == 2


def test_bulk_bad_row_changes_nothing():
    index = ResponderIndex(clock=Clock())
    index.update_position("a", 10.0, 10.0)
    with pytest.raises(InvalidCoordinateError) as info:
        index.update_positions(["a", "b", "c", "d"], [11.0, np.nan, 12.0, 91.0], [10.0] * 4)
    assert info.value.rows == (1, 3)
    assert len(index) == 1
    assert index.get("a").lat == 10.0
    for bad_ids in (["a", None], ["a", ""], ["a"]):
        with pytest.raises(InvalidParameterError):
            index.update_positions(bad_ids, [1.0, 2.0], [1.0, 2.0])
    with pytest.raises(InvalidParameterError):
        index.update_positions(["a", "b"], [1.0, 2.0], [1.0, 2.0], ts=[1.0, np.inf])
    with pytest.raises(InvalidParameterError):
        index.update_positions(["a", "b"], [1.0, 2.0], [1.0, 2.0], ts="soon")
    assert index.get("a").lat == 10.0 and "b" not in index


def test_bulk_accepts_numpy_ids_and_headings():
    index = ResponderIndex(clock=Clock())
    ids = np.array(["x", "y"])
    lats, lngs = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    n = index.update_positions(ids, lats, lngs, headings=[370.0, np.nan])
    assert n == 2
    assert index.get("x").heading == pytest.approx(10.0)
    assert index.get("y").heading is None


def test_staleness_by_injected_clock():
    clock = Clock(0.0)
    index = ResponderIndex(position_ttl_s=60.0, clock=clock)
    index.update_position("a", 22.7, 114.2)
    assert [nb.responder_id for nb in index.nearby(22.7, 114.2, 10.0)] == ["a"]
    clock.t = 60.0
    assert index.nearest(22.7, 114.2, k=1) != []
    clock.t = 60.5
    assert index.nearby(22.7, 114.2, 10.0) == []
    assert index.nearest(22.7, 114.2, k=1) == []
    assert not index.get("a").fresh
    assert index.prune() == 1
    assert "a" not in index


def test_status_and_capability_filters():
    index = ResponderIndex(clock=Clock())
    index.update_position("a", 22.7, 114.2, capabilities=["tow", "crane"])
    index.update_position("b", 22.7001, 114.2, capabilities="mechanic")
    index.update_position("c", 22.7002, 114.2)
    index.set_status("c", "en_route")
    assert [n.responder_id for n in index.nearby(22.7, 114.2, 100.0)] == ["a", "b"]
    assert [n.responder_id for n in index.nearby(22.7, 114.2, 100.0, needs="tow")] == ["a"]
    assert [n.responder_id for n in index.nearby(22.7, 114.2, 100.0, statuses=None)] == [
        "a",
        "b",
        "c",
    ]
    assert index.get("b").capabilities == {"mechanic"}
    index.update_position("b", 22.7001, 114.2)  # no capabilities given: kept
    assert index.get("b").capabilities == {"mechanic"}
    index.set_capabilities("b", ["fuel"])
    assert index.get("b").capabilities == {"fuel"}
    assert index.get("c").status is Status.EN_ROUTE


def test_first_position_makes_available_and_status_is_kept():
    index = ResponderIndex(clock=Clock())
    index.update_position("a", 1.0, 1.0)
    assert index.get("a").status is Status.AVAILABLE
    index.set_status("a", Status.OFFLINE)
    index.update_position("a", 1.1, 1.0)
    assert index.get("a").status is Status.OFFLINE


def test_remove_and_reuse_of_slots():
    index = ResponderIndex(clock=Clock())
    index.update_position("a", 1.0, 1.0)
    index.remove("a")
    assert "a" not in index and len(index) == 0
    assert index.nearby(1.0, 1.0, 1000.0) == []
    index.update_position("b", 50.0, 50.0)  # reuses a's slot, far away
    assert index.nearby(1.0, 1.0, 1000.0) == []
    assert [n.responder_id for n in index.nearby(50.0, 50.0, 1.0)] == ["b"]
    assert list(index) == ["b"]


def test_compaction_keeps_answers():
    clock = Clock()
    index = ResponderIndex(resolution=9, clock=clock)
    rng = np.random.default_rng(1)
    ids = [f"r{i}" for i in range(2_000)]
    for step in range(6):
        lat, lng = random_cloud(rng, 2_000, (22.7, 114.2), 10_000.0)
        clock.t += 1
        index.update_positions(ids, lat, lng)
        for i in range(0, 2_000, 97):
            index.update_position(ids[i], lat[i] + 0.001 * step, lng[i])
    assert len(index._buckets._moved) <= max(4096, len(index) // 16)  # folded in bulk
    snapshots = {rid: index.get(rid) for rid in ids}
    rows = {rid: Row(r.lat, r.lng, r.ts) for rid, r in snapshots.items()}
    got = index.nearby(22.7, 114.2, 3_000.0)
    assert_nearby(got, brute(rows, clock(), 300.0, 22.7, 114.2), 3_000.0)


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda ix: ix.update_position("a", math.nan, 1.0), InvalidCoordinateError),
        (lambda ix: ix.update_position("a", 1.0, 200.0), InvalidCoordinateError),
        (lambda ix: ix.update_position("", 1.0, 1.0), InvalidParameterError),
        (lambda ix: ix.update_position(7, 1.0, 1.0), InvalidParameterError),
        (lambda ix: ix.update_position("a", 1.0, 1.0, ts=math.nan), InvalidParameterError),
        (lambda ix: ix.update_position("a", 1.0, 1.0, heading=math.inf), InvalidParameterError),
        (lambda ix: ix.update_position("a", 1.0, 1.0, speed_kph=-3), InvalidParameterError),
        (lambda ix: ix.update_position("a", 1.0, 1.0, capabilities=[1]), InvalidParameterError),
        (lambda ix: ix.update_position("a", 1.0, 1.0, capabilities=5), InvalidParameterError),
        (lambda ix: ix.set_status("ghost", Status.OFFLINE), UnknownResponderError),
        (lambda ix: ix.set_status("r", "sleeping"), InvalidParameterError),
        (lambda ix: ix.remove("ghost"), UnknownResponderError),
        (lambda ix: ix.get("ghost"), UnknownResponderError),
        (lambda ix: ix.nearby(1.0, 1.0, -1.0), InvalidParameterError),
        (lambda ix: ix.nearby(1.0, 1.0, math.nan), InvalidParameterError),
        (lambda ix: ix.nearby(95.0, 1.0, 10.0), InvalidCoordinateError),
        (lambda ix: ix.nearby(1.0, 1.0, 10.0, statuses=["busy"]), InvalidParameterError),
        (lambda ix: ix.nearest(1.0, 1.0, k=0), InvalidParameterError),
        (lambda ix: ix.nearest(1.0, 1.0, k=2.5), InvalidParameterError),
        (lambda ix: ix.nearest(1.0, math.inf, k=3), InvalidCoordinateError),
        (lambda ix: ix.prune(older_than_s="old"), InvalidParameterError),
    ],
)
def test_bad_input_gets_typed_errors(call, error):
    index = ResponderIndex(clock=Clock())
    index.update_position("r", 1.0, 1.0)
    with pytest.raises(error):
        call(index)
    assert index.get("r").lat == 1.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"resolution": 16},
        {"resolution": -1},
        {"resolution": 8.0},
        {"position_ttl_s": -1.0},
        {"clock": 5},
    ],
)
def test_constructor_rejects_bad_options(kwargs):
    with pytest.raises(InvalidParameterError):
        ResponderIndex(**kwargs)


def test_unknown_responder_error_is_keyerror_with_id():
    index = ResponderIndex()
    with pytest.raises(KeyError) as info:
        index.get("nobody")
    assert info.value.responder_id == "nobody"
    assert "nobody" in str(info.value)


@given(
    res=st.sampled_from([5, 8, 10, 13, 15]),
    lat=st.floats(-89.0, 89.0),
    lng=st.floats(-180.0, 180.0),
    steps=st.lists(st.floats(0.05, 1.5), min_size=1, max_size=6),
    seed=st.integers(0, 2**32 - 1),
)
@settings(max_examples=60, deadline=None)
def test_the_stay_in_cell_shortcut_never_leaves_a_stale_cell(res, lat, lng, steps, seed):
    # Fixes that skip the H3 call (inside their cell's stored float32 inscribed circle)
    # must still be in that cell: every slot's cell is the one H3 gives its position.
    from h3.api import basic_int as h3i

    rng = np.random.default_rng(seed)
    index = ResponderIndex(resolution=res, clock=lambda: 100.0)
    edge = h3i.average_hexagon_edge_length(res, unit="m")
    n = 300
    ids = [f"r{i}" for i in range(n)]
    la = np.clip(lat + rng.normal(0.0, 3 * edge / 111_195.0, n), -89.9, 89.9)
    ln = (lng + rng.normal(0.0, 3 * edge / 111_195.0, n) + 180.0) % 360.0 - 180.0
    for step in (0.0, *steps):
        la = np.clip(la + rng.normal(0.0, step * edge / 111_195.0, n), -89.9, 89.9)
        ln = (ln + rng.normal(0.0, step * edge / 111_195.0, n) + 180.0) % 360.0 - 180.0
        index.update_positions(ids, la, ln, ts=100.0)
        slots = np.array([index._slot(i) for i in ids])
        pairs = zip(la.tolist(), ln.tolist(), strict=True)
        want = [h3i.latlng_to_cell(a, b, res) for a, b in pairs]
        assert index._col["cell"][slots].tolist() == want
        one = int(rng.integers(n))
        index.update_position(ids[one], float(la[one]), float(ln[one]) + 1e-9, ts=100.0)
        assert index._col["cell"][slots[one]] == h3i.latlng_to_cell(
            float(la[one]), float(ln[one]) + 1e-9, res
        )
