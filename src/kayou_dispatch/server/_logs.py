"""Logs of a running server: plain text or JSON lines, and an access log of every request.

:func:`configure_logging` sends the records of ``kayou_dispatch`` and uvicorn to standard
error, one per line, as text for a terminal or JSON objects for a log collector (Loki,
Elasticsearch, journald's ``--output=json`` pipelines). :class:`AccessLog` is the ASGI
middleware that writes one ``kayou_dispatch.access`` record per HTTP request, with the
method, the path (never the query string: the console passes its token there), the route
template, the status and the time taken; it also feeds the request metrics.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from datetime import UTC, datetime
from typing import Any, Literal

__all__ = [
    "ACCESS_LOGGER",
    "AccessLog",
    "announced_server",
    "configure_logging",
    "JsonLinesFormatter",
    "LOG_FORMATS",
    "route_of",
]

#: Name of the logger that gets one record per HTTP request.
ACCESS_LOGGER = "kayou_dispatch.access"

#: Formats :func:`configure_logging` knows.
LOG_FORMATS = ("text", "json")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: Called once per finished HTTP request: ``(method, route, status, duration_s)``.
RequestHook = Callable[[str, str, int, float], None]

# Attributes every LogRecord has; anything else on a record was passed as ``extra=``.
_STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLinesFormatter(logging.Formatter):
    """Format a record as one JSON object: ``ts``, ``level``, ``logger``, ``message``, extras.

    >>> rec = logging.makeLogRecord({"msg": "hi %s", "args": ("there",), "levelname": "INFO",
    ...                              "name": "x", "created": 0.0, "status": 200})
    >>> json.loads(JsonLinesFormatter().format(rec))  # doctest: +NORMALIZE_WHITESPACE
    {'ts': '1970-01-01T00:00:00.000Z', 'level': 'info', 'logger': 'x',
     'message': 'hi there', 'status': 200}
    """

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, tz=UTC)
        out: dict[str, Any] = {
            "ts": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key != "color_message":
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(
    *, log_format: Literal["text", "json"] = "text", access_log: bool = False
) -> None:
    """Send the server's logs to standard error, as text lines or JSON lines.

    Parameters
    ----------
    log_format
        ``"text"`` (for people) or ``"json"`` (one JSON object a line, for collectors).
    access_log
        Also log every HTTP request (logger ``kayou_dispatch.access``, level INFO).
    """
    if log_format not in LOG_FORMATS:
        msg = f"log_format must be one of {LOG_FORMATS}, got {log_format!r}"
        raise ValueError(msg)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
    for name in ("kayou_dispatch", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False
    logging.getLogger("uvicorn.access").disabled = True  # ours says more (route, time)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log else logging.WARNING)


def announced_server(base: type[Any]) -> type[Any]:
    """Return a subclass of ``uvicorn.Server`` that says where it listens and when it stops.

    Once the sockets are bound it logs ``listening on http://HOST:PORT`` (the real port,
    also with ``--port 0``; field ``url``); on a stop signal it logs how many connections
    are still open. uvicorn itself then closes the listening sockets, lets the requests in
    flight finish (at most ``timeout_graceful_shutdown``), and only then runs the app's
    shutdown, so every command it acknowledged has been applied before the engine closes.
    Unlike plain uvicorn it does not die of the signal afterwards: ``run()`` returns, so
    the caller closes the engine (its journal) and exits 0.
    """
    logger = logging.getLogger("kayou_dispatch.serve")

    class Announced(base):
        async def startup(self, sockets: Any = None) -> None:
            await super().startup(sockets=sockets)
            for server in getattr(self, "servers", []):
                for sock in server.sockets or ():
                    host, port = sock.getsockname()[:2]
                    shown = f"[{host}]" if ":" in host else host
                    url = f"http://{shown}:{port}"
                    logger.info("listening on %s", url, extra={"url": url, "port": port})

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()  # else uvicorn re-raises it: no cleanup

        async def shutdown(self, sockets: Any = None) -> None:
            n = len(self.server_state.connections)
            logger.info(
                "stopping: no new connections; letting %d open connection(s) finish", n,
                extra={"open_connections": n},
            )
            await super().shutdown(sockets=sockets)

    Announced.__name__ = Announced.__qualname__ = "AnnouncedServer"
    return Announced


def route_of(scope: Scope) -> str:
    """The route template that answered (``/v1/incidents/{incident_id}``), else ``"other"``."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    label = scope.get("kayou.route")  # answered before routing (the position fast path)
    return label if isinstance(label, str) else "other"


class AccessLog:
    """ASGI middleware: time each HTTP request; log it and pass it to ``hooks``."""

    def __init__(self, app: ASGIApp, *, log: bool, hooks: tuple[RequestHook, ...] = ()) -> None:
        self.app = app
        self.log = log
        self.hooks = hooks
        self.logger = logging.getLogger(ACCESS_LOGGER)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (not self.log and not self.hooks):
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500  # what the client sees if the app fails before answering

        async def send_status(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            duration_s = time.perf_counter() - t0
            method = str(scope.get("method", ""))
            route = route_of(scope)
            for hook in self.hooks:
                hook(method, route, status, duration_s)
            if self.log and self.logger.isEnabledFor(logging.INFO):
                client = scope.get("client") or ("-", 0)
                path = str(scope.get("path", ""))
                self.logger.info(
                    '%s "%s %s" %d %.1f ms',
                    client[0],
                    method,
                    path,
                    status,
                    duration_s * 1000,
                    extra={
                        "client": client[0],
                        "method": method,
                        "path": path,
                        "route": route,
                        "status": status,
                        "duration_ms": round(duration_s * 1000, 3),
                    },
                )
