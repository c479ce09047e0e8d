"""Invariants every dispatcher state must satisfy (shared by the race and stateful tests)."""

from kayou_dispatch import Status
from kayou_dispatch.lifecycle import IncidentStatus


def check_invariants(d):
    """No responder on two incidents, assigned <= units, index statuses match incidents."""
    engaged = {}
    for iid in list(d._incidents):
        inc = d.incident(iid)
        assert len(inc.assigned) <= inc.units, iid
        assert len(set(inc.assigned)) == len(inc.assigned)
        live = inc.status not in (
            IncidentStatus.RESOLVED,
            IncidentStatus.CANCELLED,
            IncidentStatus.UNSERVED,
        )
        if not live:
            assert inc.offers == ()
            continue
        for o in inc.offers:
            assert o.responder_id not in inc.assigned
            assert o.responder_id not in inc.declined and o.responder_id not in inc.expired
        for rid in (*inc.assigned, *(o.responder_id for o in inc.offers)):
            assert rid not in engaged, (rid, iid, engaged.get(rid))
            engaged[rid] = iid
        stages = dict(inc.stages)
        assert set(stages) == set(inc.assigned)
        engaged_stages = (Status.ASSIGNED, Status.EN_ROUTE, Status.ON_SCENE)
        assert all(s in engaged_stages for s in stages.values())
        if inc.assigned:
            assert inc.status in (IncidentStatus.ASSIGNED, IncidentStatus.ON_SCENE)
        else:
            assert inc.status is IncidentStatus.OPEN
    for rid in d.index:
        status = d.index.get(rid).status
        iid = engaged.get(rid)
        assert d.engagement(rid) == iid
        if iid is None:
            assert status is Status.AVAILABLE, rid
        else:
            inc = d.incident(iid)
            expected = dict(inc.stages).get(rid, Status.OFFERED)
            assert status is expected, (rid, status, expected)
    return engaged
