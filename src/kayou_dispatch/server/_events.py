"""Fan the engine's lifecycle events out to WebSocket clients on the asyncio loop.

The engine calls subscribers from whichever thread ran the command; :class:`EventHub`
hands each event to every connection's loop with ``call_soon_threadsafe``, so a client's
queue is only ever touched by its own loop. Dispatchers' connections also get the fleet's
position changes (:meth:`EventHub.publish`, fed by :func:`feed_positions`).

Resuming: the hub keeps the last ``history`` lifecycle events. A client that reconnects
with the ``event_id`` it saw last (``/v1/events?since=``) is first sent the events after
it, then the live ones, without a gap or a repeat: the hub takes the backlog and
registers the new queue under one lock, the same lock every event is queued under.
Event ids are the command log's (:attr:`kayou_dispatch.lifecycle.Event.seq`): every
process following one log numbers an event alike, so a cursor from one shard resumes on
another. A cursor the hub cannot serve -- older than what it keeps (or than its start),
or ahead of the log -- is refused (:meth:`EventHub.add` returns ``None``).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from kayou_dispatch.lifecycle import Event
from kayou_dispatch.spatial.index import Snapshot

__all__ = ["EventHub", "feed_positions", "position_changes", "Subscription"]


#: Events a hub keeps for clients that resume (``?since=``).
HISTORY = 10_000
_EVERY = sys.maxsize  # a seq's rank meaning "every event of that transaction"


class Subscription:
    """One client's queue of events; ``overflowed`` once it fell ``maxsize`` behind.

    ``after`` is the cursor it resumed from: events at or before it are not for it.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        maxsize: int,
        dispatcher: bool,
        after: tuple[int, int] | None = None,
    ) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Event | dict[str, Any] | None] = asyncio.Queue(maxsize)
        self.overflowed = False
        self.dispatcher = dispatcher
        self.after = after
        self.backlog: list[Event] = []

    def wants(self, event: Event) -> bool:
        """Whether a lifecycle event comes after the cursor this client resumed from."""
        return self.after is None or event.seq is None or event.seq > self.after

    def _put(self, event: Event | dict[str, Any] | None) -> None:  # runs on self.loop
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A client this far behind is cut off rather than slowing everyone down.
            self.overflowed = True


class EventHub:
    """Subscribe once to an engine and forward its events to many subscriptions.

    Parameters
    ----------
    subscribe
        The engine's :meth:`~kayou_dispatch.DispatchEngine.subscribe`.
    history
        How many lifecycle events to keep for clients that resume.
    known_txn
        A callable giving the log's transaction the engine last applied: read once after
        subscribing (nothing up to it is kept), then to refuse cursors ahead of the log.
    """

    def __init__(
        self,
        subscribe: Callable[[Callable[[Event], None]], Callable[[], None]],
        *,
        history: int = HISTORY,
        known_txn: Callable[[], int] | None = None,
    ) -> None:
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._recent: deque[Event] = deque()
        self._history = int(history)
        self._known_txn = known_txn
        self._unsubscribe = subscribe(self._on_event)
        # Events of transactions up to this one may be missing here (before the start).
        self._floor = (known_txn() if known_txn is not None else 0, _EVERY)

    def _on_event(self, event: Event) -> None:
        with self._lock:
            if event.seq is not None:
                self._recent.append(event)
                if len(self._recent) > self._history:
                    gone = self._recent.popleft()
                    assert gone.seq is not None
                    self._floor = max(self._floor, gone.seq)
            subs = list(self._subs)
        self._hand(event, subs)

    def resumable(self, since: tuple[int, int]) -> bool:
        """Whether every lifecycle event after ``since`` is still here (or still to come)."""
        ahead = self._known_txn is not None and since[0] > self._known_txn()
        with self._lock:
            return since >= self._floor and not ahead

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
        self._hand(item, subs)

    def _hand(self, item: Event | dict[str, Any], subs: list[Subscription]) -> None:
        for sub in subs:
            try:
                sub.loop.call_soon_threadsafe(sub._put, item)
            except RuntimeError:  # that loop is closed: the client is gone
                self.remove(sub)

    def add(
        self,
        maxsize: int = 1000,
        *,
        dispatcher: bool = False,
        since: tuple[int, int] | None = None,
    ) -> Subscription | None:
        """Register a queue on the running loop (a ``dispatcher``'s also gets :meth:`publish`).

        With ``since``, the subscription's ``backlog`` holds the kept events after it (to
        send before its queue), and its queue gets only later ones; ``None`` when the
        hub cannot resume from ``since`` (see :meth:`resumable`).
        """
        sub = Subscription(asyncio.get_running_loop(), maxsize, dispatcher, since)
        if since is not None and not self.resumable(since):
            return None
        with self._lock:
            if since is not None:
                if since < self._floor:  # evicted meanwhile
                    return None
                sub.backlog = [e for e in self._recent if e.seq is not None and e.seq > since]
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
