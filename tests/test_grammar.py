"""One API grammar: one RankQuery for every ranking, results importable from the root, old names."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

import kayou_dispatch
from kayou_dispatch import DispatchEngine, InvalidParameterError, RankQuery, load_network


@pytest.fixture(scope="module")
def engine():
    net = load_network()
    engine = DispatchEngine(net, clock=lambda: 100.0)
    for i, node in enumerate(range(0, 400, 20)):
        caps = {"tow"} if i % 3 == 0 else set()
        engine.update_position(f"r{i}", *net.node_latlng(node), capabilities=caps)
    return engine


def test_a_query_ranks_and_explains_as_the_keyword_options(engine):
    place = engine.network.node_latlng(77)
    q = RankQuery(k=3, needs={"tow"}, max_eta_s=900.0, exclude={"r0"})
    by_kw = engine.rank(*place, k=3, needs={"tow"}, max_eta_s=900.0, exclude=["r0"])
    assert engine.rank(*place, query=q) == by_kw and by_kw
    rid = by_kw[0].responder_id
    assert engine.explain(*place, rid, query=q) == engine.explain(
        *place, rid, k=3, needs={"tow"}, max_eta_s=900.0, exclude=["r0"]
    )


def test_query_and_options_together_are_refused(engine):
    place = engine.network.node_latlng(77)
    with pytest.raises(InvalidParameterError, match="not both"):
        engine.rank(*place, query=RankQuery(k=2), k=3)
    with pytest.raises(InvalidParameterError, match="RankQuery"):
        engine.rank(*place, query={"k": 2})


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"k": 0}, "k"),
        ({"k": True}, "k"),
        ({"needs": [""]}, "needs"),
        ({"max_eta_s": -1.0}, "max_eta_s"),
        ({"heading": math.nan}, "heading"),
        ({"heading": "north"}, "heading"),
        ({"exclude": [None]}, "exclude"),
    ],
)
def test_bad_queries_are_refused_with_the_option_named(options, name):
    with pytest.raises(InvalidParameterError) as info:
        RankQuery(**options)
    assert info.value.name == name


@given(
    k=st.integers(1, 50),
    needs=st.sets(st.sampled_from(["tow", "crane", "fuel"])),
    max_eta_s=st.none() | st.floats(0, 1e5),
    heading=st.none() | st.floats(0, 360),
    exclude=st.sets(st.text("abc", min_size=1, max_size=3), max_size=4),
)
def test_options_round_trip(k, needs, max_eta_s, heading, exclude):
    q = RankQuery(k, needs, max_eta_s, heading, exclude)
    assert RankQuery(**q.options()) == q
    assert q.replace(k=k + 1).k == k + 1 and q.replace(k=k + 1).needs == q.needs


def test_what_the_engine_returns_is_importable_from_the_root():
    for name in (
        "Event",
        "EventKind",
        "Incident",
        "IncidentStatus",
        "Offer",
        "RunCard",
        "RankQuery",
        "PositionStore",
    ):
        assert name in kayou_dispatch.__all__ and hasattr(kayou_dispatch, name)
    from kayou_dispatch.lifecycle import records

    assert kayou_dispatch.Incident is records.Incident


def test_old_names_keep_working():
    from kayou_dispatch.lifecycle import assign as old
    from kayou_dispatch.lifecycle import solve_slots
    from kayou_dispatch.matching import assign as new

    assert old.solve_slots is new.solve_slots is solve_slots
    assert old.coverage_penalty is new.coverage_penalty
    assert old.SEVERITY_WEIGHTS is new.SEVERITY_WEIGHTS
    engine = DispatchEngine(load_network(), clock=lambda: 0.0)
    engine.update_position("r", *engine.network.node_latlng(5))
    assert engine.dispatcher.engagement("r") is None and engine.engagement("r") is None
    assert engine.shared is None and engine.shared_log is None and not engine.store.shared


def test_vector_forms_have_one_scheme_many_with_the_old_names_kept():
    import numpy as np

    from kayou_dispatch import geo

    for old, new in (
        ("haversine_m_array", "haversine_m_many"),
        ("validate_latlng_array", "validate_latlng_many"),
        ("wgs84_to_gcj02_array", "wgs84_to_gcj02_many"),
        ("gcj02_to_wgs84_array", "gcj02_to_wgs84_many"),
    ):
        assert getattr(geo, new) is getattr(geo, old)
        assert getattr(kayou_dispatch, new) is getattr(kayou_dispatch, old)
    assert DispatchEngine.update_position_many is DispatchEngine.update_positions
    engine = DispatchEngine(load_network(), clock=lambda: 0.0)
    net = engine.network
    engine.update_position_many(["a", "b"], net.node_lat[:2], net.node_lng[:2])
    lats, lngs = net.node_lat[10:13], net.node_lng[10:13]
    pairs = list(zip(lats.tolist(), lngs.tolist(), strict=True))
    np.testing.assert_array_equal(
        engine.eta_matrix_many(lats, lngs, ["a", "b"]), engine.eta_matrix(pairs, ["a", "b"])
    )
    np.testing.assert_array_equal(
        engine.eta_matrix_many(lats, lngs, ["b"], limit_s=60.0),
        engine.eta_matrix(pairs, ["b"], limit_s=60.0),
    )
    with pytest.raises(InvalidParameterError, match="lats"):
        engine.eta_matrix_many(lats, lngs[:2], ["a"])


def test_time_returning_methods_have_s_names_and_the_old_names_work():
    from kayou_dispatch import RoadNetwork

    net = load_network()
    for old in (
        "travel_time",
        "travel_times_to",
        "travel_times_to_snapped",
        "shortest_times_from",
        "shortest_times_to",
    ):
        assert getattr(RoadNetwork, f"{old}_s") is getattr(RoadNetwork, old)
    a, b = net.node_latlng(3), net.node_latlng(250)
    assert net.travel_time_s(*a, *b) == net.travel_time(*a, *b) > 0
    assert net.shortest_times_from_s(3).tolist() == net.shortest_times_from(3).tolist()


def test_nearest_takes_k_by_keyword_and_the_old_positional_call_warns(engine):
    import warnings

    place = engine.network.node_latlng(77)
    new = engine.index.nearest(*place, k=3, needs={"tow"})
    assert len(new) == 3
    with pytest.warns(DeprecationWarning, match="k=") as caught:
        old = engine.index.nearest(*place, 3, needs={"tow"})
    assert old == new and len(caught) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert engine.index.nearest(*place, k=3, needs={"tow"}) == new  # no warning
    with pytest.raises(TypeError, match="multiple values"):
        engine.index.nearest(*place, 3, k=3)
    with pytest.raises(TypeError):
        engine.index.nearest(*place, 3, ["tow"])


def test_results_are_frozen_dataclasses_and_old_unpacking_warns(engine):
    import dataclasses

    from kayou_dispatch import load_network

    net = load_network("helsinki")
    a, b = net.arrays.u[0], net.arrays.v[5]
    route = net.route(net.node_lat[a], net.node_lng[a], net.node_lat[b], net.node_lng[b])
    engine.update_position("n1", float(net.node_lat[a]), float(net.node_lng[a]))
    near = engine.index.nearest(float(net.node_lat[a]), float(net.node_lng[a]), k=1)[0]
    for result in (route, near, net.snap(net.node_lat[a], net.node_lng[a])):
        assert dataclasses.is_dataclass(result)
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.distance_m = 0.0
    with pytest.warns(DeprecationWarning, match="unpacking a Route"):
        eta, dist, coords = route
    assert (eta, dist, coords) == (route.eta_s, route.distance_m, route.coords)
    with pytest.warns(DeprecationWarning, match="unpacking a Neighbor"):
        rid, d = near
    assert (rid, d) == ("n1", near.distance_m)
