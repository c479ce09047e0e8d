"""Fan the engine's lifecycle events out to WebSocket clients on the asyncio loop.

The engine calls subscribers from whichever thread ran the command; :class:`EventHub`
hands each event to every connection's loop with ``call_soon_threadsafe``, so a client's
queue is only ever touched by its own loop. Dispatchers' connections also get the fleet's
position changes (:meth:`EventHub.publish`, fed by :func:`feed_positions`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from kayou_dispatch.lifecycle import Event
from kayou_dispatch.spatial.index import Snapshot

__all__ = ["EventHub", "feed_positions", "position_changes", "Subscription"]


class Subscription:
    """One client's queue of events; ``overflowed`` once it fell ``maxsize`` behind."""

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int, dispatcher: bool) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Event | dict[str, Any] | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.dispatcher = dispatcher

    def _put(self, event: Event | dict[str, Any] | None) -> None:  # runs on self.loop
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A client this far behind is cut off rather than slowing everyone down.
            self.overflowed = True


class EventHub:
    """Subscribe once to an engine and forward its events to many subscriptions."""

    def __init__(self, subscribe: Callable[[Callable[[Event], None]], Callable[[], None]]) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._unsubscribe = subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        self._send(event, dispatchers_only=False)

    def publish(self, message: dict[str, Any]) -> None:
        """Send a message (not an engine event) to every dispatcher's connection."""
        self._send(message, dispatchers_only=True)

    def dispatchers(self) -> int:
        """How many dispatcher connections are subscribed."""
        with self._lock:
            return sum(sub.dispatcher for sub in self._subs)

    def _send(self, item: Event | dict[str, Any], *, dispatchers_only: bool) -> None:
        with self._lock:
            subs = [s for s in self._subs if s.dispatcher or not dispatchers_only]
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub._put, item)
            except RuntimeError:  # that loop is closed: the client is gone
                self.remove(sub)

    def add(self, maxsize: int = 1000, *, dispatcher: bool = False) -> Subscription:
        """Register a queue on the running loop (a ``dispatcher``'s also gets :meth:`publish`)."""
        sub = Subscription(asyncio.get_running_loop(), maxsize, dispatcher)
        with self._lock:
            self._subs.add(sub)
        return sub

    def remove(self, sub: Subscription) -> None:
        """Stop feeding a subscription."""
        with self._lock:
            self._subs.discard(sub)

    def __len__(self) -> int:
        with self._lock:
            return len(self._subs)

    def close(self) -> None:
        """Unsubscribe from the engine."""
        self._unsubscribe()


def _keys(snap: Snapshot) -> list[tuple[float, float, int, bool]]:
    cols = (snap.lat.tolist(), snap.lng.tolist(), snap.status.tolist(), snap.fresh.tolist())
    return list(zip(*cols, strict=True))


def position_changes(
    before: Snapshot | None, now: Snapshot
) -> tuple[list[dict[str, Any]], list[str]]:
    """The responders whose fix, status or freshness differ, and those gone, since ``before``."""
    if before is not None and before.ids == now.ids:  # the usual case: compare columns
        diff = (
            (before.lat != now.lat)
            | (before.lng != now.lng)
            | (before.status != now.status)
            | (before.fresh != now.fresh)
        )
        rows, gone = np.flatnonzero(diff).tolist(), []
    else:
        old = {} if before is None else dict(zip(before.ids, _keys(before), strict=True))
        rows = [i for i, key in enumerate(_keys(now)) if old.get(now.ids[i]) != key]
        gone = sorted(old.keys() - set(now.ids))
    statuses = now.statuses()
    changed = [
        {
            "responder_id": now.ids[i],
            "lat": float(now.lat[i]),
            "lng": float(now.lng[i]),
            "status": statuses[i].value,
            "fresh": bool(now.fresh[i]),
        }
        for i in rows
    ]
    return changed, gone


async def feed_positions(
    snapshot: Callable[[], Snapshot], hub: EventHub, interval_s: float
) -> None:
    """Every ``interval_s``, publish the fleet's changes to dispatchers (while any listen).

    Message: ``{"kind": "positions", "responders": [{responder_id, lat, lng, status,
    fresh}...], "removed": [ids]}`` -- only what changed since the previous message.
    ``snapshot`` is the engine's :meth:`~kayou_dispatch.DispatchEngine.snapshot`.
    """
    before: Snapshot | None = None
    while True:
        await asyncio.sleep(interval_s)
        if not hub.dispatchers():
            before = None  # a new listener loads the whole fleet first
            continue
        now = snapshot()
        changed, gone = position_changes(before, now)
        before = now
        if changed or gone:
            hub.publish({"kind": "positions", "responders": changed, "removed": gone})
