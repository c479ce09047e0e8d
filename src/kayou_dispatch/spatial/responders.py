"""Describe responders: their status, their last known position, and query results."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kayou_dispatch._compat import warn_unpacked
from kayou_dispatch.errors import InvalidParameterError

__all__ = [
    "check_responder_id",
    "checked_clock",
    "MAX_ID_CHARS",
    "Neighbor",
    "parse_capabilities",
    "parse_status",
    "Responder",
    "Status",
]

#: Longest responder id accepted, characters.
MAX_ID_CHARS = 256


class Status(StrEnum):
    """Where a responder stands in the dispatch lifecycle."""

    AVAILABLE = "available"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    OFFLINE = "offline"


#: Status by its small integer code (the index stores codes in a numpy array).
STATUS_BY_CODE: tuple[Status, ...] = tuple(Status)
CODE_BY_STATUS: dict[Status, int] = {s: i for i, s in enumerate(STATUS_BY_CODE)}


def checked_clock(clock: Callable[[], Any]) -> Callable[[], float]:
    """Wrap a clock so a reading that is not a finite number is a typed error, not NaN.

    Examples
    --------
    >>> checked_clock(lambda: 5)()
    5.0
    """

    def now() -> float:
        value = clock()
        if type(value) is float and -math.inf < value < math.inf:
            return value  # the common case, first
        x = math.nan if isinstance(value, bool | str | bytes) else _as_float(value)
        if not math.isfinite(x):
            msg = f"clock() must return a finite number of seconds, got {value!r:.80}"
            raise InvalidParameterError(msg, name="clock", value=value)
        return x

    now.__wrapped__ = clock  # type: ignore[attr-defined]
    return now


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return math.nan


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def check_responder_id(responder_id: Any, *, name: str = "responder_id") -> str:
    """Return a valid responder id, else raise :class:`InvalidParameterError`.

    A responder id is a non-empty string of at most :data:`MAX_ID_CHARS` characters,
    without tabs or newlines, that is valid unicode (no lone surrogates): every store,
    message and log line can hold it as written.

    Examples
    --------
    >>> check_responder_id("truck-17")
    'truck-17'
    """
    if (
        isinstance(responder_id, str)
        and 0 < len(responder_id) <= MAX_ID_CHARS
        and "\t" not in responder_id
        and "\n" not in responder_id
        and "\r" not in responder_id
    ):
        if responder_id.isascii():
            return responder_id
        try:
            responder_id.encode("utf-8")
        except UnicodeEncodeError:
            pass
        else:
            return responder_id
    msg = (
        f"{name} must be a non-empty string of at most {MAX_ID_CHARS} characters without "
        f"tabs or newlines (valid unicode), got {_shown(responder_id)}"
    )
    raise InvalidParameterError(msg, name=name, value=responder_id)


def parse_status(status: Any) -> Status:
    """Return a :class:`Status` from itself, its value or its name (any case).

    Examples
    --------
    >>> parse_status("en_route"), parse_status("OFFLINE"), parse_status(Status.OFFERED)
    (<Status.EN_ROUTE: 'en_route'>, <Status.OFFLINE: 'offline'>, <Status.OFFERED: 'offered'>)
    """
    if isinstance(status, Status):
        return status
    if isinstance(status, str):
        key = status.strip().lower()
        for s in Status:
            if key == s.value:
                return s
    allowed = ", ".join(s.name for s in Status)
    msg = f"unknown responder status {status!r}; allowed: {allowed}"
    raise InvalidParameterError(msg, name="status", value=status)


def parse_capabilities(
    values: Iterable[str] | str, *, name: str = "capabilities"
) -> frozenset[str]:
    """Return capability names as a frozenset; a single string is one capability.

    Raises
    ------
    InvalidParameterError
        When ``values`` is not an iterable of non-empty strings.

    Examples
    --------
    >>> sorted(parse_capabilities(["tow", "crane"])), parse_capabilities("tow")
    (['crane', 'tow'], frozenset({'tow'}))
    """
    if isinstance(values, str):
        values = (values,)
    try:
        out = frozenset(values)
    except TypeError:
        msg = f"{name} must be an iterable of capability strings, got {values!r}"
        raise InvalidParameterError(msg, name=name, value=values) from None
    if not all(isinstance(v, str) and v for v in out):
        msg = f"{name} must hold non-empty strings, got {sorted(map(repr, out))}"
        raise InvalidParameterError(msg, name=name, value=values)
    return out


@dataclass(frozen=True, slots=True)
class Neighbor:
    """A responder found by a spatial query, with its great-circle distance.

    Attributes
    ----------
    responder_id
        The responder.
    distance_m
        Great-circle distance from the query point, metres.
    """

    responder_id: str
    distance_m: float

    def __iter__(self) -> Iterator[Any]:
        # It was a named tuple: unpacking keeps working for a while, with a warning.
        warn_unpacked("Neighbor", ("responder_id", "distance_m"))
        return iter((self.responder_id, self.distance_m))


@dataclass(frozen=True, slots=True)
class Responder:
    """A snapshot of one responder as the index knows it.

    Attributes
    ----------
    responder_id
        The host application's id.
    lat, lng
        Last known WGS-84 position, degrees.
    ts
        Time of that position (seconds, same clock as the index).
    status
        Lifecycle status.
    heading
        Degrees clockwise from north in ``[0, 360)``, or ``None`` if unknown.
    speed_kph
        Reported speed, or ``None`` if unknown.
    capabilities
        What the responder can do ("tow", "mechanic", "first_aid", "crane", "fuel", "tyre"...).
    cell
        The H3 cell (string form) of the position at the index's resolution.
    fresh
        Whether the position was younger than the index's ``position_ttl_s`` when read.
    """

    responder_id: str
    lat: float
    lng: float
    ts: float
    status: Status
    heading: float | None
    speed_kph: float | None
    capabilities: frozenset[str]
    cell: str
    fresh: bool
