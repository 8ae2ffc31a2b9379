"""``ult bench``: scans per second, latency and memory, against the machine's own limits.

One run starts its own embedded Valkey and scan service on free ports (or uses the given
URLs), registers sponsors with a zero-cooldown rule, and measures in order: ULT
end-to-end with N concurrent Socket.IO clients; the same clients against a bare
python-socketio server and as raw ``XADD`` calls (the two ceilings); an open-loop load
sweep; 2 service processes; Redis bytes per scan; the dashboard's time to interactive.
See ``docs/benchmarks.md`` for the method and the figures of this machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ult.bench.report import render_table, to_json
from ult.bench.runner import BenchConfig, run_bench, with_quick

__all__ = ["BenchConfig", "configure", "run_bench"]

SERVICE_HELP = "use this scan service (with --redis-url, its Redis; run it with ULT_EVENT_RATE=0)"
SETTLE_HELP = "wait up to S s before each run for other work to stop (30; --quick 0)"
ATTEMPTS_HELP = (
    "runs per measurement while other work disturbs it; the quietest is kept (3; --quick 1)"
)

CLUSTER_HELP = (
    "only the scale-out cost: CPU per scan, one server vs a 3+3 Redis Cluster, 1 vs 2 "
    "processes, with and without replica ack (python -m ult.bench.cluster for its options)"
)


def configure(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``bench`` sub-command to the ``ult`` command line."""
    p = subparsers.add_parser(
        "bench",
        help="measure scans/s, latency and memory against the machine's limits",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = p.add_argument
    add("--clients", type=int, default=100, metavar="N", help="concurrent clients (default 100)")
    add("--scans", type=int, metavar="N", help="scans per closed-loop run (50000; --quick 5000)")
    add("--quick", action="store_true", help="a run under a minute (fewer scans, 1 page load)")
    add("--json", action="store_true", help="print the results as JSON instead of a table")
    add("--redis-url", metavar="URL", help="use this Redis instead of an embedded Valkey")
    add("--service-url", metavar="URL", help=SERVICE_HELP)
    add("--client-procs", type=int, default=0, metavar="N", help="client processes (cores-1, 1–4)")
    add("--sponsors", type=int, default=100, metavar="N", help="sponsors scanned (default 100)")
    add("--sweep-seconds", type=float, dest="sweep_s", metavar="S", help="per sweep point (8)")
    add("--memory-scans", type=int, metavar="N", help="scans for the memory figure (100000)")
    add("--dashboard-runs", type=int, metavar="N", help="dashboard page loads timed (5)")
    add("--settle", type=float, dest="settle_s", metavar="S", help=SETTLE_HELP)
    add("--attempts", type=int, metavar="N", help=ATTEMPTS_HELP)
    add("--no-dashboard", action="store_true", help="skip the dashboard timing")
    add("--no-scale-out", action="store_true", help="skip the 2-process run")
    add("--cluster-cost", action="store_true", help=CLUSTER_HELP)
    add("--output", type=Path, metavar="FILE", help="also write the JSON results to FILE")
    p.set_defaults(func=cmd_bench)


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    """The run's configuration: defaults, then --quick, then what was given explicitly."""
    explicit = {
        name: getattr(args, name)
        for name in ("scans", "sweep_s", "memory_scans", "dashboard_runs", "settle_s", "attempts")
        if getattr(args, name) is not None
    }
    cfg = BenchConfig(
        clients=args.clients,
        quick=args.quick,
        redis_url=args.redis_url,
        service_url=args.service_url,
        client_procs=args.client_procs,
        sponsors=args.sponsors,
        scale_out=not args.no_scale_out,
        dashboard=not args.no_dashboard,
        **explicit,
    )
    return with_quick(cfg, explicit)


def cmd_bench(args: argparse.Namespace) -> int:
    """Run the benchmark; print the table (or JSON). Exit 1 when a closed-loop scan failed."""
    if args.cluster_cost:
        from ult.bench.cluster import main

        return main(["--json"] if args.json else [])
    cfg = config_from_args(args)
    if cfg.clients < 1 or cfg.scans < cfg.clients or cfg.sponsors < 1:
        print("ult bench: need clients ≥ 1, sponsors ≥ 1 and scans ≥ clients", file=sys.stderr)
        return 2
    if cfg.service_url and not cfg.redis_url:
        print("ult bench: --service-url needs --redis-url (the Redis it uses)", file=sys.stderr)
        return 2
    results = run_bench(cfg)
    text = to_json(results)
    if args.output:
        args.output.write_text(text + "\n")
    print(text if args.json else render_table(results))
    return 1 if results["errors_closed_loop_runs"] else 0
