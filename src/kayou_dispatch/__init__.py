"""kayou_dispatch: decide who goes when a truck driver is in trouble.

Index responder positions in an H3 grid, rank responders by road-network travel time,
and run the offer/accept lifecycle of a mutual-aid dispatch platform.
"""

from kayou_dispatch.datasets import load_network, synthetic_region
from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.errors import (
    DuplicateIncidentError,
    InvalidCoordinateError,
    InvalidParameterError,
    InvalidTransitionError,
    KayouDispatchError,
    NetworkLoadError,
    OffNetworkError,
    SharedStateError,
    UnknownIncidentError,
    UnknownResponderError,
)
from kayou_dispatch.geo import (
    bd09_to_gcj02,
    bd09_to_gcj02_many,
    bd09_to_wgs84,
    bd09_to_wgs84_many,
    gcj02_to_bd09,
    gcj02_to_bd09_many,
    gcj02_to_wgs84,
    gcj02_to_wgs84_array,
    gcj02_to_wgs84_many,
    haversine_m,
    haversine_m_array,
    haversine_m_many,
    in_china,
    validate_latlng,
    validate_latlng_array,
    validate_latlng_many,
    wgs84_to_bd09,
    wgs84_to_bd09_many,
    wgs84_to_gcj02,
    wgs84_to_gcj02_array,
    wgs84_to_gcj02_many,
)
from kayou_dispatch.lifecycle import (
    Event,
    EventKind,
    Incident,
    IncidentStatus,
    Offer,
    ResponderStats,
    RunCard,
)
from kayou_dispatch.matching import Candidate, Explanation, Reason
from kayou_dispatch.matching.expected import ExpectedCandidate
from kayou_dispatch.matching.query import RankQuery
from kayou_dispatch.network import RoadNetwork, Route, Snap, SnapArrays
from kayou_dispatch.spatial import Neighbor, Responder, ResponderIndex, Status
from kayou_dispatch.store import (
    Fix,
    FixRow,
    LocalPositionStore,
    PositionStore,
    RedisPositionStore,
)

__version__ = "0.1.0"

__all__ = [
    "bd09_to_gcj02",
    "bd09_to_gcj02_many",
    "bd09_to_wgs84",
    "bd09_to_wgs84_many",
    "Candidate",
    "DispatchEngine",
    "DuplicateIncidentError",
    "Event",
    "EventKind",
    "ExpectedCandidate",
    "Explanation",
    "Fix",
    "FixRow",
    "gcj02_to_bd09",
    "gcj02_to_bd09_many",
    "gcj02_to_wgs84",
    "gcj02_to_wgs84_array",
    "gcj02_to_wgs84_many",
    "haversine_m",
    "haversine_m_array",
    "haversine_m_many",
    "in_china",
    "Incident",
    "IncidentStatus",
    "InvalidCoordinateError",
    "InvalidParameterError",
    "InvalidTransitionError",
    "KayouDispatchError",
    "load_network",
    "LocalPositionStore",
    "Neighbor",
    "NetworkLoadError",
    "Offer",
    "OffNetworkError",
    "PositionStore",
    "RankQuery",
    "Reason",
    "RedisPositionStore",
    "Responder",
    "ResponderIndex",
    "ResponderStats",
    "RoadNetwork",
    "Route",
    "RunCard",
    "SharedStateError",
    "Snap",
    "SnapArrays",
    "Status",
    "synthetic_region",
    "UnknownIncidentError",
    "UnknownResponderError",
    "validate_latlng",
    "validate_latlng_array",
    "validate_latlng_many",
    "wgs84_to_bd09",
    "wgs84_to_bd09_many",
    "wgs84_to_gcj02",
    "wgs84_to_gcj02_array",
    "wgs84_to_gcj02_many",
]
