"""A real Redis Cluster for the tests: 3 masters + 3 replicas of the embedded Valkey, on free
loopback ports under pytest's tmp dirs, plus `ult serve` processes pointed at it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from ult.cluster import EmbeddedCluster
from ult.connection import connect
from ult.embedded import free_port
from ult.launcher import stop_process, wait_http


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    """One cluster for the session (the failover test kills a master: it runs last)."""
    with EmbeddedCluster(tmp_path_factory.mktemp("cluster")) as c:
        yield c


@pytest.fixture
def rcl(cluster: EmbeddedCluster) -> Iterator[RedisCluster]:
    """A cluster client on flushed masters."""
    client = connect(url=cluster.url)
    assert isinstance(client, RedisCluster)
    client.flushall(target_nodes=RedisCluster.PRIMARIES)
    yield client
    client.close()


# every test client shares 127.0.0.1 and the failover load starts a card per scan
PER_ADDRESS_LIMITS_OFF = {
    "ULT_NEW_CARDS_PER_MINUTE": "0",
    "ULT_CONNECTIONS_PER_ADDRESS": "0",
    "ULT_KEY_GUESSES_PER_MINUTE": "0",
}


@contextmanager
def running_service(url: str, var_dir: Path, **env: str) -> Iterator[str]:
    """A real `ult serve` on a free port, pointed at ``url``; yields its base URL."""
    from conftest import service_env

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ult", "serve", "--port", str(port)],
        env=service_env(url, var_dir, **(PER_ADDRESS_LIMITS_OFF | {"ULT_PUBLIC_URL": base} | env)),
    )
    try:
        assert wait_http(f"{base}/healthz", timeout=30, proc=proc), "scan service did not start"
        yield base
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def cluster_services(
    cluster: EmbeddedCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Two service processes on the cluster (separate ports: a client picks its process).
    No per-connection rate limit: the failover test's phones scan as fast as they can."""
    with (
        running_service(cluster.url, tmp_path_factory.mktemp("var"), ULT_EVENT_RATE="0") as one,
        running_service(cluster.url, tmp_path_factory.mktemp("var"), ULT_EVENT_RATE="0") as two,
    ):
        yield one, two
