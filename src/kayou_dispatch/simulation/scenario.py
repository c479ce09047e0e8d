"""Describe a simulated day: demand calibration, day profiles, kinds, fleet and behaviour.

Calibration: the platform this library serves receives about 3,000 serious help requests a
day nationally (rollover, collision, breakdown needing repair, rescue) and about 30,000
ordinary ones (directions, a flat tyre, fuel, price questions). A scenario simulates a
region's ``share`` of that national demand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

import numpy as np

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.network import HIGHWAY_CLASSES, RoadNetwork

__all__ = [
    "FREIGHT_BY_HOUR",
    "MAX_HOURS",
    "NATIONAL_ORDINARY_PER_DAY",
    "NATIONAL_SERIOUS_PER_DAY",
    "NIGHT_PEAK_BY_HOUR",
    "ORDINARY_KINDS",
    "REGION_SHARE",
    "Scenario",
    "SERIOUS_BY_HOUR",
    "SERIOUS_KINDS",
    "SEVERITY",
]

NATIONAL_SERIOUS_PER_DAY = 3_000
NATIONAL_ORDINARY_PER_DAY = 30_000
#: The bundled Lower Saxony region's share of national demand: its 343 km of motorway are
#: 2.6 % of Germany's 13,200 km of Autobahn, its 12,900 km2 are 3.6 % of the country and its
#: ~2.9 million people 3.5 % -- 3 % it is (90 serious + 900 ordinary requests a day).
REGION_SHARE = 0.03
#: Longest simulated stretch a scenario accepts (7 days).
MAX_HOURS = 7 * 24.0


def _frozen(d: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(d))


#: Serious kinds and their share of serious requests.
SERIOUS_KINDS: Mapping[str, float] = _frozen(
    {
        "collision": 0.34,
        "breakdown": 0.30,
        "rollover": 0.12,
        "stuck": 0.12,
        "medical": 0.08,
        "fire": 0.04,
    }
)
#: Ordinary kinds and their share of ordinary requests ("other": price questions and the rest).
ORDINARY_KINDS: Mapping[str, float] = _frozen(
    {"directions": 0.30, "tyre": 0.25, "fuel": 0.15, "other": 0.30}
)
#: Severity (1 least, 5 most) a simulated request of each kind is reported with.
SEVERITY: Mapping[str, int] = MappingProxyType(
    {
        "rollover": 5,
        "fire": 5,
        "medical": 5,
        "collision": 4,
        "stuck": 3,
        "breakdown": 3,
        "tyre": 2,
        "fuel": 2,
        "directions": 1,
        "other": 1,
    }
)

#: Heavy-goods traffic on motorways by local hour (share of the day's truck-km x 24): the
#: shape of German Autobahn truck counts on a working day -- a trough at 1-3 h, a steep rise
#: from 4 h, a broad plateau 8-15 h, a decline through the evening, night freight after 21 h.
FREIGHT_BY_HOUR: tuple[float, ...] = (
    0.45, 0.40, 0.40, 0.50, 0.75, 1.05, 1.35, 1.50, 1.55, 1.55, 1.55, 1.50,
    1.45, 1.45, 1.45, 1.40, 1.30, 1.15, 0.95, 0.80, 0.70, 0.65, 0.60, 0.50,
)  # fmt: skip
#: Relative risk of a serious event per truck-km by hour (fatigue peaks in the small hours).
_NIGHT_RISK = (
    1.8, 2.0, 2.2, 2.2, 1.9, 1.5, 1.1, 1.0, 0.9, 0.9, 0.9, 0.9,
    1.0, 1.1, 1.1, 1.0, 1.0, 1.0, 1.0, 1.1, 1.2, 1.3, 1.4, 1.6,
)  # fmt: skip
#: Serious requests by hour: freight exposure x fatigue risk.
SERIOUS_BY_HOUR: tuple[float, ...] = tuple(
    round(f * r, 3) for f, r in zip(FREIGHT_BY_HOUR, _NIGHT_RISK, strict=True)
)
#: A night-heavy serious profile (fatigue alone, flat exposure), for long-haul corridors.
NIGHT_PEAK_BY_HOUR: tuple[float, ...] = (
    1.5, 1.7, 1.9, 2.0, 1.8, 1.4, 1.1, 0.9, 0.8, 0.8, 0.8, 0.8,
    0.8, 0.9, 1.0, 0.9, 0.8, 0.8, 0.8, 0.9, 1.0, 1.1, 1.2, 1.4,
)  # fmt: skip

#: Relative chance, per metre of road, that a request happens on a road of each class.
_ROAD_WEIGHT_SERIOUS = {
    "motorway": 6.0,
    "motorway_link": 3.0,
    "trunk": 5.0,
    "trunk_link": 2.5,
    "primary": 3.0,
    "primary_link": 1.5,
    "secondary": 2.0,
    "secondary_link": 1.0,
    "tertiary": 1.2,
    "tertiary_link": 0.8,
    "unclassified": 0.8,
    "residential": 0.3,
    "living_street": 0.1,
    "service": 0.3,
    "road": 0.5,
}
_ROAD_WEIGHT_ORDINARY = {
    "motorway": 3.0,
    "motorway_link": 2.0,
    "trunk": 3.0,
    "trunk_link": 2.0,
    "primary": 2.5,
    "primary_link": 1.5,
    "secondary": 2.0,
    "secondary_link": 1.2,
    "tertiary": 1.5,
    "tertiary_link": 1.0,
    "unclassified": 1.0,
    "residential": 0.6,
    "living_street": 0.2,
    "service": 0.8,
    "road": 0.8,
}
#: Minutes on scene, (mean, sd), by kind.
_SERVICE_MIN = {
    "rollover": (90.0, 30.0),
    "fire": (60.0, 20.0),
    "medical": (30.0, 10.0),
    "collision": (45.0, 15.0),
    "stuck": (40.0, 15.0),
    "breakdown": (50.0, 20.0),
    "tyre": (25.0, 8.0),
    "fuel": (10.0, 4.0),
    "directions": (3.0, 1.0),
    "other": (8.0, 4.0),
}
#: Probability that a volunteer accepts an offer, by kind (service vehicles always accept).
_ACCEPT = {
    "rollover": 0.8,
    "fire": 0.75,
    "medical": 0.85,
    "collision": 0.8,
    "stuck": 0.65,
    "breakdown": 0.6,
    "tyre": 0.6,
    "fuel": 0.55,
    "directions": 0.7,
    "other": 0.5,
}


@dataclass(frozen=True)
class Scenario:
    """Everything that defines a simulated stretch of time, apart from the road network.

    Attributes
    ----------
    hours
        Simulated duration (at most :data:`MAX_HOURS`, 7 days).
    responders
        Volunteer drivers online at the start (truck drivers on trips; they log on and off).
    service_vehicles
        Professional units (tow, crane, mechanic) that wait at depots and always accept.
    share
        The region's share of national demand (the default, :data:`REGION_SHARE`, 0.03,
        gives 90 serious + 900 ordinary a day).
    start_hour
        Local hour the simulation starts at.
    gps_interval_s, gps_noise_m
        How often phones report, and the GPS error (standard deviation, metres).
    offer_timeout_s
        Used when the engine's run card has none.
    response_delay_s
        Mean seconds a driver takes to answer an offer (exponential).
    shift_hours
        Mean hours a volunteer stays online before going offline (and as long offline).
    seed
        Makes the day reproducible: same scenario and seed, same metrics.
    serious_on_highway
        Share of serious requests on motorway and trunk roads (each on one carriageway);
        the rest, and every ordinary request, are placed by road class. A network with no
        motorway or trunk road cannot host a scenario with a share above 0
        (:meth:`check_network`).
    coverage_limit_s, coverage_every_s
        The coverage probe looks for motorway and trunk stretches with no available
        responder within ``coverage_limit_s`` by road, every ``coverage_every_s``
        (``None``: no probe).
    accept_spread
        Volunteers differ, and the policies are not told how: each volunteer's chance to
        accept is ``expit(logit(accept_probability[kind]) + z)`` with its own
        ``z ~ Normal(0, accept_spread)`` (0: all alike; the default 1.5 makes some accept
        most offers and many rarely, as community-responder studies report).
    delay_spread
        Each volunteer's mean answer delay is ``response_delay_s * exp(w)``,
        ``w ~ Normal(0, delay_spread)`` (0: all alike).
    ignore_probability, ignore_spread
        Volunteers also leave offers unanswered (the offer times out, costing its whole
        time-out): each volunteer ignores an offer with its own hidden probability
        ``expit(logit(ignore_probability) + v)``, ``v ~ Normal(0, ignore_spread)``,
        drawn once per replication (defaults 0.3 and 1.0: on average about a third of
        offers go unanswered; with the acceptance odds, about 35 % of the offers made
        are accepted, inside the 17-47 % of alerted volunteers that published
        community-responder systems see respond, JMIR mHealth 2023, cited by issue 15).
        Service vehicles never ignore. ``ignore_probability=0``: every offer answered.
    delay_tail
        How heavy-tailed one answer's delay is around the volunteer's mean: lognormal
        with this log standard deviation and that mean (default 1.0: the median answer
        is 0.61 of the mean, one in a hundred takes over 6 times it); ``None``: the
        exponential delay of earlier versions (their measured tables used it, with
        ``ignore_probability=0``).
    """

    hours: float = 24.0
    responders: int = 300
    service_vehicles: int = 12
    share: float = REGION_SHARE
    start_hour: int = 0
    gps_interval_s: float = 60.0
    gps_noise_m: float = 8.0
    offer_timeout_s: float = 60.0
    response_delay_s: float = 15.0
    shift_hours: float = 10.0
    seed: int = 0
    serious_kinds: Mapping[str, float] = field(default_factory=lambda: SERIOUS_KINDS)
    ordinary_kinds: Mapping[str, float] = field(default_factory=lambda: ORDINARY_KINDS)
    serious_by_hour: tuple[float, ...] = SERIOUS_BY_HOUR
    ordinary_by_hour: tuple[float, ...] = FREIGHT_BY_HOUR
    road_weight_serious: Mapping[str, float] = field(
        default_factory=lambda: _frozen(_ROAD_WEIGHT_SERIOUS)
    )
    road_weight_ordinary: Mapping[str, float] = field(
        default_factory=lambda: _frozen(_ROAD_WEIGHT_ORDINARY)
    )
    service_minutes: Mapping[str, tuple[float, float]] = field(
        default_factory=lambda: MappingProxyType(dict(_SERVICE_MIN))
    )
    accept_probability: Mapping[str, float] = field(default_factory=lambda: _frozen(_ACCEPT))
    serious_on_highway: float = 0.7
    coverage_limit_s: float = 900.0
    coverage_every_s: float | None = 900.0
    accept_spread: float = 1.5
    delay_spread: float = 0.5
    ignore_probability: float = 0.3
    ignore_spread: float = 1.0
    delay_tail: float | None = 1.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Mapping) and not isinstance(value, MappingProxyType):
                object.__setattr__(self, f.name, MappingProxyType(dict(value)))

        def positive(name: str, integer: bool = False) -> None:
            value = getattr(self, name)
            ok = isinstance(value, int) and not isinstance(value, bool) if integer else True
            try:
                ok = ok and math.isfinite(value) and value > 0
            except TypeError:
                ok = False
            if not ok:
                kind = "a whole number" if integer else "a finite number"
                msg = f"{name} must be {kind} > 0, got {value!r}"
                raise InvalidParameterError(msg, name=name, value=value)

        positive("hours")
        if self.hours > MAX_HOURS:
            msg = f"hours must be at most {MAX_HOURS:g} (7 days), got {self.hours!r}"
            raise InvalidParameterError(msg, name="hours", value=self.hours)
        positive("coverage_limit_s")
        if self.coverage_every_s is not None:
            positive("coverage_every_s")
        p_hw = self.serious_on_highway
        if not (isinstance(p_hw, int | float) and not isinstance(p_hw, bool) and 0 <= p_hw <= 1):
            msg = f"serious_on_highway must be a share in [0, 1], got {p_hw!r}"
            raise InvalidParameterError(msg, name="serious_on_highway", value=p_hw)
        positive("responders", integer=True)
        positive("gps_interval_s")
        positive("offer_timeout_s")
        positive("response_delay_s")
        positive("shift_hours")
        if not (isinstance(self.service_vehicles, int) and self.service_vehicles >= 0):
            msg = f"service_vehicles must be a whole number >= 0, got {self.service_vehicles!r}"
            raise InvalidParameterError(msg, name="service_vehicles", value=self.service_vehicles)
        if not (isinstance(self.share, int | float) and 0 < self.share <= 1):
            msg = f"share must be in (0, 1], got {self.share!r}"
            raise InvalidParameterError(msg, name="share", value=self.share)
        if not (isinstance(self.gps_noise_m, int | float) and 0 <= self.gps_noise_m < 1_000):
            msg = f"gps_noise_m must be in [0, 1000), got {self.gps_noise_m!r}"
            raise InvalidParameterError(msg, name="gps_noise_m", value=self.gps_noise_m)
        if self.start_hour not in range(24):
            msg = f"start_hour must be a whole hour 0..23, got {self.start_hour!r}"
            raise InvalidParameterError(msg, name="start_hour", value=self.start_hour)
        p_ignore = self.ignore_probability
        if not (
            isinstance(p_ignore, int | float) and not isinstance(p_ignore, bool)
            and 0 <= p_ignore < 1
        ):
            msg = f"ignore_probability must be a probability in [0, 1), got {p_ignore!r}"
            raise InvalidParameterError(msg, name="ignore_probability", value=p_ignore)
        tail = self.delay_tail
        if tail is not None and not (
            isinstance(tail, int | float) and not isinstance(tail, bool) and 0 <= tail <= 5
        ):
            msg = f"delay_tail must be a log standard deviation in [0, 5] or None, got {tail!r}"
            raise InvalidParameterError(msg, name="delay_tail", value=tail)
        for name in ("accept_spread", "delay_spread", "ignore_spread"):
            spread = getattr(self, name)
            if not (
                isinstance(spread, int | float)
                and not isinstance(spread, bool)
                and 0 <= spread <= 10
            ):
                msg = f"{name} must be a standard deviation in [0, 10], got {spread!r}"
                raise InvalidParameterError(msg, name=name, value=spread)
        for name in ("serious_by_hour", "ordinary_by_hour"):
            profile = getattr(self, name)
            if len(profile) != 24 or min(profile) < 0 or sum(profile) <= 0:
                msg = f"{name} must hold 24 non-negative hourly weights, not all zero"
                raise InvalidParameterError(msg, name=name, value=profile)

    @property
    def serious_per_day(self) -> float:
        """Expected serious requests per simulated day."""
        return NATIONAL_SERIOUS_PER_DAY * self.share

    @property
    def ordinary_per_day(self) -> float:
        """Expected ordinary requests per simulated day."""
        return NATIONAL_ORDINARY_PER_DAY * self.share

    def __reduce__(self) -> tuple[Any, ...]:
        # Read-only mappings do not pickle: send plain dicts (frozen again on arrival), so
        # scenarios reach worker processes.
        kw = {
            f.name: dict(v) if isinstance(v := getattr(self, f.name), Mapping) else v
            for f in fields(self)
        }
        return (_scenario, (kw,))

    def check_network(self, network: RoadNetwork) -> None:
        """Check that ``network`` can host this scenario (before any simulation runs).

        Raises
        ------
        InvalidParameterError
            When serious requests go on motorways and trunk roads
            (``serious_on_highway > 0``) and the network has none.
        """
        hw = network.arrays.highway
        main = np.isin(hw, [HIGHWAY_CLASSES.index("motorway"), HIGHWAY_CLASSES.index("trunk")])
        if self.serious_on_highway > 0 and not main.any():
            name = network.meta.get("name") or network.meta.get("source") or "the network"
            msg = (
                f"{name} has no motorway or trunk road, but the truck scenario puts "
                f"{self.serious_on_highway:.0%} of serious requests on them: choose a regional "
                "network, or a city scenario (serious_on_highway=0, --serious-on-highway 0)"
            )
            raise InvalidParameterError(msg, name="network", value=name)

    def summary(self) -> dict[str, object]:
        """A JSON-able description (for ``metrics.json``)."""
        return {
            "hours": self.hours,
            "responders": self.responders,
            "service_vehicles": self.service_vehicles,
            "share": self.share,
            "serious_per_day": self.serious_per_day,
            "ordinary_per_day": self.ordinary_per_day,
            "start_hour": self.start_hour,
            "gps_interval_s": self.gps_interval_s,
            "gps_noise_m": self.gps_noise_m,
            "seed": self.seed,
            "serious_on_highway": self.serious_on_highway,
            "coverage_limit_s": self.coverage_limit_s,
            "coverage_every_s": self.coverage_every_s,
        }


def _scenario(kw: dict[str, Any]) -> Scenario:
    return Scenario(**kw)
