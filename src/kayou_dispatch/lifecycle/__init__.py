"""The dispatch lifecycle: incidents, run cards, offers, assignments, events and journal."""

from kayou_dispatch.lifecycle.acceptance import AcceptanceTally, ResponderStats
from kayou_dispatch.lifecycle.assign import (
    ASSIGN_POLICIES,
    SEVERITY_WEIGHTS,
    coverage_penalty,
    solve_slots,
)
from kayou_dispatch.lifecycle.burden import (
    BurdenReport,
    Hold,
    QuietHours,
    VolunteerBurden,
    VolunteerLedger,
    gini,
)
from kayou_dispatch.lifecycle.dispatcher import (
    CandidateLike,
    Dispatcher,
    EtaMatrixFunction,
    RankFunction,
)
from kayou_dispatch.lifecycle.journal import CommandLog, Journal, JournalRow
from kayou_dispatch.lifecycle.records import Event, EventKind, Incident, IncidentStatus, Offer
from kayou_dispatch.lifecycle.runcards import (
    DEFAULT_RUN_CARDS,
    OFFER_MODES,
    RARE_CAPABILITIES,
    RunCard,
    normalize_needs,
    unit_needs_for,
)
from kayou_dispatch.lifecycle.teams import Team, TeamRoster

__all__ = [
    "AcceptanceTally",
    "ASSIGN_POLICIES",
    "BurdenReport",
    "CandidateLike",
    "CommandLog",
    "coverage_penalty",
    "DEFAULT_RUN_CARDS",
    "Dispatcher",
    "EtaMatrixFunction",
    "Event",
    "EventKind",
    "gini",
    "Hold",
    "Incident",
    "IncidentStatus",
    "Journal",
    "JournalRow",
    "normalize_needs",
    "Offer",
    "OFFER_MODES",
    "QuietHours",
    "RankFunction",
    "RARE_CAPABILITIES",
    "ResponderStats",
    "RunCard",
    "SEVERITY_WEIGHTS",
    "solve_slots",
    "Team",
    "TeamRoster",
    "unit_needs_for",
    "VolunteerBurden",
    "VolunteerLedger",
]
