"""Fair burden and rest: offer limits, quiet hours, continuous driving, the burden report.

Oracles: a recount of the journal (no offer ever breaks the run card's limit), the Gini
coefficient's pairwise definition, local hours computed with ``datetime``.
"""

import contextlib
import datetime as dt
import itertools
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kayou_dispatch import (
    InvalidParameterError,
    KayouDispatchError,
    QuietHours,
    ResponderIndex,
    UnknownResponderError,
)
from kayou_dispatch.lifecycle import Dispatcher, Journal, RunCard, gini
from kayou_dispatch.lifecycle.burden import MAX_CONTINUOUS_DRIVING_S, REST_S

from .world import GreatCircleRanker, at, make, place

RESP = [(f"r{i}", 150.0 * (i + 1), 0.0, ()) for i in range(6)]
LIMIT, WINDOW = 2, 600.0
CARDS = {
    "limited": RunCard(
        needs=[[]], offer_timeout_s=30.0, max_offers_per_window=LIMIT, offer_window_s=WINDOW
    ),
    "free": RunCard(needs=[[]], offer_timeout_s=30.0),
    "phone": RunCard(needs=[[]], offer_timeout_s=30.0, driving=False),
    "grab": RunCard(
        needs=[[]], mode="broadcast", fan_out=3, offer_timeout_s=20.0, max_offers_per_window=LIMIT
    ),
}


# -- Gini and quiet hours against their definitions -------------------------------------------


@given(st.lists(st.integers(0, 50), max_size=30))
def test_gini_equals_its_pairwise_definition(xs):
    n, total = len(xs), sum(xs)
    want = (
        0.0
        if total == 0
        else sum(abs(a - b) for a, b in itertools.product(xs, xs)) / (2 * n * total)
    )
    assert math.isclose(gini(xs), want, abs_tol=1e-12)


def test_gini_refuses_negative_loads():
    with pytest.raises(InvalidParameterError):
        gini([1, -1])


@given(
    start=st.integers(0, 23),
    end=st.integers(0, 23),
    offset=st.integers(-12, 14),
    t=st.integers(0, 10 * 86400),
)
def test_quiet_hours_follow_the_local_clock(start, end, offset, t):
    if start == end:
        with pytest.raises(InvalidParameterError):
            QuietHours(start, end)
        return
    q = QuietHours(float(start), float(end), utc_offset_h=float(offset))
    local = dt.datetime.fromtimestamp(t, dt.UTC) + dt.timedelta(hours=offset)
    hour = local.hour + local.minute / 60 + local.second / 3600
    inside = start <= hour < end if start < end else (hour >= start or hour < end)
    assert q.contains(float(t)) == inside


@pytest.mark.parametrize(
    ("args", "name"),
    [((24.0, 6.0), "start_h"), ((-1.0, 6.0), "start_h"), ((22.0, 25.0), "end_h"),
     ((22.0, 6.0, 15.0), "utc_offset_h"), (("x", 6.0), "start_h"), ((5.0, 5.0), "end_h")],
)  # fmt: skip
def test_bad_quiet_hours_name_the_field(args, name):
    with pytest.raises(InvalidParameterError) as exc:
        QuietHours(*args)
    assert exc.value.name == name


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"max_offers_per_window": -1}, "max_offers_per_window"),
        ({"max_offers_per_window": 0}, "max_offers_per_window"),
        ({"max_offers_per_window": 2.5}, "max_offers_per_window"),
        ({"offer_window_s": -60.0}, "offer_window_s"),
        ({"offer_window_s": 30 * 86400.0}, "offer_window_s"),
        ({"driving": "yes"}, "driving"),
    ],
)
def test_bad_burden_limits_name_the_field(fields, name):
    with pytest.raises(InvalidParameterError) as exc:
        RunCard(needs=[[]], **fields)
    assert exc.value.name == name


# -- the offer limit, against a recount of the journal -----------------------------------------

ops = st.one_of(
    st.tuples(st.just("report"), st.sampled_from(["limited", "free", "grab"])),
    st.tuples(st.just("answer"), st.booleans()),
    st.tuples(st.just("tick"), st.integers(0, 200)),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(ops, max_size=40))
def test_no_offer_ever_breaks_the_window_limit(tmp_path_factory, steps):
    path = tmp_path_factory.mktemp("burden") / "j.db"
    d, _, _, clock = make(RESP, run_cards=CARDS, journal=path)
    n = 0
    for op in steps:
        clock.advance(5.0)
        with contextlib.suppress(KayouDispatchError):
            if op[0] == "report":
                n += 1
                d.report_incident(f"i{n}", *at(0.0), kind=op[1], dispatch=True)
            elif op[0] == "tick":
                clock.advance(op[1])
                d.tick()
            else:
                for inc in d.open_incidents():
                    if inc.offers:
                        rid = inc.offers[0].responder_id
                        (d.accept if op[1] else d.decline)(inc.incident_id, rid)
                        if op[1]:
                            d.resolve(inc.incident_id)
                        break
    burden = d.burden_report()
    d.close()
    journal = Journal(path)
    rows = list(journal.rows())
    journal.close()
    kinds, offers = {}, []
    for row in rows:
        for rec in row.records:
            if rec["op"] == "report":
                kinds[rec["incident_id"]] = rec["kind"]
            elif rec["op"] == "offer":
                offers.append((row.at, rec["responder_id"], kinds[rec["incident_id"]]))
    for i, (t, rid, kind) in enumerate(offers):
        if kind in ("limited", "grab"):
            before = sum(1 for t2, r2, _ in offers[:i] if r2 == rid and t2 >= t - WINDOW)
            assert before < LIMIT, (t, rid, kind)
    # The burden report counts every offer and accept of the journal.
    per = {b.responder_id: b for b in burden.volunteers}
    for rid, *_ in RESP:
        assert per[rid].offers == sum(1 for _, r, _ in offers if r == rid)
    accepts = [rec for row in rows for rec in row.records if rec["op"] == "accept"]
    assert sum(b.assignments for b in burden.volunteers) == len(accepts)
    assert burden.max_offers == max(b.offers for b in burden.volunteers)
    assert burden.offers_gini == gini([b.offers for b in burden.volunteers])


def test_the_limit_skips_a_busy_volunteer_and_explains_it():
    d, _, _, clock = make(RESP, run_cards=CARDS)
    for i in range(LIMIT):
        d.report_incident(f"a{i}", *at(0.0), kind="limited", dispatch=True)
        assert d.incident(f"a{i}").offers[0].responder_id == "r0"
        d.decline(f"a{i}", "r0")
        d.cancel(f"a{i}")
    # r1 was offered each of them after r0 declined (then withdrawn by the cancel).
    assert d.responder_stats("r1").withdrawn == LIMIT
    d.report_incident("b", *at(0.0), kind="limited", dispatch=True)
    assert d.incident("b").offers[0].responder_id == "r2"
    [hold] = d.volunteer_holds("r0", kind="limited")
    assert hold.reason == "offer_limit" and "2 offers" in hold.detail
    assert d.volunteer_holds("r0", kind="free") == []  # a card without a limit
    d.cancel("b")
    clock.advance(WINDOW + 1.0)
    d.report_incident("c", *at(0.0), kind="limited", dispatch=True)
    assert d.incident("c").offers[0].responder_id == "r0"


# -- quiet hours and rest ---------------------------------------------------------------------


def test_quiet_hours_hold_a_volunteer_back_and_survive_a_restart(tmp_path):
    path = tmp_path / "j.db"
    d, _, _, clock = make(RESP, run_cards=CARDS, journal=path)
    clock.t = 86400.0 * 100 + 23 * 3600.0  # 23:00 UTC
    d.set_quiet_hours("r0", QuietHours(22.0, 6.0))
    d.report_incident("a", *at(0.0), kind="free", dispatch=True)
    assert d.incident("a").offers[0].responder_id == "r1"
    d.close()
    index = ResponderIndex(clock=clock, position_ttl_s=10**9)
    for rid, east, north, caps in RESP:
        place(index, rid, east, north, caps)
    again = Dispatcher(
        index, rank=GreatCircleRanker(index).rank, clock=clock, journal=path, run_cards=CARDS
    )
    assert [h.reason for h in again.volunteer_holds("r0", kind="free")] == ["quiet_hours"]
    again.set_quiet_hours("r0", None)
    assert again.volunteer_holds("r0", kind="free") == []
    with pytest.raises(UnknownResponderError):
        again.set_quiet_hours("ghost", QuietHours(1.0, 2.0))
    with pytest.raises(InvalidParameterError):
        again.set_quiet_hours("r0", (22, 6))  # type: ignore[arg-type]
    again.close()


def test_a_driver_due_a_rest_gets_no_driving_task_until_rested():
    d, _, _, clock = make(RESP, run_cards=CARDS)
    # r0 is 15 s from the incident: 4 h would be reached on the way.
    d.report_driving("r0", continuous_driving_s=MAX_CONTINUOUS_DRIVING_S - 10.0)
    d.report_driving("r1", continuous_driving_s=3600.0)
    d.report_incident("a", *at(0.0), kind="free", dispatch=True)
    assert d.incident("a").offers[0].responder_id == "r1"
    holds = d.volunteer_holds("r0", kind="free", eta_s=15.0)
    assert [h.reason for h in holds] == ["needs_rest"]
    assert d.volunteer_holds("r0", kind="phone", eta_s=15.0) == []  # not a driving task
    d.report_incident("p", *at(0.0), kind="phone", dispatch=True)
    assert d.incident("p").offers[0].responder_id == "r0"
    d.decline("p", "r0")
    # Stopped: the count stays until the rest is complete, then resets.
    d.report_driving("r0", continuous_driving_s=MAX_CONTINUOUS_DRIVING_S, driving=False)
    clock.advance(REST_S - 60.0)
    assert d.volunteer_holds("r0", kind="free")
    clock.advance(60.0)
    assert d.volunteer_holds("r0", kind="free") == []


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"continuous_driving_s": -1.0}, "continuous_driving_s"),
        ({"continuous_driving_s": math.nan}, "continuous_driving_s"),
        ({"continuous_driving_s": 60.0, "at": 10**9}, "at"),
        ({"continuous_driving_s": 60.0, "driving": "yes"}, "driving"),
    ],
)
def test_bad_driving_reports_name_the_field(kwargs, name):
    d, *_ = make(RESP, run_cards=CARDS)
    with pytest.raises(InvalidParameterError) as exc:
        d.report_driving("r0", **kwargs)
    assert exc.value.name == name
