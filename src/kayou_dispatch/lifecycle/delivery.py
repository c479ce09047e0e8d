"""Deliver lifecycle events to subscribers: in order, after the command, outside the lock.

Commands queue the events their records stand for (:meth:`EventDelivery.push`) while
holding the dispatcher's lock; once the command is journaled and the lock released,
:meth:`EventDelivery.deliver` hands them to every subscriber in the order they happened,
from whichever thread gets there first (a callback may call the dispatcher again).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from kayou_dispatch.errors import InvalidParameterError
from kayou_dispatch.lifecycle.records import Event

__all__ = ["EventDelivery"]

_log = logging.getLogger(__name__)


class EventDelivery:
    """The queue of events not yet delivered, and the subscribers they go to.

    Parameters
    ----------
    lock
        The dispatcher's lock: events are queued under it, so they are taken under it too.
    """

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self._pending: deque[Event] = deque()
        self._subscribers: list[Callable[[Event], Any]] = []
        self._deliver_lock = threading.Lock()

    def subscribe(self, callback: Callable[[Event], Any]) -> Callable[[], None]:
        """Call ``callback(event)`` for every future event; return a function that stops it.

        An exception in a callback is logged and does not stop delivery.
        """
        if not callable(callback):
            msg = f"callback must be callable, got {callback!r}"
            raise InvalidParameterError(msg, name="callback", value=callback)
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe

    def queue(self) -> queue.SimpleQueue[Event]:
        """Return a queue that receives every future event (for a consumer thread)."""
        q: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.subscribe(q.put)
        return q

    def push(self, event: Event) -> None:
        """Queue an event (under the dispatcher's lock)."""
        self._pending.append(event)

    def mark(self) -> int:
        """A position in the queue, for :meth:`since` and :meth:`drop_since`."""
        return len(self._pending)

    def since(self, mark: int) -> list[Event]:
        """The events queued after ``mark`` (not delivered yet)."""
        return list(self._pending)[mark:]

    def stamp_since(self, mark: int, txn: int) -> None:
        """Give the events queued after ``mark`` their place in the log: ``seq=(txn, i)``."""
        for i in range(mark, len(self._pending)):
            self._pending[i] = replace(self._pending[i], seq=(txn, i - mark))

    def drop_since(self, mark: int) -> None:
        """Drop the events queued after ``mark`` (their command was not acknowledged)."""
        while len(self._pending) > mark:
            self._pending.pop()

    def deliver(self) -> None:
        """Deliver queued events, in order, unless another thread is delivering them."""
        while True:
            if not self._deliver_lock.acquire(blocking=False):
                return  # another thread is delivering and will see our events
            try:
                while True:
                    with self._lock:
                        if not self._pending:
                            break
                        event = self._pending.popleft()
                        subscribers = list(self._subscribers)
                    for callback in subscribers:
                        try:
                            callback(event)
                        except Exception:
                            _log.exception("event subscriber %r failed on %r", callback, event)
            finally:
                self._deliver_lock.release()
            with self._lock:
                if not self._pending:
                    return
