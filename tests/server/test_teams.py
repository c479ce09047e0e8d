"""``/v1/teams``: define teams over HTTP, set memberships, and the run card uses them."""

import dataclasses

from .conftest import DISP, R17, SCENE


def test_teams_over_http_drive_team_first_offers(client, engine):
    engine.update_position("truck-17", 60.1699, 24.9384, ts=1_000.0)
    engine.update_position("truck-42", 60.1712, 24.9420, ts=1_000.0)
    r = client.put(
        "/v1/teams/centre", json={"lat": 60.17, "lng": 24.94, "radius_m": 2000.0}, headers=DISP
    )
    assert r.status_code == 200, r.text
    assert r.json() == {
        "team_id": "centre",
        "lat": 60.17,
        "lng": 24.94,
        "radius_m": 2000.0,
        "members": [],
    }
    # The member is the farther of the two, so only the team phase offers it first.
    far, near = sorted(("truck-17", "truck-42"), key=lambda rid: -engine.explain(*SCENE, rid).eta_s)
    r = client.put(f"/v1/responders/{far}/teams", json={"team_ids": ["centre"]}, headers=DISP)
    assert r.status_code == 200 and r.json() == {"responder_id": far, "team_ids": ["centre"]}
    listed = client.get("/v1/teams", headers=DISP).json()["teams"]
    assert [(t["team_id"], t["members"]) for t in listed] == [("centre", [far])]
    engine.set_run_card("other", dataclasses.replace(engine.run_cards["other"], team_first_s=120.0))
    r = client.post(
        "/v1/incidents",
        json={
            "incident_id": "i1",
            "lat": SCENE[0],
            "lng": SCENE[1],
            "kind": "other",
            "dispatch": True,
        },
        headers=DISP,
    )
    assert r.status_code == 201, r.text
    assert [o.responder_id for o in engine.incident("i1").offers] == [far]
    assert engine.rank(*SCENE, k=1)[0].responder_id == near


def test_team_routes_refuse_bad_input_and_responders(client, engine):
    engine.update_position("truck-17", 60.1699, 24.9384, ts=1_000.0)
    r = client.put("/v1/responders/truck-17/teams", json={"team_ids": ["nope"]}, headers=DISP)
    assert r.status_code == 422 and "team_ids" in r.text
    r = client.put("/v1/teams/x", json={"lat": 60.1, "lng": 24.9, "radius_m": -1.0}, headers=DISP)
    assert r.status_code == 422
    r = client.delete("/v1/teams/nope", headers=DISP)
    assert r.status_code == 422 and "team_id" in r.text
    assert client.get("/v1/teams", headers=R17).status_code == 403
    r = client.put("/v1/teams/x", json={"lat": 60.1, "lng": 24.9, "radius_m": 10.0}, headers=R17)
    assert r.status_code == 403
    assert (
        client.put(
            "/v1/teams/x", json={"lat": 60.1, "lng": 24.9, "radius_m": 10.0}, headers=DISP
        ).status_code
        == 200
    )
    r = client.delete("/v1/teams/x", headers=DISP)
    assert r.status_code == 200 and r.json() == {"teams": []}
    assert client.get("/v1/teams", headers=DISP).json() == {"teams": []}
