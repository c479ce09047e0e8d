"""Mutual-aid teams: a run card offers the covering team first, then everyone.

Oracle: the covering team found by a plain loop over the teams (haversine), its members'
exact road ETAs from ``eta_matrix``, and the engine's plain ranking for everyone.
"""

import dataclasses
import math

import numpy as np
import pytest

from kayou_dispatch import (
    DispatchEngine,
    InvalidParameterError,
    RunCard,
    Team,
    UnknownResponderError,
    load_network,
)
from kayou_dispatch.geo import haversine_m

from ..test_engine_lifecycle import Clock


@pytest.fixture(scope="module")
def net():
    return load_network("helsinki")


def _engine(net, clock, journal=None, n=40, seed=5):
    engine = DispatchEngine(net, clock=clock, journal=journal, position_ttl_s=86_400.0)
    rng = np.random.default_rng(seed)
    for i, node in enumerate(rng.choice(net.n_nodes, n, replace=False).tolist()):
        engine.update_position(f"r{i:02d}", *net.node_latlng(node), ts=clock.t)
    return engine


def _covering(teams, lat, lng):
    best = None
    for t in teams:
        d = haversine_m(t.lat, t.lng, lat, lng)
        if d <= t.radius_m and (best is None or (d, t.team_id) < best[:2]):
            best = (d, t.team_id, t)
    return None if best is None else best[2]


@pytest.mark.parametrize("seed", range(6))
def test_team_first_offers_go_to_the_covering_team_then_everyone(net, seed, tmp_path):
    rng = np.random.default_rng(seed)
    clock = Clock()
    journal = tmp_path / "j.sqlite"
    engine = _engine(net, clock, journal=journal, seed=seed)
    ids = sorted(engine.index)
    teams = []
    for j in range(3):
        lat, lng = net.node_latlng(int(rng.integers(net.n_nodes)))
        teams.append(
            engine.set_team(f"t{j}", lat=lat, lng=lng, radius_m=float(rng.uniform(500, 3000)))
        )
    members: dict[str, set[str]] = {t.team_id: set() for t in teams}
    for rid in ids:
        chosen = [t.team_id for t in teams if rng.random() < 0.25]
        engine.set_responder_teams(rid, chosen)
        for t in chosen:
            members[t].add(rid)
    for t in teams:
        assert engine.team_members(t.team_id) == members[t.team_id]
    card = dataclasses.replace(engine.run_cards["other"], team_first_s=300.0)
    engine.set_run_card("other", card)
    checked_team = checked_everyone = 0
    for i in range(8):
        lat, lng = net.node_latlng(int(rng.integers(net.n_nodes)))
        team = _covering(teams, lat, lng)
        assert engine.team_covering(lat, lng) == team
        free = sorted(
            rid
            for rid in (members[team.team_id] if team else ())
            if engine.index.get(rid).status.value == "available"
        )
        inc = engine.report_incident(f"i{i}", lat, lng, kind="other", dispatch=True)
        offered = [o.responder_id for o in engine.incident(inc.incident_id).offers]
        etas = engine.eta_matrix([(lat, lng)], free)[0] if free else np.zeros(0)
        reachable = [(float(e), r) for e, r in zip(etas, free, strict=True) if e <= 3600.0]
        if reachable:
            assert offered == [min(reachable)[1]]
            checked_team += 1
            # Everyone else waits (the explanation says why) until the team phase ends.
            outsider = next(r for r in ids if r not in members[team.team_id])
            why = engine.explain(lat, lng, outsider, kind="other")
            assert "outside_team" in [r.value for r in why.reasons]
            clock.t += 301.0
            best = engine.rank(lat, lng, k=1)  # the offered member is busy: not ranked
            engine.decline(inc.incident_id, offered[0])
            after = [o.responder_id for o in engine.incident(inc.incident_id).offers]
            assert after == [best[0].responder_id]
        else:  # no team, or no free member: everyone at once
            best = engine.rank(lat, lng, k=1)
            assert offered == [best[0].responder_id]
            checked_everyone += 1
        engine.cancel(inc.incident_id)
    assert checked_team + checked_everyone == 8
    # A restart on the journal rebuilds the teams and their members.
    again = DispatchEngine(net, clock=clock, journal=journal, position_ttl_s=86_400.0)
    assert again.teams() == engine.teams()
    for t in teams:
        assert again.team_members(t.team_id) == members[t.team_id]
    engine.close()
    again.close()


def test_team_with_no_free_member_widens_at_once(net):
    clock = Clock()
    engine = _engine(net, clock)
    lat, lng = net.node_latlng(100)
    engine.set_team("here", lat=lat, lng=lng, radius_m=50_000.0)
    near = engine.rank(lat, lng, k=2)
    engine.set_responder_teams(near[1].responder_id, ["here"])
    engine.index.set_status(near[1].responder_id, "en_route")  # busy elsewhere
    engine.set_run_card("other", dataclasses.replace(engine.run_cards["other"], team_first_s=600.0))
    assert engine.explain(lat, lng, near[0].responder_id, kind="other").reasons == ()
    engine.report_incident("i1", lat, lng, kind="other", dispatch=True)
    assert [o.responder_id for o in engine.incident("i1").offers] == [near[0].responder_id]


def test_removing_a_team_and_its_membership(net):
    clock = Clock()
    engine = _engine(net, clock, n=3)
    engine.set_team("a", lat=60.17, lng=24.94, radius_m=1000.0)
    engine.set_team("b", lat=60.17, lng=24.95, radius_m=1000.0)
    engine.set_responder_teams("r00", ["a", "b"])
    assert engine.responder_teams("r00") == {"a", "b"}
    engine.remove_team("a")
    assert engine.responder_teams("r00") == {"b"}
    assert [t.team_id for t in engine.teams()] == ["b"]
    engine.set_responder_teams("r00", [])
    assert engine.team_members("b") == frozenset()


def test_bad_team_input_is_a_typed_error_naming_the_field(net):
    clock = Clock()
    engine = _engine(net, clock, n=2)
    engine.set_team("a", lat=60.17, lng=24.94, radius_m=1000.0)
    with pytest.raises(InvalidParameterError) as e:
        engine.set_responder_teams("r00", ["a", "nope"])
    assert e.value.name == "team_ids" and "nope" in str(e.value)
    with pytest.raises(InvalidParameterError) as e:
        engine.set_responder_teams("r00", "a")
    assert e.value.name == "team_ids"
    with pytest.raises(InvalidParameterError) as e:
        engine.team_members("nope")
    assert e.value.name == "team_id"
    with pytest.raises(InvalidParameterError) as e:
        engine.remove_team("nope")
    assert e.value.name == "team_id"
    with pytest.raises(UnknownResponderError):
        engine.set_responder_teams("ghost", ["a"])
    for bad in (0.0, -5.0, math.nan, 2e6, True, "1"):
        with pytest.raises(InvalidParameterError) as e:
            Team("x", 60.0, 24.0, bad)
        assert e.value.name == "radius_m"
    with pytest.raises(InvalidParameterError) as e:
        engine.set_team("", lat=60.0, lng=24.0, radius_m=10.0)
    assert e.value.name == "team_id"
    for name in ("team_first_s", "prefer_same_carriageway_s"):
        for bad in (-1.0, math.nan, math.inf, "x"):
            with pytest.raises(InvalidParameterError) as e:
                RunCard(needs=[[]], **{name: bad})
            assert e.value.name == name
    # Nothing was recorded by the failed calls.
    assert engine.responder_teams("r00") == frozenset()
