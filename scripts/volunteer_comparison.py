"""Compare the volunteer-aware policies with road-ETA ones, paired by replication.

Reads the ``metrics.json`` a replicated ``kayou-dispatch simulate`` run wrote (common
random numbers: every policy sees the same requests and the same volunteers in each
replication), pairs each ``expected/<mode>`` with ``road-eta/<mode>`` replication by
replication, and prints a Markdown table of the issue's metrics: each policy's mean and,
for the pair, the mean paired difference (absolute and relative to road-ETA) with a
Student-t 95% confidence interval. With ``--plot`` it draws the relative differences with
their intervals against the issue's targets.

    python scripts/volunteer_comparison.py out/metrics.json --plot docs/img/volunteers.png
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

METRICS = (
    ("response_p90_s", "resp p90", 1 / 60, "min", -0.20),
    ("offers_per_incident", "offers/incident", 1.0, "", -0.30),
    ("unserved_share", "unserved", 100.0, "%", None),
    ("max_offers_per_volunteer", "max offers/volunteer", 1.0, "", 0.0),
    ("burden_gini", "burden Gini", 1.0, "", None),
)
PAIRS = (
    ("expected/sequential", "road-eta/sequential"),
    ("expected/broadcast", "road-eta/broadcast"),
)


def _ci(x: np.ndarray) -> tuple[float, float, float]:
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    h = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - h, m + h


def compare(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (pair, metric): means, paired difference and relative difference, CIs."""
    pol = metrics["policies"]
    rows = []
    for new, base in PAIRS:
        for key, label, scale, unit, target in METRICS:
            a = np.array(pol[new][key]["values"], dtype=float)
            b = np.array(pol[base][key]["values"], dtype=float)
            rel = (a - b) / np.where(b == 0, np.nan, b)
            ok = np.isfinite(rel)
            rows.append(
                {
                    "pair": f"{new} - {base}",
                    "metric": key,
                    "label": label,
                    "unit": unit,
                    "new": float(a.mean()) * scale,
                    "base": float(b.mean()) * scale,
                    "diff": tuple(v * scale for v in _ci(a - b)),
                    "rel": _ci(rel[ok]) if ok.any() else (math.nan,) * 3,
                    "target": target,
                    "n": int(a.size),
                }
            )
    return rows


def markdown(rows: list[dict[str, Any]]) -> str:
    out = [
        "| pair | metric | road-ETA | expected | paired difference [95% CI] "
        "| relative [95% CI] | excludes 0 |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        d, lo, hi = r["diff"]
        rm, rlo, rhi = r["rel"]
        u = f" {r['unit']}" if r["unit"] else ""
        out.append(
            f"| {r['pair']} | {r['label']} | {r['base']:.2f}{u} | {r['new']:.2f}{u} | "
            f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]{u} | {100 * rm:+.1f}% [{100 * rlo:+.1f}, "
            f"{100 * rhi:+.1f}] | {'yes' if lo > 0 or hi < 0 else 'no'} |"
        )
    return "\n".join(out)


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PAIRS), figsize=(11, 3.8), sharex=True)
    for ax, (new, base) in zip(axes, PAIRS, strict=True):
        mine = [r for r in rows if r["pair"] == f"{new} - {base}"]
        y = np.arange(len(mine))[::-1]
        for yi, r in zip(y, mine, strict=True):
            m, lo, hi = (100 * v for v in r["rel"])
            color = "tab:green" if hi < 0 else "tab:red" if lo > 0 else "tab:gray"
            ax.errorbar(m, yi, xerr=[[m - lo], [hi - m]], fmt="o", color=color, capsize=4)
            if r["target"] is not None:
                ax.plot(100 * r["target"], yi, marker="|", color="k", markersize=14)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_yticks(y, [r["label"] for r in mine])
        ax.set_title(f"{new}\nvs {base}", fontsize=9)
        ax.set_xlabel("paired relative difference, % (95% CI); | = issue target")
    fig.suptitle(title, fontsize=9)
    fig.text(
        0.01, 0.01, "Road network © OpenStreetMap contributors, ODbL 1.0", fontsize=7, alpha=0.7
    )
    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("metrics", type=Path)
    ap.add_argument("--plot", type=Path, default=None)
    args = ap.parse_args()
    metrics = json.loads(args.metrics.read_text())
    rows = compare(metrics)
    print(markdown(rows))
    if args.plot is not None:
        sc = metrics["scenario"]
        title = (
            f"{metrics['replications']} replications x {sc['hours']:g} h, {sc['network']}, "
            f"{sc['responders']} volunteers + {sc['service_vehicles']} service vehicles"
        )
        plot(rows, args.plot, title)


if __name__ == "__main__":
    main()
