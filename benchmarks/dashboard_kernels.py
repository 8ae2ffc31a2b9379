"""Memory that anonymous ``GET /`` requests of the dashboard cost: N plain GETs (as ``curl``
would send them, no browser, no websocket) from one loopback address against a real Voilà
started as ``ult dashboard`` starts it. Prints the kernels and the resident memory (Voilà plus
its kernels) before and after. The figure is measured, not asserted by a test.

    .venv/bin/python benchmarks/dashboard_kernels.py [--gets 30] [--unbounded] [--wait]

``--unbounded`` switches the page caps off and sets the old one-hour cull, as before the
caps existed; ``--wait`` also measures once kernels without a page have been shut down.
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import tempfile
import time
from pathlib import Path

import psutil

from ult.dashboard.launch import POOL_SIZE, voila_command
from ult.embedded import EmbeddedServer, free_port
from ult.launcher import stop_process, wait_http
from ult.settings import load_settings

SOURCE = "127.0.0.2"  # one client address (all of 127.0.0.0/8 is local)
UNBOUNDED = {
    "ULT_DASHBOARD_KERNELS": "0",
    "ULT_DASHBOARD_KERNELS_PER_ADDRESS": "0",
    "ULT_DASHBOARD_KERNEL_TIMEOUT": "3600",
}


def kernels_and_mb(pid: int) -> tuple[int, float]:
    """(kernel processes, resident MB of Voilà and all its children)."""
    parent = psutil.Process(pid)
    kernels, rss = 0, parent.memory_info().rss
    for child in parent.children(recursive=True):
        try:
            rss += child.memory_info().rss
            kernels += "ipykernel" in " ".join(child.cmdline())
        except psutil.NoSuchProcess:
            pass
    return kernels, rss / 2**20


def get_page(port: int) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(SOURCE, 0))
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def settle(pid: int, kernels: int | None = None, timeout: float = 120) -> tuple[int, float]:
    """Wait until Voilà runs ``kernels`` kernels (None: until the count stops changing)."""
    deadline = time.monotonic() + timeout
    last = kernels_and_mb(pid)
    while time.monotonic() < deadline:
        time.sleep(2)
        now = kernels_and_mb(pid)
        if (now[0] == kernels) if kernels is not None else (now[0] == last[0]):
            time.sleep(1)
            return kernels_and_mb(pid)
        last = now
    return last


def measure(gets: int, unbounded: bool, wait: bool) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="ult-bench-kernels-") as tmp:
        redis_server = EmbeddedServer(Path(tmp) / "valkey").start()
        env = {"REDIS_URL": redis_server.url, "ULT_VAR_DIR": tmp}
        settings = load_settings({**env, **(UNBOUNDED if unbounded else {})})
        launch = voila_command(settings, port=free_port(), base_env={})
        launch.prepare()
        with open(Path(tmp) / "voila.log", "wb") as log:
            proc = subprocess.Popen(launch.argv, env=launch.env, stdout=log, stderr=log)
        try:
            assert wait_http(launch.ready_url, timeout=60, proc=proc), "Voilà did not start"
            k0, mb0 = settle(proc.pid, POOL_SIZE)
            started = time.monotonic()
            statuses = [get_page(int(launch.url.rsplit(":", 1)[1])) for _ in range(gets)]
            seconds = time.monotonic() - started
            k1, mb1 = settle(proc.pid)
            mode = "unbounded (as before)" if unbounded else "bounded (defaults)"
            lines = [
                f"{mode}: {gets} GET / from one address in {seconds:.1f} s: "
                f"{statuses.count(200)} pages, {gets - statuses.count(200)} refused "
                f"({', '.join(sorted({str(s) for s in statuses if s != 200})) or '-'})",
                f"  kernels {k0} -> {k1}; Voilà + kernels RSS {mb0:.0f} -> {mb1:.0f} MB "
                f"(+{mb1 - mb0:.0f} MB, {(mb1 - mb0) / gets:.1f} MB per GET)",
            ]
            if wait and not unbounded:
                bound = settings.dashboard_kernel_timeout * 1.5 + 30
                k2, mb2 = settle(proc.pid, POOL_SIZE, timeout=bound)
                gone = time.monotonic() - started - seconds
                lines.append(
                    f"  {gone:.0f} s later, pages never connected: kernels {k2}, "
                    f"RSS {mb2:.0f} MB (+{mb2 - mb0:.0f} MB)"
                )
            return lines
        finally:
            children = psutil.Process(proc.pid).children(recursive=True)
            stop_process(proc)  # Voilà shuts its kernels down on SIGTERM
            _, alive = psutil.wait_procs(children, timeout=10)
            for child in alive:
                child.kill()
            redis_server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gets", type=int, default=30, help="GET / requests (30)")
    parser.add_argument("--unbounded", action="store_true", help="no caps, one-hour cull")
    parser.add_argument("--wait", action="store_true", help="also measure after the cull")
    args = parser.parse_args(argv)
    print("\n".join(measure(args.gets, args.unbounded, args.wait)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
