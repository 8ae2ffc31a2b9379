"""End-to-end load: Socket.IO clients (or raw XADD tasks) spread over worker processes.

One Python process cannot drive a Socket.IO server flat out on its own: each acked event
costs the client about as much CPU as it costs the server. So the load runs in
``processes`` worker processes (``multiprocessing``, spawn), each running asyncio with its
share of the clients — one ``socketio.AsyncClient`` (websocket transport) per client, each
with its own 256-bit card key per sponsor and a fresh nonce per scan.

Two shapes of load:

- closed loop (``rate == 0``): every client scans again as soon as its ack returns, until
  the run's ``scans`` are done — the maximum rate;
- open loop (``rate > 0``): scans start at a fixed total arrival rate for ``duration_s``
  whatever the acks do, and latency counts from the *intended* start, so queueing shows.

Workers connect and warm up, meet at a barrier, measure, and send their numbers back.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing as mp
import queue as queue_mod
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from ult.bench.procs import cpu_seconds, machine_busy_seconds
from ult.bench.stats import Recorder, RunResult

CONNECT_TIMEOUT_S = 60.0
CALL_TIMEOUT_S = 10.0
TICK_S = 0.002


@dataclass(frozen=True)
class LoadPlan:
    """What one run sends. ``targets``: service URLs (Socket.IO) or one Redis URL (XADD)."""

    label: str
    kind: str  # "socketio" | "xadd"
    targets: tuple[str, ...]
    sids: tuple[str, ...]
    clients: int
    processes: int
    scans: int = 0
    rate: float = 0.0
    duration_s: float = 0.0
    warmup_per_client: int = 2
    time_cap_s: float = 120.0

    @property
    def open_loop(self) -> bool:
        return self.rate > 0


class ScanClient:
    """One simulated phone: a Socket.IO connection and one card key per sponsor.

    Each of its scans is one visit as the scan page makes it: a single ``scan`` event, whose
    answer carries the card (balance, rule, claim) the page shows.
    """

    def __init__(self, index: int, url: str, sids: tuple[str, ...]) -> None:
        import socketio

        self.index = index
        self.url = url
        self.sids = sids
        self.keys = {sid: secrets.token_urlsafe(32) for sid in sids}
        self.sent = 0
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)

    async def connect(self) -> None:
        await self.sio.connect(self.url, transports=["websocket"], wait_timeout=10)

    def payload(self) -> dict[str, str]:
        """The next scan: this client's next sponsor, its key there, a fresh nonce."""
        sid = self.sids[(self.index + self.sent) % len(self.sids)]
        self.sent += 1
        return {"sid": sid, "key": self.keys[sid], "nonce": f"{self.index:x}-{self.sent:x}"}

    async def scan(self, rec: Recorder, started: float | None = None) -> None:
        """Send one scan and record its ack (``started``: the intended start, open loop)."""
        started = time.perf_counter() if started is None else started
        try:
            ack = await self.sio.call("scan", self.payload(), timeout=CALL_TIMEOUT_S)
        except Exception as e:  # a lost ack is an error, never a crash
            rec.error(f"{type(e).__name__}: {e}")
            return
        if isinstance(ack, dict) and ack.get("ok") is True:
            rec.ok(started)
        else:
            code = ack.get("error", {}).get("code") if isinstance(ack, dict) else ack
            rec.error(f"ack: {code}")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


def my_clients(plan: LoadPlan, worker: int) -> list[int]:
    """The client indices worker ``worker`` runs (round robin over the workers)."""
    return list(range(worker, plan.clients, plan.processes))


def scans_for(plan: LoadPlan, client: int) -> int:
    """Closed loop: this client's share of ``plan.scans``."""
    base, extra = divmod(plan.scans, plan.clients)
    return base + (1 if client < extra else 0)


def make_clients(plan: LoadPlan, indices: list[int]) -> tuple[list[Any], Any]:
    """The worker's clients, plus a shared resource to close afterwards (the XADD pool)."""
    if plan.kind == "xadd":
        import redis.asyncio

        from ult.bench.baselines import XaddTask

        r = redis.asyncio.Redis.from_url(plan.targets[0])
        return [XaddTask(i, r, plan.sids) for i in indices], r
    return [ScanClient(i, plan.targets[i % len(plan.targets)], plan.sids) for i in indices], None


async def gather_limited(calls: list[Callable[[], Awaitable[None]]], limit: int = 20) -> None:
    """Run the calls at most ``limit`` at a time; the first failure propagates."""
    sem = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[None]]) -> None:
        async with sem:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


async def closed_loop(plan: LoadPlan, clients: list[Any], rec: Recorder) -> None:
    """Every client scans back to back until its share is done or the time cap passes."""
    deadline = time.perf_counter() + plan.time_cap_s

    async def run(client: Any) -> None:
        for _ in range(scans_for(plan, client.index)):
            if time.perf_counter() > deadline:
                return
            await client.scan(rec)

    await asyncio.gather(*(run(c) for c in clients))


async def open_loop(plan: LoadPlan, clients: list[Any], rec: Recorder) -> None:
    """Start scans at a fixed rate (this worker's share), round robin over its clients."""
    rate = plan.rate / plan.processes
    total = max(1, int(rate * plan.duration_s))
    interval = 1.0 / rate
    start = time.perf_counter()
    pending: set[asyncio.Task] = set()
    sent = 0
    while sent < total:
        due = min(total, int((time.perf_counter() - start) / interval) + 1)
        for k in range(sent, due):
            task = asyncio.create_task(clients[k % len(clients)].scan(rec, start + k * interval))
            pending.add(task)
            task.add_done_callback(pending.discard)
        sent = due
        # wake at most every TICK_S and start all scans due by then: a wake-up per scan
        # would cost the load generator more CPU than the scans it sends (latency still
        # counts from each scan's own scheduled start)
        await asyncio.sleep(max(TICK_S, start + sent * interval - time.perf_counter()))
    if pending:
        _, late = await asyncio.wait(pending, timeout=CALL_TIMEOUT_S + 1)
        for task in late:
            task.cancel()
            rec.error("no ack before the end of the run")


async def warm_up(plan: LoadPlan, clients: list[Any]) -> Recorder:
    """A few unmeasured scans per client: pools, scripts and caches get filled first."""
    rec = Recorder()
    for _ in range(plan.warmup_per_client):
        await asyncio.gather(*(c.scan(rec) for c in clients))
    return rec


async def worker_async(plan: LoadPlan, worker: int, barrier: Any, results: Any) -> None:
    """Connect, warm up, wait for every worker, measure, report; then disconnect."""
    clients, shared = make_clients(plan, my_clients(plan, worker))
    try:
        await gather_limited([c.connect for c in clients])
        warm = await warm_up(plan, clients)
        await asyncio.get_running_loop().run_in_executor(None, barrier.wait, CONNECT_TIMEOUT_S)
        rec = Recorder()
        cpu0, t0 = time.process_time(), time.perf_counter()
        if plan.open_loop:
            await open_loop(plan, clients, rec)
        else:
            await closed_loop(plan, clients, rec)
        t1, cpu1 = time.perf_counter(), time.process_time()
        results.put(  # before disconnecting: the parent's CPU window closes on it
            {
                "done": rec.done,
                "errors": rec.errors,
                "latencies_ms": rec.latencies_ms,
                "samples": rec.samples,
                "t0": t0,
                "t1": t1,
                "cpu_s": cpu1 - cpu0,
                "warmup_errors": warm.errors,
                "warmup_samples": warm.samples,
            }
        )
    finally:
        await gather_limited([c.close for c in clients], limit=50)
        if shared is not None:
            with contextlib.suppress(Exception):
                await shared.aclose()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (it comes with uvicorn[standard]), else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def worker_main(plan: LoadPlan, worker: int, barrier: Any, results: Any) -> None:
    """Entry point of a worker process: its numbers, or its failure, go on ``results``."""
    # The load generator is the measuring instrument: a full garbage collection in it would
    # show up as the service's latency. A run is short; its cyclic garbage can wait.
    gc.disable()
    try:
        with asyncio.Runner(loop_factory=new_event_loop) as runner:
            runner.run(worker_async(plan, worker, barrier, results))
    except BaseException as e:  # reported to the parent, which raises
        with contextlib.suppress(Exception):
            barrier.abort()
        results.put({"failed": f"worker {worker}: {type(e).__name__}: {e}"})


def run_load(plan: LoadPlan, watch: dict[str, list[int]] | None = None) -> RunResult:
    """Run ``plan`` in worker processes; CPU of the ``watch`` pids is measured alongside."""
    plan = replace(plan, processes=max(1, min(plan.processes, plan.clients)))
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(plan.processes + 1), ctx.Queue()
    procs = [
        ctx.Process(target=worker_main, args=(plan, w, barrier, results), daemon=True)
        for w in range(plan.processes)
    ]
    for p in procs:
        p.start()
    try:
        return _collect(plan, procs, barrier, results, watch or {})
    finally:
        _reap(procs)


def _collect(
    plan: LoadPlan,
    procs: list[Any],
    barrier: Any,
    results: Any,
    watch: dict[str, list[int]],
) -> RunResult:
    """Release the workers together, then gather their numbers into one RunResult."""
    try:
        barrier.wait(CONNECT_TIMEOUT_S + 30)
    except threading.BrokenBarrierError:
        raise RuntimeError(f"{plan.label}: {_first_failure(results)}") from None
    busy0, cpu0 = machine_busy_seconds(), {k: cpu_seconds(pids) for k, pids in watch.items()}
    limit = plan.time_cap_s + plan.duration_s + CALL_TIMEOUT_S + 30
    parts = [_get(results, limit, plan.label) for _ in procs]
    cpu1 = {name: cpu_seconds(pids) for name, pids in watch.items()}
    result = _merge(plan, parts, {k: cpu1[k] - cpu0[k] for k in watch})
    result.machine_busy_s = machine_busy_seconds() - busy0
    return result


def _get(results: Any, timeout: float, label: str) -> dict[str, Any]:
    try:
        part = results.get(timeout=timeout)
    except queue_mod.Empty:
        raise RuntimeError(f"{label}: a worker sent no results in {timeout:.0f} s") from None
    if "failed" in part:
        raise RuntimeError(f"{label}: {part['failed']}")
    return part


def _first_failure(results: Any) -> str:
    try:
        return results.get(timeout=5).get("failed", "a worker failed")
    except queue_mod.Empty:
        return "workers did not get ready in time"


def _merge(plan: LoadPlan, parts: list[dict[str, Any]], cpu: dict[str, float]) -> RunResult:
    result = RunResult(label=plan.label)
    for part in parts:
        result.scans += part["done"]
        result.errors += part["errors"]
        result.latencies_ms.extend(part["latencies_ms"])
        result.error_samples.extend(part["samples"])
        result.errors += part["warmup_errors"]  # unmeasured, but a failed scan all the same
        result.error_samples.extend(f"warm-up {x}" for x in part["warmup_samples"])
    result.elapsed_s = max(p["t1"] for p in parts) - min(p["t0"] for p in parts)
    result.cpu_s = {"clients": sum(p["cpu_s"] for p in parts), **cpu}
    if plan.open_loop:
        result.extra["rate_per_s"] = round(plan.rate, 1)
    result.extra["clients"] = plan.clients
    result.extra["client_processes"] = len(parts)
    return result


def _reap(procs: list[Any]) -> None:
    """Join the workers; terminate any that hang."""
    for p in procs:
        p.join(15)
        if p.is_alive():
            p.terminate()
            p.join(5)
