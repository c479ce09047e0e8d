"""The PostgreSQL command log: typed errors, the fence, following, and crashes (real servers)."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

pytest.importorskip("psycopg")

import psycopg

from kayou_dispatch import DispatchEngine, InvalidParameterError, SharedStateError, Status
from kayou_dispatch.datasets import synthetic_region
from kayou_dispatch.shared import PostgresLog
from tests.processes import PostgresServer, free_port
from tests.shared.test_log import make_dispatcher, state

pytestmark = pytest.mark.postgresql


def test_bad_urls_and_options_are_typed_errors(postgres_url):
    for bad in ("http://example.com", "redis://127.0.0.1:6379/0", 5, None):
        with pytest.raises(InvalidParameterError, match="postgresql://"):
            PostgresLog(bad)
    with pytest.raises(InvalidParameterError, match="valid postgresql"):
        PostgresLog("postgresql://h/db?nonsense_option=1 x")
    for kw in ({"log": ""}, {"log": "a\nb"}, {"lock_ttl_s": 0}, {"lock_wait_s": True}):
        with pytest.raises(InvalidParameterError):
            PostgresLog(postgres_url, **kw)


def test_an_unreachable_server_is_a_shared_state_error_at_start():
    url = f"postgresql://kayou:secret@127.0.0.1:{free_port()}/postgres"
    with pytest.raises(SharedStateError, match="failed while") as info:
        PostgresLog(url, connect_timeout_s=1)
    assert info.value.store.startswith("postgresql://kayou@127.0.0.1:")
    assert "secret" not in str(info.value) and "secret" not in info.value.store


def test_a_table_of_another_format_is_refused(postgres_url):
    PostgresLog(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE kayou_logs SET format = '0'")
    with pytest.raises(InvalidParameterError, match="format"):
        PostgresLog(postgres_url)


def test_commits_are_durable_on_the_fixture_and_logs_are_separate(postgres_url):
    a, b = PostgresLog(postgres_url, log="north"), PostgresLog(postgres_url, log="south")
    assert a.durable
    a.begin()
    a.append(at=1.0, name="cancel", subject="i", records=[{"op": "cancel", "incident_id": "i"}])
    assert [r.name for r in a.rows()] == ["cancel"] and list(b.rows()) == []
    assert len(a) == 1 and len(b) == 0
    a.close()
    b.close()


def test_append_outside_begin_and_after_the_fence_moved_are_refused(postgres_url):
    a, b = PostgresLog(postgres_url), PostgresLog(postgres_url)
    rec = [{"op": "cancel", "incident_id": "i"}]
    with pytest.raises(SharedStateError, match="not held"):
        a.append(at=1.0, name="cancel", records=rec)
    a.begin()
    # The server ends A's session (as after a stall); B appends first; A is refused.
    with psycopg.connect(postgres_url, autocommit=True) as raw:
        pid = a._conns.command.info.backend_pid
        raw.execute("SELECT pg_terminate_backend(%s)", (pid,))
    b.begin()
    b.append(at=1.0, name="cancel", subject="b", records=rec)
    with pytest.raises(SharedStateError):
        a.append(at=1.0, name="cancel", subject="a", records=rec)
    a.end()
    assert [r.subject for r in a.rows()] == ["b"]  # A reconnects for its rebuild
    # A session that survived but is behind the tip: refused by the fence itself.
    a.begin()
    a._last -= 1
    with pytest.raises(SharedStateError, match="another process appended first"):
        a.append(at=1.0, name="cancel", subject="a", records=rec)
    assert [r.subject for r in b.poll() + list(b.rows())] == ["b"]
    a.close()
    b.close()


def test_a_held_lock_makes_others_wait_then_fail_typed(postgres_url):
    a, b = PostgresLog(postgres_url), PostgresLog(postgres_url, lock_wait_s=0.2)
    a.begin()
    t0 = time.monotonic()
    with pytest.raises(SharedStateError, match="dispatch lock"):
        b.begin()
    assert time.monotonic() - t0 >= 0.19
    a.end()
    assert b.begin() == []
    b.end()
    a.close()
    b.close()


def test_wait_wakes_on_another_process_append_and_times_out_otherwise(postgres_url):
    a, b = PostgresLog(postgres_url), PostgresLog(postgres_url)
    assert not b.wait(0.1)
    woke = []
    waiter = threading.Thread(target=lambda: woke.append(b.wait(10.0)))
    t0 = time.monotonic()
    waiter.start()
    time.sleep(0.1)
    a.begin()
    a.append(at=1.0, name="cancel", subject="i", records=[{"op": "cancel", "incident_id": "i"}])
    waiter.join(10)
    assert woke == [True] and time.monotonic() - t0 < 5
    assert [r.subject for r in b.poll()] == ["i"]
    assert not b.wait(0.05)
    a.close()
    b.close()


@pytest.fixture(scope="module")
def region():
    return synthetic_region(seed=7, size=2_000)


def test_engines_on_one_postgres_log_share_incidents_and_events(region, postgres_url):
    now = 10_000.0
    a = DispatchEngine(region, lifecycle=postgres_url, clock=lambda: now)
    b = DispatchEngine(region, lifecycle=postgres_url, clock=lambda: now)
    centre = (region.node_lat[5], region.node_lng[5])
    for engine in (a, b):  # positions are local without redis=: each holds the fleet
        engine.update_position("t1", *centre)
    seen = b.events()
    inc = a.report_incident("i1", *centre, kind="directions", dispatch=True)
    assert [o.responder_id for o in inc.offers] == ["t1"]
    assert b.refresh(wait_s=1.0)
    assert seen.get(timeout=1).kind.value == "reported"
    assert b.accept("i1", "t1").assigned == ("t1",)
    assert a.incident("i1").assigned == ("t1",)
    assert a.check_stores() == [a.shared_log.store] and a.shared_log.store.startswith(
        "postgresql://"
    )
    a.close()
    b.close()


def test_engine_lifecycle_option_is_checked(region, postgres_url, tmp_path):
    with pytest.raises(InvalidParameterError, match="journal or lifecycle"):
        DispatchEngine(region, lifecycle=postgres_url, journal=tmp_path / "j.db")
    with pytest.raises(InvalidParameterError, match="lifecycle must be"):
        DispatchEngine(region, lifecycle="sqlite:///x.db")


def test_positions_in_redis_and_the_lifecycle_in_postgres(region, postgres_url, redis_url):
    now = 10_000.0
    a = DispatchEngine(region, redis=redis_url, lifecycle=postgres_url, clock=lambda: now)
    b = DispatchEngine(region, redis=redis_url, lifecycle=postgres_url, clock=lambda: now)
    assert isinstance(a.shared_log, PostgresLog)
    centre = (region.node_lat[5], region.node_lng[5])
    a.update_position("t1", *centre)  # through Redis to B
    inc = b.report_incident("i1", *centre, kind="directions", dispatch=True)
    assert [o.responder_id for o in inc.offers] == ["t1"]
    assert a.accept("i1", "t1").assigned == ("t1",)
    assert b.responder("t1").status is Status.ASSIGNED
    assert len(a.check_stores()) == 2  # PostgreSQL and Redis both answer
    a.close()
    b.close()


# -- crashes: real processes, kill -9 -----------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from tests.shared.test_log import make_dispatcher
    from kayou_dispatch.shared import PostgresLog
    url, who, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    now = [1000.0]
    d = make_dispatcher(PostgresLog(url), now)
    if who == "accept":
        d.report_incident("x", 22.70, 114.25, kind="one", dispatch=True)
        rid = d.incident("x").offers[0].responder_id
        d.accept("x", rid)
        print("ACKED", rid, flush=True)
        import time
        time.sleep(60)  # killed here, before any clean close
    else:  # race: report and accept incidents, both processes on the same ids
        from kayou_dispatch import KayouDispatchError
        for i in range(n):
            for step in ("report", "accept", "resolve"):
                try:
                    if step == "report":
                        d.report_incident(f"i{i}", 22.70, 114.25, kind="two", dispatch=True)
                    elif step == "accept":
                        for o in d.incident(f"i{i}").offers:
                            d.accept(f"i{i}", o.responder_id)
                    else:
                        d.resolve(f"i{i}")
                except KayouDispatchError:
                    pass
        print("DONE", flush=True)
    """
)


def child(url, who, n=0):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, url, who, str(n)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_an_acknowledged_accept_survives_kill_9_of_the_process_and_of_postgres():
    server = PostgresServer().start()
    try:
        proc = child(server.url, "accept")
        line = proc.stdout.readline()
        assert line.startswith("ACKED"), proc.stderr.read()
        rid = line.split()[1]
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        server.crash()  # and the database server, before any checkpoint
        server.start()
        again = make_dispatcher(PostgresLog(server.url), [1000.0])
        assert again.incident("x").assigned == (rid,)
        assert again.responder(rid).status is Status.ASSIGNED
        again.close()
    finally:
        server.remove()


@pytest.mark.slow
def test_two_processes_racing_never_both_append(postgres_url):
    procs = [child(postgres_url, "race", 15) for _ in range(2)]
    for proc in procs:
        out, err = proc.communicate(timeout=240)
        assert "DONE" in out, err
    with psycopg.connect(postgres_url) as conn:
        (tip,) = conn.execute("SELECT tip FROM kayou_logs").fetchone()
        txns = [t for (t,) in conn.execute("SELECT txn FROM kayou_commands ORDER BY txn")]
        accepts = conn.execute(
            "SELECT r->>'incident_id', r->>'responder_id' FROM kayou_commands, "
            "jsonb_array_elements(records) r WHERE r->>'op' = 'accept'"
        ).fetchall()
    assert txns == list(range(1, tip + 1))  # one chain: no gap, no fork
    assert len(accepts) == len(set(accepts))  # no accept applied twice
    replay = make_dispatcher(PostgresLog(postgres_url), [1000.0])
    for inc in (replay.incident(f"i{i}") for i in range(15)):
        assert len(inc.assigned) == len(set(inc.assigned)) <= inc.units
    replay.close()


def test_a_dispatcher_rebuilds_after_postgres_restarts():
    server = PostgresServer().start()
    try:
        now = [1000.0]
        d = make_dispatcher(PostgresLog(server.url), now)
        d.report_incident("x", 22.70, 114.25, kind="one", dispatch=True)
        server.crash()
        with pytest.raises(SharedStateError):
            d.report_incident("y", 22.70, 114.25, kind="one")
        server.start()
        d.report_incident("y", 22.70, 114.25, kind="one")  # reconnected
        fresh = make_dispatcher(PostgresLog(server.url), now)
        assert state(fresh) == state(d)
        assert sorted(i.incident_id for i in fresh.open_incidents()) == ["x", "y"]
        d.close()
        fresh.close()
    finally:
        server.remove()


def test_a_slow_replay_outlasting_the_lock_ttl_still_reads_everything(postgres_url, monkeypatch):
    # Found by bench_lifecycle_log at 1,000,000 commands: the replay reads page by page in
    # one snapshot, and a consumer slower than lock_ttl_s between pages had its session ended.
    from kayou_dispatch.shared import postgres

    monkeypatch.setattr(postgres, "_PAGE", 2)
    writer = PostgresLog(postgres_url)
    for i in range(5):
        writer.begin()
        writer.append(at=1.0, name="cancel", subject=f"i{i}", records=[
            {"op": "cancel", "incident_id": f"i{i}"}])  # fmt: skip
    reader = PostgresLog(postgres_url, lock_ttl_s=0.1)
    seen = []
    for row in reader.rows():
        seen.append(row.subject)
        time.sleep(0.25)  # longer than the lock's time-to-live, between pages too
    assert seen == [f"i{i}" for i in range(5)]
    writer.close()
    reader.close()
