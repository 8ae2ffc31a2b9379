"""Prometheus metrics of the scan service, served at ``GET /metrics``.

Counts and times per Socket.IO event — never per customer, card or address. With several
worker processes (``ULT_WORKERS``) each writes its samples under ``PROMETHEUS_MULTIPROC_DIR``
(set by ``ult serve`` before the workers start) and ``/metrics`` adds them up, whichever
worker answers. The variable must be set before ``prometheus_client`` is imported.
"""

from __future__ import annotations

import os
import time
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
LATENCY = Histogram(
    "ult_event_seconds",
    "Time to answer a Socket.IO request, by event.",
    ["event"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5),
)
IN_FLIGHT = Gauge("ult_in_flight", "Requests waiting for Redis.", multiprocess_mode="livesum")
CONNECTIONS = Gauge("ult_connections", "Open Socket.IO connections.", multiprocess_mode="livesum")
REDIS_ERRORS = Counter("ult_redis_errors_total", "Requests that failed to reach Redis (or its replicas).")  # fmt: skip


def _outcome(ack: dict[str, Any], ok: str) -> str:
    if ack.get("ok"):
        return ok
    return str(ack.get("error", {}).get("code", "server_error"))


def record(event: str, ack: dict[str, Any], seconds: float) -> None:
    """Count one answered request."""
    LATENCY.labels(event).observe(seconds)
    if event == "scan":
        SCANS.labels(_outcome(ack, "duplicate" if ack.get("duplicate") else "ok")).inc()
    elif event == "claim":
        CLAIMS.labels(_outcome(ack, "created" if ack.get("created") else "existing")).inc()
    if not ack.get("ok"):
        REFUSALS.labels(event, _outcome(ack, "")).inc()


@contextmanager
def timed(event: str) -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """``with timed("scan") as done: return done(ack)`` — times and counts one request."""
    start = time.perf_counter()

    def done(ack: dict[str, Any]) -> dict[str, Any]:
        record(event, ack, time.perf_counter() - start)
        return ack

    yield done


def render() -> tuple[bytes, str]:
    """The metrics page (all worker processes added up when running multiprocess)."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_exited() -> None:
    """Drop this process's live gauges from the shared totals (its counters stay counted)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(os.getpid())
