"""Answering an offer one does not hold: a typed refusal, never a bare "no incident".

Issue 18: a responder accepting an offer it does not hold on an incident that exists got
404 "no incident with id ..." with no ``error`` code. Now: whoever may see the incident (a
dispatcher; a responder it was offered to, e.g. one that declined) gets 409 with
``error: OfferNotHeld``; a responder it was never offered to still cannot learn that the
incident exists (404 ``UnknownIncidentError``, the body of an unknown id), but the detail
says what it may do.
"""

import pytest

from .conftest import DISP, R17, R42, SCENE


def _offered(client):
    body = {"incident_id": "inc-1", "lat": SCENE[0], "lng": SCENE[1], "kind": "directions"}
    r = client.post("/v1/incidents", json={**body, "dispatch": True}, headers=DISP)
    assert r.status_code == 201, r.text
    (rid,) = [o["responder_id"] for o in r.json()["offers"]]
    other = "truck-42" if rid == "truck-17" else "truck-17"
    tokens = {"truck-17": R17, "truck-42": R42}
    return rid, other, tokens


@pytest.mark.parametrize("answer", ["accept", "decline"])
def test_a_dispatcher_answering_for_a_responder_without_the_offer_is_409_offer_not_held(
    fleet, answer
):
    _, other, _ = _offered(fleet)
    r = fleet.post(f"/v1/incidents/inc-1/offers/{other}/{answer}", headers=DISP)
    assert r.status_code == 409
    assert r.json()["error"] == "OfferNotHeld"
    assert other in r.json()["detail"] and "offer" in r.json()["detail"]


def test_a_responder_that_declined_and_then_accepts_is_409_offer_not_held(fleet):
    rid, _, tokens = _offered(fleet)
    assert fleet.post(f"/v1/incidents/inc-1/offers/{rid}/decline", headers=tokens[rid]).is_success
    r = fleet.post(f"/v1/incidents/inc-1/offers/{rid}/accept", headers=tokens[rid])
    assert r.status_code == 409 and r.json()["error"] == "OfferNotHeld"
    r = fleet.post(f"/v1/incidents/inc-1/offers/{rid}/decline", headers=tokens[rid])
    assert r.status_code == 409 and r.json()["error"] == "OfferNotHeld"


def test_a_responder_never_offered_gets_the_unknown_answer_that_says_what_it_may_do(fleet):
    _, other, tokens = _offered(fleet)
    r = fleet.post(f"/v1/incidents/inc-1/offers/{other}/accept", headers=tokens[other])
    assert r.status_code == 404 and r.json()["error"] == "UnknownIncidentError"
    assert "offered to" in r.json()["detail"] and other in r.json()["detail"]


def test_depart_before_accepting_is_409_with_the_lifecycle_code(fleet):
    rid, _, tokens = _offered(fleet)
    r = fleet.post(f"/v1/incidents/inc-1/offers/{rid}/depart", headers=tokens[rid])
    assert r.status_code == 409 and r.json()["error"] == "InvalidTransitionError"


def test_offer_not_held_is_a_documented_code(client):
    doc = client.get("/openapi.json").json()
    assert "OfferNotHeld" in doc["components"]["schemas"]["Error"]["properties"]["error"][
        "description"
    ]
