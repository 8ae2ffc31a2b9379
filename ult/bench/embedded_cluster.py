"""A small Redis Cluster from the embedded Valkey binary: for tests, benchmarks and trying
cluster mode on one machine (see docs/scaling.md).

The binary ships no ``redis-cli``, so the cluster is built with plain ``CLUSTER`` commands:
``ADDSLOTSRANGE`` on each master, ``MEET`` to join the nodes, ``REPLICATE`` for replicas.
The cluster bus listens on port + 10000, so node ports stay below 55536.
"""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable
from pathlib import Path

import redis

from ult.embedded import EmbeddedServer

SLOTS = 16384
MAX_PORT = 65535 - 10000  # the cluster bus port (port + 10000) must exist too


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_cluster_port(taken: set[int] | None = None) -> int:
    """A free port below 55536 whose cluster bus port (+10000) is free too."""
    taken = taken or set()
    for _ in range(1000):
        port = random.randint(20000, MAX_PORT)
        if port not in taken and _port_free(port) and _port_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a cluster node")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` every 50 ms until it is true; RuntimeError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.exceptions.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _cluster_info(c: redis.Redis) -> dict[str, str]:
    text = c.execute_command("CLUSTER", "INFO")
    text = text.decode() if isinstance(text, bytes) else text
    if isinstance(text, dict):
        return {k: str(v) for k, v in text.items()}
    return dict(line.split(":", 1) for line in text.strip().splitlines() if ":" in line)


class EmbeddedCluster:
    """``masters`` masters with ``replicas`` replicas each, on 127.0.0.1, data under
    ``data_dir/<port>``. AOF on every node, as for the single embedded server."""

    def __init__(
        self, data_dir: str | Path, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 2000
    ) -> None:
        self.data_dir = Path(data_dir)
        self.n_masters, self.n_replicas = masters, replicas
        self.node_timeout_ms = node_timeout_ms
        self.nodes: list[EmbeddedServer] = []

    @property
    def url(self) -> str:
        """The URL of a live node: ULT finds the rest of the cluster from it."""
        return self.live_nodes()[0].url

    def client(self, port: int) -> redis.Redis:
        """A plain client on one node."""
        return redis.Redis(port=port, decode_responses=True, socket_timeout=5)

    def start(self, timeout: float = 60.0) -> EmbeddedCluster:
        """Start the nodes, give the masters the slots, join them, attach replicas, and wait
        until every node says ``cluster_state:ok`` and every replica is in sync."""
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        taken: set[int] = set()
        for _ in range(self.n_masters * (1 + self.n_replicas)):
            port = free_cluster_port(taken)
            taken.add(port)
            options = [
                "--cluster-enabled", "yes",
                "--cluster-config-file", "nodes.conf",
                "--cluster-node-timeout", str(self.node_timeout_ms),
                "--repl-diskless-sync-delay", "0",
            ]  # fmt: skip
            self.nodes.append(EmbeddedServer(self.data_dir / str(port), port, options).start())
        masters = self.nodes[: self.n_masters]
        per = SLOTS // self.n_masters
        for i, node in enumerate(masters):
            last = SLOTS - 1 if i == self.n_masters - 1 else (i + 1) * per - 1
            with self.client(node.port) as c:
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", i * per, last)
        first = self.nodes[0].port
        for node in self.nodes[1:]:
            with self.client(node.port) as c:
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", first)
        total = len(self.nodes)
        for node in self.nodes:
            with self.client(node.port) as c:
                wait_until(
                    lambda: _cluster_info(c)["cluster_known_nodes"] == str(total),
                    timeout,
                    f"node {node.port} to meet the others",
                )
        for i, node in enumerate(self.nodes[self.n_masters :]):
            master = masters[i % self.n_masters]
            with self.client(master.port) as c:
                master_id = c.execute_command("CLUSTER", "MYID")
            with self.client(node.port) as c:
                c.execute_command("CLUSTER", "REPLICATE", master_id)
        self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Wait until every live node says ``cluster_state:ok`` and replicas are linked."""
        for node in self.live_nodes():
            with self.client(node.port) as c:
                wait_until(
                    lambda: _cluster_info(c)["cluster_state"] == "ok",
                    timeout,
                    f"cluster_state:ok on {node.port}",
                )
                wait_until(
                    lambda: (
                        c.info("replication")["role"] == "master"
                        or c.info("replication").get("master_link_status") == "up"
                    ),
                    timeout,
                    f"replica {node.port} in sync",
                )

    def live_nodes(self) -> list[EmbeddedServer]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def master_port_of(self, key: str) -> int:
        """The port of the master that holds ``key``'s slot now."""
        for node in self.live_nodes():
            with self.client(node.port) as c:
                slot = c.execute_command("CLUSTER", "KEYSLOT", key)
                for start, end, master, *_ in c.execute_command("CLUSTER", "SLOTS"):
                    if start <= slot <= end:
                        return int(master[1])
        raise RuntimeError("no live node answers")

    def node(self, port: int) -> EmbeddedServer:
        return next(n for n in self.nodes if n.port == port)

    def kill(self, port: int) -> None:
        """SIGKILL one node (a crash: no AOF flush, no goodbye to the cluster)."""
        node = self.node(port)
        if node.process is not None:
            node.process.kill()
            node.process.wait()
            node.process = None

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> EmbeddedCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> None:
    """``python -m ult.bench.embedded_cluster DIR``: run a 3 + 3 cluster in the foreground until Ctrl-C."""
    import sys

    data = sys.argv[1] if len(sys.argv) > 1 else "var/cluster"
    with EmbeddedCluster(data) as cluster:
        ports = " ".join(str(n.port) for n in cluster.nodes)
        print(f"Cluster ready: REDIS_URL={cluster.url}  (nodes: {ports})", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
