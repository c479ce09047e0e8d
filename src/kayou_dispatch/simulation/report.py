"""Compare policies on one simulated day and write what people look at: JSON, CSV, plots."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kayou_dispatch.network import RoadNetwork
from kayou_dispatch.simulation.policies import Policy
from kayou_dispatch.simulation.replay import write_replay
from kayou_dispatch.simulation.runner import SimulationResult, simulate
from kayou_dispatch.simulation.scenario import Scenario

__all__ = ["compare_policies", "format_table", "write_outputs"]

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


def write_outputs(
    out: str | os.PathLike[str],
    network: RoadNetwork,
    scenario: Scenario,
    results: Sequence[SimulationResult],
    *,
    plots: bool = True,
) -> list[Path]:
    """Write ``metrics.json``, ``incidents.csv``, the PNG plots (with matplotlib) and
    ``replay.html`` (when the first result has tracks).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    summary = {
        "scenario": {
            **scenario.summary(),
            "network": network.meta.get("name") or network.meta.get("source"),
            "nodes": network.n_nodes,
            "edges": network.n_edges,
        },
        "policies": {r.policy: r.metrics for r in results},
    }
    path = folder / "metrics.json"
    path.write_text(json.dumps(summary, indent=2, allow_nan=False, default=_json_default))
    written.append(path)
    path = folder / "incidents.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
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
        for r in results:
            for rec in r.records:
                w.writerow(
                    [
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
    if plots:
        from kayou_dispatch.simulation.plots import plot_ecdf, plot_map, plot_response_by_hour

        by_policy = {r.policy: r.records for r in results}
        plot_ecdf(by_policy, folder / "response_ecdf.png")
        plot_response_by_hour(by_policy, folder / "response_by_hour.png")
        first = results[0]
        reqs = {rec.incident_id: rec for rec in first.records}
        plot_map(
            network,
            folder / "map.png",
            incidents=[(lat, lng, reqs[iid].serious) for iid, lat, lng in first.places],
            responders=first.final_positions,
        )
        written += [folder / n for n in ("response_ecdf.png", "response_by_hour.png", "map.png")]
    if results and results[0].tracks is not None:
        written.append(write_replay(folder / "replay.html", network, scenario, results[0]))
    return written


def _num(x: float) -> str:
    return "" if math.isnan(x) else f"{x:.1f}"


def _json_default(x: Any) -> Any:
    return float(x)
