"""Close connections that hold a slot without sending a request: header/body timeouts, a cap.

uvicorn times out only idle keep-alive connections: a client that opens a connection and
never finishes its request head (slowloris), or drips its body a byte at a time, holds a
file descriptor for ever, and a thousand of them lock every client out. :func:`guarded`
wraps uvicorn's HTTP protocol with a watchdog per connection:

- **head**: from the connection's start (or the previous response's end) to a complete
  request head, at most ``header_timeout_s`` -- an idle keep-alive connection is closed
  too, by uvicorn's shorter keep-alive timeout first;
- **body**: from the head to the last byte of the body, at most ``body_timeout_s``;
- the app's own time (ranking, waiting on Redis) and WebSockets are not limited here;
- beyond ``max_connections`` open connections, the one that has waited longest for a
  request head is closed to make room (a slowloris client, or an idle keep-alive one), so
  new clients still get in while attackers hold the cap; when every connection is busy
  with a request, the new one is closed instead. The descriptors beyond the cap stay
  available for the server itself.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

__all__ = ["guarded"]


class _Notices:
    """Count closes and say so at most every ``every_s`` (an attack must not flood the log)."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self.counts: dict[str, int] = {}
        self.last = -float("inf")

    def add(self, logger: Any, why: str) -> None:
        self.counts[why] = self.counts.get(why, 0) + 1
        now = time.monotonic()
        if now - self.last >= self.every_s:
            said = ", ".join(f"{n} x {w}" for w, n in sorted(self.counts.items()))
            logger.warning("closed connections since the last notice: %s", said)
            self.counts, self.last = {}, now


def guarded(
    base: type[asyncio.Protocol],
    *,
    header_timeout_s: float,
    body_timeout_s: float,
    max_connections: int,
    tick_s: float | None = None,
) -> type[asyncio.Protocol]:
    """Return a subclass of uvicorn's HTTP protocol ``base`` enforcing the limits above.

    ``tick_s`` is how often each connection's watchdog looks (default: a quarter of the
    shorter timeout, at most 1 s), so a limit is enforced within one tick of it.
    """
    tick = tick_s if tick_s is not None else min(1.0, header_timeout_s / 4, body_timeout_s / 4)
    proto: Any = base
    notices = _Notices()

    class Guarded(proto):
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            self._phase: tuple[str, int] = ("head", id(None))
            self._since = time.monotonic()
            self._watch: asyncio.TimerHandle | None = None
            if len(self.connections) > max_connections and not self._make_room():
                notices.add(self.logger, f"over {max_connections} connections, all busy")
                transport.close()
                return
            self._watch = self.loop.call_later(tick, self._look)

        def _waiting_since(self) -> float | None:
            """When this connection began waiting for a request head (``None``: it is not)."""
            cycle = getattr(self, "cycle", None)
            if getattr(self, "_watch", None) is None or self.transport.is_closing():
                return None
            if cycle is None or cycle.response_complete:
                return float(self._since)
            return None

        def _make_room(self) -> bool:
            """Close the connection that has waited longest for a request head, if any."""
            waiting = [
                (since, c)
                for c in self.connections
                if c is not self and (since := getattr(c, "_waiting_since", lambda: None)())
                is not None
            ]
            if not waiting:
                return False
            _, oldest = min(waiting, key=lambda w: w[0])
            notices.add(self.logger, f"over {max_connections} connections: the longest waiting")
            oldest.transport.close()
            return True

        def connection_lost(self, exc: Exception | None) -> None:
            watch = getattr(self, "_watch", None)
            if watch is not None:
                watch.cancel()
            super().connection_lost(exc)

        def _look(self) -> None:
            self._watch = None
            transport = self.transport
            if transport.is_closing() or transport.get_protocol() is not self:
                return  # closed, or handed over to a WebSocket protocol
            cycle = self.cycle
            if cycle is None or cycle.response_complete:
                phase, limit = "head", header_timeout_s
            elif cycle.more_body:
                phase, limit = "body", body_timeout_s
            else:
                phase, limit = "app", float("inf")
            key = (phase, id(cycle))
            now = time.monotonic()
            if key != self._phase:
                self._phase, self._since = key, now
            elif now - self._since > limit:
                notices.add(self.logger, f"request {phase} not received in {limit:g} s")
                transport.close()
                return
            self._watch = self.loop.call_later(tick, self._look)

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded
