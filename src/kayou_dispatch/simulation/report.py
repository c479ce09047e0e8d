"""Compare policies on one simulated day and write what people look at: JSON, CSV, plots."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.geo import haversine_m
from kayou_dispatch.network import RoadNetwork
from kayou_dispatch.simulation.policies import Policy
from kayou_dispatch.simulation.replay import write_replay
from kayou_dispatch.simulation.replications import Replications, summarize_replications
from kayou_dispatch.simulation.runner import SimulationResult, simulate
from kayou_dispatch.simulation.scenario import Scenario

__all__ = [
    "compare_policies",
    "format_summary",
    "format_table",
    "scenario_summary",
    "write_outputs",
]

_COLUMNS = (
    ("policy", "policy", "{}"),
    ("served", "served", "{}"),
    ("unserved", "unserved", "{}"),
    ("accept p50", "first_accept_p50_s", "{:.0f} s"),
    ("resp p50", "response_p50_s", "{:.1f} min"),
    ("resp p90", "response_p90_s", "{:.1f} min"),
    ("resp p99", "response_p99_s", "{:.1f} min"),
    ("≤15 min", "within_15min", "{:.1%}"),
    ("≤30 min", "within_30min", "{:.1%}"),
    ("offers/inc", "offers_per_incident", "{:.2f}"),
    ("util", "utilisation", "{:.1%}"),
    ("gap", "coverage_gap_share", "{:.1%}"),
    ("wall", "wall_s", "{:.1f} s"),
)


def compare_policies(
    network: RoadNetwork,
    scenario: Scenario,
    policies: Sequence[Policy],
    *,
    progress: bool = False,
    track_every_s: float | None = None,
) -> list[SimulationResult]:
    """Simulate the same day (same requests, same drivers) under each policy.

    With ``track_every_s``, the first policy's day also records responder tracks (see
    :func:`~kayou_dispatch.simulation.simulate`), which :func:`write_outputs` turns into
    ``replay.html``.
    """
    return [
        simulate(
            network,
            scenario,
            p,
            progress=progress,
            track_every_s=track_every_s if i == 0 else None,
        )
        for i, p in enumerate(policies)
    ]


def _cell(metrics: dict[str, Any], key: str, fmt: str) -> str:
    value = metrics["simulator"]["wall_s"] if key == "wall_s" else metrics.get(key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if key.startswith("response_"):
        value = value / 60.0
    return fmt.format(value)


def format_table(results: Sequence[SimulationResult]) -> str:
    """A plain-text table of the headline metrics, one row per policy."""
    rows = [[h for h, _, _ in _COLUMNS]]
    for r in results:
        m = dict(r.metrics, policy=r.policy)
        rows.append([_cell(m, key, fmt) for _, key, fmt in _COLUMNS])
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def scenario_summary(network: RoadNetwork, scenario: Scenario) -> dict[str, Any]:
    """The ``scenario`` block of ``metrics.json``: the day, and the network it ran on."""
    min_lat, min_lng, max_lat, max_lng = network.bounds
    mid = math.radians((min_lat + max_lat) / 2)
    ns_km = haversine_m(min_lat, min_lng, max_lat, min_lng) / 1000
    ew_km = haversine_m(math.degrees(mid), min_lng, math.degrees(mid), max_lng) / 1000
    return {
        **scenario.summary(),
        "network": network.meta.get("name") or network.meta.get("source"),
        "network_source": network.meta.get("source"),
        "attribution": network.meta.get("attribution"),
        "nodes": network.n_nodes,
        "edges": network.n_edges,
        "extent_km": [round(ns_km, 1), round(ew_km, 1)],
    }


def format_summary(reps: Replications) -> str:
    """A plain-text table: each headline metric as mean [95 % CI] over the replications,
    then each policy's paired difference to the first."""
    summary = summarize_replications(reps)
    keep = (
        "unserved_share",
        "response_p50_s",
        "response_p90_s",
        "within_15min",
        "offers_per_incident",
        "coverage_gap_share",
    )
    cols = [*(c for c in _COLUMNS if c[1] in keep)]
    cols.insert(0, ("unserved", "unserved_share", "{:.1%}"))
    cols = [c for i, c in enumerate(cols) if c[1] != "unserved_share" or i == 0]
    header = ["policy", *(h for h, _, _ in cols), "wall/run"]
    rows = [header]

    def fmt(key: str, fmt_: str, value: Any) -> str:
        if value is None:
            return "-"
        if key.startswith("response_"):
            value = value / 60.0
        return fmt_.format(value)

    for name in reps.policies:
        m = summary["policies"][name]
        cells = [name]
        for _, key, f in cols:
            entry = m.get(key, {})
            mean, (lo, hi) = entry.get("mean"), entry.get("ci95", [None, None])
            cell = fmt(key, f, mean)
            if lo is not None and hi is not None:
                cell += f" [{fmt(key, f, lo).split()[0]}, {fmt(key, f, hi).split()[0]}]"
            cells.append(cell)
        cells.append(fmt("wall_s", "{:.1f} s", m["simulator"]["wall_s"]["mean"]))
        rows.append(cells)
    for name in reps.policies[1:]:
        d = summary["paired"][name]
        cells = [f"{name} - {reps.policies[0]}"]
        for _, key, f in cols:
            entry = d.get(key, {})
            mean, (lo, hi) = entry.get("mean_diff"), entry.get("ci95", [None, None])
            cell = fmt(key, f.replace("{:", "{:+"), mean)
            if lo is not None and hi is not None:
                cell += f" [{fmt(key, f, lo).split()[0]}, {fmt(key, f, hi).split()[0]}]"
            cells.append(cell)
        cells.append("")
        rows.append(cells)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(reps.policies) > 1:
        lines.insert(2 + len(reps.policies), "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_outputs(
    out: str | os.PathLike[str],
    network: RoadNetwork,
    scenario: Scenario,
    results: Sequence[SimulationResult] | Replications,
    *,
    plots: bool = True,
) -> list[Path]:
    """Write ``metrics.json``, ``incidents.csv``, the PNG plots (with matplotlib) and
    ``replay.html`` (when the first result has tracks).

    ``results`` is one day's results (one per policy) or :class:`Replications`;
    ``metrics.json`` gives every metric as mean, 95 % CI and per-replication values, and
    paired differences against the first policy (see :func:`summarize_replications`).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    reps = _as_replications(scenario, results)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    walls = np.array([[r.metrics["simulator"]["wall_s"] for r in row] for row in reps.results])
    summary = {
        "scenario": {
            **scenario_summary(network, scenario),
            "seeds": list(reps.seeds),
            "baseline_policy": reps.policies[0],
            "wall_s": round(reps.wall_s, 2),
            "wall_s_per_run": {
                name: round(float(walls[:, i].mean()), 2) for i, name in enumerate(reps.policies)
            },
        },
        "replications": len(reps.results),
        **summarize_replications(reps),
    }
    path = folder / "metrics.json"
    path.write_text(json.dumps(summary, indent=2, allow_nan=False, default=_json_default))
    written.append(path)
    path = folder / "incidents.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "replication",
                "policy",
                "incident_id",
                "kind",
                "serious",
                "severity",
                "hour",
                "reported_s",
                "first_offer_s",
                "first_accept_s",
                "first_arrival_s",
                "closed_s",
                "offers",
                "units",
                "served",
            ]
        )
        for k, row in enumerate(reps.results):
            for r in row:
                for rec in r.records:
                    w.writerow(
                        [
                            k,
                            r.policy,
                            rec.incident_id,
                            rec.kind,
                            int(rec.serious),
                            rec.severity,
                            rec.hour,
                            *(
                                _num(x)
                                for x in (
                                    rec.reported_s,
                                    rec.first_offer_s,
                                    rec.first_accept_s,
                                    rec.first_arrival_s,
                                    rec.closed_s,
                                )
                            ),
                            rec.offers,
                            rec.units,
                            int(rec.served),
                        ]
                    )
    written.append(path)
    first = reps.results[0][0]
    if plots:
        from kayou_dispatch.simulation.plots import (
            plot_coverage,
            plot_ecdf,
            plot_map,
            plot_response_by_hour,
        )

        by_policy = {
            name: [rec for row in reps.results for rec in row[i].records]
            for i, name in enumerate(reps.policies)
        }
        plot_ecdf(by_policy, folder / "response_ecdf.png")
        per_rep = {
            name: [row[i].records for row in reps.results] for i, name in enumerate(reps.policies)
        }
        plot_response_by_hour(per_rep, folder / "response_by_hour.png")
        reqs = {rec.incident_id: rec for rec in first.records}
        plot_map(
            network,
            folder / "map.png",
            incidents=[(lat, lng, reqs[iid].serious) for iid, lat, lng in first.places],
            responders=first.final_positions,
        )
        written += [folder / n for n in ("response_ecdf.png", "response_by_hour.png", "map.png")]
        coverages = [row[0].coverage for row in reps.results]
        if all(c is not None for c in coverages):
            plot_coverage(
                network,
                [c for c in coverages if c is not None],
                folder / "coverage.png",
                policy=reps.policies[0],
            )
            written.append(folder / "coverage.png")
    if first.tracks is not None:
        written.append(write_replay(folder / "replay.html", network, scenario, first))
    return written


def _as_replications(
    scenario: Scenario, results: Sequence[SimulationResult] | Replications
) -> Replications:
    if isinstance(results, Replications):
        return results
    results = list(results)
    if not results:
        raise InvalidParameterError("no results to write", name="results", value=results)
    wall = sum(r.metrics["simulator"]["wall_s"] for r in results)
    return Replications(
        scenario, (scenario.seed,), tuple(r.policy for r in results), (tuple(results),), wall
    )


def _num(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.1f}"


def _json_default(x: Any) -> Any:
    return float(x)
