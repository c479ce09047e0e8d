"""Open a Redis client and turn its failures into :class:`SharedStateError`.

A URL may name a single server or any node of a Redis Cluster: :func:`open_client` asks
the node (``INFO cluster``) and returns a ``redis.RedisCluster`` that discovers the others.
A ``redis-cluster://host:port`` URL (``rediss-cluster://`` with TLS) demands a cluster: a
node that does not answer, or a single server, is refused at once (a plain ``redis://``
URL would take a single server as one). On a cluster every key of one dispatch state
carries the prefix's hash tag (:func:`prefix_for`: ``kd`` becomes ``{kd}``), so a shard's
keys live in one slot, on one primary, and its Lua scripts (which build key names from
the prefix) stay on that node.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from kayou_dispatch.errors import InvalidParameterError, SharedStateError

__all__ = [
    "check_prefix",
    "is_cluster",
    "open_client",
    "prefix_for",
    "redis_errors",
    "wait_for_streams",
    "where",
]

_PREFIX = re.compile(r"^[A-Za-z0-9_:.{}-]{1,64}$")


# A cluster URL's scheme -> the scheme redis-py reads (the cluster is then required).
_CLUSTER_SCHEMES = {"redis-cluster://": "redis://", "rediss-cluster://": "rediss://"}


def open_client(url_or_client: Any) -> Any:
    """Return a ``redis.Redis`` (or ``redis.RedisCluster``) for a URL, or pass a client through.

    A ``redis://host:port`` URL of a cluster node gives a ``RedisCluster`` (the node is
    asked once; a node that does not answer gives a plain client, whose first command
    then fails as usual with :class:`SharedStateError`). A ``redis-cluster://host:port``
    URL must name a node of a working cluster.

    Raises
    ------
    InvalidParameterError
        When ``redis`` (the ``redis`` extra) is missing, the URL is not a Redis URL, or a
        ``redis-cluster://`` URL names a single server.
    SharedStateError
        When a cluster cannot be used (no ``redis-cluster://`` node answers, or the
        cluster is down).
    """
    try:
        import redis
        from redis.cluster import RedisCluster
    except ImportError as exc:  # pragma: no cover - the redis extra is installed for tests
        msg = "shared state needs the redis client: pip install 'kayou-dispatch[redis]'"
        raise InvalidParameterError(msg, name="redis", value=url_or_client) from exc
    if isinstance(url_or_client, redis.Redis | RedisCluster):
        return url_or_client
    if not isinstance(url_or_client, str) or not url_or_client.startswith(
        ("redis://", "rediss://", "unix://", *_CLUSTER_SCHEMES)
    ):
        msg = (
            "redis must be a redis:// URL (or rediss://, unix://, redis-cluster://) or a "
            f"redis.Redis client, got {url_or_client!r}"
        )
        raise InvalidParameterError(msg, name="redis", value=url_or_client)
    url, required = url_or_client, False
    for scheme, plain in _CLUSTER_SCHEMES.items():
        if url.startswith(scheme):
            url, required = plain + url.removeprefix(scheme), True
    options: dict[str, Any] = {"socket_timeout": 10.0, "socket_connect_timeout": 5.0}
    client = redis.Redis.from_url(url, health_check_interval=30, **options)
    if url.startswith("unix://"):
        return client
    shown = where(client)
    try:
        enabled = client.info("cluster").get("cluster_enabled") == 1
    except redis.ResponseError:
        enabled = required  # INFO refused (managed Redis): the cluster client will tell
    except redis.RedisError as exc:
        if not required:
            return client  # down: the first command will say so
        client.close()
        how = "refused us" if isinstance(exc, redis.AuthenticationError) else "cannot be reached"
        msg = f"the Redis Cluster node at {shown} {how}: {_one_line(exc)}"
        raise SharedStateError(msg, store=shown) from exc
    if not enabled:
        if not required:
            return client
        client.close()
        msg = (
            f"{shown} is a single Redis server, not a Redis Cluster node (cluster_enabled:0); "
            "give a cluster node's URL, or redis:// to use this server alone"
        )
        raise InvalidParameterError(msg, name="redis", value=shown)
    client.close()
    try:
        return RedisCluster.from_url(url, **options)
    except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
        msg = f"the Redis Cluster at {shown} cannot be used: {_one_line(exc)}"
        raise SharedStateError(msg, store=shown) from exc


def _one_line(exc: BaseException) -> str:
    """The error's message on one line (a start-up failure is one line of the log)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def is_cluster(client: Any) -> bool:
    """Whether ``client`` talks to a Redis Cluster."""
    from redis.cluster import RedisCluster

    return isinstance(client, RedisCluster)


def prefix_for(client: Any, prefix: Any) -> str:
    """Validate ``prefix``; on a cluster, give it a hash tag (``kd`` -> ``{kd}``) if it has none.

    >>> prefix_for(None, "kd")
    'kd'
    """
    prefix = check_prefix(prefix)
    if client is not None and is_cluster(client) and not re.search(r"\{[^}]+\}", prefix):
        prefix = check_prefix("{" + prefix + "}")
    return prefix


def check_prefix(prefix: Any) -> str:
    """Validate a key prefix (letters, digits, ``_:.-`` and a ``{hash tag}``)."""
    if not isinstance(prefix, str) or not _PREFIX.match(prefix):
        msg = f"prefix must be 1-64 characters of [A-Za-z0-9_:.{{}}-], got {prefix!r}"
        raise InvalidParameterError(msg, name="prefix", value=prefix)
    return prefix


def where(client: Any) -> str:
    """The client's server, for messages (never its password): a cluster by its first node."""
    if is_cluster(client):
        node = client.get_default_node()
        return f"redis://{node.host}:{node.port}/0"
    kw = client.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix://{kw['path']}"
    return f"redis://{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"


@contextlib.contextmanager
def redis_errors(client: Any, doing: str) -> Iterator[None]:
    """Re-raise the client's connection and server errors as :class:`SharedStateError`."""
    import redis as _redis

    try:
        yield
    except (_redis.RedisError, _redis.exceptions.RedisClusterException) as exc:
        store = where(client)
        msg = f"shared state {store} failed while {doing}: {exc}"
        raise SharedStateError(msg, store=store) from exc


def wait_for_streams(client: Any, cursors: dict[str, str], timeout_s: float) -> bool:
    """Block until any stream has entries after its cursor (or ``timeout_s``); say if one has."""
    ms = max(1, int(timeout_s * 1000))
    streams: Any = {key: last or "0-0" for key, last in cursors.items()}
    with redis_errors(client, "waiting on the shared streams"):
        return bool(client.xread(streams, count=1, block=ms))
