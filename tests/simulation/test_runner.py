import json
from dataclasses import dataclass

import pytest

from kayou_dispatch import InvalidParameterError, load_network
from kayou_dispatch.cli import main
from kayou_dispatch.simulation import (
    BUILTIN_POLICIES,
    Policy,
    Scenario,
    compare_policies,
    get_policies,
    simulate,
)

SMALL = Scenario(
    hours=1.5, responders=150, service_vehicles=6, share=0.2, seed=11, serious_on_highway=0
)


@pytest.fixture(scope="module")
def net():
    return load_network("helsinki")


def _strip_wall(metrics):
    return {k: v for k, v in metrics.items() if k != "simulator"}


def test_same_seed_same_metrics(net):
    a = simulate(net, SMALL, BUILTIN_POLICIES["road-eta/sequential"])
    b = simulate(net, SMALL, BUILTIN_POLICIES["road-eta/sequential"])
    assert _strip_wall(a.metrics) == _strip_wall(b.metrics)
    assert a.metrics["incidents"] == len(a.records) > 20
    assert a.metrics["served"] > 0.8 * a.metrics["incidents"]
    for rec in a.records:
        if rec.served:
            assert rec.reported_s <= rec.first_offer_s <= rec.first_accept_s
            assert rec.first_accept_s <= rec.first_arrival_s
            assert rec.offers >= 1


def test_policies_see_the_same_demand(net):
    names = [
        "straight-line/broadcast",
        "h3-ring/sequential",
        "batch-optimal/sequential",
        "batch-coverage/broadcast",
    ]
    results = compare_policies(net, SMALL, get_policies(names))
    ids = [[r.incident_id for r in res.records] for res in results]
    assert all(x == ids[0] for x in ids)
    assert [r.policy for r in results] == names
    for res in results:
        assert res.metrics["served"] > 0.5 * res.metrics["incidents"], res.policy


@dataclass(frozen=True)
class FarthestFirst(Policy):
    """A deliberately bad custom policy: the worst of the road-ETA candidates first."""

    name: str = "farthest-first"

    def rank(self, engine, lat, lng, **kw):
        return list(reversed(engine.rank(lat, lng, **{**kw, "k": 20})))[: kw.get("k", 10)]


def test_custom_policy_plugs_in_and_is_worse(net):
    good, bad = compare_policies(
        net,
        SMALL,
        [BUILTIN_POLICIES["road-eta/sequential"], FarthestFirst(offer_mode="sequential")],
    )
    assert bad.policy == "farthest-first"
    assert bad.metrics["response_p50_s"] > good.metrics["response_p50_s"]


def test_unknown_policy_is_refused():
    with pytest.raises(InvalidParameterError):
        get_policies(["fastest-ever"])
    assert len(get_policies(["all"])) == len(BUILTIN_POLICIES) == 10
    assert [p.name for p in get_policies(["road-eta"])] == [
        "road-eta/sequential",
        "road-eta/broadcast",
    ]


def test_cli_simulate_writes_outputs(tmp_path, capsys):
    out = tmp_path / "sim"
    code = main(
        [
            "simulate",
            "--hours",
            "1",
            "--responders",
            "120",
            "--share",
            "0.1",
            "--policy",
            "road-eta/sequential",
            "straight-line/sequential",
            "--seed",
            "2",
            "--network",
            "helsinki",
            "--serious-on-highway",
            "0",
            "--replications",
            "2",
            "--jobs",
            "1",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "road-eta/sequential" in printed and "resp p90" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"scenario", "policies", "replications", "paired"}
    assert set(metrics["policies"]) == {"road-eta/sequential", "straight-line/sequential"}
    assert metrics["scenario"]["responders"] == 120
    lines = (out / "incidents.csv").read_text().splitlines()
    assert lines[0].startswith("replication,policy,incident_id,kind")
    per_rep = metrics["policies"]["road-eta/sequential"]["incidents"]["values"]
    assert len(lines) == 1 + 2 * sum(per_rep)
    for png in ("response_ecdf.png", "response_by_hour.png", "map.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    replay = (out / "replay.html").read_text()
    assert 'id="replay-data"' in replay and "road-eta/sequential" in replay


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--policy", "nope"], "unknown policy"),
        (["simulate", "--network", "/no/such/file.osm.pbf"], "no such file"),
        (["simulate", "--hours", "0"], "must be a number > 0"),
        (["simulate", "--responders", "-5"], "must be a whole number >= 1"),
        (["simulate", "--share", "2"], "share must be in (0, 1]"),
        (["simulate", "--replications", "0"], "must be a whole number >= 1"),
        (["simulate", "--hours", "169"], "hours must be at most 168"),
        (["simulate", "--jobs", "0"], "must be a whole number >= 1"),
        (["simulate", "--network", "helsinki"], "no motorway or trunk road"),
        (["simulate", "--network", "berlin"], "no such file"),
    ],
)
def test_cli_simulate_bad_input_fails_before_work(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--out", str(tmp_path / "x")])
    assert info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_unwritable_out_fails_before_work(tmp_path, capsys):
    import time

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--out", str(blocker / "sub")])
    assert info.value.code == 2
    assert time.perf_counter() - t0 < 5.0  # a second here; generous for a loaded CI machine
    assert "--out: cannot write" in capsys.readouterr().err


def test_cli_bad_input_after_the_folder_check_leaves_no_folder(tmp_path, capsys):
    out = tmp_path / "new" / "deeper"
    with pytest.raises(SystemExit) as info:
        main(["simulate", "--policy", "nope", "--out", str(out)])
    assert info.value.code == 2 and "unknown policy" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_policies_take_one_query_or_its_keyword_options(net):
    from kayou_dispatch import DispatchEngine, RankQuery
    from kayou_dispatch.simulation import H3RingPolicy, StraightLinePolicy

    engine = DispatchEngine(net, clock=lambda: 0.0)
    ids = [f"r{i}" for i in range(0, 600, 25)]
    engine.update_positions(ids, net.node_lat[0:600:25], net.node_lng[0:600:25])
    place = net.node_latlng(300)
    q = RankQuery(k=4, exclude={"r0"}, max_eta_s=5_000.0)
    for policy in (Policy(), StraightLinePolicy(), H3RingPolicy()):
        by_query = policy.rank(engine, *place, query=q)
        assert by_query == policy.rank(engine, *place, **q.options()), policy.name
        assert by_query == policy.ranked(engine, *place, q)
        assert 0 < len(by_query) <= 4 and "r0" not in {c.responder_id for c in by_query}
    # A policy written before the query (overriding rank, keywords only) still plugs in:
    # the lifecycle passes a ranker keyword options.
    old_style = FarthestFirst().rank(engine, *place, **q.options())
    assert 0 < len(old_style) <= 4 and "r0" not in {c.responder_id for c in old_style}
    with pytest.raises(InvalidParameterError, match="not both"):
        Policy().rank(engine, *place, query=q, k=2)
    with pytest.raises(InvalidParameterError):
        StraightLinePolicy().rank(engine, *place, k=0)
