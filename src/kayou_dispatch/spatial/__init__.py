"""The H3 responder index: positions, staleness, and exact proximity queries."""

from kayou_dispatch.spatial.index import ResponderIndex, Snapshot
from kayou_dispatch.spatial.responders import Neighbor, Responder, Status, parse_status

__all__ = ["Neighbor", "parse_status", "Responder", "ResponderIndex", "Snapshot", "Status"]
