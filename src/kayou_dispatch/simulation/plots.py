"""Draw a simulation's results: response-time ECDFs, response by hour, and a map."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kayou_dispatch.network import RoadNetwork
from kayou_dispatch.simulation.metrics import IncidentRecord

__all__ = ["plot_ecdf", "plot_map", "plot_response_by_hour"]


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:  # pragma: no cover - depends on the environment
        from kayou_dispatch.errors import InvalidParameterError

        msg = "plots need matplotlib: pip install 'kayou-dispatch[plot]'"
        raise InvalidParameterError(msg, name="plots", value=True) from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_ecdf(
    records_by_policy: Mapping[str, Sequence[IncidentRecord]], path: str | os.PathLike[str]
) -> None:
    """Plot each policy's ECDF of response time (report to first arrival), in minutes.

    Unserved requests count as never reached: a curve tops out at the served share.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    longest = 0.0
    for name, recs in records_by_policy.items():
        n = len(recs)
        t = np.sort([r.response_s / 60.0 for r in recs if r.served])
        if n and t.size:
            longest = max(longest, float(t[-1]))
            ax.step(
                np.r_[0.0, t], np.r_[0.0, np.arange(1, t.size + 1) / n], where="post", label=name
            )
    for minutes in (15, 30, 60):
        if minutes <= longest:
            ax.axvline(minutes, color="0.8", lw=0.8, zorder=0)
    ax.set_xlabel("response time: report to first arrival (min)")
    ax.set_ylabel("share of requests reached")
    ax.set_ylim(0, 1)
    ax.set_xlim(0, max(longest * 1.05, 1.0))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Response-time ECDF by dispatch policy")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_response_by_hour(
    records_by_policy: Mapping[str, Sequence[IncidentRecord]], path: str | os.PathLike[str]
) -> None:
    """Plot median and p90 response time for each hour of the day, per policy."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for i, (name, recs) in enumerate(records_by_policy.items()):
        hours, p50, p90 = [], [], []
        for h in range(24):
            t = [r.response_s / 60.0 for r in recs if r.served and r.hour == h]
            if t:
                hours.append(h)
                p50.append(float(np.median(t)))
                p90.append(float(np.percentile(t, 90)))
        color = f"C{i % 10}"
        ax.plot(hours, p50, "-o", color=color, ms=3, label=f"{name} p50")
        ax.plot(hours, p90, "--", color=color, lw=1, label=f"{name} p90")
    ax.set_xlabel("hour of day")
    ax.set_ylabel("response time (min)")
    ax.set_xticks(range(0, 24, 3))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title("Response time by hour")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_map(
    network: RoadNetwork,
    path: str | os.PathLike[str],
    *,
    incidents: Sequence[tuple[float, float, bool]] = (),
    responders: Sequence[tuple[float, float]] = (),
) -> None:
    """Draw the roads, requests (serious in red) and responders (blue) on one map."""
    plt = _pyplot()
    from matplotlib.collections import LineCollection

    a = network.arrays
    segs = np.stack([np.c_[a.lng[a.u], a.lat[a.u]], np.c_[a.lng[a.v], a.lat[a.v]]], axis=1)
    fig, ax = plt.subplots(figsize=(7, 7), dpi=120)
    ax.add_collection(LineCollection(list(segs), colors="0.6", linewidths=0.5))
    if responders:
        r = np.asarray(responders)
        ax.scatter(r[:, 1], r[:, 0], s=2, c="tab:blue", alpha=0.5, label="responders")
    if incidents:
        inc = np.asarray([(lat, lng) for lat, lng, _ in incidents])
        serious = np.asarray([s for *_, s in incidents], dtype=bool)
        ax.scatter(
            inc[~serious, 1],
            inc[~serious, 0],
            s=4,
            c="tab:orange",
            alpha=0.6,
            label="ordinary requests",
        )
        ax.scatter(
            inc[serious, 1],
            inc[serious, 0],
            s=10,
            c="tab:red",
            marker="x",
            label="serious requests",
        )
    ax.autoscale()
    ax.set_aspect(1.0 / np.cos(np.radians(float(a.lat.mean()))))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.legend(fontsize=8, loc="upper right")
    ax.set_title(str(network.meta.get("name") or network.meta.get("source", "road network")))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
