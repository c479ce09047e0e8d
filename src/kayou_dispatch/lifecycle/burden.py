"""Spare volunteers: offer limits per rolling window, quiet hours, rest after long driving.

Volunteers are not employees: the same reliable driver must not be pinged all day, a
volunteer may set hours when they are never asked, and a driver who has been at the wheel
for long must rest (China requires a 20-minute rest after 4 hours of continuous driving).
:class:`VolunteerLedger` keeps what these rules need, fed by the lifecycle's reducer from
journaled records (``offer``, ``accept``, and the responder records ``quiet_hours`` and
``driving``), so it survives restarts and is shared through a Redis log like the rest of
the lifecycle. :meth:`VolunteerLedger.holds` says why a volunteer is held back from an
offer now; :func:`gini` and :class:`BurdenReport` report how the load is spread.

Rules
-----
- *Offer limit* (run card ``max_offers_per_window`` in ``offer_window_s``): a volunteer
  who had that many offers (of any kind) in the window ending now is not offered more.
- *Quiet hours* (:meth:`~kayou_dispatch.DispatchEngine.set_quiet_hours`): a daily span of
  local hours ``[start_h, end_h)`` (wrapping past midnight when ``start_h > end_h``),
  with the volunteer's UTC offset.
- *Rest* (:meth:`~kayou_dispatch.DispatchEngine.report_driving`): the volunteer's phone
  reports its continuous driving time and whether it is driving. While driving, the count
  grows with the clock until the next report; while stopped it stays, and a stop of
  :data:`REST_S` resets it. A driving task is not offered when continuous driving would
  reach :data:`MAX_CONTINUOUS_DRIVING_S` by the time the volunteer arrives (now + ETA).

Examples
--------
>>> ledger = VolunteerLedger()
>>> ledger.set_quiet_hours("r1", QuietHours(22.0, 6.0))
>>> [h.reason for h in ledger.holds("r1", now=23 * 3600.0)]
['quiet_hours']
>>> ledger.set_driving("r2", continuous_s=3 * 3600.0, at=0.0, driving=True)
>>> [h.reason for h in ledger.holds("r2", now=3600.0 - 60.0, eta_s=120.0)]
['needs_rest']
>>> ledger.set_driving("r2", continuous_s=4 * 3600.0, at=3600.0, driving=False)
>>> ledger.driving_s("r2", 3600.0 + 600.0), ledger.driving_s("r2", 3600.0 + 1200.0)
(14400.0, 0.0)
>>> round(gini([0, 0, 0, 10]), 2), gini([3, 3, 3])
(0.75, 0.0)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from kayou_dispatch.errors import InvalidParameterError

__all__ = [
    "BurdenReport",
    "gini",
    "Hold",
    "MAX_CONTINUOUS_DRIVING_S",
    "QuietHours",
    "REST_S",
    "VolunteerBurden",
    "VolunteerLedger",
]

#: Continuous driving after which a driver must rest (China: 4 hours).
MAX_CONTINUOUS_DRIVING_S = 4 * 3600.0
#: The rest that resets continuous driving (China: 20 minutes).
REST_S = 20 * 60.0
#: Offer times older than this are forgotten (no window may be longer).
MAX_WINDOW_S = 7 * 24 * 3600.0


def _check_hour(name: str, value: object, *, lo: float, hi: float) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = math.nan
    if isinstance(value, bool) or not lo <= x < hi:
        msg = f"{name} must be hours in [{lo:g}, {hi:g}), got {value!r}"
        raise InvalidParameterError(msg, name=name, value=value)
    return x


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily span of local hours when a volunteer is not asked.

    Attributes
    ----------
    start_h, end_h
        Local hours in ``[0, 24)``; the span is ``[start_h, end_h)``, wrapping past
        midnight when ``start_h > end_h``. They must differ.
    utc_offset_h
        The volunteer's local time minus UTC, hours in ``[-14, 14]``.

    Raises
    ------
    InvalidParameterError
        For hours outside those ranges, or an empty span (naming the field).
    """

    start_h: float
    end_h: float
    utc_offset_h: float = 0.0

    def __post_init__(self) -> None:
        start = _check_hour("start_h", self.start_h, lo=0.0, hi=24.0)
        end = _check_hour("end_h", self.end_h, lo=0.0, hi=24.0)
        offset = _check_hour("utc_offset_h", self.utc_offset_h, lo=-14.0, hi=14.0 + 1e-9)
        if start == end:
            msg = f"quiet hours need start_h != end_h, got {start:g} twice"
            raise InvalidParameterError(msg, name="end_h", value=self.end_h)
        object.__setattr__(self, "start_h", start)
        object.__setattr__(self, "end_h", end)
        object.__setattr__(self, "utc_offset_h", offset)

    def contains(self, t_s: float) -> bool:
        """Whether clock time ``t_s`` (seconds since the epoch, UTC) falls in the span."""
        hour = ((t_s / 3600.0) + self.utc_offset_h) % 24.0
        if self.start_h < self.end_h:
            return self.start_h <= hour < self.end_h
        return hour >= self.start_h or hour < self.end_h


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a volunteer is not offered a task now.

    Attributes
    ----------
    reason
        ``"offer_limit"``, ``"quiet_hours"`` or ``"needs_rest"``.
    detail
        A sentence for a dispatcher.
    """

    reason: str
    detail: str


@dataclass(slots=True)
class _Volunteer:
    offers: deque[float] = field(default_factory=deque)  # offer times, oldest first
    quiet: QuietHours | None = None
    driving: tuple[float, float, bool] | None = None  # (continuous_s, reported at, driving)


class VolunteerLedger:
    """Per volunteer: recent offer times, quiet hours, continuous driving (fed by the reducer)."""

    def __init__(self) -> None:
        self._people: dict[str, _Volunteer] = {}

    def clear(self) -> None:
        """Forget everything (before a rebuild from the log)."""
        self._people.clear()

    def _of(self, responder_id: str) -> _Volunteer:
        return self._people.setdefault(responder_id, _Volunteer())

    def people(self) -> list[str]:
        """Every volunteer the ledger knows (offered, or with settings)."""
        return list(self._people)

    def candidates_for_holds(self, *, max_offers: int | None) -> list[str]:
        """The volunteers :meth:`holds` could hold back (a cheap superset; the rest cannot)."""
        return [
            rid
            for rid, v in self._people.items()
            if v.quiet is not None
            or v.driving is not None
            or (max_offers is not None and len(v.offers) >= max_offers)
        ]

    def note_offer(self, responder_id: str, at: float) -> None:
        """Count an offer made at clock time ``at``."""
        times = self._of(responder_id).offers
        times.append(at)
        while times and times[0] < at - MAX_WINDOW_S:
            times.popleft()

    def offers_since(self, responder_id: str, since: float) -> int:
        """Offers made at or after ``since`` (within the last 7 days)."""
        v = self._people.get(responder_id)
        return 0 if v is None else sum(1 for t in v.offers if t >= since)

    def set_quiet_hours(self, responder_id: str, quiet: QuietHours | None) -> None:
        """Set (or, with ``None``, clear) a volunteer's quiet hours."""
        self._of(responder_id).quiet = quiet

    def quiet_hours(self, responder_id: str) -> QuietHours | None:
        """A volunteer's quiet hours, if set."""
        v = self._people.get(responder_id)
        return None if v is None else v.quiet

    def set_driving(
        self, responder_id: str, *, continuous_s: float, at: float, driving: bool
    ) -> None:
        """Note a report: ``continuous_s`` of continuous driving at ``at``, driving or not."""
        self._of(responder_id).driving = (continuous_s, at, driving)

    def driving_s(self, responder_id: str, now: float) -> float:
        """Continuous driving at ``now``, seconds (0 when never reported or rested)."""
        v = self._people.get(responder_id)
        if v is None or v.driving is None:
            return 0.0
        continuous, at, driving = v.driving
        if driving:
            return continuous + max(0.0, now - at)
        return 0.0 if now - at >= REST_S else continuous

    def holds(
        self,
        responder_id: str,
        *,
        now: float,
        eta_s: float = 0.0,
        max_offers: int | None = None,
        window_s: float = 3600.0,
        driving: bool = True,
    ) -> list[Hold]:
        """Why the volunteer may not be offered a task now (empty: it may).

        Parameters
        ----------
        responder_id
            The volunteer.
        now
            Clock time, seconds.
        eta_s
            Its drive to the incident (driving tasks: continuous driving counts to arrival).
        max_offers, window_s
            The run card's offer limit per rolling window (``None``: no limit).
        driving
            Whether the task is a driving task (the rest rule applies to those only).
        """
        v = self._people.get(responder_id)
        if v is None:
            return []
        out: list[Hold] = []
        if max_offers is not None:
            recent = self.offers_since(responder_id, now - window_s)
            if recent >= max_offers:
                out.append(
                    Hold(
                        "offer_limit",
                        f"it had {recent} offers in the last {window_s:g} s "
                        f"(the run card allows {max_offers})",
                    )
                )
        if v.quiet is not None and v.quiet.contains(now):
            q = v.quiet
            out.append(
                Hold(
                    "quiet_hours",
                    f"it set quiet hours {q.start_h:g}-{q.end_h:g} h (UTC{q.utc_offset_h:+g})",
                )
            )
        if driving and v.driving is not None:
            so_far = self.driving_s(responder_id, now)
            # Stopped and not rested yet: the rest restarts once it drives off to help.
            at_arrival = so_far + max(0.0, eta_s) if so_far else 0.0
            if at_arrival >= MAX_CONTINUOUS_DRIVING_S:
                out.append(
                    Hold(
                        "needs_rest",
                        f"it would have driven {at_arrival / 3600.0:.1f} h without a break "
                        f"on arrival; a {REST_S / 60:g}-minute rest is due after "
                        f"{MAX_CONTINUOUS_DRIVING_S / 3600:g} h",
                    )
                )
        return out


def gini(values: Sequence[float]) -> float:
    """The Gini coefficient of non-negative loads: 0 when equal, towards 1 when one carries all.

    ``sum_ij |x_i - x_j| / (2 n^2 mean)``, computed from the sorted values in
    ``O(n log n)``; 0 for no values or all zeros.

    Raises
    ------
    InvalidParameterError
        For a negative or non-finite value.
    """
    xs = sorted(float(x) for x in values)
    if any(not (math.isfinite(x) and x >= 0.0) for x in xs):
        msg = f"gini needs finite values >= 0, got {list(values)!r:.80}"
        raise InvalidParameterError(msg, name="values", value=list(values))
    n, total = len(xs), sum(xs)
    if n == 0 or total == 0.0:
        return 0.0
    weighted = sum((2 * i - n + 1) * x for i, x in enumerate(xs))
    return weighted / (n * total)


@dataclass(frozen=True, slots=True)
class VolunteerBurden:
    """One volunteer's load: offers made to it and assignments it took."""

    responder_id: str
    offers: int
    assignments: int


@dataclass(frozen=True, slots=True)
class BurdenReport:
    """How offers and assignments are spread over volunteers.

    Attributes
    ----------
    volunteers
        Every volunteer's load (zeros included), by id.
    max_offers, max_assignments
        The busiest volunteer's offers and assignments.
    offers_gini, assignments_gini
        Gini coefficients of offers and of assignments over all volunteers (0: equal).
    """

    volunteers: tuple[VolunteerBurden, ...]
    max_offers: int
    max_assignments: int
    offers_gini: float
    assignments_gini: float

    @classmethod
    def of(cls, loads: Sequence[VolunteerBurden]) -> BurdenReport:
        """The report of these loads."""
        vols = tuple(sorted(loads, key=lambda b: b.responder_id))
        offers = [b.offers for b in vols]
        taken = [b.assignments for b in vols]
        return cls(
            vols,
            max(offers, default=0),
            max(taken, default=0),
            gini(offers),
            gini(taken),
        )
