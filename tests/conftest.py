"""Shared fixtures: a real embedded Valkey (and cluster), a real scan service, dashboards,
real Chromium. The helpers they use are in tests/support/.

Everything binds to 127.0.0.1 on free ports and lives under pytest's tmp dirs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import redis
import redis.asyncio
import socketio
from redis.cluster import RedisCluster
from support.apns_stub import ApnsStub
from support.service import running_service
from support.wait import wait_until
from support.wallet_certs import WalletCerts, WalletService, make_certs

from ult import run
from ult.bench.chromium import CHROMIUM, CHROMIUM_ARGS
from ult.bench.embedded_cluster import EmbeddedCluster
from ult.connection import connect
from ult.embedded import EmbeddedServer
from ult.rules import Rule, set_rule
from ult.sponsors import register

if TYPE_CHECKING:
    from support.dashboard import Shop

    from ult.dashboard import Dashboard


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """One embedded Valkey for the session (AOF on, as in production)."""
    with EmbeddedServer(tmp_path_factory.mktemp("valkey")) as server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedServer) -> str:
    return redis_server.url


@pytest.fixture
def r(redis_url: str) -> Iterator[redis.Redis]:
    """A sync client on a flushed server, flushed again afterwards (nothing a test stored,
    such as a schema version, reaches the services other tests start on the same server)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushall()
    yield client
    client.flushall()
    client.close()


@pytest.fixture
async def ar(redis_url: str, r: redis.Redis) -> AsyncIterator[redis.asyncio.Redis]:
    """An asyncio client on the same (flushed) server."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def service_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `ult serve` subprocess on a free port.

    Every test client comes from 127.0.0.1, so the per-address limits are off here;
    tests/test_hostile.py runs its own service with them on.
    """
    with running_service(redis_url, tmp_path_factory.mktemp("var")) as base:
        yield base


@pytest.fixture
def make_sponsor(r: redis.Redis) -> Callable[..., dict]:
    """Register a sponsor through the core; keyword arguments set its rule."""
    counter = iter(range(1, 10_000))

    def make(name: str = "Fika Sisters", **rule: object) -> dict:
        n = next(counter)
        reg = register(r, name, f"Storgatan {n}", "SE", f"local:test-{n}")
        if rule:
            run(r, set_rule(reg.sid, reg.owner_key, Rule(**rule)))
        return {"sid": reg.sid, "owner_key": reg.owner_key, "biz": reg.biz}

    return make


# ---- wallet passes --------------------------------------------------------------------


@pytest.fixture(scope="session")
def wallet_certs(tmp_path_factory: pytest.TempPathFactory) -> WalletCerts:
    """Made-up Apple Wallet certificates: root CA, stand-in WWDR, Pass Type ID certificate."""
    return make_certs(tmp_path_factory.mktemp("wallet-certs"))


@pytest.fixture(scope="session")
def apns_stub() -> Iterator[ApnsStub]:
    """The APNs stand-in (HTTP/2 cleartext) the wallet service pushes to."""
    stub = ApnsStub().start()
    yield stub
    stub.close()


@pytest.fixture(scope="session")
def wallet_service(
    redis_url: str,
    wallet_certs: WalletCerts,
    apns_stub: ApnsStub,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[WalletService]:
    """A real `ult serve` with Apple passes on, pushing to ``apns_stub``; its output is kept."""
    var = tmp_path_factory.mktemp("var")
    log = var / "service.log"
    with running_service(redis_url, var, log, **wallet_certs.env(apns_stub.url)) as base:
        yield WalletService(base, log)


# ---- cluster --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedCluster]:
    """A real Redis Cluster for the session: 3 masters + 3 replicas of the embedded Valkey
    (the failover test kills a master: it runs last)."""
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


# ---- dashboard ------------------------------------------------------------------------


@pytest.fixture
def make_dashboard(redis_url: str, r: redis.Redis) -> Iterator[Callable[..., Dashboard]]:
    """Dashboards on the flushed test Redis, their browser storage already synced (see
    support.dashboard.new_dashboard); closed afterwards, their readers gone."""
    from support.dashboard import live_threads, new_dashboard

    made: list[Dashboard] = []

    def make(
        value: dict | None = None, resolver: Any = None, tz_offset_min: int = -60
    ) -> Dashboard:
        made.append(new_dashboard(redis_url, value, resolver, tz_offset_min))
        return made[-1]

    yield make
    for dash in made:
        dash.close()
    # readers left by a business switch end within ~1 s
    wait_until(lambda: not live_threads(), 3, message=lambda: f"still running: {live_threads()}")


@pytest.fixture
def shop(make_dashboard: Callable[..., Dashboard]) -> Shop:
    """A dashboard with one registered business; claim updates recorded."""
    from support.dashboard import Recorder, Shop, register_in

    dash = make_dashboard()
    business = register_in(dash, "Fika Sisters", "Storgatan 1")
    notes = Recorder()
    dash.ctx.notifier_override = notes
    return Shop(dash, business, notes)


@pytest.fixture(scope="module")
def dashboard_url(
    redis_url: str, service_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real Voilà serving the dashboard, one per test module."""
    from support.voila import running_voila

    with running_voila(redis_url, tmp_path_factory.mktemp("var"), service_url) as launch:
        yield launch.url


@pytest.fixture
def rc(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the shared server (not flushed: Voilà and the service use it too)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


# ---- browser --------------------------------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: Playwright's sync API keeps an event loop running in the main
    thread for the rest of the session, which asyncio tests cannot share."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


@pytest.fixture(scope="session")
def browser():
    """Debian Chromium driven by Playwright (its own browser download does not work here)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt, as root).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser) -> Iterator[Callable]:
    """Pages in fresh browser contexts (fresh localStorage). Outside hosts do not resolve
    (``CHROMIUM_ARGS``); requests are not intercepted, which would turn off the HTTP cache."""
    contexts = []

    def make(context=None, **context_args):
        if context is None:
            context = browser.new_context(**context_args)
            contexts.append(context)
        return context.new_page()

    yield make
    for c in contexts:
        c.close()


@pytest.fixture
async def phone(wallet_service, r):
    """A phone's Socket.IO connection to the wallet service (test_passkit, test_wallet_push)."""
    c = socketio.AsyncClient(reconnection=False)
    await c.connect(wallet_service.url, transports=["websocket"])
    yield c
    await c.disconnect()


@pytest.fixture
def http(wallet_service):
    """Plain HTTP to the wallet service: the download link and the PassKit web service."""
    with httpx.Client(base_url=wallet_service.url, timeout=10) as client:
        yield client
