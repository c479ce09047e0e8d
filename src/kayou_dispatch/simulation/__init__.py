"""Simulate days of help requests on real roads and compare dispatch policies."""

from kayou_dispatch.simulation.demand import Request, generate_requests
from kayou_dispatch.simulation.fleet import Fleet
from kayou_dispatch.simulation.metrics import IncidentRecord, summarize
from kayou_dispatch.simulation.scenario import Scenario

__all__ = ["Fleet", "generate_requests", "IncidentRecord", "Request", "Scenario", "summarize"]
