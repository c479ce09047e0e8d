"""Ranking from many threads at once gives the same answers as one thread."""

import threading

import numpy as np

from kayou_dispatch import DispatchEngine, synthetic_region

from .oracle import place_near_edges


def test_concurrent_ranks_match_sequential():
    net = synthetic_region(seed=3, size=3_000)
    rng = np.random.default_rng(11)
    engine = DispatchEngine(net, clock=lambda: 0.0)
    lat, lng = place_near_edges(net, rng, 300)
    engine.update_positions([f"r{i}" for i in range(300)], lat, lng)
    ilat, ilng = place_near_edges(net, rng, 40)
    expected = [engine.rank(a, b, k=5) for a, b in zip(ilat, ilng, strict=True)]
    results: dict[int, list] = {}
    errors = []

    def work(t):
        try:
            for i in range(t, 40, 4):
                results[i] = engine.rank(ilat[i], ilng[i], k=5)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert [results[i] for i in range(40)] == expected
