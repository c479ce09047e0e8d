"""Compaction of the PostgreSQL log: snapshot plus tail replays to the state, less the archive.

Oracle: the dispatcher that ran the commands (every incident it holds) against a fresh
dispatcher started on the compacted log. Archived are exactly the incidents resolved or
cancelled before the cutoff (with no later record); everything else is identical.
"""

import contextlib
import time

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

pytest.importorskip("psycopg")


import psycopg

from kayou_dispatch import KayouDispatchError, UnknownIncidentError
from kayou_dispatch.lifecycle import EventKind
from kayou_dispatch.shared import PostgresLog
from tests.shared.test_log import CARDS, RESPONDERS, incident_ids, make_dispatcher, ops, run

pytestmark = pytest.mark.postgresql

# The contract tests' commands, with reports and closes twice as likely (something to archive).
closing_ops = st.one_of(
    ops,
    st.tuples(st.just("report"), incident_ids, st.sampled_from(sorted(CARDS)), st.booleans()),
    st.tuples(st.just("cancel"), incident_ids),
    st.tuples(st.just("resolve"), incident_ids),
    st.tuples(st.just("tick"), st.integers(50, 400)),  # time between closes and the cutoff
)


def records_in(url, table):
    with psycopg.connect(url) as conn:
        (n,) = conn.execute(
            f"SELECT coalesce(sum(jsonb_array_length(records)), 0) FROM {table}"
        ).fetchone()
    return int(n)


def closed_at(events):
    """Incident -> when it was last resolved/cancelled, if that was its last event."""
    last = {}
    for e in events:
        last[e.incident_id] = e
    return {
        iid: e.at
        for iid, e in last.items()
        if e.kind in (EventKind.RESOLVED, EventKind.CANCELLED)
    }


def check_compacted(url, d, events, cutoff, now):
    total = records_in(url, "kayou_commands") + records_in(url, "kayou_archive")
    report = PostgresLog(url).compact(closed_before=cutoff)
    gone = {iid for iid, at in closed_at(events).items() if at < cutoff}
    assert report.incidents == len(gone)
    assert records_in(url, "kayou_commands") + records_in(url, "kayou_archive") == total
    fresh = make_dispatcher(PostgresLog(url), now)
    for iid in sorted(d._incidents):
        if iid in gone:
            with pytest.raises(UnknownIncidentError):
                fresh.incident(iid)
        else:
            assert fresh.incident(iid) == d.incident(iid)
    assert fresh.open_incidents() == d.open_incidents()
    for rid in RESPONDERS:
        assert fresh.responder(rid).status == d.responder(rid).status
    return fresh, gone


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    steps=st.lists(closing_ops, min_size=4, max_size=30),
    more=st.lists(ops, max_size=10),
    cut=st.floats(0.0, 1.0),
)
def test_a_compacted_log_replays_to_the_same_state_less_the_archived(
    postgres_server, steps, more, cut
):
    from tests.conftest import drop_kayou_tables

    url = postgres_server.url
    drop_kayou_tables(url)
    now = [1000.0]
    d = make_dispatcher(PostgresLog(url), now)
    events = []
    d.subscribe(events.append)
    for op in steps:
        with contextlib.suppress(KayouDispatchError):
            run(d, op, now)
    # The cutoff anywhere in the run, or just after its end (everything closed goes).
    fresh, gone = check_compacted(url, d, events, 1000.0 + cut * (now[0] - 1000.0) + 0.5, now)
    event(f"archived some: {bool(gone)}; kept some: {bool(set(d._incidents) - gone)}")
    # Both go on on the compacted log; they agree on every incident the log still holds.
    for k, op in enumerate(more):
        with contextlib.suppress(KayouDispatchError):
            run(fresh if k % 2 else d, op, now)
    for iid in sorted(set(d._incidents) - gone):
        assert fresh.incident(iid) == d.incident(iid)
    assert fresh.open_incidents() == d.open_incidents()
    d.close()
    fresh.close()


def test_compaction_keeps_live_request_ids_and_archives_closed_ones(postgres_url):
    now = [1000.0]
    d = make_dispatcher(PostgresLog(postgres_url), now)
    d.report_incident("old", 22.70, 114.25, kind="one", dispatch=True, request_id="r-old")
    d.resolve("old") if d.incident("old").assigned else d.cancel("old")
    now[0] += 3600
    live = d.report_incident("new", 22.70, 114.25, kind="one", dispatch=True, request_id="r-new")
    rows_before = len(d._journal)
    report = d._journal.compact(closed_before=now[0] - 60)
    assert (report.incidents, report.rows_kept) == (1, rows_before - 2)
    again = make_dispatcher(PostgresLog(postgres_url), now)
    assert again.report_incident("new", 22.70, 114.25, kind="one", request_id="r-new") == live
    with pytest.raises(UnknownIncidentError):
        again.incident("old")
    # Nothing closed long enough: a second compaction changes nothing.
    assert again._journal.compact(closed_before=now[0] - 60).incidents == 0
    with psycopg.connect(postgres_url) as conn:
        archived = conn.execute("SELECT DISTINCT subject FROM kayou_archive").fetchall()
    assert archived == [("old",)]
    d.close()
    again.close()


def test_compact_refuses_a_bad_cutoff(postgres_url):
    log = PostgresLog(postgres_url)
    for bad in ("yesterday", None, True):
        with pytest.raises(KayouDispatchError, match="closed_before"):
            log.compact(closed_before=bad)
    log.close()


def test_compact_every_archives_in_the_background_until_stopped(postgres_url):
    import threading

    now = [1000.0]
    d = make_dispatcher(PostgresLog(postgres_url), now)
    d.report_incident("old", 22.70, 114.25, kind="one")
    d.cancel("old")
    now[0] += 7200
    d.report_incident("new", 22.70, 114.25, kind="one")
    log, stop = d._journal.clone(), threading.Event()
    with pytest.raises(KayouDispatchError, match="retention_s"):
        log.compact_every(retention_s=0, clock=lambda: now[0], stop=stop)
    worker = threading.Thread(
        target=log.compact_every,
        kwargs={"retention_s": 3600, "clock": lambda: now[0], "interval_s": 0.05, "stop": stop},
    )
    worker.start()
    deadline = time.monotonic() + 10
    while records_in(postgres_url, "kayou_archive") == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    worker.join(5)
    assert not worker.is_alive()
    fresh = make_dispatcher(PostgresLog(postgres_url), now)
    assert [i.incident_id for i in fresh.open_incidents()] == ["new"]
    with pytest.raises(UnknownIncidentError):
        fresh.incident("old")
    for x in (d, fresh, log):
        x.close()


def test_the_archive_holds_the_commands_columns_and_when(postgres_url):
    """kayou_archive is kayou_commands' columns (names, types, NOT NULL), then archived_at."""
    PostgresLog(postgres_url).close()  # creates the schema

    def columns(conn, table):
        return conn.execute(
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_name = %s ORDER BY ordinal_position",
            (table,),
        ).fetchall()

    with psycopg.connect(postgres_url) as conn:
        commands, archive = columns(conn, "kayou_commands"), columns(conn, "kayou_archive")
    assert [c[0] for c in commands] == [
        "log", "txn", "at", "name", "subject", "responder_id", "request_id", "records"
    ]  # fmt: skip
    assert archive == [*commands, ("archived_at", "timestamp with time zone", "NO")]
