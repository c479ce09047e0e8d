"""Feed positions from a message stream into the engine in batches (no HTTP at all).

Needs: ``pip install .`` (no extra).

An ``asyncio.Queue`` stands in for the host's broker (Kafka, NATS, Redis streams...). A
consumer drains up to ``BATCH`` messages at a time and hands them to
``engine.update_positions``, the bulk path, which validates every row before applying any.
"""

import asyncio
import time

import numpy as np

from kayou_dispatch import DispatchEngine, load_network

N_RESPONDERS = 20_000
N_MESSAGES = 200_000
BATCH = 5_000


async def producer(queue: asyncio.Queue, rng: np.random.Generator) -> None:
    """Phones reporting: (id, lat, lng) messages around central Helsinki."""
    ids = rng.integers(0, N_RESPONDERS, N_MESSAGES)
    lats = 60.17 + rng.normal(0, 0.01, N_MESSAGES)
    lngs = 24.94 + rng.normal(0, 0.02, N_MESSAGES)
    for i in range(0, N_MESSAGES, 1_000):  # a broker delivers in chunks
        for j in range(i, min(i + 1_000, N_MESSAGES)):
            queue.put_nowait((f"truck-{ids[j]}", float(lats[j]), float(lngs[j])))
        await asyncio.sleep(0)
    await queue.put(None)


async def consumer(queue: asyncio.Queue, engine: DispatchEngine) -> int:
    applied = 0
    done = False
    while not done:
        batch = [await queue.get()]
        while len(batch) < BATCH and not queue.empty():
            batch.append(queue.get_nowait())
        if batch[-1] is None:
            batch.pop()
            done = True
        if batch:
            ids, lats, lngs = zip(*batch, strict=True)
            applied += engine.update_positions(list(ids), lats, lngs)
    return applied


async def main() -> None:
    engine = DispatchEngine(load_network("helsinki"))
    queue: asyncio.Queue = asyncio.Queue()
    t0 = time.perf_counter()
    _, applied = await asyncio.gather(
        producer(queue, np.random.default_rng(0)), consumer(queue, engine)
    )
    dt = time.perf_counter() - t0
    print(f"{N_MESSAGES:,} messages, {applied:,} applied, {len(engine):,} responders")
    print(f"{N_MESSAGES / dt:,.0f} positions/s through the queue ({dt:.2f} s)")
    best = engine.rank(60.1705, 24.9410, k=3)
    print("nearest by road:", [(c.responder_id, round(c.eta_s)) for c in best])


if __name__ == "__main__":
    asyncio.run(main())
