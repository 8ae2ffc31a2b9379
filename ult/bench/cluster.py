"""Scale-out cost: CPU per scan of the service and of Redis, one server vs a Redis Cluster.

``python -m ult.bench.cluster`` runs the same closed loop (``ult.bench.scans.run_load``)
against six set-ups, each on fresh servers: one embedded Valkey with 1 and 2 service
processes, and a 3-master cluster with a replica per master (also embedded) with 1 and 2
service processes, without and with a replica acknowledgement (``ULT_REPLICA_ACKS`` 0 / 1).
What it reports is CPU µs per acknowledged scan — a cost that stays put when other work
shares the machine, unlike scans/s. A flat cost per scan from 1 to 2 processes and from one
server to a cluster says that throughput grows with cores and machines, even on a 2-core
box that cannot show the throughput itself. Redis CPU is every node's (replicas included).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ult.bench.data import register_sponsors
from ult.bench.embedded_cluster import EmbeddedCluster
from ult.bench.machine import describe_machine
from ult.bench.procs import Child, child_env, start_child
from ult.bench.scans import LoadPlan, run_load
from ult.connection import connect
from ult.embedded import EmbeddedServer


@dataclass(frozen=True)
class Setup:
    """One measured configuration."""

    label: str
    cluster: bool
    processes: int
    replica_acks: int = 0


SETUPS = (
    Setup("one server, 1 process", False, 1),
    Setup("one server, 2 processes", False, 2),
    Setup("cluster 3+3, 1 process", True, 1),
    Setup("cluster 3+3, 2 processes", True, 2),
    Setup("cluster 3+3, 1 process, replica ack", True, 1, 1),
    Setup("cluster 3+3, 2 processes, replica ack", True, 2, 1),
)


def _services(stack: ExitStack, url: str, setup: Setup, tmp: Path) -> list[Child]:
    env = child_env(
        url,
        tmp,
        ULT_EVENT_RATE="0",  # as `ult bench`: one address, many cards, fast clients
        ULT_NEW_CARDS_PER_MINUTE="0",
        ULT_CONNECTIONS_PER_ADDRESS="0",
        ULT_REPLICA_ACKS=str(setup.replica_acks),
    )
    children = []
    for i in range(setup.processes):
        child = start_child(f"service{i + 1}", ["ult", "serve"], env, tmp, "/healthz", timeout=30)
        stack.callback(child.stop)
        children.append(child)
    return children


def measure(setup: Setup, clients: int, scans: int, sponsors: int) -> dict[str, Any]:
    """Start fresh servers and services for ``setup``, run the closed loop, report costs."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        tmp_path = Path(tmp)
        if setup.cluster:
            servers = stack.enter_context(EmbeddedCluster(tmp_path / "cluster"))
            url, nodes = servers.url, servers.nodes
        else:
            server = stack.enter_context(EmbeddedServer(tmp_path / "redis"))
            url, nodes = server.url, [server]
        r = connect(url=url)
        stack.callback(r.close)
        sids = register_sponsors(r, sponsors)
        services = _services(stack, url, setup, tmp_path)
        plan = LoadPlan(
            setup.label,
            "socketio",
            tuple(s.url for s in services),
            tuple(sids),
            clients=clients,
            processes=1,
            scans=scans,
        )
        watch = {
            "service": [s.pid for s in services],
            "redis": [n.process.pid for n in nodes if n.process],
        }
        result = run_load(plan, watch)
        info = describe_machine(r) if not setup.cluster else {}
    done = max(result.scans, 1)
    return {
        "label": setup.label,
        "scans": result.scans,
        "errors": result.errors,
        "per_s": round(result.per_s, 1),
        "service_us_per_scan": round(1e6 * result.cpu_s.get("service", 0) / done, 1),
        "redis_us_per_scan": round(1e6 * result.cpu_s.get("redis", 0) / done, 1),
        "other_pct": result.other_pct,
        "machine": info,
    }


def render(rows: list[dict[str, Any]]) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| set-up | scans/s | service CPU µs/scan | Redis CPU µs/scan | errors | other load % |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['label']} | {row['per_s']:,.0f} | {row['service_us_per_scan']:.0f} | "
            f"{row['redis_us_per_scan']:.0f} | {row['errors']} | {row['other_pct']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m ult.bench.cluster", description=__doc__)
    p.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    p.add_argument("--scans", type=int, default=10_000, help="scans per set-up (10000)")
    p.add_argument("--sponsors", type=int, default=30, help="sponsors scanned (30)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = p.parse_args(argv)
    rows = []
    for setup in SETUPS:
        rows.append(measure(setup, args.clients, args.scans, args.sponsors))
        print(f"  {setup.label}: done", file=sys.stderr, flush=True)
    machine: dict[str, Any] = next((row["machine"] for row in rows if row["machine"]), {})
    for row in rows:
        row.pop("machine")
    print(json.dumps({"machine": machine, "runs": rows}, indent=2) if args.json else render(rows))
    if not args.json:
        print(f"\nmachine: {json.dumps(machine)}")
    return 1 if any(row["errors"] for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
