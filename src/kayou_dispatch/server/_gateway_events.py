"""``/v1/events`` through the gateway: one stream merged from the shards' streams.

What each shard streams, and so how the streams merge:

- **Lifecycle events.** Every shard follows the one national lifecycle log, so every
  shard's stream already holds every incident's events, in log order, each with the
  ``event_id`` the log gives it (the same on every shard). The gateway forwards one
  shard's lifecycle stream -- the first shard of the map that answers, the *leader* --
  and drops any event at or before the last ``event_id`` it forwarded. When the leader
  goes away, the next shard is asked for the events after that id (``?since=``): the
  client sees each event once, in log order, across a shard's death. A client resumes
  through the gateway exactly as on one server (``?since=`` or ``Last-Event-ID``); when
  no shard can resume from its cursor, the socket closes with 4410 as a server's does.
- **Position changes** (dispatchers only). Each shard knows the responders of its reach,
  its own cells and a margin around them. The gateway listens to every shard and keeps
  from each only the responders whose fix lies in that shard's own cells (as
  ``GET /v1/responders`` does), so a responder near a border appears once; a removal is
  forwarded only from the shard that last reported the responder. Each such message
  carries the ``shard`` it came from.

A dispatcher's socket holds one connection to every shard plus the leader's; a
responder's holds the leader's only (it is never sent positions).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from typing import Any, get_args

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from kayou_dispatch.server._auth import (
    DuplicateAuthorizationError,
    Principal,
    authorization_of,
    principal_for,
)
from kayou_dispatch.server._crs import CrsName, to_wgs84
from kayou_dispatch.server._models import parse_event_id
from kayou_dispatch.shared.shards import Shard, ShardMap

__all__ = ["EventsRelay"]

#: Close code of a cursor nobody can resume from (as ``serve`` uses).
GONE = 4410
#: How long the gateway keeps trying shards after all of them went away.
GIVE_UP_S = 30.0
_CRS_NAMES: tuple[str, ...] = get_args(CrsName)
_MAX_MESSAGE = 64 * 2**20  # a whole fleet's first positions message


def _ws_url(shard: Shard) -> str:
    base = shard.url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/v1/events"
    return "ws://" + base.removeprefix("http://") + "/v1/events"


class _Stream:
    """One client's merged stream: the leader's lifecycle events, every shard's positions."""

    def __init__(
        self,
        relay: EventsRelay,
        websocket: WebSocket,
        who: Principal,
        *,
        crs: str,
        since: tuple[int, int] | None,
    ) -> None:
        self.relay = relay
        self.ws = websocket
        self.who = who
        self.crs = crs
        self.last = since
        self.owner: dict[str, str] = {}  # responder -> shard that last reported it
        self.out: asyncio.Queue[str | None] = asyncio.Queue(relay.queue_size)
        self.closing: tuple[int, str] | None = None

    # --- connections to shards ---------------------------------------------------------

    def _params(self, since: tuple[int, int] | None) -> dict[str, str]:
        params = {"crs": self.crs}
        token = self.ws.query_params.get("token")
        if token:
            params["token"] = token
        if since is not None:
            params["since"] = f"{since[0]}-{since[1]}"
        return params

    def _connect(self, shard: Shard, since: tuple[int, int] | None) -> Any:
        from websockets.asyncio.client import connect

        headers = {}
        auth = self.ws.headers.get("authorization")
        if auth:
            headers["Authorization"] = auth
        query = "&".join(f"{k}={v}" for k, v in self._params(since).items())
        return connect(
            f"{_ws_url(shard)}?{query}",
            additional_headers=headers,
            open_timeout=self.relay.timeout_s,
            max_size=_MAX_MESSAGE,
            proxy=None,
        )

    def _emit(self, text: str) -> None:
        try:
            self.out.put_nowait(text)
        except asyncio.QueueFull:  # a client this far behind is cut off, as on a server
            self.close_with(1013, "too far behind; reconnect")

    def close_with(self, code: int, reason: str) -> None:
        if self.closing is None:
            self.closing = (code, reason)
            with contextlib.suppress(asyncio.QueueFull):
                self.out.put_nowait(None)

    async def leader(self) -> None:
        """Forward lifecycle events from the first shard that answers; fail over in order."""
        from websockets.exceptions import ConnectionClosed

        shards = self.relay.map.shards
        n = len(shards)
        i = 0
        gone: set[int] = set()  # shards that cannot resume from self.last
        ever = False
        down_since: float | None = None
        loop = asyncio.get_running_loop()
        while True:
            conn = None
            for k in range(n):
                j = (i + k) % n
                if j in gone:
                    continue
                try:
                    conn = await self._connect(shards[j], self.last)
                except Exception:  # refused, timed out, closed before the handshake
                    continue
                i = j
                break
            if conn is None:
                # Every shard that answers cannot resume (one that is down could not
                # either once back: a restarted shard keeps only what came after it).
                if gone:
                    self.close_with(GONE, "no shard can resume from since; reload, reconnect")
                    return
                if not ever:
                    self.close_with(1013, "no shard answers; retry")
                    return
                down_since = down_since or loop.time()
                if loop.time() - down_since > GIVE_UP_S:
                    self.close_with(1013, "no shard answers; reconnect with since")
                    return
                await asyncio.sleep(0.5)
                continue
            ever, down_since = True, None
            before = self.last
            code: int | None
            try:
                async for raw in conn:
                    self._lifecycle(raw)
                code = conn.close_code
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
            finally:
                with contextlib.suppress(Exception):
                    await conn.close()
            if self.last != before:
                gone.clear()
            if code == GONE:
                gone.add(i)
            if code != 1013:  # 1013: it cut us off (too far behind); resume there
                i = (i + 1) % n  # that shard went away: the next one takes over

    def _lifecycle(self, raw: str | bytes) -> None:
        text = raw.decode() if isinstance(raw, bytes) else raw
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("kind") == "positions":
            return
        seq = parse_event_id(str(message.get("event_id", "")))
        if seq is not None:
            if self.last is not None and seq <= self.last:
                return  # already forwarded (from this shard or the previous leader)
            self.last = seq
        self._emit(text)

    async def positions(self, shard: Shard) -> None:
        """Forward one shard's position changes for the responders in its own cells."""
        from websockets.exceptions import ConnectionClosed

        while self.closing is None:
            try:
                async with self._connect(shard, None) as conn:
                    async for raw in conn:
                        self._positions(shard, raw)
            except (OSError, TimeoutError, ConnectionClosed, Exception):
                pass
            # The shard went away: what it last reported stays until another says more.
            await asyncio.sleep(0.5)

    def _positions(self, shard: Shard, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("kind") != "positions":
            return
        rows = []
        for row in message.get("responders", ()):
            point = self._wgs84(row.get("lat"), row.get("lng"))
            owner = None if point is None else self.relay.map.owner(*point)
            if owner is not None and owner.name == shard.name:
                self.owner[row["responder_id"]] = shard.name
                rows.append(row)
        removed = []
        for rid in message.get("removed", ()):
            if self.owner.get(rid) == shard.name:
                del self.owner[rid]
                removed.append(rid)
        if rows or removed:
            out = {"kind": "positions", "shard": shard.name, "responders": rows}
            out["removed"] = removed
            self._emit(json.dumps(out))

    def _wgs84(self, lat: Any, lng: Any) -> tuple[float, float] | None:
        if not all(isinstance(v, int | float) for v in (lat, lng)):
            return None
        try:
            return to_wgs84(float(lat), float(lng), self.crs)  # type: ignore[arg-type]
        except Exception:
            return None

    # --- the client's side -------------------------------------------------------------

    async def run(self) -> None:
        await self.ws.accept()
        tasks = [asyncio.create_task(self.leader())]
        if self.who.is_dispatcher:
            tasks += [asyncio.create_task(self.positions(s)) for s in self.relay.map.shards]

        async def drain() -> None:
            while (await self.ws.receive())["type"] != "websocket.disconnect":
                pass

        reader = asyncio.create_task(drain())
        try:
            while True:
                getter = asyncio.ensure_future(self.out.get())
                done, _ = await asyncio.wait({getter, reader}, return_when="FIRST_COMPLETED")
                if reader in done:
                    getter.cancel()
                    return
                text = getter.result()
                if text is None:
                    code, reason = self.closing or (1000, "")
                    await self.ws.close(code=code, reason=reason)
                    return
                await self.ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            reader.cancel()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if self.ws.client_state == WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):
                    await self.ws.close(code=1001)


class EventsRelay:
    """The gateway's ``/v1/events`` endpoint (:meth:`handle`, a WebSocket route).

    Parameters
    ----------
    shard_map
        The shards, in the order a leader is chosen.
    tokens
        The token file's principals (checked here, as the shards check them).
    timeout_s
        How long a shard may take to open a connection.
    queue_size
        Messages a client may fall behind before it is cut off (close code 1013).
    """

    def __init__(
        self,
        shard_map: ShardMap,
        tokens: Mapping[str, Principal],
        *,
        timeout_s: float,
        queue_size: int = 1000,
    ) -> None:
        self.map = shard_map
        self.tokens = tokens
        self.timeout_s = timeout_s
        self.queue_size = queue_size

    async def handle(self, websocket: WebSocket) -> None:
        """Serve one client's socket: check its token, crs and cursor, then stream."""
        try:
            auth = authorization_of(websocket.scope.get("headers", []))
        except DuplicateAuthorizationError as exc:
            await websocket.close(code=4400, reason=str(exc))
            return
        who = principal_for(self.tokens, auth, websocket.query_params.get("token", ""))
        if who is None:
            await websocket.close(code=4401, reason="missing or unknown token")
            return
        if who.is_requester:  # as a shard answers: the stream is not a requester's
            reason = "a requester token follows its incident with GET /v1/incidents/{id}"
            await websocket.close(code=4403, reason=reason)
            return
        crs = websocket.query_params.get("crs", "wgs84")
        if crs not in _CRS_NAMES:
            reason = f"unknown crs {crs!r}; allowed: {', '.join(_CRS_NAMES)}"
            await websocket.close(code=4422, reason=reason)
            return
        since_text = websocket.query_params.get("since") or websocket.headers.get("last-event-id")
        since = None
        if since_text:
            since = parse_event_id(since_text)
            if since is None:
                reason = f"since must be an event_id such as '12-0', got {since_text[:40]!r}"
                await websocket.accept()
                await websocket.close(code=4422, reason=reason)
                return
        await _Stream(self, websocket, who, crs=crs, since=since).run()
