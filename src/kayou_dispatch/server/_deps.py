"""The dependencies every endpoint declares: the engine, who is asking, path ids.

The bearer gate (:class:`~kayou_dispatch.server.app._Gate`) reads the token once per
request and leaves the :class:`~kayou_dispatch.server._auth.Principal` on the request;
endpoints take it as ``who: Who`` (a dispatcher or a responder: 403 ``RoleNotAllowed`` for a
requester token), ``who: DispatcherOnly`` (403 for the other roles), ``who: Reporter`` (a
dispatcher or a requester) or ``who: Anyone`` (every role; the endpoint decides what each
sees), and the engine as ``engine: Engine``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.errors import UnknownIncidentError
from kayou_dispatch.lifecycle import Incident
from kayou_dispatch.server._auth import Principal

__all__ = [
    "Anyone",
    "CodedHTTPException",
    "DispatcherOnly",
    "Engine",
    "get_engine",
    "IdempotencyKey",
    "IncidentId",
    "principal",
    "Reporter",
    "require_dispatcher",
    "require_member",
    "require_reporter",
    "require_self_or_dispatcher",
    "ResponderId",
    "scoped_request_id",
    "visible_incident",
    "Who",
]


class CodedHTTPException(HTTPException):
    """An HTTP refusal with a machine-readable ``error`` code beside its ``detail``.

    Answered as ``{"detail": ..., "error": code}``, the shape of the library's errors.
    """

    def __init__(self, status_code: int, detail: str, *, code: str) -> None:
        super().__init__(status_code, detail)
        self.code = code


_bearer = HTTPBearer(auto_error=False, description="A token from the token file")


def get_engine(request: Request) -> DispatchEngine:
    """The engine the app serves."""
    engine: DispatchEngine = request.app.state.engine
    return engine


def principal(
    request: Request,
    _creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who the request acts as (the gate parsed and checked the bearer token)."""
    who: Principal | None = getattr(request.state, "principal", None)
    if who is None:  # pragma: no cover - the gate answers 401 for every /v1 request first
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    return who


def require_dispatcher(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """The principal, which must hold a dispatcher token (else 403)."""
    if not who.is_dispatcher:
        raise HTTPException(403, "this needs a dispatcher token")
    return who


def require_member(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """The principal, which must be a dispatcher or a responder (403 for a requester).

    A requester token reports incidents and follows its own; everything else (the fleet,
    positions, ranking, offers, the event stream) is refused, so a new endpoint taking
    ``Who`` is closed to requesters unless it opts in with ``Anyone`` or ``Reporter``.
    """
    if who.is_requester:
        msg = "a requester token may only report incidents and read its own"
        raise CodedHTTPException(403, msg, code="RoleNotAllowed")
    return who


def require_reporter(who: Annotated[Principal, Depends(principal)]) -> Principal:
    """The principal, which must be a dispatcher or a requester (403 for a responder)."""
    if who.role not in ("dispatcher", "requester"):
        raise CodedHTTPException(
            403, "this needs a dispatcher or a requester token", code="RoleNotAllowed"
        )
    return who


def require_self_or_dispatcher(who: Principal, responder_id: str) -> None:
    """Refuse (403) a responder token acting for another responder."""
    if not who.is_dispatcher and who.responder_id != responder_id:
        raise HTTPException(403, "a responder token may act only for its own responder")


def _seen_by(inc: Incident, responder_id: str) -> bool:
    """Whether an incident was ever offered to a responder (so it may see where it is)."""
    return (
        any(o.responder_id == responder_id for o in inc.offers)
        or responder_id in inc.assigned
        or responder_id in inc.declined
        or responder_id in inc.expired
    )


def visible_incident(engine: DispatchEngine, incident_id: str, who: Principal) -> Incident:
    """The incident, if ``who`` may see it.

    A dispatcher sees every incident; a responder one offered to it (now or before: once
    offered, its place was sent to it); a requester one it reported.

    Raises
    ------
    UnknownIncidentError
        For an unknown id and for one ``who`` may not see alike (404, one body).
    """
    inc = engine.incident(incident_id)
    if who.is_dispatcher or (who.responder_id and _seen_by(inc, who.responder_id)):
        return inc
    if who.requester_id is not None and inc.requester_id == who.requester_id:
        return inc
    # Not offered to this responder, not this requester's: as if it did not exist (its
    # location and who serves it are private),
    # the very answer the engine gives for an unknown id (status and body).
    msg = f"no incident with id {incident_id!r}"
    raise UnknownIncidentError(msg, incident_id=incident_id)


Engine = Annotated[DispatchEngine, Depends(get_engine)]
Anyone = Annotated[Principal, Depends(principal)]
Who = Annotated[Principal, Depends(require_member)]
Reporter = Annotated[Principal, Depends(require_reporter)]
DispatcherOnly = Annotated[Principal, Depends(require_dispatcher)]
ResponderId = Annotated[str, Path(min_length=1, max_length=128)]
IncidentId = Annotated[str, Path(min_length=1, max_length=128)]
_IdempotencyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="a retry with the same key applies the command once (keys are per token)",
    ),
]


def scoped_request_id(who: Anyone, idempotency_key: _IdempotencyHeader = None) -> str | None:
    """The request's ``Idempotency-Key`` as a lifecycle request id, scoped to ``who``."""
    return who.request_id(idempotency_key)


#: The request id of an endpoint's ``Idempotency-Key`` header, in its caller's key space.
IdempotencyKey = Annotated[str | None, Depends(scoped_request_id)]
