import os

import pytest
from hypothesis import settings

# CI must not be flaky: there every run explores the same examples (derandomized, no example
# database). Local runs keep exploring new examples each time.
# No deadline: a loaded 2-core machine can take any example over Hypothesis's 200 ms, and a
# timing failure is not a property failing (CI runs the same examples each time).
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, deadline=None)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """One real redis-server for the session (AOF on, fsync always)."""
    pytest.importorskip("redis")
    from tests.processes import RedisServer

    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server):
    """The session's Redis, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory):
    """One real 3-node Redis Cluster for the session (hash slots over three primaries)."""
    pytest.importorskip("redis")
    from tests.processes import RedisClusterServers

    cluster = RedisClusterServers(tmp_path_factory.mktemp("redis-cluster")).start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL cluster for the session (initdb in a temporary folder)."""
    pytest.importorskip("psycopg")
    from tests.processes import PostgresServer

    server = PostgresServer().start()
    yield server
    server.remove()


@pytest.fixture
def postgres_url(postgres_server):
    """The session's PostgreSQL, emptied for this test (the kayou tables dropped)."""
    drop_kayou_tables(postgres_server.url)
    return postgres_server.url


def drop_kayou_tables(url):
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS kayou_logs, kayou_commands, kayou_archive")


REQUIRE_SERVICES = bool(os.environ.get("KAYOU_REQUIRE_SERVICES"))


def _no_skips(report):
    """Under KAYOU_REQUIRE_SERVICES (CI) a skip is a failure: nothing may pass by not running."""
    if REQUIRE_SERVICES and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under KAYOU_REQUIRE_SERVICES: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _no_skips(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _no_skips(outcome.get_result())
