"""Score a simulated day: response times, shares within targets, unserved, by kind and hour."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["IncidentRecord", "summarize"]


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """What happened to one simulated request (times in seconds from the start; NaN: never).

    Attributes
    ----------
    incident_id, kind, serious, severity
        The request.
    hour
        Local hour of day it was reported in.
    reported_s, first_offer_s, first_accept_s, first_arrival_s, closed_s
        When it was reported, first offered, first accepted, first reached, and closed.
    offers
        How many offers were made for it.
    units
        Units it asked for.
    served
        Whether at least one responder reached it.
    """

    incident_id: str
    kind: str
    serious: bool
    severity: int
    hour: int
    reported_s: float
    first_offer_s: float
    first_accept_s: float
    first_arrival_s: float
    closed_s: float
    offers: int
    units: int
    served: bool

    @property
    def response_s(self) -> float:
        """Report to first arrival (NaN when never reached)."""
        return self.first_arrival_s - self.reported_s

    @property
    def accept_s(self) -> float:
        """Report to first accept (NaN when never accepted)."""
        return self.first_accept_s - self.reported_s


def _pct(values: np.ndarray, q: float) -> float | None:
    return float(np.percentile(values, q)) if values.size else None


def _block(records: Sequence[IncidentRecord]) -> dict[str, float | int | None]:
    n = len(records)
    response = np.array([r.response_s for r in records if r.served], dtype=np.float64)
    accept = np.array([r.accept_s for r in records], dtype=np.float64)
    accept = accept[np.isfinite(accept)]
    out: dict[str, float | int | None] = {
        "incidents": n,
        "served": int(response.size),
        "unserved": n - int(response.size),
        "unserved_share": (n - response.size) / n if n else None,
        "first_accept_p50_s": _pct(accept, 50),
        "first_accept_p90_s": _pct(accept, 90),
        "response_p50_s": _pct(response, 50),
        "response_p90_s": _pct(response, 90),
        "response_p99_s": _pct(response, 99),
    }
    for minutes in (15, 30, 60):
        out[f"within_{minutes}min"] = float((response <= minutes * 60).sum() / n) if n else None
    out["offers_per_incident"] = float(np.mean([r.offers for r in records])) if n else None
    return out


def summarize(
    records: Iterable[IncidentRecord],
    *,
    busy_s: float,
    online_s: float,
    wall_s: float,
    events: int,
    cpu_s: float | None = None,
) -> dict[str, object]:
    """Compute a policy's metrics from its incident records.

    Parameters
    ----------
    records
        One per request.
    busy_s, online_s
        Responder-seconds spent on incidents (offered to closed) and online in total.
    wall_s, events
        Simulator wall time and number of events processed.
    cpu_s
        Simulator CPU time (this process), when measured: unlike wall time, it does not
        grow when other processes share the cores.

    Returns
    -------
    dict
        JSON-able: overall figures, ``serious`` and ``ordinary`` blocks, ``by_kind``,
        ``by_hour`` and ``simulator`` (events/s, wall time).

    Examples
    --------
    >>> r = IncidentRecord("i1", "tyre", False, 2, 3, 0.0, 5.0, 20.0, 600.0, 900.0, 1, 1, True)
    >>> m = summarize([r], busy_s=900.0, online_s=3600.0, wall_s=0.1, events=10)
    >>> m["response_p50_s"], m["within_15min"], m["utilisation"]
    (600.0, 1.0, 0.25)
    """
    recs = list(records)
    out: dict[str, object] = dict(_block(recs))
    out["utilisation"] = busy_s / online_s if online_s > 0 else None
    out["serious"] = _block([r for r in recs if r.serious])
    out["ordinary"] = _block([r for r in recs if not r.serious])
    kinds = sorted({r.kind for r in recs})
    out["by_kind"] = {k: _block([r for r in recs if r.kind == k]) for k in kinds}
    out["by_hour"] = {
        str(h): _block([r for r in recs if r.hour == h]) for h in sorted({r.hour for r in recs})
    }
    out["simulator"] = {
        "wall_s": wall_s,
        "events": events,
        "events_per_s": events / wall_s if wall_s > 0 else math.inf,
        "cpu_s": cpu_s,
    }
    return out
