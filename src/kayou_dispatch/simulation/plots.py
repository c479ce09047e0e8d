"""Draw a simulation's results: response-time ECDFs, response by hour, and a map."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kayou_dispatch.network import RoadNetwork
from kayou_dispatch.simulation.metrics import IncidentRecord

__all__ = ["plot_coverage", "plot_ecdf", "plot_map", "plot_response_by_hour"]


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


def _per_replication(
    records: Mapping[str, Sequence[Any]],
) -> dict[str, list[Sequence[IncidentRecord]]]:
    out: dict[str, list[Sequence[IncidentRecord]]] = {}
    for name, recs in records.items():
        if recs and isinstance(recs[0], IncidentRecord):
            out[name] = [recs]  # one day
        else:
            out[name] = list(recs)
    return out


def plot_response_by_hour(
    records_by_policy: Mapping[str, Sequence[Any]], path: str | os.PathLike[str]
) -> None:
    """Plot p90 response time by hour of day, per policy, with 95 % CI bands, and the requests.

    ``records_by_policy`` maps a policy to its records (one day) or to a list of record
    lists (one per replication): the line is the mean over replications of each hour's
    p90, the band its 95 % Student-t interval; bars under it count requests per hour.
    """
    from scipy import stats

    plt = _pyplot()
    reps = _per_replication(records_by_policy)
    fig, (ax, axn) = plt.subplots(
        2, 1, figsize=(8, 5.5), dpi=120, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    hours = np.arange(24)
    counts = None
    for i, (name, days) in enumerate(reps.items()):
        p90 = np.full((len(days), 24), np.nan)
        n_req = np.zeros((len(days), 24))
        for d, recs in enumerate(days):
            for h in range(24):
                t = [r.response_s / 60.0 for r in recs if r.served and r.hour == h]
                n_req[d, h] = sum(1 for r in recs if r.hour == h)
                if t:
                    p90[d, h] = float(np.percentile(t, 90))
        counts = n_req if counts is None else counts
        ok = np.isfinite(p90)
        n = ok.sum(axis=0)
        mean = np.where(n > 0, np.nansum(p90, axis=0) / np.maximum(n, 1), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = np.sqrt(np.nansum((p90 - mean) ** 2, axis=0) / np.maximum(n - 1, 1))
            half = stats.t.ppf(0.975, np.maximum(n - 1, 1)) * sd / np.sqrt(np.maximum(n, 1))
        half = np.where(n > 1, half, np.nan)
        color = f"C{i % 10}"
        ax.plot(hours, mean, "-o", color=color, ms=3, lw=1.5, label=name)
        ax.fill_between(hours, mean - half, mean + half, color=color, alpha=0.2, lw=0)
    ax.set_ylabel("p90 response (min)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    n_days = max(len(d) for d in reps.values()) if reps else 0
    band = f", 95 % CI over {n_days} replications" if n_days > 1 else ""
    ax.set_title(f"p90 response time by hour of day (mean{band})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    if counts is not None:
        axn.bar(hours, counts.mean(axis=0), color="0.6", width=0.8)
    axn.set_ylabel("requests")
    axn.set_xlabel("hour of day (local)")
    axn.set_xticks(range(0, 24, 2))
    axn.set_xlim(-0.6, 23.6)
    axn.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


_ROAD_STYLE = {  # class: (width, grey)
    "motorway": (1.6, "0.35"),
    "trunk": (1.2, "0.45"),
    "primary": (0.6, "0.6"),
}


def _basemap(ax: Any, network: RoadNetwork, *, alpha: float = 1.0) -> float:
    """Draw the roads (main roads heavier), a scale bar and the OSM attribution; no axes.

    Returns the aspect ratio used (metres per degree of longitude / of latitude).
    """
    from matplotlib.collections import LineCollection

    from kayou_dispatch.network import HIGHWAY_CLASSES

    a = network.arrays
    segs = np.stack([np.c_[a.lng[a.u], a.lat[a.u]], np.c_[a.lng[a.v], a.lat[a.v]]], axis=1)
    names = np.array([*HIGHWAY_CLASSES, "?"])[a.highway]
    rest = ~np.isin(names, list(_ROAD_STYLE))
    ax.add_collection(LineCollection(list(segs[rest]), colors="0.75", linewidths=0.3, alpha=alpha))
    for cls, (width, grey) in reversed(_ROAD_STYLE.items()):
        m = names == cls
        if m.any():
            ax.add_collection(
                LineCollection(list(segs[m]), colors=grey, linewidths=width, alpha=alpha)
            )
    min_lat, min_lng, max_lat, max_lng = network.bounds
    aspect = 1.0 / np.cos(np.radians((min_lat + max_lat) / 2))
    pad_lat = 0.03 * (max_lat - min_lat)
    pad_lng = 0.03 * (max_lng - min_lng)
    ax.set_xlim(min_lng - pad_lng, max_lng + pad_lng)
    ax.set_ylim(min_lat - pad_lat, max_lat + pad_lat)
    ax.set_aspect(aspect)
    ax.set_axis_off()
    # Scale bar: a round length near a fifth of the width, bottom left.
    width_m = (max_lng - min_lng) * 111_320.0 / aspect
    nice = [10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000]
    bar_m = max(n for n in nice if n <= max(width_m / 5, 10))
    bar_deg = bar_m / (111_320.0 / aspect)
    x0 = min_lng + pad_lng
    y0 = min_lat - 0.5 * pad_lat
    ax.plot([x0, x0 + bar_deg], [y0, y0], color="k", lw=3, solid_capstyle="butt")
    label = f"{bar_m // 1000:g} km" if bar_m >= 1000 else f"{bar_m:g} m"
    ax.text(x0 + bar_deg / 2, y0 + 0.4 * pad_lat, label, ha="center", va="bottom", fontsize=8)
    ax.annotate(
        "Map data © OpenStreetMap contributors (ODbL)",
        xy=(1.0, 0.0),
        xycoords="axes fraction",
        ha="right",
        va="top",
        fontsize=7,
        color="0.3",
    )
    return float(aspect)


def plot_map(
    network: RoadNetwork,
    path: str | os.PathLike[str],
    *,
    incidents: Sequence[tuple[float, float, bool]] = (),
    responders: Sequence[tuple[float, float]] = (),
) -> None:
    """Draw the roads, requests (serious in red) and responders (blue) on one map.

    Main roads are drawn heavier; a scale bar and the OpenStreetMap attribution are on
    the map, the legend sits below it (never over the data), no degree axes.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 8), dpi=120)
    _basemap(ax, network)
    if responders:
        r = np.asarray(responders)
        ax.scatter(
            r[:, 1], r[:, 0], s=5, c="tab:blue", alpha=0.7, lw=0, label="responders at the end"
        )
    if incidents:
        inc = np.asarray([(lat, lng) for lat, lng, _ in incidents])
        serious = np.asarray([s for *_, s in incidents], dtype=bool)
        ax.scatter(
            inc[~serious, 1],
            inc[~serious, 0],
            s=5,
            c="tab:orange",
            alpha=0.6,
            lw=0,
            label=f"ordinary requests ({int((~serious).sum())})",
        )
        ax.scatter(
            inc[serious, 1],
            inc[serious, 0],
            s=16,
            c="tab:red",
            marker="x",
            lw=1,
            label=f"serious requests ({int(serious.sum())})",
        )
    if responders or incidents:
        ax.legend(
            fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=3, frameon=False
        )
    ax.set_title(str(network.meta.get("name") or network.meta.get("source", "road network")))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_coverage(
    network: RoadNetwork,
    coverages: Sequence[Any],
    path: str | os.PathLike[str],
    *,
    policy: str = "",
) -> None:
    """Draw the "where are we blind" map: each motorway/trunk segment coloured by the share
    of the day (mean over replications) with no available responder within the limit."""
    plt = _pyplot()
    from matplotlib.collections import LineCollection

    cov = coverages[0]
    seg = cov.segments
    shares = np.array(
        [np.nansum(c.gap_share * c.probes, axis=1) / c.probes.sum() for c in coverages]
    )
    share = shares.mean(axis=0)
    a = network.arrays
    fig, ax = plt.subplots(figsize=(7.5, 8), dpi=120)
    _basemap(ax, network, alpha=0.5)
    lines, values = [], []
    for i in range(len(seg)):
        edges = seg.edges[seg.offsets[i] : seg.offsets[i + 1]]
        for e in edges.tolist():
            lines.append([(a.lng[a.u[e]], a.lat[a.u[e]]), (a.lng[a.v[e]], a.lat[a.v[e]])])
            values.append(share[i])
    coll = LineCollection(lines, array=np.asarray(values), cmap="RdYlGn_r", linewidths=2.4)
    coll.set_clim(0.0, 1.0)
    ax.add_collection(coll)
    cb = fig.colorbar(coll, ax=ax, orientation="horizontal", fraction=0.04, pad=0.03)
    minutes = cov.limit_s / 60
    cb.set_label(f"share of the day with no available responder within {minutes:g} min by road")
    mean = float(shares.mean())
    ax.set_title(
        f"Where are we blind? Motorway and trunk coverage, {policy}\n"
        f"{mean:.1%} of segment-hours with nobody available within {minutes:g} min",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
