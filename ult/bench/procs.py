"""Child processes of the benchmark: the scan service, the bare Socket.IO server, Voilà.

Every child binds 127.0.0.1 on a free port, gets an environment isolated from ``~`` and
``.env`` (``ULT_VAR_DIR`` under the run's temporary directory), and is stopped by
:meth:`Child.stop` — the runner registers that on an ``ExitStack`` so nothing outlives it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import psutil

from ult.embedded import free_port
from ult.launcher import wait_http


@dataclass
class Child:
    """A started child process and the base URL it serves."""

    name: str
    proc: subprocess.Popen
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float | None:
        """Resident memory of the process (and its children, e.g. Voilà kernels) in MB."""
        try:
            parent = psutil.Process(self.pid)
            procs = [parent, *parent.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs) / 2**20
        except psutil.Error:
            return None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the child's combined output, for error messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def child_env(redis_url: str | None, var_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a child: ours without ULT_*/REDIS_URL, plus the given values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULT_", "REDIS_URL"))}
    env["ULT_VAR_DIR"] = str(var_dir)
    if redis_url:
        env["REDIS_URL"] = redis_url
    env.update(extra)
    return env


def start_child(
    name: str,
    module_args: list[str],
    env: dict[str, str],
    log_dir: Path,
    ready_path: str,
    port: int | None = None,
    timeout: float = 60.0,
) -> Child:
    """Run ``python -m <module_args> --port P`` and wait until ``ready_path`` answers 200."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = log_dir / f"{name}-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", *module_args, "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    child = Child(name, proc, url, log_path)
    if not wait_http(f"{url}{ready_path}", timeout=timeout, proc=proc):
        child.stop()
        raise RuntimeError(f"{name} did not start on {url}:\n{child.log_tail()}")
    return child


def start_service(redis_url: str, var_dir: Path, log_dir: Path) -> Child:
    """The ULT scan service, ``ult serve``, with the per-connection rate limit off.

    ``ULT_EVENT_RATE=0``: a benchmark client sends hundreds of events a second on one
    connection, where a phone sends a few (the default limit is 20 per second). All its
    clients share one address and start thousands of cards: the per-address limits are off.
    """
    env = child_env(
        redis_url,
        var_dir,
        ULT_EVENT_RATE="0",
        ULT_NEW_CARDS_PER_MINUTE="0",
        ULT_CONNECTIONS_PER_ADDRESS="0",
    )
    return start_child("service", ["ult", "serve"], env, log_dir, "/healthz", timeout=30)


def start_bare_socketio(var_dir: Path, log_dir: Path) -> Child:
    """The bare python-socketio server of :mod:`ult.bench.baselines`."""
    env = child_env(None, var_dir)
    return start_child("bare-socketio", ["ult.bench.baselines"], env, log_dir, "/ping", timeout=30)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (those gone count as 0)."""
    total = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def pid_on_port(port: int) -> int | None:
    """The pid of the process listening on 127.0.0.1:``port`` (None if it cannot be seen)."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return conn.pid
    except psutil.Error:
        return None
    return None


def machine_busy_seconds() -> float:
    """CPU seconds every core of the machine has spent busy so far (not idle, not waiting)."""
    t = psutil.cpu_times()
    return sum(getattr(t, name, 0.0) for name in ("user", "nice", "system", "irq", "softirq"))
