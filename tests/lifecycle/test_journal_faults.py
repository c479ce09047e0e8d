"""An SQLite error at any step leaves the dispatcher consistent with its journal.

Fault injection on a real SQLite file: the journal's connection raises
``sqlite3.OperationalError`` at its n-th statement -- before running it, or after it ran
(the commit landed, the caller was told it failed) -- for every n the scenario takes.
The failed command is a typed :class:`SharedStateError` (HTTP 503, retry), and afterwards
the dispatcher holds exactly what a fresh replay of the file holds.
"""

import sqlite3

import pytest

from kayou_dispatch import KayouDispatchError, SharedStateError
from kayou_dispatch.lifecycle import Journal

from .invariants import check_invariants
from .test_journal import RESP, state
from .world import at, make


class FlakyConnection:
    """The journal's real connection, failing its ``fail_at``-th statement."""

    def __init__(self, db, fail_at, after):
        self.db, self.fail_at, self.after, self.calls = db, fail_at, after, 0

    def execute(self, *args):
        self.calls += 1
        if self.calls == self.fail_at:
            if self.after:
                self.db.execute(*args)
            raise sqlite3.OperationalError("disk I/O error (injected)")
        return self.db.execute(*args)

    def close(self):
        self.db.close()


def attempt(call, errors):
    for _ in range(3):
        try:
            return call()
        except SharedStateError as exc:
            assert "journal" in str(exc)
            errors.append(exc)
        except KayouDispatchError:
            return None
    return None


def scenario(d, clock, errors):
    def first_offer(iid):
        inc = attempt(lambda: d.incident(iid), errors)
        return inc.offers[0].responder_id if inc is not None and inc.offers else "nobody"

    attempt(lambda: d.report_incident("a", *at(0), kind="breakdown", dispatch=True,
                                      request_id="ra"), errors)
    attempt(lambda: d.report_incident("b", *at(300), kind="medical", dispatch=True), errors)
    rid = first_offer("a")
    attempt(lambda: d.decline("a", rid, request_id="da"), errors)
    rid = first_offer("a")
    attempt(lambda: d.accept("a", rid, request_id="aa"), errors)
    attempt(lambda: d.depart("a", rid), errors)
    rid = first_offer("b")
    attempt(lambda: d.accept("b", rid, request_id="ab"), errors)
    clock.advance(200.0)
    attempt(d.tick, errors)
    attempt(lambda: d.resolve("b", request_id="rb"), errors)
    attempt(lambda: d.cancel("a"), errors)


def run(path, fail_at, after):
    if path.exists():
        path.unlink()
    d, _, _, clock = make(RESP, journal=path)
    flaky = FlakyConnection(d._journal._db, fail_at, after)
    d._journal._db = flaky
    errors = []
    scenario(d, clock, errors)
    flaky.fail_at = -1
    d.refresh()
    check_invariants(d)
    replay, *_ = make(RESP, clock=clock, journal=path)
    assert state(d) == state(replay)
    replay.close()
    d.close()
    return flaky.calls, errors


@pytest.mark.parametrize("after", [False, True], ids=["before-run", "reply-lost"])
def test_an_error_at_every_step_leaves_the_dispatcher_consistent(tmp_path, after):
    path = tmp_path / "dispatch.db"
    total, errors = run(path, 0, after)
    assert total >= 8 and not errors
    failed = 0
    for n in range(1, total + 1):
        _, errors = run(path, n, after)
        failed += len(errors)
    assert failed >= total  # every injected error surfaced as a typed SharedStateError


def test_a_journal_error_is_a_typed_503_error(tmp_path):
    j = Journal(tmp_path / "j.db")
    j._db.close()
    with pytest.raises(SharedStateError, match="failed while appending"):
        j.append(at=1.0, name="cancel", subject="x", records=[{"op": "cancel"}])
    with pytest.raises(SharedStateError, match="failed while reading"):
        list(j.rows())
    j.close()
