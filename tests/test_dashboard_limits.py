"""Dashboard pages are bounded: per client address, in all, and in time without a page.

The unit tests check the address key and the ledger. The slow ones flood a real Voilà with
plain GETs from other loopback addresses (all of 127.0.0.0/8 is local) and count its kernel
processes; the browser one then opens the dashboard in Chromium from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import psutil
import pytest
from playwright.sync_api import expect
from support.browser import open_dashboard, open_tab, register, unique
from support.voila import voila_process
from support.wait import wait_until, wait_until_async

from ult.addresses import TrustedProxies
from ult.dashboard.kernels import PageKernelManager, PageLedger, Refusal
from ult.dashboard.launch import POOL_SIZE, voila_command
from ult.dashboard.voila_app import refusal_page
from ult.errors import UltError
from ult.settings import load_settings

PER_ADDRESS = 2
TOTAL = 5
RESERVED = 1  # for browsers holding a business: anonymous pages get TOTAL - RESERVED
TIMEOUT_S = 8  # the cull interval is a quarter of it
RETRY_S = TIMEOUT_S + 2 * (TIMEOUT_S // 4)  # what the refusal page promises
SLACK_S = 10  # a kernel's shutdown on a loaded machine


# ---- the address a page is counted against ------------------------------------------


def test_client_key_is_the_peer_unless_a_trusted_proxy_forwards() -> None:
    proxies = TrustedProxies("10.0.0.1, 192.168.0.0/24")
    assert proxies.client("203.0.113.9") == "203.0.113.9"
    # anyone may send X-Forwarded-For: only a trusted proxy's is believed
    assert proxies.client("203.0.113.9", ["198.51.100.7"]) == "203.0.113.9"
    assert proxies.client("10.0.0.1", ["198.51.100.7"]) == "198.51.100.7"
    # a forged entry before the client's real address (added by the proxy) is ignored
    assert proxies.client("10.0.0.1", ["1.2.3.4, 198.51.100.7"]) == "198.51.100.7"
    # a chain of trusted proxies is walked back to the first untrusted hop
    assert proxies.client("10.0.0.1", ["198.51.100.7, 192.168.0.5"]) == "198.51.100.7"
    assert proxies.client("10.0.0.1", ["not-an-ip"]) == "10.0.0.1"
    assert TrustedProxies().client("::ffff:203.0.113.9") == "203.0.113.9"


def test_an_ipv6_client_is_its_slash_64() -> None:
    a = TrustedProxies().client("2001:db8:1:2:aaaa::1")
    b = TrustedProxies().client("2001:db8:1:2:ffff:1:2:3")
    assert a == b == "2001:db8:1:2::/64"
    assert TrustedProxies().client("2001:db8:1:3::1") != a


def test_bad_trusted_proxies_are_an_error() -> None:
    assert TrustedProxies("").networks == []
    with pytest.raises(ValueError, match="'proxy.example' is not an IP address or CIDR"):
        TrustedProxies("10.0.0.1, proxy.example")
    with pytest.raises(UltError, match="ULT_TRUSTED_PROXIES"):
        voila_command(load_settings({"ULT_TRUSTED_PROXIES": "10.0.0.0/33"}), base_env={})


# ---- the ledger ------------------------------------------------------------------------


def test_ledger_caps_per_address_and_in_all_and_forgets() -> None:
    ledger = PageLedger(per_address=2, total=3)
    assert ledger.admit("a") is None and ledger.admit("a") is None
    assert ledger.admit("a") is Refusal.ADDRESS
    assert ledger.admit("b") is None
    assert ledger.admit("c") is Refusal.FULL
    ledger.bind("a", "k1")
    ledger.bind("a", "k2")
    ledger.cancel("b")  # b's request failed before it got a kernel
    assert ledger.pages == 2 and ledger.admit("c") is None
    ledger.forget("k1")
    ledger.forget("k1")  # twice (shut down, then found gone) counts once
    ledger.forget("unknown")
    assert ledger.pages == 2 and ledger.admit("a") is None
    ledger.forget("k2")
    ledger.cancel("a")
    ledger.cancel("c")
    assert ledger.pages == 0 and ledger.addresses == 0  # no address left in memory


def test_zero_means_no_limit() -> None:
    ledger = PageLedger(per_address=0, total=0)
    assert all(ledger.admit("a") is None for _ in range(100))


def test_refusal_page_says_what_and_when() -> None:
    page = refusal_page(Refusal.ADDRESS, 3, 90)
    assert "Too many dashboard pages are open from your address" in page
    assert "only 3 at a time" in page and "try again in about 90 seconds" in page
    assert "busy" in refusal_page(Refusal.FULL, 12, 90)


def test_voila_command_carries_the_limits(tmp_path: Path) -> None:
    env = {
        "ULT_VAR_DIR": str(tmp_path),
        "ULT_DASHBOARD_KERNELS": "7",
        "ULT_DASHBOARD_KERNELS_PER_ADDRESS": "1",
        "ULT_DASHBOARD_KERNEL_TIMEOUT": "100",
        "ULT_TRUSTED_PROXIES": "10.0.0.1",
        "ULT_DASHBOARD_PAGE_GONE": "4",
    }
    argv = voila_command(load_settings(env), port=9999, base_env={}).argv
    assert argv[1:3] == ["-m", "ult.dashboard.voila_app"]
    for part in (
        "--VoilaConfiguration.multi_kernel_manager_class=ult.dashboard.kernels.PageKernelManager",
        "--PageKernelManager.max_pages=7",
        "--PageKernelManager.pages_per_address=1",
        "--PageKernelManager.trusted_proxies=10.0.0.1",
        "--MappingKernelManager.cull_idle_timeout=100",
        "--MappingKernelManager.cull_interval=25",
        "--PageKernelManager.page_gone_s=4",
    ):
        assert part in argv


async def test_a_kernel_outlives_a_reconnect_but_not_its_page_going(tmp_path: Path) -> None:
    """A real kernel: a page that reconnects within the grace keeps it; one that goes, not."""
    manager = PageKernelManager(page_gone_s=1, connection_dir=str(tmp_path))
    kernel_id = await manager.start_kernel()
    try:
        assert manager.ledger.admit("127.0.0.1") is None
        manager.handed_to_page("127.0.0.1", kernel_id)
        manager.notify_connect(kernel_id)
        manager.notify_disconnect(kernel_id)  # a phone's network blinks
        await asyncio.sleep(0.3)
        manager.notify_connect(kernel_id)  # ... and the page reconnects
        await asyncio.sleep(1.5)
        assert kernel_id in manager and manager.ledger.pages == 1
        manager.notify_disconnect(kernel_id)  # the tab is closed
        gone = "the kernel outlived its page"
        await wait_until_async(lambda: kernel_id not in manager, 10, interval=0.1, message=gone)
        assert kernel_id not in manager and manager.ledger.pages == 0
    finally:
        if kernel_id in manager:
            await manager.shutdown_kernel(kernel_id, now=True)


# ---- a real Voilà under a flood ----------------------------------------------------------


@pytest.fixture(scope="module")
def limited_voila(
    redis_url: str, service_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, int, Path]]:
    """Voilà with small caps and a short timeout: (url, pid, log path)."""
    var_dir = tmp_path_factory.mktemp("var")
    limits = {
        "ULT_DASHBOARD_KERNELS_PER_ADDRESS": str(PER_ADDRESS),
        "ULT_DASHBOARD_KERNELS": str(TOTAL),
        "ULT_DASHBOARD_KERNELS_RESERVED": str(RESERVED),
        "ULT_DASHBOARD_KERNEL_TIMEOUT": str(TIMEOUT_S),
    }
    with voila_process(redis_url, var_dir, service_url, **limits) as (launch, proc):
        yield launch.url, proc.pid, var_dir / "voila.log"


def get_page(
    url: str, source: str, forwarded_for: str | None = None, path: str = "/"
) -> tuple[int, dict, str]:
    """``GET path`` from the loopback address ``source``: (status, headers, body)."""
    parts = urlparse(url)
    conn = http.client.HTTPConnection(
        parts.hostname, parts.port, timeout=90, source_address=(source, 0)
    )
    try:
        conn.request("GET", path, headers={"X-Forwarded-For": forwarded_for or ""})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read().decode()
    finally:
        conn.close()


def kernels(pid: int) -> int:
    """Kernel processes Voilà runs now."""
    count = 0
    for child in psutil.Process(pid).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            count += "ipykernel" in " ".join(child.cmdline())
    return count


def wait_for_kernels(pid: int, count: int, timeout: float) -> float:
    """Seconds until Voilà runs ``count`` kernels (fails after ``timeout``)."""
    started = time.monotonic()
    wait_until(
        lambda: kernels(pid) == count,
        timeout,
        interval=0.25,
        message=lambda: f"{kernels(pid)} kernels, not {count}",
    )
    return time.monotonic() - started


class KernelSampler:
    """The most kernels seen, sampled in a thread while a flood runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> KernelSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.most = max(self.most, kernels(self.pid))
            time.sleep(0.1)


def flood(url: str, source: str, n: int, path: str = "/") -> list[tuple[int, dict, str]]:
    """``n`` concurrent GETs from ``source``, each with a different forged X-Forwarded-For."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: get_page(url, source, f"198.51.100.{i}", path), range(n)))


@pytest.mark.slow
def test_flood_is_refused_cheaply_and_unconnected_kernels_go(
    limited_voila: tuple[str, int, Path],
) -> None:
    url, pid, log_path = limited_voila
    assert wait_for_kernels(pid, POOL_SIZE, 60) is not None
    with KernelSampler(pid) as sampler:
        first = flood(url, "127.0.0.2", 8)
        # another theme than the preheated kernel's: Voilà starts a fresh kernel for each
        second = flood(url, "127.0.0.3", 3, "/?theme=dark")
        full = get_page(url, "127.0.0.5")

    statuses = sorted(status for status, _, _ in first)
    assert statuses == [200] * PER_ADDRESS + [429] * (8 - PER_ADDRESS)  # forged XFF ignored
    assert sorted(status for status, _, _ in second) == [200] * PER_ADDRESS + [429]
    status, headers, body = next(r for r in first if r[0] == 429)
    assert headers["Retry-After"] == str(RETRY_S)
    assert headers["Content-Type"].startswith("text/html")
    assert f"only {PER_ADDRESS} at a time" in body
    assert f"try again in about {RETRY_S} seconds" in body
    status, headers, body = full  # all anonymous pages are taken
    assert status == 503 and headers["Retry-After"] == str(RETRY_S)
    assert "The dashboard is busy" in body
    print(f"most kernels during the flood: {sampler.most} (cap {TOTAL} + pool {POOL_SIZE})")
    assert sampler.most <= TOTAL + POOL_SIZE

    # nobody connected to those pages: they go within the promised time
    gone = wait_for_kernels(pid, POOL_SIZE, RETRY_S + SLACK_S)
    assert gone is not None, f"{kernels(pid)} kernels left after {RETRY_S + SLACK_S} s"
    print(f"unconnected kernels shut down {gone:.1f} s after the flood (bound {RETRY_S} s)")
    assert get_page(url, "127.0.0.2")[0] == 200  # the address may open a page again

    log = log_path.read_text()
    assert not any(ip in log for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.5", "198.51.100"))


@pytest.mark.slow
@pytest.mark.browser
def test_a_sponsor_page_works_after_a_flood_from_elsewhere(
    limited_voila: tuple[str, int, Path], new_page
) -> None:
    url, pid, _ = limited_voila
    assert wait_for_kernels(pid, POOL_SIZE, RETRY_S + SLACK_S) is not None
    assert [r[0] for r in flood(url, "127.0.0.4", 5)].count(200) == PER_ADDRESS

    page = new_page()
    opened = time.monotonic()
    seconds = open_dashboard(page, url)
    print(f"dashboard after the flood: interactive in {seconds:.1f} s")
    register(page, unique("Flood Café"), "Kungsgatan 4, Stockholm")

    # the flood's pages go; the sponsor's connected page keeps its kernel well past the timeout
    assert wait_for_kernels(pid, 1 + POOL_SIZE, RETRY_S + SLACK_S) is not None
    time.sleep(max(0.0, opened + RETRY_S - time.monotonic()))
    assert kernels(pid) == 1 + POOL_SIZE
    page.get_by_role("button", name="I have saved it").click()
    open_tab(page, "Add a business")
    page.locator(".ult-address input").fill("Sveavägen 1, Stockholm")
    page.get_by_role("button", name="Validate address").click()  # answered by the kernel
    expect(page.locator(".ult-found")).to_contain_text("Sveavägen 1")
