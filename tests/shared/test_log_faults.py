"""A Redis error at any step of a command leaves every dispatcher consistent with the log.

Fault injection on a real redis-server: the client of one dispatcher raises
``ConnectionError`` at its n-th Redis command -- before sending it, or after Redis ran it
(the reply was lost) -- for every n a scenario takes. After each run, that dispatcher, the
other one and a fresh replay of the log hold the same state, and nobody is assigned twice.
"""

import pytest

pytest.importorskip("redis")

import redis

from kayou_dispatch import KayouDispatchError, SharedStateError
from kayou_dispatch.shared import RedisLog
from kayou_dispatch.shared import log as log_module
from tests.shared.test_log import RESPONDERS, make_dispatcher, state

pytestmark = pytest.mark.redis


class FlakyRedis(redis.Redis):
    """A real client that fails its ``fail_at``-th command (of kind ``only``, if given)."""

    def __init__(self, *args, fail_at=0, after=False, only=None, **kw):
        super().__init__(*args, **kw)
        self.calls = 0
        self.fail_at, self.after, self.only = fail_at, after, only

    def execute_command(self, *args, **options):
        if self.only is None or args[0] == self.only:
            self.calls += 1
            if self.calls == self.fail_at:
                if self.after:
                    super().execute_command(*args, **options)
                raise redis.ConnectionError(f"injected failure of {args[0]}")
        return super().execute_command(*args, **options)


def flaky_log(url, **kw):
    client = FlakyRedis.from_url(url)
    client.fail_at, client.after, client.only = kw.pop("fail_at", 0), kw.pop("after", False), None
    client.only = kw.pop("only", None)
    return client, RedisLog(client, lock_ttl_s=0.2, **kw)


def assigned_everywhere(d):
    rids = [rid for inc in d.open_incidents() for rid in inc.assigned]
    return sorted(rids)


def attempt(call, retries=2):
    """A client's call with retries on 503 (same request id); the last error if all fail."""
    for i in range(retries + 1):
        try:
            return call()
        except SharedStateError:
            if i == retries:
                raise
        except KayouDispatchError:
            return None
    return None  # pragma: no cover


def scenario(a, b, now):
    """A assigns r0 and files more; B, behind by several pages, then dispatches near r0."""
    a.report_incident("x", 22.70, 114.25, kind="one", dispatch=True, request_id="ax")
    a.accept("x", a.incident("x").offers[0].responder_id, request_id="ax-acc")
    for i in range(5):
        a.report_incident(f"f{i}", 22.70, 114.25, kind="one", request_id=f"af{i}")
    inc = attempt(
        lambda: b.report_incident("y", 22.70, 114.25, kind="one", dispatch=True, request_id="by")
    )
    if inc is not None and inc.offers:
        rid = inc.offers[0].responder_id
        attempt(lambda: b.accept("y", rid, request_id="by-acc"))
    attempt(lambda: b.decline("y", "r3", request_id="by-dec"))
    now[0] += 40
    attempt(b.tick)


def check(url, a, b):
    fresh_log = RedisLog(url)
    replay = make_dispatcher(fresh_log, [0.0])
    attempt(b.refresh)
    a.refresh()
    rids = assigned_everywhere(replay)
    assert len(rids) == len(set(rids)), f"assigned twice: {rids}"
    want = state(replay)
    assert state(a)[0] == want[0]
    assert state(b)[0] == want[0]
    fresh_log.close()


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(log_module, "_BATCH", 2)


def run_with_failure(url, fail_at, after, only=None):
    with redis.Redis.from_url(url) as raw:
        raw.flushall()
    now = [1000.0]
    a = make_dispatcher(RedisLog(url), now)
    client, log = flaky_log(url)
    b = make_dispatcher(log, now)
    client.fail_at, client.after, client.only, client.calls = fail_at, after, only, 0
    scenario(a, b, now)
    calls, client.fail_at = client.calls, -1  # the checks themselves run without faults
    check(url, a, b)
    a.close()
    b.close()
    return calls


def test_a_failed_second_page_no_longer_double_assigns(redis_url, small_pages):
    # The audit's case: the catch-up's second page fails; before the fix the first page's
    # rows ("r0 accepted x") were dropped while the cursor moved past them.
    run_with_failure(redis_url, fail_at=2, after=False, only="XRANGE")


@pytest.mark.parametrize("after", [False, True], ids=["before-send", "reply-lost"])
def test_an_error_at_every_step_leaves_the_dispatchers_consistent(redis_url, small_pages, after):
    total = run_with_failure(redis_url, fail_at=0, after=after)
    assert total > 10
    for n in range(1, total + 1):
        run_with_failure(redis_url, fail_at=n, after=after)


def test_an_undecodable_log_entry_is_skipped_by_every_reader(redis_url, caplog):
    now = [1000.0]
    a = make_dispatcher(RedisLog(redis_url), now)
    a.report_incident("x", 22.70, 114.25, kind="one")
    raw = redis.Redis.from_url(redis_url)
    for row in (b"not json", b'{"at": 1}', b'{"at":1,"name":"cancel","subject":5,'
                b'"responder_id":null,"request_id":null,"records":[]}'):
        raw.xadd("kd:log", {"row": row})
    raw.xadd("kd:log", {"other": b"field"})
    b = make_dispatcher(RedisLog(redis_url), now)
    a.report_incident("y", 22.70, 114.25, kind="one")
    assert state(b) == state(a)
    assert sorted(i.incident_id for i in b.open_incidents()) == ["x", "y"]
    assert sum("skipped an undecodable entry" in r.getMessage() for r in caplog.records) >= 8
    assert RESPONDERS
    raw.close()
    a.close()
    b.close()
