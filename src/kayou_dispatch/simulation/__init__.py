"""Simulate days of help requests on real roads and compare dispatch policies."""

from kayou_dispatch.simulation.coverage import CoverageProbe, Segments, highway_segments
from kayou_dispatch.simulation.demand import Request, generate_requests
from kayou_dispatch.simulation.fleet import Fleet
from kayou_dispatch.simulation.metrics import IncidentRecord, summarize
from kayou_dispatch.simulation.policies import (
    BUILTIN_POLICIES,
    VOLUNTEER_POLICIES,
    BatchPolicy,
    ExpectedPolicy,
    H3RingPolicy,
    Policy,
    RoadEtaPolicy,
    StraightLinePolicy,
    get_policies,
)
from kayou_dispatch.simulation.replications import (
    Replications,
    replicate,
    replication_seeds,
    summarize_replications,
)
from kayou_dispatch.simulation.report import (
    compare_policies,
    format_summary,
    format_table,
    scenario_summary,
    write_outputs,
)
from kayou_dispatch.simulation.runner import Coverage, SimulationResult, simulate
from kayou_dispatch.simulation.scenario import REGION_SHARE, Scenario

__all__ = [
    "BatchPolicy",
    "BUILTIN_POLICIES",
    "compare_policies",
    "Coverage",
    "CoverageProbe",
    "ExpectedPolicy",
    "Fleet",
    "format_summary",
    "format_table",
    "generate_requests",
    "get_policies",
    "H3RingPolicy",
    "highway_segments",
    "IncidentRecord",
    "Policy",
    "REGION_SHARE",
    "replicate",
    "replication_seeds",
    "Replications",
    "Request",
    "RoadEtaPolicy",
    "Scenario",
    "scenario_summary",
    "Segments",
    "simulate",
    "SimulationResult",
    "StraightLinePolicy",
    "summarize",
    "summarize_replications",
    "VOLUNTEER_POLICIES",
    "write_outputs",
]
