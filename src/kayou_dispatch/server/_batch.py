"""Group single position updates into one Redis write (group commit).

With shared state every fix costs a Redis round trip, and with ``appendfsync always`` a
disk flush. Phones send one fix per request, so the server gathers the fixes that arrive
while a write is in flight and sends them as the next write: one round trip (and one
flush) for many requests, each answered with its own row's verdict.
"""

from __future__ import annotations

import asyncio

import numpy as np

from kayou_dispatch.engine import DispatchEngine
from kayou_dispatch.shared.positions import check_ids

__all__ = [
    "FixBatcher",
]

_Row = tuple[str, float, float, float, float, "asyncio.Future[bool]"]


class FixBatcher:
    """Apply fixes locally at once, and write them to the shared store in batches.

    Parameters
    ----------
    engine
        An engine with shared state (``engine.shared`` is not ``None``).
    max_rows
        Largest batch sent in one write.
    """

    def __init__(self, engine: DispatchEngine, *, max_rows: int = 2_000) -> None:
        if engine.shared is None:
            raise ValueError("FixBatcher needs an engine with shared state")
        self._engine = engine
        self._positions = engine.shared.positions
        self._max_rows = max_rows
        self._rows: list[_Row] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(
        self,
        responder_id: str,
        lat: float,
        lng: float,
        *,
        ts: float | None = None,
        heading: float | None = None,
        speed_kph: float | None = None,
    ) -> bool:
        """Record one fix; return whether it is the newest fix anywhere (as the engine would).

        Raises
        ------
        InvalidCoordinateError, InvalidParameterError
            On bad input (nothing is written).
        SharedStateError
            When Redis fails (the fix stays in this process only).
        """
        check_ids([responder_id])
        t = float(self._engine.clock()) if ts is None else float(ts)
        self._engine.index.update_position(  # validates; this process sees it at once
            responder_id, lat, lng, ts=t, heading=heading, speed_kph=speed_kph
        )
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        hd = np.nan if heading is None else float(heading)
        self._rows.append((responder_id, float(lat), float(lng), t, hd, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await done

    async def _write(self) -> None:
        while self._rows:
            rows, self._rows = self._rows[: self._max_rows], self._rows[self._max_rows :]
            ids = [r[0] for r in rows]
            lat, lng, ts, hd = (np.array([r[i] for r in rows]) for i in range(1, 5))
            try:
                applied = await asyncio.to_thread(self._positions.write, ids, lat, lng, ts, hd)
            except Exception as exc:  # every waiting request gets the error
                for r in rows:
                    if not r[5].done():
                        r[5].set_exception(exc)
                continue
            for r, ok in zip(rows, applied.tolist(), strict=True):
                if not r[5].done():
                    r[5].set_result(bool(ok))
