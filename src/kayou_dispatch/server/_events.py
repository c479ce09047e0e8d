"""Fan the engine's lifecycle events out to WebSocket clients on the asyncio loop.

The engine calls subscribers from whichever thread ran the command; :class:`EventHub`
hands each event to every connection's loop with ``call_soon_threadsafe``, so a client's
queue is only ever touched by its own loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from kayou_dispatch.lifecycle import Event

__all__ = ["EventHub", "Subscription"]


class Subscription:
    """One client's queue of events; ``overflowed`` once it fell ``maxsize`` behind."""

    def __init__(self, loop: asyncio.AbstractEventLoop, maxsize: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.overflowed = False

    def _put(self, event: Event | None) -> None:  # runs on self.loop
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
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub._put, event)
            except RuntimeError:  # that loop is closed: the client is gone
                self.remove(sub)

    def add(self, maxsize: int = 1000) -> Subscription:
        """Register a queue on the running loop."""
        sub = Subscription(asyncio.get_running_loop(), maxsize)
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
