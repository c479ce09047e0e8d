"""One fixture for the shared command logs: each contract test runs on Redis and PostgreSQL."""

import pytest


class RedisLogs:
    """Fresh :class:`RedisLog` objects on the session's redis-server."""

    kind = "redis"

    def __init__(self, url):
        self.url = url

    def reset(self):
        import redis

        with redis.Redis.from_url(self.url) as client:
            client.flushall()

    def new(self, **kw):
        from kayou_dispatch.shared import RedisLog

        return RedisLog(self.url, **kw)

    def raw_count(self):
        """Commands in the store itself (not through the log object)."""
        import redis

        with redis.Redis.from_url(self.url) as client:
            return client.xlen("kd:log")


class RedisClusterLogs(RedisLogs):
    """Fresh :class:`RedisLog` objects on the session's 3-node Redis Cluster (any node's URL)."""

    kind = "redis-cluster"

    def __init__(self, cluster):
        self.cluster = cluster
        self.url = cluster.urls[1]  # not the first node: the client discovers the rest

    def reset(self):
        self.cluster.flush()

    def raw_count(self):
        from redis.cluster import RedisCluster

        with RedisCluster.from_url(self.url) as client:
            return client.xlen("{kd}:log")  # the prefix's hash tag: one slot


class PostgresLogs:
    """Fresh :class:`PostgresLog` objects on the session's PostgreSQL."""

    kind = "postgresql"

    def __init__(self, url):
        self.url = url

    def reset(self):
        from tests.conftest import drop_kayou_tables

        drop_kayou_tables(self.url)

    def new(self, **kw):
        from kayou_dispatch.shared import PostgresLog

        return PostgresLog(self.url, **kw)

    def raw_count(self):
        import psycopg

        with psycopg.connect(self.url) as conn:
            return conn.execute("SELECT count(*) FROM kayou_commands").fetchone()[0]


@pytest.fixture(
    params=[
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis),
        pytest.param("postgresql", marks=pytest.mark.postgresql),
    ]
)
def shared_logs(request):
    """Shared logs on a real server, emptied first: Redis, a Redis Cluster, PostgreSQL."""
    if request.param == "redis":
        pytest.importorskip("redis")
        logs = RedisLogs(request.getfixturevalue("redis_server").url)
    elif request.param == "redis-cluster":
        pytest.importorskip("redis")
        logs = RedisClusterLogs(request.getfixturevalue("redis_cluster"))
    else:
        pytest.importorskip("psycopg")
        logs = PostgresLogs(request.getfixturevalue("postgres_server").url)
    logs.reset()
    return logs
