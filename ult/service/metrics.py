"""Prometheus metrics of the scan service, served at ``GET /metrics``.

Counts and times per Socket.IO event — never per customer, card or address. With several
worker processes (``ULT_WORKERS``) each writes its samples under ``PROMETHEUS_MULTIPROC_DIR``
(set by ``ult serve`` before the workers start) and ``/metrics`` adds them up, whichever
worker answers. The variable must be set before ``prometheus_client`` is imported.
"""

from __future__ import annotations

import asyncio
import os
import time
from bisect import bisect_left
from collections import Counter as Tallies
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

SCANS = Counter(
    "ult_scans_total", "Scans answered, by outcome (ok, duplicate, or the error code).", ["outcome"]
)
CLAIMS = Counter(
    "ult_claims_total",
    "Claims answered, by outcome (created, existing, or the error code).",
    ["outcome"],
)
REFUSALS = Counter(
    "ult_refusals_total", "Requests answered with an error, by event and code.", ["event", "code"]
)
BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5)
LATENCY = Histogram(
    "ult_event_seconds", "Time to answer a Socket.IO request, by event.", ["event"], buckets=BUCKETS
)
IN_FLIGHT = Gauge("ult_in_flight", "Requests waiting for Redis.", multiprocess_mode="livesum")
CONNECTIONS = Gauge("ult_connections", "Open Socket.IO connections.", multiprocess_mode="livesum")
REDIS_ERRORS = Counter("ult_redis_errors_total", "Requests that failed to reach Redis (or its replicas).")  # fmt: skip
# one total: a label per business would be a series per business (each owner sees its own
# count in the dashboard and `ult status`)
KEY_FAILURES = Counter("ult_key_failures_total", "Wrong owner or staff keys sent to the service.")  # fmt: skip
WALLET_PUSHES = Counter(
    "ult_wallet_pushes_total",
    "Wallet pass updates pushed, by outcome (sent, retried, gone, failed).",
    ["outcome"],
)


def _outcome(ack: dict[str, Any], ok: str) -> str:
    if ack.get("ok"):
        return ok
    return str(ack.get("error", {}).get("code", "server_error"))


FLUSH_S = 1.0

# What this process answered since the last flush. Requests only update these plain dicts;
# flush() writes them to the Prometheus metrics about once a second, when a connection closes
# and before /metrics is rendered: in multiprocess mode every Prometheus update is a locked write to a shared file,
# which cost ~7 % of a scan's CPU when done per request.
_counts: Tallies[tuple[Counter, tuple[str, ...]]] = Tallies()
_latency: dict[str, list[float]] = {}  # event → [sum, count per bucket (the last: +Inf)]
_gauges: list[Callable[[], tuple[int, int]]] = []  # → (requests in flight, connections)


def record(event: str, ack: dict[str, Any], seconds: float) -> None:
    """Count one answered request."""
    tally = _latency.get(event)
    if tally is None:
        tally = _latency[event] = [0.0] * (len(BUCKETS) + 2)
    tally[0] += seconds
    tally[1 + bisect_left(BUCKETS, seconds)] += 1
    if event == "scan":
        _counts[SCANS, (_outcome(ack, "duplicate" if ack.get("duplicate") else "ok"),)] += 1
    elif event == "claim":
        _counts[CLAIMS, (_outcome(ack, "created" if ack.get("created") else "existing"),)] += 1
    if not ack.get("ok"):
        _counts[REFUSALS, (event, _outcome(ack, ""))] += 1


@contextmanager
def timed(event: str) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """``with timed("scan") as done: return done(ack)`` — times and counts one request."""
    start = time.perf_counter()

    def done(ack: dict[str, Any]) -> dict[str, Any]:
        record(event, ack, time.perf_counter() - start)
        return ack

    yield done


def watch(gauges: Callable[[], tuple[int, int]]) -> None:
    """Report ``gauges()`` — (requests in flight, open connections) — at every flush."""
    _gauges.append(gauges)


def flush() -> None:
    """Write what was counted since the last flush to the Prometheus metrics."""
    counts = dict(_counts)
    _counts.clear()
    for (metric, labels), n in counts.items():
        metric.labels(*labels).inc(n)
    for event, tally in list(_latency.items()):
        if not any(tally[1:]):
            continue
        child = LATENCY.labels(event)  # the histogram's own buckets, not cumulative
        child._sum.inc(tally[0])
        for i, count in enumerate(tally[1:]):
            if count:
                child._buckets[i].inc(count)
        _latency[event] = [0.0] * len(tally)
    for gauges in _gauges:
        in_flight, connections = gauges()
        IN_FLIGHT.set(in_flight)
        CONNECTIONS.set(connections)


async def flush_forever() -> None:
    """Flush every :data:`FLUSH_S` seconds, for as long as the service runs."""
    while True:
        await asyncio.sleep(FLUSH_S)
        flush()


def render() -> tuple[bytes, str]:
    """The metrics page (all worker processes added up when running multiprocess)."""
    flush()
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited() -> None:
    """Drop this process's live gauges from the shared totals (its counters stay counted)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())
