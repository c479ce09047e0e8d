"""Simulate days of help requests on real roads and compare dispatch policies."""

from kayou_dispatch.simulation.demand import Request, generate_requests
from kayou_dispatch.simulation.fleet import Fleet
from kayou_dispatch.simulation.metrics import IncidentRecord, summarize
from kayou_dispatch.simulation.policies import (
    BUILTIN_POLICIES,
    BatchPolicy,
    H3RingPolicy,
    Policy,
    RoadEtaPolicy,
    StraightLinePolicy,
    get_policies,
)
from kayou_dispatch.simulation.report import compare_policies, format_table, write_outputs
from kayou_dispatch.simulation.runner import SimulationResult, simulate
from kayou_dispatch.simulation.scenario import Scenario

__all__ = [
    "BatchPolicy",
    "BUILTIN_POLICIES",
    "compare_policies",
    "Fleet",
    "format_table",
    "generate_requests",
    "get_policies",
    "H3RingPolicy",
    "IncidentRecord",
    "Policy",
    "Request",
    "RoadEtaPolicy",
    "Scenario",
    "simulate",
    "SimulationResult",
    "StraightLinePolicy",
    "summarize",
    "write_outputs",
]
