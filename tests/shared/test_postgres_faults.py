"""A PostgreSQL error at any step of a command leaves every dispatcher consistent with the log.

The same fault injection as ``test_log_faults.py`` (Redis), on a real PostgreSQL: the
connection of one dispatcher raises ``OperationalError`` at its n-th statement -- before
sending it, or after the server ran it (the reply was lost) -- for every n the scenario
takes. After each run, that dispatcher, the other one and a fresh replay of the log hold
the same state, and nobody is assigned twice.
"""

import pytest

pytest.importorskip("psycopg")

import psycopg

from kayou_dispatch.shared import PostgresLog
from kayou_dispatch.shared import postgres as pg_module
from tests.conftest import drop_kayou_tables
from tests.shared.test_log import make_dispatcher, state
from tests.shared.test_log_faults import assigned_everywhere, attempt, scenario

pytestmark = pytest.mark.postgresql


class Faults:
    """Counts the statements of the connections it made; fails the ``fail_at``-th."""

    def __init__(self):
        self.calls, self.fail_at, self.after = 0, 0, False


def flaky_connection_class(faults):
    class FlakyConnection(psycopg.Connection):
        def execute(self, query, params=None, **kw):
            faults.calls += 1
            if faults.calls == faults.fail_at:
                if faults.after:
                    super().execute(query, params, **kw)
                self.close()  # as a dropped connection: the next use reconnects
                raise psycopg.OperationalError(f"injected failure of {str(query)[:30]!r}")
            return super().execute(query, params, **kw)

    return FlakyConnection


def flaky_log(url, faults, monkeypatch):
    cls = flaky_connection_class(faults)
    real = pg_module.PostgresLog._connect

    def connect(self):
        if getattr(self, "flaky", False):
            conn = cls.connect(self._url, autocommit=True, connect_timeout=self._connect_s)
            for key, value in self._settings.items():
                psycopg.Connection.execute(conn, f"SET {key} = '{value}'")
            return conn
        return real(self)

    monkeypatch.setattr(pg_module.PostgresLog, "_connect", connect)
    log = PostgresLog.__new__(PostgresLog)
    log.flaky = True
    PostgresLog.__init__(log, url, lock_ttl_s=1.0)
    return log


def check(url, a, b):
    fresh = PostgresLog(url)
    replay = make_dispatcher(fresh, [0.0])
    attempt(b.refresh)
    a.refresh()
    rids = assigned_everywhere(replay)
    assert len(rids) == len(set(rids)), f"assigned twice: {rids}"
    want = state(replay)
    assert state(a)[0] == want[0]
    assert state(b)[0] == want[0]
    fresh.close()


def run_with_failure(url, monkeypatch, fail_at, after):
    drop_kayou_tables(url)
    now = [1000.0]
    a = make_dispatcher(PostgresLog(url), now)
    faults = Faults()
    b = make_dispatcher(flaky_log(url, faults, monkeypatch), now)
    faults.calls, faults.fail_at, faults.after = 0, fail_at, after
    scenario(a, b, now)
    calls, faults.fail_at = faults.calls, -1  # the checks themselves run without faults
    check(url, a, b)
    a.close()
    b.close()
    return calls


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(pg_module, "_PAGE", 2)


@pytest.mark.slow
@pytest.mark.parametrize("after", [False, True], ids=["before-send", "reply-lost"])
def test_an_error_at_every_step_leaves_the_dispatchers_consistent(
    postgres_server, monkeypatch, small_pages, after
):
    url = postgres_server.url
    total = run_with_failure(url, monkeypatch, 0, after)
    assert total > 10
    for n in range(1, total + 1):
        run_with_failure(url, monkeypatch, n, after)
