"""Sixteen threads racing dispatch/accept/decline/tick never double-assign or over-fill."""

import random
import threading

from kayou_dispatch import InvalidTransitionError

from .invariants import check_invariants
from .world import ALL_CAPS, Clock, at, make

KINDS = ("breakdown", "tyre", "rollover", "medical", "collision", "other", "directions")


def test_sixteen_threads_over_a_thousand_incidents():
    rng = random.Random(7)
    responders = [
        (
            f"r{i}",
            rng.uniform(-4000, 4000),
            rng.uniform(-4000, 4000),
            tuple(c for c in ALL_CAPS if rng.random() < 0.3),
        )
        for i in range(400)
    ]
    clock = Clock()
    clock_lock = threading.Lock()
    d, _index, *_ = make(responders, clock=clock)
    n_incidents = 1000
    for i in range(n_incidents):
        d.report_incident(
            f"i{i}",
            *at(rng.uniform(-4000, 4000), rng.uniform(-4000, 4000)),
            kind=KINDS[i % len(KINDS)],
            severity=1 + i % 5,
        )
    accepted = []  # (incident, responder) acknowledged by accept()
    errors = []
    start = threading.Barrier(16)

    def worker(t):
        r = random.Random(t)
        start.wait()
        try:
            for _ in range(250):
                iid = f"i{r.randrange(n_incidents)}"
                action = r.random()
                if action < 0.3:
                    d.dispatch(iid)
                elif action < 0.9:
                    offers = d.incident(iid).offers
                    if not offers:
                        continue
                    rid = r.choice(offers).responder_id
                    try:
                        if action < 0.75:
                            inc = d.accept(iid, rid)
                            accepted.append((iid, rid))
                            assert rid in inc.assigned
                        else:
                            d.decline(iid, rid)
                    except InvalidTransitionError:
                        pass  # another thread took, declined or withdrew it first
                else:
                    with clock_lock:
                        clock.advance(5.0)
                    d.tick()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(accepted) > 100
    # No responder was acknowledged twice (nobody is ever released in this race).
    assert len({rid for _, rid in accepted}) == len(accepted)
    for iid, rid in accepted:
        assert rid in d.incident(iid).assigned
    engaged = check_invariants(d)
    total_assigned = sum(len(d.incident(f"i{i}").assigned) for i in range(n_incidents))
    assert total_assigned == len(accepted)
    assert len(engaged) <= len(responders)
