"""``ult up``: everything `make run` needs, in the foreground until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from contextlib import ExitStack

import redis

from ult.connection import connect, is_cluster
from ult.embedded import EmbeddedServer, PortInUse, port_free
from ult.errors import UltError
from ult.migrate import check_version, migrate
from ult.schema import SCHEMA_VERSION
from ult.settings import Settings

SECONDS_PER_MINUTE = 60  # the archive schedule's unit (tests shorten it)


def wait_http(url: str, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> bool:
    """Poll ``url`` until it answers 200 (False on timeout or if ``proc`` died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _child(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ult", *args], env=env)


def stop_process(proc: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 10 s; waits for the process to be gone."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def up(settings: Settings, with_dashboard: bool = True) -> int:
    """Start Redis (embedded unless REDIS_URL is set), the service and the dashboard; run
    until Ctrl-C (or SIGTERM), then stop them all."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Ctrl-C stops everything, even when started from a shell that ignores SIGINT for
    # background jobs (Python then installs no KeyboardInterrupt handler of its own).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return _run_all(settings, with_dashboard)
    except KeyboardInterrupt:
        print("\nStopped.")
        return 0


def port_taken(port: int) -> str:
    """The line ``ult up`` prints when its Redis port is held by another process."""
    return (
        f"ult up: port {port} (ULT_REDIS_PORT) is in use by another program (another ULT, a "
        "Redis, or anything else); stop it or set ULT_REDIS_PORT to a free port."
    )


def _run_all(settings: Settings, with_dashboard: bool) -> int:
    # The children get the resolved values, so they agree with what is printed here.
    env = dict(os.environ, ULT_VAR_DIR=settings.var_dir, ULT_PUBLIC_URL=settings.public_url)
    if settings.redis_url is None and not port_free(settings.redis_port):
        # never serve another instance's data, nor trace back on a stranger's port
        print(port_taken(settings.redis_port), file=sys.stderr)
        return 1
    print(f"Data in {settings.var_path}")
    with ExitStack() as stack:
        if settings.redis_url is None:
            data = settings.var_path / "redis"
            try:
                server = EmbeddedServer(data, port=settings.redis_port).start()
            except PortInUse:
                print(port_taken(settings.redis_port), file=sys.stderr)
                return 1
            stack.callback(server.stop)
            env["REDIS_URL"] = server.url
            print(f"Redis (embedded Valkey)  {server.url}  data in {data}")
        else:
            kind = "Redis Cluster" if is_cluster(settings.redis_url) else "Redis"
            print(f"{kind:<25}{settings.redis_url}")
        if not _schema_ready(env.get("REDIS_URL", settings.effective_redis_url)):
            return 1
        service = _child(["serve"], env)
        stack.callback(stop_process, service)
        base = f"http://{settings.host}:{settings.port}"
        if not wait_http(f"{base}/healthz", proc=service):
            print("The scan service did not start; see the messages above.", file=sys.stderr)
            return 1
        workers = f", {settings.workers} processes" if settings.workers > 1 else ""
        print(f"Scan service             {base}   (customer pages: {base}/wallet{workers})")
        print(f"QR codes point at        {settings.public_url}/s/<sid>")
        if with_dashboard:
            dashboard = _child(["dashboard", "--quiet"], env)
            stack.callback(stop_process, dashboard)
            dash = f"http://{settings.host}:{settings.dashboard_port}"
            if not wait_http(f"{dash}/voila/static/voila.js", timeout=90, proc=dashboard):
                print("The dashboard did not start; see the messages above.", file=sys.stderr)
                return 1
            print(f"Sponsor dashboard        {dash}")
        url = env.get("REDIS_URL", settings.effective_redis_url)
        if settings.archive_every_minutes > 0:
            stack.callback(start_archiver(settings, url))
        _hint_if_empty(url)
        print("Press Ctrl-C to stop.", flush=True)
        while service.poll() is None:
            time.sleep(0.5)
        print("The scan service stopped.", file=sys.stderr)
        return 1


def start_archiver(settings: Settings, url: str) -> Callable[[], None]:
    """Run `ult archive` (with ULT_TRIM_DAYS) every ULT_ARCHIVE_EVERY_MINUTES, and compact the
    lake every ULT_COMPACT_EVERY_HOURS (:class:`ult.analytics.lake.schedule.Schedule`), in a
    daemon thread; call the returned function to stop it (it waits for a run under way to
    end, up to a minute). A failed run is reported and retried later."""
    from ult.analytics.lake.archiving import NICE
    from ult.analytics.lake.schedule import Schedule
    from ult.clock import now_ms
    from ult.errors import UltError

    stop = threading.Event()
    every = settings.archive_every_minutes * SECONDS_PER_MINUTE
    minutes, lake = settings.archive_every_minutes, settings.lake_path
    schedule = Schedule.starting(lake, settings.trim_days, settings.compact_every_hours, now_ms())
    hours = settings.compact_every_hours
    compacted = f", compacted every {hours} h" if hours > 0 else ""
    print(f"Archive to the lake      every {minutes} min, into {lake}{compacted}")

    def loop() -> None:
        # this thread only (Linux): the scan service and Redis come first for the CPU
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        while not stop.wait(every):
            r = connect(url=url)
            try:
                archived, compacted = schedule.step(r, now_ms())
                print(archived.summary(), flush=True)
                if compacted is not None:
                    print(compacted.summary(), flush=True)
            except (UltError, OSError, redis.RedisError) as e:
                print(f"ult archive: {getattr(e, 'message', e)}", file=sys.stderr, flush=True)
            finally:
                r.close()

    thread = threading.Thread(target=loop, name="ult-archive", daemon=True)
    thread.start()

    def stop_archiver() -> None:
        stop.set()
        thread.join(60)

    return stop_archiver


def _schema_ready(url: str) -> bool:
    """Data older than this ULT is migrated at once (``ult up`` runs one installation, and
    each migration is safe to repeat); newer data stops everything with one line."""
    r = connect(url=url)
    try:
        try:
            check_version(r)
        except UltError as e:
            if e.code != "schema_older":
                print(f"ult up: {e.message}", file=sys.stderr)
                return False
            print(f"Migrating the data to schema {SCHEMA_VERSION} (`ult migrate`)...", flush=True)
            print(migrate(r, on_step=lambda line: print(f"  {line}", flush=True)).summary())
        return True
    finally:
        r.close()


def _hint_if_empty(url: str) -> None:
    r = connect(url=url)
    try:
        if not r.exists("ult:sponsors"):
            print(
                "No businesses yet: register one on the dashboard, with `ult register`, "
                "or load demo data with `ult demo`."
            )
    finally:
        r.close()
