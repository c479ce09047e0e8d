"""Define vehicle profiles: which roads a vehicle may use and how fast it drives them.

A profile maps each drivable OSM ``highway`` class to a default speed and a cap. A tagged
``maxspeed`` is honoured but never above the class cap, so a loaded truck on a 120 km/h
expressway still plans at China's 100 km/h truck limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from kayou_dispatch.errors import InvalidParameterError

__all__ = ["get_profile", "HIGHWAY_CLASSES", "parse_maxspeed", "Profile", "PROFILES"]

#: Drivable highway classes, in a fixed order: an edge stores its class as an index here.
HIGHWAY_CLASSES: tuple[str, ...] = (
    "motorway",
    "motorway_link",
    "trunk",
    "trunk_link",
    "primary",
    "primary_link",
    "secondary",
    "secondary_link",
    "tertiary",
    "tertiary_link",
    "unclassified",
    "residential",
    "living_street",
    "service",
    "road",
)


@dataclass(frozen=True)
class Profile:
    """How one kind of vehicle uses the road network.

    Attributes
    ----------
    name
        Profile name (``"truck"``, ``"car"``).
    speeds_kph
        Per highway class: ``(default_kph, cap_kph)``. The default applies when the way has
        no usable ``maxspeed``; a tagged ``maxspeed`` is used up to the cap.
    excluded_access
        Access values that close a way to this vehicle (``no``, ``private``, and the
        values that reserve a road for others: ``agricultural``, ``forestry``,
        ``emergency``; mutual-aid responders are not emergency vehicles).
    excluded_tags
        ``(key, value)`` pairs that close a way (``("hgv", "no")`` for trucks).
    access_keys
        Access keys from the most specific to the most general (OSM's access hierarchy).
        The first one a way carries decides: ``access=no`` + ``motor_vehicle=yes`` is open,
        ``access=yes`` + ``motor_vehicle=no`` is closed.
    maxspeed_keys
        Speed-limit keys from the most to the least specific (``maxspeed:hgv`` before
        ``maxspeed`` for trucks); each is also tried with a ``:forward``/``:backward`` suffix.
    """

    name: str
    speeds_kph: Mapping[str, tuple[float, float]]
    excluded_access: frozenset[str] = frozenset(
        {"no", "private", "agricultural", "forestry", "emergency"}
    )
    excluded_tags: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    access_keys: tuple[str, ...] = ("motorcar", "motor_vehicle", "vehicle", "access")
    maxspeed_keys: tuple[str, ...] = ("maxspeed",)

    @property
    def max_speed_kph(self) -> float:
        """The highest speed any edge can get with this profile (for lower bounds)."""
        return max(cap for _, cap in self.speeds_kph.values())

    def speed_kph(self, highway: str, maxspeed: str | float | None = None) -> float:
        """Return the planning speed for a way of class ``highway``.

        Examples
        --------
        >>> TRUCK = get_profile("truck")
        >>> TRUCK.speed_kph("motorway"), TRUCK.speed_kph("motorway", "120")
        (80.0, 100.0)
        >>> TRUCK.speed_kph("residential", "20")
        20.0
        """
        try:
            default, cap = self.speeds_kph[highway]
        except KeyError:
            allowed = ", ".join(HIGHWAY_CLASSES)
            msg = f"highway class {highway!r} is not drivable; allowed: {allowed}"
            raise InvalidParameterError(msg, name="highway", value=highway) from None
        tagged = parse_maxspeed(maxspeed)
        if tagged is None:
            return float(default)
        return float(min(tagged, cap))


#: Smallest ``maxspeed`` taken as a limit, km/h (smaller ones are ignored).
MIN_MAXSPEED_KPH = 1.0


def parse_maxspeed(value: str | float | None) -> float | None:
    """Parse an OSM ``maxspeed`` value to km/h, or ``None`` when it gives no number.

    Handles plain numbers, ``mph``, several values (``"60;80"``: the lowest wins) and
    zone codes such as ``"CN:urban"`` (no number: ``None``). Values below
    :data:`MIN_MAXSPEED_KPH` are tagging errors, not limits (``None``).

    Examples
    --------
    >>> parse_maxspeed("80"), parse_maxspeed("30 mph"), parse_maxspeed("60;80")
    (80.0, 48.28032, 60.0)
    >>> parse_maxspeed("none") is None, parse_maxspeed("CN:urban") is None
    (True, True)
    """
    if value is None:
        return None
    if isinstance(value, int | float):
        v = float(value)
        return v if math.isfinite(v) and v >= MIN_MAXSPEED_KPH else None
    speeds = []
    for part in str(value).split(";"):
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?\s*", part)
        if m:
            v = float(m.group(1)) * (1.609344 if m.group(2) == "mph" else 1.0)
            # Below walking pace is a tagging error (or 1e-320), not a limit: ignored.
            if math.isfinite(v) and v >= MIN_MAXSPEED_KPH:
                speeds.append(v)
    return min(speeds) if speeds else None


# Loaded heavy trucks in China: expressway limit 100 km/h, cruising about 80; lower on
# ramps and in towns. Speeds are planning speeds (averages including slowing), not limits.
_TRUCK = Profile(
    name="truck",
    speeds_kph=MappingProxyType(
        {
            "motorway": (80.0, 100.0),
            "motorway_link": (40.0, 60.0),
            "trunk": (65.0, 90.0),
            "trunk_link": (35.0, 50.0),
            "primary": (50.0, 70.0),
            "primary_link": (30.0, 40.0),
            "secondary": (45.0, 60.0),
            "secondary_link": (30.0, 40.0),
            "tertiary": (35.0, 50.0),
            "tertiary_link": (25.0, 35.0),
            "unclassified": (30.0, 40.0),
            "residential": (20.0, 30.0),
            "living_street": (10.0, 15.0),
            "service": (15.0, 20.0),
            "road": (25.0, 40.0),
        }
    ),
    excluded_tags=frozenset({("hgv", "no"), ("hgv", "private"), ("goods", "no")}),
    access_keys=("hgv", "motor_vehicle", "vehicle", "access"),
    maxspeed_keys=("maxspeed:hgv", "maxspeed"),
)

_CAR = Profile(
    name="car",
    speeds_kph=MappingProxyType(
        {
            "motorway": (100.0, 120.0),
            "motorway_link": (50.0, 80.0),
            "trunk": (80.0, 100.0),
            "trunk_link": (45.0, 60.0),
            "primary": (60.0, 80.0),
            "primary_link": (40.0, 50.0),
            "secondary": (50.0, 70.0),
            "secondary_link": (35.0, 50.0),
            "tertiary": (40.0, 60.0),
            "tertiary_link": (30.0, 40.0),
            "unclassified": (35.0, 50.0),
            "residential": (25.0, 40.0),
            "living_street": (10.0, 20.0),
            "service": (15.0, 30.0),
            "road": (30.0, 50.0),
        }
    ),
)

#: Built-in profiles by name.
PROFILES: Mapping[str, Profile] = MappingProxyType({"truck": _TRUCK, "car": _CAR})


def get_profile(profile: str | Profile) -> Profile:
    """Return a :class:`Profile` given itself or its name.

    Examples
    --------
    >>> get_profile("truck").max_speed_kph
    100.0
    """
    if isinstance(profile, Profile):
        return profile
    try:
        return PROFILES[profile]
    except (KeyError, TypeError):
        msg = f"unknown profile {profile!r}; allowed: {', '.join(PROFILES)} or a Profile"
        raise InvalidParameterError(msg, name="profile", value=profile) from None
