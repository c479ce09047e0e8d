"""Document the refusals the app really sends: one error shape, every status on its routes.

FastAPI documents a 422 whose ``detail`` is an array and nothing else; the app answers
every refusal as ``{"detail": "<what was wrong>"}``, with an ``error`` code (a library
error's class name, or one of :data:`ERROR_CODES`) and, for an invalid request, the
failing fields in ``errors``. :func:`document_errors` rewrites the generated document
once, so each ``/v1`` operation lists the statuses it can answer with that shape:

- every one: 400 (two ``Authorization`` headers, a bad ``Content-Length``), 401, 429, 503;
- with a body: 413 and 422; with parameters: 422; with path ids: 404;
- 403 wherever a role rule applies (all but reading one incident, which answers a hidden
  incident as an unknown one: 404);
- 409 on the lifecycle's commands (``POST /v1/incidents...``) and on availability.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

__all__ = ["document_errors", "ERROR_CODES"]

#: The ``error`` codes the HTTP layer adds (the library's errors give their class name).
ERROR_CODES = (
    "BulkTooLarge",
    "CapabilitiesOnFirstFixOnly",
    "CapabilityGrantRefused",
    "DuplicateAuthorizationHeader",
    "OfferNotHeld",
    "RateLimited",
    "RoleNotAllowed",
)

_ERROR = {
    "title": "Error",
    "type": "object",
    "required": ["detail"],
    "properties": {
        "detail": {"type": "string", "description": "what was wrong, and what is allowed"},
        "error": {
            "type": "string",
            "description": "a machine-readable code: the library error's class name "
            f"(UnknownIncidentError, InvalidTransitionError, ...) or one of {list(ERROR_CODES)}",
        },
        "errors": {
            "type": "array",
            "items": {"$ref": "#/components/schemas/ErrorField"},
            "description": "for an invalid request (422): each failing field",
        },
    },
}

_ERROR_FIELD = {
    "title": "ErrorField",
    "type": "object",
    "required": ["loc", "msg", "type"],
    "properties": {
        "loc": {"type": "array", "items": {"type": "string"}, "description": "where"},
        "msg": {"type": "string", "description": "what is wrong with it"},
        "type": {"type": "string", "description": "the kind of failure"},
    },
}

_WHY = {
    "400": "Two Authorization headers, or a bad Content-Length",
    "401": "Missing or unknown bearer token",
    "403": "The token's role may not do this (a responder: only for itself; a requester: "
    "only report incidents and read its own)",
    "404": "No such incident or responder (or one this token may not see)",
    "409": "Not allowed in the incident's or responder's current state",
    "413": "Request body too large",
    "422": "Invalid request (errors lists the fields) or refused by the engine (error)",
    "429": "Rate limit exceeded (see Retry-After)",
    "503": "Shared state or journal unavailable; nothing was acknowledged",
}

#: Operations no role rule applies to (a hidden incident answers 404 instead).
_NO_ROLE_RULE = frozenset({("get", "/v1/incidents/{incident_id}")})


def _statuses(method: str, path: str, op: dict[str, Any]) -> set[str]:
    codes = {"400", "401", "429", "503"}
    if "requestBody" in op:
        codes |= {"413", "422"}
    if op.get("parameters") or "422" in op.get("responses", {}):
        codes.add("422")
    if "{" in path:
        codes.add("404")
    if (method, path) not in _NO_ROLE_RULE:
        codes.add("403")
    if (method == "post" and path.startswith("/v1/incidents")) or path.endswith("/availability"):
        codes.add("409")
    return codes


def _rewrite(doc: dict[str, Any]) -> None:
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = _ERROR
    schemas["ErrorField"] = _ERROR_FIELD
    ref = {"$ref": "#/components/schemas/Error"}
    for path, item in doc.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for method, op in item.items():
            responses = op.setdefault("responses", {})
            for code in sorted(_statuses(method, path, op)):
                responses[code] = {
                    "description": _WHY[code],
                    "content": {"application/json": {"schema": dict(ref)}},
                }
                if code in ("429", "503"):
                    responses[code]["headers"] = {
                        "Retry-After": {
                            "description": "whole seconds to wait",
                            "schema": {"type": "integer"},
                        }
                    }
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's, if now unused
        if f"#/components/schemas/{name}'" not in repr(doc):
            schemas.pop(name, None)


def document_errors(app: FastAPI) -> None:
    """Make ``app``'s OpenAPI document list its refusals as they are sent (see above)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = generate()  # caches itself as app.openapi_schema
            _rewrite(doc)
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
