"""Group single position updates into one Redis write (group commit).

With shared state every fix costs a Redis round trip, and with ``appendfsync always`` a
disk flush. Phones send one fix per request, so the server gathers the fixes that arrive
while a write is in flight and sends them as the next write: one round trip (and one
flush) for many requests, each answered with its own row's verdict.
"""

from __future__ import annotations

import asyncio

from kayou_dispatch.store import Fix, FixRow, PositionStore

__all__ = [
    "FixBatcher",
]


class FixBatcher:
    """Apply fixes locally at once, and publish them to the shared store in batches.

    Parameters
    ----------
    store
        The engine's position store (``engine.store``); with a local store each fix is
        answered at once.
    max_rows
        Largest batch sent in one write.
    """

    def __init__(self, store: PositionStore, *, max_rows: int = 2_000) -> None:
        self._store = store
        self._max_rows = max_rows
        self._rows: list[tuple[FixRow, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def submit(self, fix: Fix) -> bool:
        """Record one fix; return whether it is the newest fix anywhere (as the engine would).

        Raises
        ------
        InvalidCoordinateError, InvalidParameterError
            On bad input (nothing is written).
        SharedStateError
            When Redis fails (the fix stays in this process only).
        """
        row = self._store.apply_fix(fix)  # validates; this process sees it at once
        if not self._store.shared:
            return row.applied
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._rows.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await done

    async def _write(self) -> None:
        while self._rows:
            batch, self._rows = self._rows[: self._max_rows], self._rows[self._max_rows :]
            try:
                applied = await asyncio.to_thread(self._store.publish, [r for r, _ in batch])
            except Exception as exc:  # every waiting request gets the error
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for (_, done), ok in zip(batch, applied, strict=True):
                if not done.done():
                    done.set_result(ok)
