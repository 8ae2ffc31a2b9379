"""Dashboard: seconds from opening the Voilà dashboard to an interactive form (Playwright).

Voilà is started as ``ult dashboard`` would run it (``python -m ult dashboard --port P``)
and polled on a static file (a ``GET /`` would start a kernel). Two kinds of page load:

- *first visit*: a fresh browser context each time (empty cache and localStorage), timed
  from navigation until the registration form's button is visible and enabled — it only
  appears after the kernel has run the notebook and the widgets have rendered;
- *returning sponsor*: a browser with a profile of its own on disk, as a sponsor's phone
  keeps one, whose localStorage holds a registered business and whose caches hold the page's
  scripts and their compiled code (two untimed loads first: Chromium keeps a script's
  compiled code once it has run it twice), timed until the Live tab's button is visible and
  enabled — the business's panels are shown by then. A private window keeps neither cache on
  disk: there the same load took 1.5-2.0 s where it takes ~1.15 s with the profile.

Chromium resolves no outside host (:data:`~ult.bench.chromium.CHROMIUM_ARGS`), as offline;
requests are not intercepted, which cost up to a second a load. Each timed load starts once Voilà
and its kernels are idle (:func:`wait_idle`): Voilà refills its pool of preheated kernels a
second after a page takes one, and a sponsor does not open the page in the middle of the
previous sponsor's refill. Timing back to back measured that refill instead (+0.3–0.5 s).
"""

from __future__ import annotations

import importlib.util
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from ult.bench.chromium import CHROMIUM, CHROMIUM_ARGS
from ult.bench.data import remove_sponsors
from ult.bench.procs import child_env, cpu_seconds, start_child
from ult.connection import Client

# the control that makes the registration form usable (role, accessible name)
READY_ROLE, READY_NAME = "button", "Validate address"
# the Live tab's control, shown with the business a returning sponsor's browser holds
RETURNING_ROLE, RETURNING_NAME = "button", "Refresh"
TIMEOUT_MS = 60_000
# Voilà and its kernels are idle below this share of one core over IDLE_WINDOW_S (longer
# than Voilà's 1 s wait before it refills its kernel pool)
IDLE_CPU_SHARE, IDLE_WINDOW_S, IDLE_MAX_WAIT_S = 0.05, 1.2, 20.0


def unavailable_reason() -> str | None:
    """Why the dashboard cannot be timed here, or None when it can."""
    if importlib.util.find_spec("ult.dashboard") is None or (
        importlib.util.find_spec("ult.dashboard.launch") is None
    ):
        return "the dashboard (ult.dashboard.launch) is not installed yet"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    return None


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used so far by ``pid`` and its children (Voilà and its kernels)."""
    import psutil

    try:
        parent = psutil.Process(pid)
        children = parent.children(recursive=True)
    except psutil.Error:
        return 0.0
    return cpu_seconds([parent.pid, *(c.pid for c in children)])


def wait_idle(pid: int, max_wait_s: float = IDLE_MAX_WAIT_S) -> float:
    """Wait until ``pid``'s process tree has been idle for a window (at most ``max_wait_s``);
    the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < max_wait_s:
        before = tree_cpu_s(pid)
        time.sleep(IDLE_WINDOW_S)
        if tree_cpu_s(pid) - before < IDLE_CPU_SHARE * IDLE_WINDOW_S:
            break
    return time.perf_counter() - started


def time_page(context: Any, url: str, role: str, name: str) -> float:
    """Seconds from navigation start in a new page of ``context`` until the control
    (``role``, ``name``) is visible and enabled; the page is closed afterwards."""
    from playwright.sync_api import expect

    page = context.new_page()
    try:
        started = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        control = page.get_by_role(role, name=name)
        control.wait_for(state="visible", timeout=TIMEOUT_MS)
        expect(control).to_be_enabled(timeout=TIMEOUT_MS)
        return time.perf_counter() - started
    finally:
        page.close()


def time_once(browser: Any, url: str, server_pid: int) -> float:
    """A first visit: seconds until the form's button is visible and enabled."""
    wait_idle(server_pid)
    context = browser.new_context()
    try:
        return time_page(context, url, READY_ROLE, READY_NAME)
    finally:
        context.close()


def returning_storage(r: Client) -> tuple[str, str]:
    """Register a business; a script that puts it into the page's localStorage, and its sid
    (for :func:`~ult.bench.data.remove_sponsors`)."""
    from ult.dashboard.storage import STORAGE_KEY, Business
    from ult.sponsors import register

    place_id = f"local:bench-dashboard-{secrets.token_hex(4)}"
    reg = register(r, "Bench Café", "Benchgatan 1", "SE", place_id)
    business = Business(reg.sid, reg.biz, place_id, reg.owner_key)
    entry = {"uid": "b" * 32, "businesses": [business.to_json()], "current": reg.sid}
    script = f"localStorage.setItem({json.dumps(STORAGE_KEY)}, {json.dumps(json.dumps(entry))})"
    return script, reg.sid


WARM_LOADS = 2  # untimed loads that fill a returning sponsor's caches


def time_returning(
    playwright: Any, profile: Path, url: str, storage: str, runs: int, server_pid: int
) -> list[float]:
    """Returning sponsor: ``runs`` timed loads in a browser with its profile in ``profile``,
    after :data:`WARM_LOADS` untimed ones."""
    context = playwright.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS
    )
    try:
        context.add_init_script(storage)
        for _ in range(WARM_LOADS):
            time_page(context, url, RETURNING_ROLE, RETURNING_NAME)
        times = []
        for _ in range(runs):
            wait_idle(server_pid)
            times.append(time_page(context, url, RETURNING_ROLE, RETURNING_NAME))
        return times
    finally:
        context.close()


def _returning_runs(
    playwright: Any, url: str, redis_url: str, runs: int, server_pid: int
) -> list[float]:
    import redis

    with (
        redis.Redis.from_url(redis_url, decode_responses=True) as r,
        tempfile.TemporaryDirectory(prefix="ult-bench-profile-") as profile,
    ):
        storage, sid = returning_storage(r)
        try:
            return time_returning(playwright, Path(profile), url, storage, runs, server_pid)
        finally:
            remove_sponsors(r, [sid])


def time_dashboard(redis_url: str, var_dir: Path, log_dir: Path, runs: int = 5) -> dict[str, Any]:
    """Start Voilà, time ``runs`` page loads, stop it. Median and every run, in seconds."""
    from playwright.sync_api import sync_playwright

    # fresh contexts closed without `beforeunload` leave their kernels for the timeout
    env = child_env(redis_url, var_dir, ULT_DASHBOARD_KERNELS_PER_ADDRESS="0")
    started = time.perf_counter()
    child = start_child(
        "dashboard", ["ult", "dashboard"], env, log_dir, "/voila/static/voila.js", timeout=120
    )
    startup_s = time.perf_counter() - started
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                url = f"{child.url}/"
                times = [time_once(browser, url, child.pid) for _ in range(runs)]
            finally:
                browser.close()
            returning = _returning_runs(p, url, redis_url, runs, child.pid)
        rss = child.rss_mb()
    finally:
        child.stop()
    return {
        "median_s": round(statistics.median(times), 3),
        "runs_s": [round(t, 3) for t in times],
        "returning_median_s": round(statistics.median(returning), 3),
        "returning_runs_s": [round(t, 3) for t in returning],
        "server_start_s": round(startup_s, 2),
        "voila_rss_mb_with_kernels": round(rss, 1) if rss else None,
        "ready_selector": f'get_by_role("{READY_ROLE}", name="{READY_NAME}")',
        "returning_selector": f'get_by_role("{RETURNING_ROLE}", name="{RETURNING_NAME}")',
    }
