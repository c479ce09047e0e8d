"""Handle batch assignment: many incidents' missing units offered at once, jointly.

Mixed into :class:`~kayou_dispatch.lifecycle.Dispatcher`. The plan (who serves which
slot) is :func:`kayou_dispatch.matching.batch.plan_batch`'s; this module builds its inputs
from incident state and records the offers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.lifecycle._validate import check_seconds
from kayou_dispatch.lifecycle.commands import Commands
from kayou_dispatch.lifecycle.records import IncidentStatus, Offer
from kayou_dispatch.lifecycle.state import IncidentState
from kayou_dispatch.matching.assign import ASSIGN_POLICIES
from kayou_dispatch.matching.batch import BatchIncident, plan_batch

__all__ = ["BatchCommands"]


class _Pooled(NamedTuple):
    """An available responder as the batch planner reads it (a ``BatchCandidate``)."""

    responder_id: str
    lat: float
    lng: float
    capabilities: frozenset[str]


class BatchCommands(Commands):
    """Batch assignment (mixed into :class:`~kayou_dispatch.lifecycle.Dispatcher`)."""

    # -- batch assignment ----------------------------------------------------------------

    def assign_batch(
        self,
        incident_ids: Iterable[str] | None = None,
        *,
        policy: str = "optimal",
        coverage_margin_s: float | None = None,
    ) -> dict[str, list[Offer]]:
        """Offer a burst of incidents' missing units at once, jointly rather than one by one.

        Slots are the units of each incident that are missing and not covered by an
        outstanding offer; candidates are the fresh AVAILABLE responders (not engaged)
        having the needs of at least one slot. ``eta_matrix`` gives every incident's ETA
        from every candidate; a pair is infeasible (never assigned) when the ETA is not
        finite or exceeds the run card's ``max_eta_s``, the responder lacks the slot's
        needs, or declined / let lapse an offer of that incident. Each slot's ETA is
        weighted by severity (:data:`~kayou_dispatch.lifecycle.SEVERITY_WEIGHTS`) and one
        offer per slot is made to the responder the solution picks, whatever the run
        card's mode; later top-ups (after a decline, an expiry, or in :meth:`tick`) follow
        the mode, so a broadcast incident then gets its ``fan_out`` offers.

        With an ``eta_matrix`` taking ``limit_s`` (the engine's), each incident's search
        first stops at 250 s (or its ``max_eta_s``); a pair beyond is priced at the limit,
        a lower bound. If the solution uses such a pair, those incidents search twice as
        far and it is solved again; a solution without one is exactly the solution on
        full ETAs -- at a fraction of the searching (see
        :mod:`kayou_dispatch.matching.batch`).

        Parameters
        ----------
        incident_ids
            The incidents to consider; ``None``: every live incident missing units.
            Undispatched ones start dispatching; UNSERVED ones re-open.
        policy
            ``"optimal"``: minimum total weighted ETA (``linear_sum_assignment``);
            ``"greedy"``: most severe slot first takes its nearest candidate.
        coverage_margin_s
            When given, a responder who is the last holder of a rare capability (see
            ``rare_capabilities``) within ``coverage_radius_m`` costs this many extra
            (weighted) seconds for a slot that does not need it, so another responder
            serves it whenever one can arrive within the margin.

        Returns
        -------
        dict
            Incident id -> offers made, for every incident considered.

        Raises
        ------
        UnknownIncidentError
            An unknown id.
        InvalidTransitionError
            A resolved or cancelled incident.
        InvalidParameterError
            Bad policy or margin, or no ``eta_matrix`` was given.
        """
        if policy not in ASSIGN_POLICIES:
            msg = f"policy must be one of {ASSIGN_POLICIES}, got {policy!r}"
            raise InvalidParameterError(msg, name="policy", value=policy)
        margin = check_seconds("coverage_margin_s", coverage_margin_s, allow_none=True)
        if self._eta_matrix is None:
            msg = "assign_batch needs an eta_matrix callable (give one to the Dispatcher)"
            raise InvalidParameterError(msg, name="eta_matrix", value=None)
        wanted = None if incident_ids is None else list(incident_ids)

        def body() -> dict[str, list[Offer]]:
            if wanted is None:
                incs = [i for i in self._incidents.values() if i.live and None in i.filled]
            else:
                incs = [self._get(iid) for iid in dict.fromkeys(wanted)]
                for inc in incs:
                    self._refuse_closed(inc, "assign")
            incs.sort(key=lambda i: i.priority)
            for inc in incs:
                self._start(inc)
            out: dict[str, list[Offer]] = {inc.incident_id: [] for inc in incs}
            self._batch(incs, policy, margin, out)
            for inc in incs:
                if not out[inc.incident_id]:
                    self._fill_check_starved(inc)
            return out

        return self._run("assign_batch", body)

    def _batch_etas(
        self, points: list[tuple[float, float]], ids: list[str], limits: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """ETAs from the injected matrix: exact up to ``limits`` (NaN, negative: ``inf``)."""
        assert self._eta_matrix is not None
        if self._matrix_limits:
            bounded: Callable[..., Any] = self._eta_matrix
            got = bounded(points, ids, limit_s=limits)
        else:
            got = self._eta_matrix(points, ids)
        eta = np.array(got, dtype=np.float64)
        if eta.shape != (len(points), len(ids)):
            msg = f"eta_matrix returned shape {eta.shape}, expected {(len(points), len(ids))}"
            raise InvalidParameterError(msg, name="eta_matrix", value=eta.shape)
        eta[~(eta >= 0)] = np.inf  # NaN and negative: unreachable
        return eta

    def _fill_check_starved(self, inc: IncidentState) -> None:
        """After a batch: an incident nobody was offered to is starved (or unserved)."""
        if inc.live and not inc.offers and not inc.assigned:
            if self._now >= inc.deadline:
                self._record("close", inc.incident_id, status=IncidentStatus.UNSERVED.value)
            elif not inc.starved:
                needs = [sorted(n) for n in inc.missing_by_needs()]
                self._record("no_candidate", inc.incident_id, needs=needs)

    def _batch(
        self,
        incs: list[IncidentState],
        policy: str,
        margin: float | None,
        out: dict[str, list[Offer]],
    ) -> None:
        """Offer each open slot of ``incs`` to the responder the batch plan gives it."""
        plan = []
        for inc in incs:
            slots: list[frozenset[str]] = []
            for needs, missing in inc.missing_by_needs().items():
                covered = sum(1 for o in inc.offers.values() if o.needs == needs)
                slots.extend([needs] * max(0, missing - covered))
            excluded = frozenset(inc.excluded())
            plan.append(
                BatchIncident(inc.lat, inc.lng, inc.severity, inc.max_eta_s, excluded, tuple(slots))
            )
        all_needs = {needs for b in plan for needs in b.slots}
        if not all_needs:
            return
        # The whole available fleet, filtered in one vectorised read of the index.
        ids, lats, lngs, caps = self._index._pool(all_needs, self._busy)
        cands = list(map(_Pooled, ids, lats.tolist(), lngs.tolist(), caps))
        picks = plan_batch(
            plan,
            cands,
            self._batch_etas,
            bounded=self._matrix_limits,
            policy=policy,
            coverage_margin_s=margin,
            rare=self._rare,
            coverage_radius_m=self._coverage_radius_m,
        )
        for pick in picks:
            inc = incs[pick.incident]
            self._offer(inc, pick.responder_id, pick.eta_s, pick.needs)
            out[inc.incident_id].append(inc.offers[pick.responder_id])
