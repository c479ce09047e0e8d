"""The lifecycle over a tiny real RoadNetwork: road ETAs for ranking, batches and snapping."""

from dataclasses import dataclass

import networkx as nx
import numpy as np
import pytest

from kayou_dispatch import OffNetworkError, ResponderIndex, RoadNetwork, Status
from kayou_dispatch.lifecycle import Dispatcher, IncidentStatus

from .world import Clock

LAT0, LNG0, STEP = 22.70, 114.20, 0.002  # a 5 x 5 grid of streets ~220 m apart


@dataclass(frozen=True)
class Cand:
    responder_id: str
    eta_s: float
    distance_m: float
    straight_m: float


def grid_network():
    g = nx.MultiDiGraph(crs="epsg:4326")
    for i in range(5):
        for j in range(5):
            g.add_node(i * 5 + j + 1, y=LAT0 + i * STEP, x=LNG0 + j * STEP)
    for i in range(5):
        for j in range(5):
            n = i * 5 + j + 1
            for m in ((n + 1) if j < 4 else None, (n + 5) if i < 4 else None):
                if m is not None:
                    # Avenues (north-south) are fast, streets slow.
                    speed = 60.0 if m == n + 5 else 20.0
                    g.add_edge(n, m, speed_kph=speed)
                    g.add_edge(m, n, speed_kph=speed)
    return RoadNetwork.from_networkx(g)


class RoadRanker:
    """Rank by exact road travel time (one reverse Dijkstra per query)."""

    def __init__(self, index, net):
        self.index, self.net = index, net

    def rank(self, lat, lng, *, k=10, needs=(), max_eta_s=None, heading=None, exclude=()):
        near = [
            n
            for n in self.index.nearby(lat, lng, 5_000.0, needs=needs)
            if n.responder_id not in set(exclude)
        ]
        if not near:
            return []
        rs = [self.index.get(n.responder_id) for n in near]
        eta = self.net.travel_times_to(lat, lng, [r.lat for r in rs], [r.lng for r in rs])
        out = [
            Cand(r.responder_id, float(t), n.distance_m, n.distance_m)
            for r, n, t in zip(rs, near, eta, strict=True)
            if np.isfinite(t) and (max_eta_s is None or t <= max_eta_s)
        ]
        return sorted(out, key=lambda c: (c.eta_s, c.responder_id))[:k]

    def eta_matrix(self, points, responder_ids):
        rs = [self.index.get(r) for r in responder_ids]
        lats, lngs = [r.lat for r in rs], [r.lng for r in rs]
        return np.array([self.net.travel_times_to(la, ln, lats, lngs) for la, ln in points])

    def snap_check(self, lat, lng):
        self.net.snap(lat, lng, max_distance_m=150.0)


@pytest.fixture
def world():
    net = grid_network()
    clock = Clock()
    index = ResponderIndex(clock=clock)
    # "avenue" sits on the fast avenue 2 blocks north; "street" 1 block east on a slow street.
    index.update_position("avenue", LAT0 + 2 * STEP, LNG0, capabilities={"tow"})
    index.update_position("street", LAT0, LNG0 + STEP, capabilities={"tow"})
    ranker = RoadRanker(index, net)
    d = Dispatcher(
        index,
        rank=ranker.rank,
        eta_matrix=ranker.eta_matrix,
        snap_check=ranker.snap_check,
        clock=clock,
    )
    return d, index


def test_road_eta_not_distance_picks_the_responder(world):
    d, index = world
    inc = d.report_incident("i1", LAT0, LNG0, kind="stuck", needs={"tow"}, units=1, dispatch=True)
    # 440 m at 60 km/h (26 s) beats 220 m at 20 km/h (40 s).
    assert [o.responder_id for o in inc.offers] == ["avenue"]
    assert inc.offers[0].eta_s == pytest.approx(26.4, abs=1.0)
    d.accept("i1", "avenue")
    d.arrive("i1", "avenue")
    assert d.resolve("i1").status is IncidentStatus.RESOLVED
    assert index.get("avenue").status is Status.AVAILABLE


def test_off_network_incident_is_refused(world):
    d, _ = world
    with pytest.raises(OffNetworkError):
        d.report_incident("lake", LAT0 - 0.02, LNG0 - 0.02, kind="breakdown")


def test_batch_with_road_eta_matrix(world):
    d, _ = world
    d.report_incident("a", LAT0, LNG0, kind="other", needs={"tow"}, severity=5)
    d.report_incident("b", LAT0, LNG0 + 2 * STEP, kind="other", needs={"tow"}, severity=1)
    out = d.assign_batch()
    # "street" is one slow block from both; "avenue" is fast to "a" only: optimal splits.
    assert {k: [o.responder_id for o in v] for k, v in out.items()} == {
        "a": ["avenue"],
        "b": ["street"],
    }
