"""Handle a responder's answers and moves: accept, decline, depart, arrive; its own status.

Mixed into :class:`~kayou_dispatch.lifecycle.Dispatcher` like
:class:`~kayou_dispatch.lifecycle.commands.Commands`, whose helpers it uses. The one rule
for a status a responder chooses itself lives here, in :meth:`set_responder_status`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from kayou_dispatch.errors import InvalidParameterError, InvalidTransitionError
from kayou_dispatch.lifecycle._validate import check_id, check_seconds
from kayou_dispatch.lifecycle.burden import QuietHours
from kayou_dispatch.lifecycle.commands import Commands
from kayou_dispatch.lifecycle.records import Incident
from kayou_dispatch.lifecycle.state import IncidentState
from kayou_dispatch.lifecycle.teams import Team, check_team_ids
from kayou_dispatch.spatial import Status
from kayou_dispatch.spatial.responders import parse_status

__all__ = ["ResponderCommands"]

#: The statuses a free responder may choose; the lifecycle sets every other one.
_CHOSEN = frozenset({Status.AVAILABLE, Status.OFFLINE})


class ResponderCommands(Commands):
    """A responder's commands (mixed into :class:`~kayou_dispatch.lifecycle.Dispatcher`)."""

    # -- responders' own status --------------------------------------------------------------

    def set_responder_status(
        self,
        responder_id: str,
        status: Status | str,
        *,
        write: Callable[[str, Status], Any] | None = None,
    ) -> None:
        """Set a status a responder (or its host) chose: the one place that rule lives.

        The lifecycle alone decides OFFERED, ASSIGNED, EN_ROUTE and ON_SCENE: while a
        responder is engaged (offered or assigned) this refuses any change (decline the
        offer or close the incident first), and a free responder may only toggle
        AVAILABLE / OFFLINE -- a lifecycle status chosen by hand would leave it busy on no
        incident, never offered again. (A host that runs its own lifecycle writes its
        statuses to the :class:`~kayou_dispatch.spatial.ResponderIndex` directly.) The
        check and the write happen under the dispatcher's lock, after catching up with a
        shared log.

        Parameters
        ----------
        responder_id, status
            The responder and its new status (a :class:`Status` or its value).
        write
            Records the status (default: the index's ``set_status``); the engine passes
            its position store so the choice is shared.

        Raises
        ------
        InvalidTransitionError
            When the responder is engaged on an incident, or ``status`` is one only the
            lifecycle sets.
        InvalidParameterError
            For an unknown status.
        UnknownResponderError
            When the responder is not known.
        """
        new = parse_status(status)

        def body() -> None:
            iid = self._busy.get(responder_id) if isinstance(responder_id, str) else None
            if iid is not None:
                current = self._status_of(responder_id)
                msg = (
                    f"responder {responder_id!r} is {current.value} on incident {iid!r}: "
                    "the lifecycle decides its status while it is engaged; decline the "
                    "offer or finish the incident before changing it"
                )
                raise InvalidTransitionError(
                    msg, subject=responder_id, current=current, attempted=new.value
                )
            if new not in _CHOSEN:
                current = self._index.get(responder_id).status  # unknown: its own error
                msg = (
                    f"responder {responder_id!r} may set its status to available or offline "
                    f"only, not {new.value!r}: the lifecycle sets offered, assigned, "
                    "en_route and on_scene"
                )
                raise InvalidTransitionError(
                    msg, subject=responder_id, current=current, attempted=new.value
                )
            (self._index.set_status if write is None else write)(responder_id, new)

        # A command that records nothing: exclusive across processes sharing the log, so
        # no offer made elsewhere slips between the check and the write.
        self._run("set_responder_status", body, responder_id=responder_id)

    # -- a volunteer's own settings ------------------------------------------------------------

    def set_quiet_hours(self, responder_id: str, quiet_hours: QuietHours | None) -> None:
        """Set (``None``: clear) the daily hours when a volunteer is never offered anything.

        Journaled, so it survives restarts and is shared through a Redis log.

        Raises
        ------
        UnknownResponderError
            When the responder is not known.
        InvalidParameterError
            When ``quiet_hours`` is not a :class:`QuietHours` or ``None``.
        """
        if quiet_hours is not None and not isinstance(quiet_hours, QuietHours):
            msg = f"quiet_hours must be a QuietHours or None, got {quiet_hours!r}"
            raise InvalidParameterError(msg, name="quiet_hours", value=quiet_hours)
        quiet = (
            None
            if quiet_hours is None
            else [quiet_hours.start_h, quiet_hours.end_h, quiet_hours.utc_offset_h]
        )

        def body() -> None:
            rid = self._known_responder(responder_id)
            self._record("quiet_hours", "", responder_id=rid, quiet=quiet)

        self._run("set_quiet_hours", body, responder_id=responder_id)

    def report_driving(
        self,
        responder_id: str,
        *,
        continuous_driving_s: float,
        driving: bool = True,
        at: float | None = None,
    ) -> None:
        """Record a volunteer's continuous driving time, as its phone reports it.

        While ``driving``, the count grows with the clock until the next report; stopped,
        it stays, and a stop of 20 minutes resets it. A volunteer whose continuous
        driving would reach 4 hours by its arrival is not offered driving tasks (see
        :mod:`kayou_dispatch.lifecycle.burden`). Journaled like the lifecycle.

        Parameters
        ----------
        responder_id
            The volunteer.
        continuous_driving_s
            Continuous driving without a 20-minute break at ``at``, seconds (>= 0).
        driving
            Whether it is driving now (``False``: stopped, e.g. at a rest area).
        at
            Clock time of the reading (default: now); not in the future.

        Raises
        ------
        InvalidParameterError
            A negative or non-finite ``continuous_driving_s``, an ``at`` in the future
            or not finite, a ``driving`` that is not a bool (naming the field).
        UnknownResponderError
            When the responder is not known.
        """
        if not isinstance(driving, bool):
            msg = f"driving must be True or False, got {driving!r}"
            raise InvalidParameterError(msg, name="driving", value=driving)
        continuous = check_seconds("continuous_driving_s", continuous_driving_s)

        def body() -> None:
            rid = self._known_responder(responder_id)
            when = self._now if at is None else float(check_seconds("at", at) or 0.0)
            if when > self._now:
                msg = f"at={at!r} is in the future (the clock says {self._now:g})"
                raise InvalidParameterError(msg, name="at", value=at)
            self._record(
                "driving",
                "",
                responder_id=rid,
                continuous_s=continuous,
                reported_at=when,
                driving=driving,
            )

        self._run("report_driving", body, responder_id=responder_id)

    # -- mutual-aid teams ----------------------------------------------------------------------

    def set_team(self, team: Team) -> None:
        """Define a mutual-aid team and the area it covers (or move or resize it).

        Journaled, so it survives restarts and is shared through a Redis log; its members
        stay when it is redefined.

        Raises
        ------
        InvalidParameterError
            When ``team`` is not a :class:`~kayou_dispatch.lifecycle.teams.Team`.
        """
        if not isinstance(team, Team):
            msg = f"team must be a Team, got {team!r}"
            raise InvalidParameterError(msg, name="team", value=team)

        def body() -> None:
            self._record(
                "team",
                "",
                team_id=team.team_id,
                lat=team.lat,
                lng=team.lng,
                radius_m=team.radius_m,
            )

        self._run("set_team", body)

    def remove_team(self, team_id: str) -> None:
        """Drop a team (its members leave it).

        Raises
        ------
        InvalidParameterError
            When no team has this id (``name="team_id"``).
        """
        check_id("team_id", team_id)

        def body() -> None:
            if self._state.teams.team(team_id) is None:
                known = ", ".join(t.team_id for t in self._state.teams.teams()) or "none"
                msg = f"team_id {team_id!r} is not a team; known: {known}"
                raise InvalidParameterError(msg, name="team_id", value=team_id)
            self._record("team", "", team_id=team_id, removed=True)

        self._run("remove_team", body)

    def set_responder_teams(self, responder_id: str, team_ids: Iterable[str]) -> None:
        """Make a responder a member of exactly these teams (empty: of none).

        Raises
        ------
        InvalidParameterError
            When ``team_ids`` is not a collection of ids or names an unknown team
            (``name="team_ids"``).
        UnknownResponderError
            When the responder is not known.
        """

        def body() -> None:
            rid = self._known_responder(responder_id)
            ids = check_team_ids(team_ids, (t.team_id for t in self._state.teams.teams()))
            self._record("team_members", "", responder_id=rid, team_ids=sorted(ids))

        self._run("set_responder_teams", body, responder_id=responder_id)

    # -- answers and moves --------------------------------------------------------------------

    def _responder_command(
        self,
        name: str,
        incident_id: str,
        responder_id: str,
        request_id: str | None,
        act: Callable[[IncidentState, str], None],
    ) -> Incident:
        def body() -> Incident:
            inc = self._get(incident_id)
            rid = self._known_responder(responder_id)
            act(inc, rid)
            return self._snapshot(inc)

        return self._run(
            name, body, subject=incident_id, responder_id=responder_id, request_id=request_id
        )

    def accept(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Accept an outstanding offer: the responder becomes ASSIGNED to a missing unit.

        Offers for units with the same needs are then trimmed to ``fan_out`` per unit still
        missing (all of them when none is), keeping the best ETAs; the others are withdrawn
        (``offer_withdrawn`` events, reason ``"filled"``).

        Raises
        ------
        UnknownIncidentError, UnknownResponderError
            Unknown ids.
        InvalidTransitionError
            No outstanding offer to this responder (never made, declined, expired by the
            clock even if :meth:`tick` has not run yet, withdrawn, or already accepted).
        """

        def act(inc: IncidentState, rid: str) -> None:
            offer = inc.offers.get(rid)
            if offer is None:
                self._refuse(inc, rid, "accept", "it holds no outstanding offer for it")
            if self._now >= offer.expires_at:
                self._refuse(inc, rid, "accept", f"the offer expired at {offer.expires_at}")
            unit = next(
                i
                for i, (needs, who) in enumerate(zip(inc.needs, inc.filled, strict=True))
                if who is None and needs == offer.needs
            )
            self._record("accept", inc.incident_id, responder_id=rid, unit=unit)
            # Keep at most fan_out offers per still-missing unit of this kind: the best
            # by ETA (then id); the others' unit was just filled.
            missing = inc.missing_by_needs().get(offer.needs, 0)
            rivals = sorted(
                (o for o in inc.offers.values() if o.needs == offer.needs),
                key=lambda o: (o.eta_s, o.responder_id),
            )
            # A wave sized by accept_target was sized for every missing unit: keep it whole
            # until they are all filled.
            keep = missing * inc.fan_out if inc.accept_target is None else len(rivals) * missing
            for other in sorted(rivals[keep:], key=lambda o: o.responder_id):
                self._record(
                    "withdraw", inc.incident_id, responder_id=other.responder_id, reason="filled"
                )

        return self._responder_command("accept", incident_id, responder_id, request_id, act)

    def decline(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Decline an outstanding offer; the next candidate is offered at once.

        The responder becomes AVAILABLE and is never offered this incident again.

        Raises
        ------
        UnknownIncidentError, UnknownResponderError
            Unknown ids.
        InvalidTransitionError
            No outstanding offer to this responder.
        """

        def act(inc: IncidentState, rid: str) -> None:
            if rid not in inc.offers:
                self._refuse(inc, rid, "decline", "it holds no outstanding offer for it")
            self._record("decline", inc.incident_id, responder_id=rid)
            self._fill(inc)

        return self._responder_command("decline", incident_id, responder_id, request_id, act)

    def depart(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Mark an ASSIGNED responder EN_ROUTE.

        Raises
        ------
        InvalidTransitionError
            The responder is not ASSIGNED to this incident (or the incident is closed).
        """

        def act(inc: IncidentState, rid: str) -> None:
            if not inc.live or inc.stage.get(rid) is not Status.ASSIGNED:
                self._refuse(inc, rid, "depart", "only an ASSIGNED responder can depart")
            self._record("depart", inc.incident_id, responder_id=rid)

        return self._responder_command("depart", incident_id, responder_id, request_id, act)

    def arrive(
        self, incident_id: str, responder_id: str, *, request_id: str | None = None
    ) -> Incident:
        """Mark an ASSIGNED or EN_ROUTE responder ON_SCENE (the incident becomes ON_SCENE).

        ``depart`` may be skipped: a phone that lost the network may report arrival first.

        Raises
        ------
        InvalidTransitionError
            The responder is not ASSIGNED or EN_ROUTE to this incident.
        """

        def act(inc: IncidentState, rid: str) -> None:
            if not inc.live or inc.stage.get(rid) not in (Status.ASSIGNED, Status.EN_ROUTE):
                why = "only an ASSIGNED or EN_ROUTE responder can arrive"
                self._refuse(inc, rid, "arrive", why)
            self._record("arrive", inc.incident_id, responder_id=rid)

        return self._responder_command("arrive", incident_id, responder_id, request_id, act)
