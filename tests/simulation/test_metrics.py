import math

import pytest

from kayou_dispatch.simulation import IncidentRecord, summarize
from kayou_dispatch.simulation.plots import plot_ecdf, plot_map, plot_response_by_hour

NAN = math.nan


def rec(i, kind, serious, hour, response_min, *, accept_s=30.0, offers=1):
    served = response_min is not None
    return IncidentRecord(
        f"i{i}",
        kind,
        serious,
        3,
        hour,
        100.0,
        110.0,
        100.0 + accept_s if served else NAN,
        100.0 + response_min * 60 if served else NAN,
        5000.0,
        offers,
        1,
        served,
    )


def test_summary_figures_by_hand():
    recs = [
        rec(0, "tyre", False, 1, 10),
        rec(1, "tyre", False, 1, 20),
        rec(2, "rollover", True, 2, 40, accept_s=90.0, offers=3),
        rec(3, "rollover", True, 2, None, offers=4),
    ]
    m = summarize(recs, busy_s=100.0, online_s=1000.0, wall_s=2.0, events=50)
    assert m["incidents"] == 4 and m["served"] == 3 and m["unserved"] == 1
    assert m["unserved_share"] == 0.25
    assert m["response_p50_s"] == 20 * 60
    assert m["within_15min"] == 0.25 and m["within_30min"] == 0.5 and m["within_60min"] == 0.75
    assert m["offers_per_incident"] == 2.25
    assert m["first_accept_p50_s"] == 30.0
    assert m["utilisation"] == 0.1
    assert m["serious"]["incidents"] == 2 and m["serious"]["unserved"] == 1
    assert m["by_kind"]["tyre"]["response_p90_s"] == pytest.approx(19 * 60)
    assert set(m["by_hour"]) == {"1", "2"}
    assert m["simulator"]["events_per_s"] == 25.0


def test_empty_day_has_no_figures():
    m = summarize([], busy_s=0.0, online_s=0.0, wall_s=1.0, events=0)
    assert m["incidents"] == 0 and m["response_p50_s"] is None and m["utilisation"] is None


def test_plots_write_pngs(tmp_path):
    from kayou_dispatch import load_network

    recs = {
        "a": [rec(i, "tyre", False, i % 24, 5 + i) for i in range(40)],
        "b": [rec(i, "tyre", False, i % 24, 8 + i) for i in range(40)],
    }
    plot_ecdf(recs, tmp_path / "ecdf.png")
    plot_response_by_hour(recs, tmp_path / "hour.png")
    net = load_network("helsinki")
    lat, lng = net.node_latlng(0)
    plot_map(
        net,
        tmp_path / "map.png",
        incidents=[(lat, lng, True), (lat, lng, False)],
        responders=[(lat, lng)],
    )
    for name in ("ecdf.png", "hour.png", "map.png"):
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
