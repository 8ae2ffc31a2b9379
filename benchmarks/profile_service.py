"""Where the scan service spends its CPU under the bench load: py-spy samples `ult serve`
while `ult bench`'s closed-loop clients scan, then prints the hottest functions.

    .venv/bin/pip install py-spy        # not a dependency of ULT
    .venv/bin/python benchmarks/profile_service.py [--scans 40000] [--clients 100] [--promotions N]

"self" is the share of samples in the function itself, "total" includes what it calls.
The summary of a run is in docs/benchmarks.md ("Where a scan's CPU goes").
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from ult.bench.data import register_sponsors
from ult.bench.procs import start_service
from ult.bench.scans import LoadPlan, run_load
from ult.connection import connect
from ult.embedded import EmbeddedServer

PARTS = (  # (what, how its files' paths start in py-spy's frames), first match wins
    ("ULT's own code", ("(ult/",)),
    ("Redis client (redis-py, hiredis)", ("(redis/", "(hiredis")),
    ("Socket.IO, engine.io", ("(socketio/", "(engineio/")),
    (
        "websocket frames, HTTP (uvicorn, websockets, starlette)",
        ("(uvicorn/", "(websockets/", "(starlette/"),
    ),
    ("JSON", ("(json/",)),
    ("asyncio event loop", ("(asyncio/",)),
)


def part_of(frame: str) -> str:
    """Which part of the stack a sampled frame's file belongs to."""
    for what, fragments in PARTS:
        if any(f in frame for f in fragments):
            return what
    return "other (Python runtime, stdlib)"


def summarize(collapsed: Path, top: int) -> None:
    """Print the functions with the most samples, self and total, from py-spy's raw output."""
    self_n: Counter[str] = Counter()
    total_n: Counter[str] = Counter()
    parts: Counter[str] = Counter()
    samples = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        parts[part_of(stack.split(";")[-1])] += n
        frames = [f.split(" (")[0] + " " + f.split("/")[-1].rstrip(")") for f in stack.split(";")]
        self_n[frames[-1]] += n
        for frame in set(frames):
            total_n[frame] += n
    print(f"{samples} samples\n\n  self %  where (the file of the sampled frame)")
    for part, n in parts.most_common():
        print(f"  {100 * n / samples:6.1f}  {part}")
    for title, counter in (("self", self_n), ("total", total_n)):
        print(f"\n  {title:>5} %  function")
        for frame, n in counter.most_common(top):
            print(f"  {100 * n / samples:7.1f}  {frame}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=40_000)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--promotions", type=int, default=0, help="promotions per sponsor (one running now)"
    )
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        server = EmbeddedServer(tmp / "redis").start()
        service = start_service(server.url, tmp / "var", tmp)
        try:
            r = connect(url=server.url)
            sids = register_sponsors(r, 100, promotions=args.promotions)
            out = tmp / "profile.txt"
            record = subprocess.Popen(
                [
                    spy,
                    "record",
                    "--rate",
                    "400",
                    "--pid",
                    str(service.pid),
                    "--format",
                    "raw",
                    "-o",
                    str(out),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            plan = LoadPlan(
                "profile", "socketio", (service.url,), tuple(sids), args.clients, 1, args.scans
            )
            result = run_load(plan, {"service": [service.pid]})
            record.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
            record.wait(30)
            calls = r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0)
            print(f"{result.per_s:,.0f} scans/s, {result.errors} errors")
            print(f"{result.scans / max(calls, 1):.1f} scans per script call (EVALSHA)")
            summarize(out, args.top)
        finally:
            service.stop()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
