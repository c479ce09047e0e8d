"""Open a Redis client and turn its failures into :class:`SharedStateError`."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from kayou_dispatch.errors import InvalidParameterError, SharedStateError

if TYPE_CHECKING:
    import redis

__all__ = [
    "check_prefix",
    "open_client",
    "redis_errors",
    "wait_for_streams",
    "where",
]

_PREFIX = re.compile(r"^[A-Za-z0-9_:.{}-]{1,64}$")


def open_client(url_or_client: Any) -> redis.Redis:
    """Return a ``redis.Redis`` for a URL (``redis://host:port/db``) or pass a client through.

    Raises
    ------
    InvalidParameterError
        When ``redis`` (the ``redis`` extra) is missing or the URL is not a Redis URL.
    """
    try:
        import redis
    except ImportError as exc:  # pragma: no cover - the redis extra is installed for tests
        msg = "shared state needs the redis client: pip install 'kayou-dispatch[redis]'"
        raise InvalidParameterError(msg, name="redis", value=url_or_client) from exc
    if isinstance(url_or_client, redis.Redis):
        return url_or_client
    if not isinstance(url_or_client, str) or not url_or_client.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        msg = f"redis must be a redis:// URL or a redis.Redis client, got {url_or_client!r}"
        raise InvalidParameterError(msg, name="redis", value=url_or_client)
    return redis.Redis.from_url(
        url_or_client, socket_timeout=10.0, socket_connect_timeout=5.0, health_check_interval=30
    )


def check_prefix(prefix: Any) -> str:
    """Validate a key prefix (letters, digits, ``_:.-`` and a ``{hash tag}``)."""
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        msg = f"prefix must be 1-64 characters of [A-Za-z0-9_:.{{}}-], got {prefix!r}"
        raise InvalidParameterError(msg, name="prefix", value=prefix)
    return prefix


def where(client: redis.Redis) -> str:
    """The client's server, for messages (never its password)."""
    kw = client.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix://{kw['path']}"
    return f"redis://{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"


@contextlib.contextmanager
def redis_errors(client: redis.Redis, doing: str) -> Iterator[None]:
    """Re-raise the client's connection and server errors as :class:`SharedStateError`."""
    import redis as _redis

    try:
        yield
    except _redis.RedisError as exc:
        store = where(client)
        msg = f"shared state {store} failed while {doing}: {exc}"
        raise SharedStateError(msg, store=store) from exc


def wait_for_streams(client: redis.Redis, cursors: dict[str, str], timeout_s: float) -> bool:
    """Block until any stream has entries after its cursor (or ``timeout_s``); say if one has."""
    ms = max(1, int(timeout_s * 1000))
    streams: Any = {key: last or "0-0" for key, last in cursors.items()}
    with redis_errors(client, "waiting on the shared streams"):
        return bool(client.xread(streams, count=1, block=ms))
