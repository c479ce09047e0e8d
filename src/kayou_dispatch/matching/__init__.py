"""Matching: rank responders by exact road ETA, explain a ranking, build ETA matrices."""

from kayou_dispatch.matching.candidates import CandidateSet, LocalPlane, SnapCache, gather
from kayou_dispatch.matching.explain import Explanation, Reason, explain_responder
from kayou_dispatch.matching.matrix import eta_matrix
from kayou_dispatch.matching.rank import Candidate, Ranker

__all__ = [
    "Candidate",
    "CandidateSet",
    "eta_matrix",
    "explain_responder",
    "Explanation",
    "gather",
    "LocalPlane",
    "Ranker",
    "Reason",
    "SnapCache",
]
