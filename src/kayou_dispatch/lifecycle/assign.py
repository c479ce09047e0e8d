"""Moved to :mod:`kayou_dispatch.matching.assign` (this name keeps working)."""

from kayou_dispatch.matching.assign import (
    ASSIGN_POLICIES,
    SEVERITY_WEIGHTS,
    coverage_penalty,
    solve_slots,
)

__all__ = ["ASSIGN_POLICIES", "coverage_penalty", "SEVERITY_WEIGHTS", "solve_slots"]
