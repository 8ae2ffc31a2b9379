"""Shared fixtures: a real embedded Valkey, a real scan service, real Chromium.

Everything binds to 127.0.0.1 on free ports and lives under pytest's tmp dirs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis
import redis.asyncio

from ult import run
from ult.bench.chromium import CHROMIUM, CHROMIUM_ARGS
from ult.embedded import EmbeddedServer, free_port
from ult.launcher import stop_process, wait_http
from ult.rules import Rule, set_rule
from ult.sponsors import register


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
    """A sync client on a flushed server."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
async def ar(redis_url: str, r: redis.Redis) -> redis.asyncio.Redis:
    """An asyncio client on the same (flushed) server."""
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def service_env(redis_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for a child process of the project, isolated from ~ and .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULT_", "REDIS_URL"))}
    env.update(REDIS_URL=redis_url, ULT_VAR_DIR=str(var_dir), **extra)
    return env


@pytest.fixture(scope="session")
def service_url(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `ult serve` subprocess on a free port.

    Every test client comes from 127.0.0.1, so the per-address limits are off here;
    tests/test_hostile.py runs its own service with them on.
    """
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = service_env(
        redis_url,
        tmp_path_factory.mktemp("var"),
        ULT_PUBLIC_URL=base,
        ULT_NEW_CARDS_PER_MINUTE="0",
        ULT_CONNECTIONS_PER_ADDRESS="0",
        ULT_KEY_GUESSES_PER_MINUTE="0",
    )
    proc = subprocess.Popen([sys.executable, "-m", "ult", "serve", "--port", str(port)], env=env)
    try:
        assert wait_http(f"{base}/healthz", timeout=30, proc=proc), "scan service did not start"
        yield base
    finally:
        stop_process(proc)


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


# ---- dashboard ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard_url(
    redis_url: str, service_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real Voilà serving the dashboard, one per test module."""
    from voila_support import running_voila

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


def _block_external(route) -> None:
    host = urlparse(route.request.url).hostname
    if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
        route.continue_()
    else:
        route.abort()


@pytest.fixture
def new_page(browser) -> Iterator[Callable]:
    """Pages in fresh browser contexts (fresh localStorage); external requests aborted."""
    contexts = []

    def make(context=None, **context_args):
        if context is None:
            context = browser.new_context(**context_args)
            context.route("**/*", _block_external)
            contexts.append(context)
        return context.new_page()

    yield make
    for c in contexts:
        c.close()
