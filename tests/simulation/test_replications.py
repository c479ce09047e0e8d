"""Replications on the regional network: common random numbers, CIs, paired differences."""

import json
import math

import pytest

from kayou_dispatch import InvalidParameterError, load_network
from kayou_dispatch.cli import main
from kayou_dispatch.simulation import (
    BUILTIN_POLICIES,
    Scenario,
    replicate,
    replication_seeds,
    summarize_replications,
)

TINY = Scenario(hours=0.5, responders=40, service_vehicles=3, share=0.1, seed=3)


@pytest.fixture(scope="module")
def region():
    return load_network()


def test_seeds_differ_and_start_at_the_master_seed():
    s = replication_seeds(7, 6)
    assert s[0] == 7 and len(set(s)) == 6
    assert replication_seeds(7, 3) == s[:3]


@pytest.mark.parametrize("bad", [{"replications": 0}, {"replications": 2.0}, {"jobs": 0}])
def test_bad_counts_are_refused(region, bad):
    with pytest.raises(InvalidParameterError):
        replicate(region, TINY, [BUILTIN_POLICIES["road-eta/sequential"]], **bad)


@pytest.mark.slow
def test_common_random_numbers_and_the_summary(region):
    pols = [BUILTIN_POLICIES["road-eta/sequential"], BUILTIN_POLICIES["straight-line/sequential"]]
    reps = replicate(region, TINY, pols, replications=3, jobs=2)
    assert len(reps.results) == 3 and reps.policies == tuple(p.name for p in pols)
    for row in reps.results:  # same demand for every policy within a replication
        a, b = ([(r.incident_id, r.reported_s, r.kind) for r in res.records] for res in row)
        assert a == b
    days = [[(r.reported_s, r.kind) for r in row[0].records] for row in reps.results]
    assert days[0] != days[1] != days[2]  # and different days across replications
    one = replicate(region, TINY, pols[:1], replications=1, jobs=1)
    strip = lambda m: {k: v for k, v in m.items() if k != "simulator"}  # noqa: E731
    assert strip(one.results[0][0].metrics) == strip(reps.results[0][0].metrics)  # processes

    summary = summarize_replications(reps)
    m = summary["policies"]["road-eta/sequential"]
    for key in ("response_p90_s", "offers_per_incident", "unserved_share", "coverage_gap_share"):
        entry = m[key]
        assert len(entry["values"]) == 3
        vals = [v for v in entry["values"] if v is not None]
        assert entry["mean"] == pytest.approx(sum(vals) / len(vals))
        lo, hi = entry["ci95"]
        assert lo <= entry["mean"] <= hi
    assert set(m["serious"]["response_p50_s"]) == {"mean", "ci95", "values"}
    assert "values" in next(iter(m["by_kind"].values()))["incidents"]
    d = summary["paired"]["straight-line/sequential"]["response_p50_s"]
    diffs = [b.metrics["response_p50_s"] - a.metrics["response_p50_s"] for a, b in reps.results]
    assert d["mean_diff"] == pytest.approx(sum(diffs) / 3)
    assert set(summary["paired"]) == {"straight-line/sequential"}


@pytest.mark.slow
def test_cli_on_the_region_writes_the_contract(tmp_path, capsys):
    out = tmp_path / "sim"
    code = main(
        [
            "simulate",
            "--hours",
            "0.5",
            "--responders",
            "40",
            "--service-vehicles",
            "3",
            "--replications",
            "2",
            "--jobs",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "per replication" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"scenario", "replications", "policies", "paired"}
    sc = metrics["scenario"]
    assert "Lower Saxony" in sc["network"] and sc["nodes"] > 90_000 and sc["edges"] > 150_000
    ns, ew = sc["extent_km"]
    assert 95 < ns < 110 and 115 < ew < 135
    assert metrics["replications"] == 2
    assert set(metrics["policies"]) == {"road-eta/sequential", "straight-line/sequential"}
    p90 = metrics["policies"]["road-eta/sequential"]["response_p90_s"]
    assert len(p90["values"]) == 2 and len(p90["ci95"]) == 2
    gap = metrics["policies"]["road-eta/sequential"]["coverage_gap_share"]
    assert all(0 <= v <= 1 for v in gap["values"])
    paired = metrics["paired"]["straight-line/sequential"]["response_p90_s"]
    assert set(paired) == {"mean_diff", "ci95"} and math.isfinite(paired["mean_diff"])
    for name in ("map.png", "coverage.png", "response_by_hour.png", "response_ecdf.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert 'id="replay-data"' in (out / "replay.html").read_text()
