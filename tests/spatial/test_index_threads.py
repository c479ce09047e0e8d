"""Many threads updating and querying one index keep it consistent."""

import threading

import numpy as np

from kayou_dispatch import ResponderIndex, Status

from ..strategies import random_cloud
from .oracle import Row, assert_nearby, brute


def test_concurrent_updates_and_queries_stay_consistent():
    now = 10_000.0
    index = ResponderIndex(resolution=8, clock=lambda: now)
    n_ids, n_threads, n_rounds = 300, 8, 40
    ids = [f"r{i}" for i in range(n_ids)]
    errors = []
    # Each (thread, round) writes every id with a unique timestamp: the final state is
    # the row with the largest timestamp, whatever order the threads ran in.
    writes = {}

    def worker(t):
        rng = np.random.default_rng(t)
        try:
            for r in range(n_rounds):
                lat, lng = random_cloud(rng, n_ids, (22.72, 114.25), 8_000.0)
                ts = now - 200.0 + (r * n_threads + t) * 0.01
                if r % 2:
                    index.update_positions(ids, lat, lng, ts=ts)
                else:
                    for i in range(0, n_ids, 3):
                        index.update_position(ids[i], lat[i], lng[i], ts=ts)
                writes[(t, r)] = (lat, lng, ts, r % 2 == 1)
                index.nearby(22.72, 114.25, 2_000.0)
                index.nearest(22.72, 114.25, k=5, statuses=None)
                if t == 0:
                    index.set_status(ids[r], Status.ASSIGNED)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    model = {}
    for lat, lng, ts, bulk in writes.values():
        for i in range(0, n_ids, 1 if bulk else 3):
            row = model.get(ids[i])
            if row is None or ts > row.ts:
                model[ids[i]] = Row(float(lat[i]), float(lng[i]), ts)
    for i in range(n_rounds):
        model[ids[i]].status = Status.ASSIGNED
    assert len(index) == n_ids
    for rid, row in model.items():
        r = index.get(rid)
        assert (r.lat, r.lng, r.ts, r.status) == (row.lat, row.lng, row.ts, row.status)
    got = index.nearby(22.72, 114.25, 3_000.0)
    assert_nearby(got, brute(model, now, 300.0, 22.72, 114.25), 3_000.0)
