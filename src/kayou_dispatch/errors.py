"""Define the exception tree of kayou_dispatch.

Every error the library raises on purpose is a leaf of one tree rooted in
:class:`KayouDispatchError`. Each leaf also subclasses the builtin that fits, so
callers who already catch ``ValueError`` or ``KeyError`` keep working::

    KayouDispatchError
    ├── InvalidCoordinateError   (ValueError)    a latitude/longitude that is not a place
    ├── InvalidParameterError    (ValueError)    an option outside its allowed range
    ├── OffNetworkError          (ValueError)    a point too far from every road
    ├── NetworkLoadError         (ValueError)    a road network that cannot be read or built
    ├── DuplicateIncidentError   (ValueError)    an incident id that is already taken
    ├── UnknownResponderError    (KeyError)      a responder id the engine does not know
    ├── UnknownIncidentError     (KeyError)      an incident id the engine does not know
    ├── InvalidTransitionError   (RuntimeError)  a lifecycle step not allowed from this state
    └── SharedStateError         (RuntimeError)  the state store (Redis, the journal) failed

Only leaves are raised. Each carries the context that caused it as attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "DuplicateIncidentError",
    "InvalidCoordinateError",
    "InvalidParameterError",
    "InvalidTransitionError",
    "KayouDispatchError",
    "NetworkLoadError",
    "OffNetworkError",
    "SharedStateError",
    "UnknownIncidentError",
    "UnknownResponderError",
]


class KayouDispatchError(Exception):
    """Root of every error kayou_dispatch raises on purpose (never raised itself)."""


class _KeyErrorMessage(KeyError):
    # KeyError.__str__ shows repr(args[0]) ('"msg"'); show the message as written.
    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidCoordinateError(KayouDispatchError, ValueError):
    """A latitude/longitude pair is not finite or outside WGS-84 ranges.

    Attributes
    ----------
    lat, lng
        The offending values for a single point (``None`` for a batch).
    rows
        For a batch, the indices of every bad row (empty for a single point).
    """

    def __init__(
        self,
        msg: str,
        *,
        lat: Any = None,
        lng: Any = None,
        rows: Sequence[int] = (),
    ) -> None:
        super().__init__(msg)
        self.lat = lat
        self.lng = lng
        self.rows = tuple(int(r) for r in rows)


class InvalidParameterError(KayouDispatchError, ValueError):
    """An option is outside its allowed range (negative radius, ``k < 1``, unknown status...).

    Attributes
    ----------
    name
        The parameter's name.
    value
        The value that was given.
    """

    def __init__(self, msg: str, *, name: str, value: Any) -> None:
        super().__init__(msg)
        self.name = name
        self.value = value


class OffNetworkError(KayouDispatchError, ValueError):
    """A point is farther than allowed from every road of the network.

    Attributes
    ----------
    lat, lng
        The point.
    distance_m
        Distance to the nearest road considered (``inf`` when none qualifies).
    max_distance_m
        The limit that was exceeded.
    """

    def __init__(
        self, msg: str, *, lat: float, lng: float, distance_m: float, max_distance_m: float
    ) -> None:
        super().__init__(msg)
        self.lat = lat
        self.lng = lng
        self.distance_m = distance_m
        self.max_distance_m = max_distance_m


class NetworkLoadError(KayouDispatchError, ValueError):
    """A road network cannot be read or built (missing file, not OSM, no roads...).

    Attributes
    ----------
    source
        The path or object that was being loaded.
    """

    def __init__(self, msg: str, *, source: Any = None) -> None:
        super().__init__(msg)
        self.source = source


class DuplicateIncidentError(KayouDispatchError, ValueError):
    """An incident id is already in use.

    Attributes
    ----------
    incident_id
        The id that was reported twice.
    """

    def __init__(self, msg: str, *, incident_id: str) -> None:
        super().__init__(msg)
        self.incident_id = incident_id


class UnknownResponderError(KayouDispatchError, _KeyErrorMessage):
    """A responder id is not known.

    Attributes
    ----------
    responder_id
        The id that was looked up.
    """

    def __init__(self, msg: str, *, responder_id: str) -> None:
        super().__init__(msg)
        self.responder_id = responder_id


class UnknownIncidentError(KayouDispatchError, _KeyErrorMessage):
    """An incident id is not known.

    Attributes
    ----------
    incident_id
        The id that was looked up.
    """

    def __init__(self, msg: str, *, incident_id: str) -> None:
        super().__init__(msg)
        self.incident_id = incident_id


class InvalidTransitionError(KayouDispatchError, RuntimeError):
    """A lifecycle step is not allowed from the current state.

    Attributes
    ----------
    subject
        The incident or responder id concerned.
    current
        The state it is in.
    attempted
        The step that was refused.
    """

    def __init__(self, msg: str, *, subject: str, current: Any, attempted: str) -> None:
        super().__init__(msg)
        self.subject = subject
        self.current = current
        self.attempted = attempted


class SharedStateError(KayouDispatchError, RuntimeError):
    """The state store (shared Redis, or the SQLite journal) could not take or give state.

    Nothing was acknowledged: the command may be retried (with the same request id, it is
    applied at most once).

    Attributes
    ----------
    store
        Where the state lives (the Redis URL without its password, or the journal's path).
    """

    def __init__(self, msg: str, *, store: str) -> None:
        super().__init__(msg)
        self.store = store
