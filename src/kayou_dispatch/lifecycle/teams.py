"""Mutual-aid teams: who belongs to which local branch or fleet, and which team covers a place.

Volunteers on the platform belong to local branches and volunteer fleets. A
:class:`Team` covers a disc (a centre and a radius); responders join any number of teams.
A run card with ``team_first_s`` offers an incident first to the members of the team that
covers it (:meth:`TeamRoster.covering`: the covering team whose centre is nearest, ties by
id), and widens to everyone once ``team_first_s`` has passed since dispatch began -- or at
once, when no member is free to be offered.

The roster is fed by the lifecycle's reducer from journaled records (``team`` and
``team_members``, with an empty ``incident_id``), so teams survive restarts and are shared
through a Redis log like the rest of the lifecycle.

Examples
--------
>>> roster = TeamRoster()
>>> roster.set_team(Team("north", 52.4, 9.7, 20_000.0))
>>> roster.set_members("r1", ["north"])
>>> roster.covering(52.45, 9.72).team_id, roster.members("north")
('north', frozenset({'r1'}))
>>> roster.covering(48.1, 11.6) is None
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.geo import haversine_m, validate_latlng
from kayou_dispatch.lifecycle._validate import check_id

__all__ = ["check_team_ids", "MAX_TEAM_RADIUS_M", "Team", "TeamRoster"]

#: The largest area a team may cover (a radius, metres): a guard against typos.
MAX_TEAM_RADIUS_M = 1_000_000.0


@dataclass(frozen=True, slots=True)
class Team:
    """A mutual-aid team and the area it covers.

    Attributes
    ----------
    team_id
        The host's id (a non-empty string).
    lat, lng
        The centre of the area it covers, WGS-84 degrees.
    radius_m
        The radius of that area, metres (``(0, 1_000_000]``).

    Raises
    ------
    InvalidParameterError
        A bad id or radius (naming the field).
    InvalidCoordinateError
        A centre that is not a place.
    """

    team_id: str
    lat: float
    lng: float
    radius_m: float

    def __post_init__(self) -> None:
        check_id("team_id", self.team_id)
        la, ln = validate_latlng(self.lat, self.lng)
        ok = isinstance(self.radius_m, int | float) and not isinstance(self.radius_m, bool)
        r = float(self.radius_m) if ok else math.nan
        if not 0.0 < r <= MAX_TEAM_RADIUS_M:
            msg = f"radius_m must be in (0, {MAX_TEAM_RADIUS_M:g}] metres, got {self.radius_m!r}"
            raise InvalidParameterError(msg, name="radius_m", value=self.radius_m)
        object.__setattr__(self, "lat", la)
        object.__setattr__(self, "lng", ln)
        object.__setattr__(self, "radius_m", r)

    def covers(self, lat: float, lng: float) -> bool:
        """Whether the point lies in the team's area."""
        return haversine_m(self.lat, self.lng, lat, lng) <= self.radius_m


def check_team_ids(team_ids: object, known: Iterable[str]) -> frozenset[str]:
    """Return ``team_ids`` as a frozenset of known team ids.

    Raises
    ------
    InvalidParameterError
        When ``team_ids`` is a string or not an iterable of strings, or names a team that
        is not defined (``name="team_ids"``).
    """
    if isinstance(team_ids, str) or not isinstance(team_ids, Iterable):
        msg = f"team_ids must be a collection of team ids, got {team_ids!r}"
        raise InvalidParameterError(msg, name="team_ids", value=team_ids)
    ids = list(team_ids)
    for t in ids:
        check_id("team_ids", t)
    have = set(known)
    unknown = sorted(set(ids) - have)
    if unknown:
        allowed = ", ".join(sorted(have)) or "none defined"
        msg = f"team_ids names unknown team(s) {', '.join(map(repr, unknown))}; known: {allowed}"
        raise InvalidParameterError(msg, name="team_ids", value=unknown[0])
    return frozenset(ids)


class TeamRoster:
    """Teams and their members (fed by the reducer; read by the lifecycle and ``explain``)."""

    def __init__(self) -> None:
        self._teams: dict[str, Team] = {}
        self._members: dict[str, set[str]] = {}  # team -> responders
        self._of: dict[str, frozenset[str]] = {}  # responder -> teams

    def clear(self) -> None:
        """Forget everything (before a rebuild from the log)."""
        self._teams.clear()
        self._members.clear()
        self._of.clear()

    def set_team(self, team: Team) -> None:
        """Define a team, or move or resize its area (its members stay)."""
        self._teams[team.team_id] = team
        self._members.setdefault(team.team_id, set())

    def remove_team(self, team_id: str) -> None:
        """Drop a team; its members leave it."""
        self._teams.pop(team_id, None)
        for rid in self._members.pop(team_id, set()):
            self._of[rid] = self._of[rid] - {team_id}

    def set_members(self, responder_id: str, team_ids: Iterable[str]) -> None:
        """Make a responder a member of exactly these (defined) teams."""
        new = frozenset(t for t in team_ids if t in self._teams)
        for t in self._of.get(responder_id, frozenset()) - new:
            self._members.get(t, set()).discard(responder_id)
        for t in new:
            self._members[t].add(responder_id)
        self._of[responder_id] = new

    def team(self, team_id: str) -> Team | None:
        """The team with this id, if defined."""
        return self._teams.get(team_id)

    def teams(self) -> list[Team]:
        """Every team, by id."""
        return [self._teams[t] for t in sorted(self._teams)]

    def members(self, team_id: str) -> frozenset[str]:
        """The team's members (empty for an unknown team)."""
        return frozenset(self._members.get(team_id, ()))

    def teams_of(self, responder_id: str) -> frozenset[str]:
        """The teams a responder belongs to."""
        return self._of.get(responder_id, frozenset())

    def covering(self, lat: float, lng: float) -> Team | None:
        """The team that covers a point: of those whose area holds it, the nearest centre.

        Ties go to the smaller id; ``None`` when no team covers it.
        """
        best: tuple[float, str] | None = None
        for t in self._teams.values():
            d = haversine_m(t.lat, t.lng, lat, lng)
            if d <= t.radius_m and (best is None or (d, t.team_id) < best):
                best = (d, t.team_id)
        return None if best is None else self._teams[best[1]]
