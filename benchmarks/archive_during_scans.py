"""Scans per second with and without an `ult archive` running, the archive rate, and Redis
memory before and after `ult archive --trim-days`. Figures are printed, never asserted.

    .venv/bin/python benchmarks/archive_during_scans.py [--sponsors N] [--days D]
        [--clients C] [--seconds S] [--trim-days N] [--json]

Everything is throwaway: an embedded Valkey, a real `ult serve`, demo history (`ult demo`),
Socket.IO clients scanning over websockets, and `ult archive` as its own process (as cron or
the schedule of `ult up` would run it), all under a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from ult import demo
from ult.bench.procs import child_env, start_service
from ult.bench.scans import Recorder, ScanClient
from ult.embedded import EmbeddedServer


class NewCardClient(ScanClient):
    """A phone that scans a new card every time (no cooldown refusals)."""

    def payload(self) -> dict[str, str]:
        sid = self.sids[(self.index + self.sent) % len(self.sids)]
        self.sent += 1
        return {"sid": sid, "key": secrets.token_urlsafe(32), "nonce": f"{self.sent:x}"}


async def scan_until(
    clients: list[ScanClient], done: Any, min_seconds: float, rec: Recorder
) -> list[float]:
    """Every client scans in a closed loop until ``done()`` and ``min_seconds`` passed;
    returns the times of the scans acknowledged with ok (errors are counted in ``rec``)."""
    times: list[float] = []
    start = time.perf_counter()

    async def loop(client: ScanClient) -> None:
        while time.perf_counter() - start < min_seconds or not done():
            ok = rec.done
            await client.scan(rec)
            if rec.done > ok:
                times.append(time.perf_counter())

    await asyncio.gather(*(loop(c) for c in clients))
    return times


def rate(times: list[float], start: float, end: float) -> float:
    inside = sum(1 for t in times if start <= t <= end)
    return inside / (end - start) if end > start else 0.0


def stream_bytes(r: redis.Redis, sids: list[str]) -> int:
    return sum(r.memory_usage(f"ult:{{{sid}}}:events", samples=0) or 0 for sid in sids)


def ult_archive(env: dict[str, str], *args: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ult", "archive", "--quiet", *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


async def measure(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    with EmbeddedServer(work / "valkey") as server:
        r = redis.Redis.from_url(server.url, decode_responses=True)
        config = demo.DemoConfig(sponsors=args.sponsors, days=args.days, seed=7)
        report = demo.load(r, config, progress=False)
        sids = [s["sid"] for s in report.sponsors]
        # scans go to the businesses that need no counter code (the bar's would be refused)
        open_sids = tuple(s for s in sids if r.hget(f"ult:{{{s}}}:rule", "require_code") != "1")
        figures["demo_entries"] = report.entries
        (work / "logs").mkdir()
        service = start_service(server.url, work, work / "logs")
        env = child_env(server.url, work, ULT_LAKE_DIR=str(work / "lake"))
        clients = [NewCardClient(i, service.url, open_sids) for i in range(args.clients)]
        try:
            await asyncio.gather(*(c.connect() for c in clients))
            t0 = time.perf_counter()
            rec = Recorder()
            times = await scan_until(clients, lambda: True, args.seconds, rec)
            figures["scans_per_s_alone"] = round(rate(times, t0, time.perf_counter()), 1)

            proc = ult_archive(env)
            t0 = time.perf_counter()
            t_end: list[float] = []

            def archived() -> bool:
                if proc.poll() is None:
                    return False
                t_end[:] = t_end or [time.perf_counter()]
                return True

            times = await scan_until(clients, archived, 0.0, rec)
            figures["scans_per_s_during_archive"] = round(rate(times, t0, t_end[0]), 1)
            figures["archive_seconds"] = round(t_end[0] - t0, 2)
            figures["archive_summary"] = proc.stdout.read().strip()
            figures["scan_errors"] = rec.errors
            figures["scan_error_samples"] = sorted(set(rec.samples))
        finally:
            await asyncio.gather(*(c.close() for c in clients))
            service.stop()
        archived = re.search(r"Archived ([\d,]+) entries", figures["archive_summary"])
        figures["archived_entries"] = int(archived.group(1).replace(",", ""))
        figures["archive_entries_per_s"] = round(
            figures["archived_entries"] / figures["archive_seconds"]
        )
        before = r.info("memory")["used_memory"]
        streams_before = stream_bytes(r, sids)
        entries_before = sum(r.xlen(f"ult:{{{s}}}:events") for s in sids)
        trim = ult_archive(env, "--trim-days", str(args.trim_days))
        figures["trim_summary"] = trim.communicate()[0].strip()
        figures["used_memory_mb_before_trim"] = round(before / 1e6, 2)
        figures["used_memory_mb_after_trim"] = round(r.info("memory")["used_memory"] / 1e6, 2)
        figures["streams_mb_before_trim"] = round(streams_before / 1e6, 2)
        figures["streams_mb_after_trim"] = round(stream_bytes(r, sids) / 1e6, 2)
        entries_after = sum(r.xlen(f"ult:{{{s}}}:events") for s in sids)
        figures["stream_entries_before_after_trim"] = [entries_before, entries_after]
        freed = streams_before - stream_bytes(r, sids)
        figures["stream_bytes_freed_per_trimmed_entry"] = round(
            freed / max(entries_before - entries_after, 1), 1
        )
        r.close()
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sponsors", type=int, default=10)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=5.0, help="scan time without archive")
    parser.add_argument("--trim-days", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ult-archive-bench-") as tmp:
        figures = asyncio.run(measure(args, Path(tmp)))
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, value in figures.items():
            print(f"{name:<30} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
