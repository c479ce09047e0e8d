"""The position store: one protocol, a local and a Redis implementation, used by the batcher."""

import asyncio

import pytest

from kayou_dispatch import DispatchEngine, ResponderIndex, load_network
from kayou_dispatch.server._batch import FixBatcher
from kayou_dispatch.store import Fix, LocalPositionStore, PositionStore


@pytest.fixture(scope="module")
def net():
    return load_network()


def test_the_engine_owns_a_local_store_by_default(net):
    engine = DispatchEngine(net, clock=lambda: 10.0)
    assert isinstance(engine.store, LocalPositionStore) and not engine.store.shared
    assert isinstance(engine.store, PositionStore) and engine.store.index is engine.index


def test_apply_then_publish_is_update_position():
    store = LocalPositionStore(ResponderIndex(clock=lambda: 10.0))
    row = store.apply_fix(Fix("r1", 60.17, 24.94, ts=5.0, speed_kph=12.0))
    assert (row.fix.responder_id, row.ts, row.fix.speed_kph, row.applied) == ("r1", 5.0, 12.0, True)
    assert store.publish([row]) == [True]
    older = store.apply_fix(Fix("r1", 60.0, 24.0, ts=4.0))
    assert store.publish([older]) == [False] and store.index.get("r1").lat == 60.17


def test_the_batcher_on_a_local_store_answers_each_fix_at_once():
    store = LocalPositionStore(ResponderIndex(clock=lambda: 10.0))
    batcher = FixBatcher(store)

    async def run():
        return [
            await batcher.submit(Fix("r1", 60.17, 24.94, ts=5.0, speed_kph=3.0)),
            await batcher.submit(Fix("r1", 60.0, 24.0, ts=4.0)),
        ]

    assert asyncio.run(run()) == [True, False]
    assert store.index.get("r1").speed_kph == 3.0


@pytest.mark.redis
def test_the_batcher_publishes_speeds_other_processes_see(net, redis_url):
    a = DispatchEngine(net, redis=redis_url, clock=lambda: 10.0)
    b = DispatchEngine(net, redis=redis_url, clock=lambda: 10.0)
    assert a.store.shared and isinstance(a.store, PositionStore)
    batcher = FixBatcher(a.store)

    async def run():
        return await asyncio.gather(
            *(batcher.submit(Fix(f"t{i}", 60.17, 24.94, speed_kph=float(i))) for i in range(5))
        )

    assert asyncio.run(run()) == [True] * 5
    assert [b.get(f"t{i}").speed_kph for i in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]
