"""``ult up``: everything `make run` needs, in the foreground until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack

from ult.connection import connect, is_cluster
from ult.embedded import EmbeddedServer
from ult.settings import Settings


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
    try:
        return _run_all(settings, with_dashboard)
    except KeyboardInterrupt:
        print("\nStopped.")
        return 0


def _run_all(settings: Settings, with_dashboard: bool) -> int:
    # The children get the resolved values, so they agree with what is printed here.
    env = dict(os.environ, ULT_VAR_DIR=settings.var_dir, ULT_PUBLIC_URL=settings.public_url)
    print(f"Data in {settings.var_path}")
    with ExitStack() as stack:
        if settings.redis_url is None:
            data = settings.var_path / "redis"
            server = EmbeddedServer(data, port=settings.redis_port).start()
            stack.callback(server.stop)
            env["REDIS_URL"] = server.url
            print(f"Redis (embedded Valkey)  {server.url}  data in {data}")
        else:
            kind = "Redis Cluster" if is_cluster(settings.redis_url) else "Redis"
            print(f"{kind:<25}{settings.redis_url}")
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
        _hint_if_empty(env.get("REDIS_URL", settings.effective_redis_url))
        print("Press Ctrl-C to stop.", flush=True)
        while service.poll() is None:
            time.sleep(0.5)
        print("The scan service stopped.", file=sys.stderr)
        return 1


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
