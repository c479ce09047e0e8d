"""Generate a day of help requests: when, what kind, and where along the roads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from kayou_dispatch._random import as_rng
from kayou_dispatch.network import HIGHWAY_CLASSES, RoadNetwork
from kayou_dispatch.simulation.roads import edge_points
from kayou_dispatch.simulation.scenario import SEVERITY, Scenario

__all__ = ["generate_requests", "Request"]


@dataclass(frozen=True, slots=True)
class Request:
    """One simulated help request.

    Attributes
    ----------
    incident_id
        ``"inc-000042"``: unique, in time order.
    at_s
        Seconds from the start of the simulation.
    kind
        One of the scenario's kinds ("rollover", "tyre"...).
    severity
        1 (least) to 5 (most).
    serious
        Whether it belongs to the serious family (crash, rollover, repair, rescue).
    lat, lng
        Where, on a road (WGS-84).
    edge, fraction
        The road edge it lies on (one carriageway of a divided road), and where along it.
    """

    incident_id: str
    at_s: float
    kind: str
    severity: int
    serious: bool
    lat: float
    lng: float
    edge: int
    fraction: float = 0.5


def _arrival_times(
    rng: np.random.Generator, per_day: float, by_hour: tuple[float, ...], scenario: Scenario
) -> np.ndarray:
    # A Poisson process whose rate is constant within each hour of the day profile.
    weights = np.asarray(by_hour, dtype=np.float64)
    weights = weights / weights.mean()
    out = []
    t = 0.0
    end = scenario.hours * 3600.0
    while t < end:
        hour = int((scenario.start_hour + t // 3600) % 24)
        span = min(3600.0 - t % 3600.0, end - t)
        n = rng.poisson(per_day / 24.0 * weights[hour] * span / 3600.0)
        out.append(t + rng.uniform(0.0, span, n))
        t += span
    return np.sort(np.concatenate(out)) if out else np.zeros(0)


def _edge_weights(network: RoadNetwork, per_class: Any) -> np.ndarray:
    a = network.arrays
    table = np.array([per_class.get(c, 1.0) for c in HIGHWAY_CLASSES] + [1.0])
    w = a.length_m * table[a.highway]  # highway -1 (unknown) takes the last entry
    return w / w.sum()


def generate_requests(
    network: RoadNetwork, scenario: Scenario, *, seed: Any = None
) -> list[Request]:
    """Draw the scenario's help requests on a road network, sorted by time.

    Parameters
    ----------
    network
        Where requests happen: along its edges, weighted by length and road class.
    scenario
        Demand calibration, day profiles and kind mix.
    seed
        Randomness (defaults to ``scenario.seed``).

    Examples
    --------
    >>> from kayou_dispatch import load_network
    >>> city = Scenario(hours=2, share=0.1, seed=1, serious_on_highway=0)
    >>> reqs = generate_requests(load_network("helsinki"), city)
    >>> 50 < len(reqs) < 400, reqs[0].at_s <= reqs[-1].at_s
    (True, True)
    """
    rng = as_rng(scenario.seed if seed is None else seed)
    families = (
        (
            True,
            scenario.serious_per_day,
            scenario.serious_by_hour,
            scenario.serious_kinds,
            scenario.road_weight_serious,
        ),
        (
            False,
            scenario.ordinary_per_day,
            scenario.ordinary_by_hour,
            scenario.ordinary_kinds,
            scenario.road_weight_ordinary,
        ),
    )
    rows = []
    for serious, per_day, by_hour, kinds, road_weight in families:
        times = _arrival_times(rng, per_day, by_hour, scenario)
        names = list(kinds)
        p = np.array([kinds[k] for k in names], dtype=np.float64)
        kind_idx = rng.choice(len(names), size=times.size, p=p / p.sum())
        edges = rng.choice(network.n_edges, size=times.size, p=_edge_weights(network, road_weight))
        if serious and scenario.serious_on_highway > 0:
            # Most serious events happen at speed: on motorways and trunk roads, by length.
            main = _main_road_weights(network)
            if main is not None:
                on_main = rng.random(times.size) < scenario.serious_on_highway
                edges[on_main] = rng.choice(network.n_edges, size=int(on_main.sum()), p=main)
        fractions = rng.uniform(0.0, 1.0, times.size)
        lat, lng, _ = edge_points(network.arrays, edges, fractions)
        for i in range(times.size):
            kind = names[kind_idx[i]]
            rows.append(
                (
                    float(times[i]),
                    kind,
                    serious,
                    float(lat[i]),
                    float(lng[i]),
                    int(edges[i]),
                    float(fractions[i]),
                )
            )
    rows.sort(key=lambda r: r[0])
    return [
        Request(f"inc-{i:06d}", t, kind, SEVERITY.get(kind, 3), serious, lat, lng, edge, frac)
        for i, (t, kind, serious, lat, lng, edge, frac) in enumerate(rows)
    ]


def _main_road_weights(network: RoadNetwork) -> np.ndarray | None:
    a = network.arrays
    main = np.isin(a.highway, [HIGHWAY_CLASSES.index("motorway"), HIGHWAY_CLASSES.index("trunk")])
    if not main.any():
        return None
    w = np.where(main, a.length_m, 0.0)
    return w / w.sum()
