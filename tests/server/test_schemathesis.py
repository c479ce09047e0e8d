"""The OpenAPI document is the contract: schemathesis checks every answer against it.

Bounded runs (derandomized in CI like every Hypothesis test) against the app, for a dispatcher
and for a responder token: no 500, status codes and response bodies as documented, headers and
content types as declared.
"""

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from kayou_dispatch import DispatchEngine, load_network  # noqa: E402
from kayou_dispatch.server import create_app  # noqa: E402

from .conftest import TOKENS  # noqa: E402

_engine = DispatchEngine(load_network("helsinki"), clock=lambda: 1_000.0)
_engine.update_position("truck-17", 60.1699, 24.9384, ts=1_000.0)
_engine.update_position("truck-42", 60.1712, 24.9420, ts=1_000.0)
_app = create_app(_engine, auth=TOKENS, tick_interval_s=None)
schema = schemathesis.openapi.from_asgi("/openapi.json", _app)


@pytest.mark.parametrize("token", ["disp", "r17"])
@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_answers_conform_to_the_openapi_document(case, token):
    # Response conformance, not "every schema-valid body is accepted": the schema cannot say
    # what the engine refuses on meaning (a timestamp ahead of its clock, a point off the
    # network); those answers must still be documented 4xx with the error shape.
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )


def _reachable(doc, node, seen):
    """Every schema object reachable from ``node`` (following $refs once each)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None:
            if ref not in seen:
                seen.add(ref)
                name = ref.rsplit("/", 1)[-1]
                yield from _reachable(doc, doc["components"]["schemas"][name], seen)
            return
        yield node
        for value in node.values():
            yield from _reachable(doc, value, seen)
    elif isinstance(node, list):
        for value in node:
            yield from _reachable(doc, value, seen)


def test_every_answer_has_a_typed_schema():
    # Issue 18: no client could be generated from ``additionalProperties: true`` answers.
    doc = _app.openapi()
    checked = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            ok = {c: r for c, r in op["responses"].items() if c.startswith("2")}
            assert ok, (method, path)
            for code, response in ok.items():
                content = response.get("content", {})
                if path == "/metrics":
                    assert "text/plain" in content
                    continue
                schema = content["application/json"]["schema"]
                assert schema, (method, path, code)  # not the empty "anything" schema
                for node in _reachable(doc, schema, set()):
                    assert node.get("additionalProperties") is not True, (method, path, code)
                    if node.get("type") == "object" and "additionalProperties" not in node:
                        assert node.get("properties"), (method, path, code)
                checked += 1
    assert checked >= 22
