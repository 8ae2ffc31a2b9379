"""Latency and throughput summaries shared by every stage of the benchmark."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_ERROR_SAMPLES = 5


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0–1) of an already sorted sequence; None when empty."""
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def rounded(value: float | None, digits: int = 2) -> float | None:
    """``value`` rounded for reports (None stays None)."""
    return None if value is None else round(value, digits)


@dataclass
class Recorder:
    """What one worker saw: successes with their latency, errors with a few samples."""

    done: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)

    def ok(self, started: float) -> None:
        self.done += 1
        self.latencies_ms.append((time.perf_counter() - started) * 1000)

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.samples) < MAX_ERROR_SAMPLES:
            self.samples.append(what[:200])


@dataclass
class RunResult:
    """The outcome of one load run: counts, wall time, latencies and CPU use."""

    label: str
    scans: int = 0
    errors: int = 0
    elapsed_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)
    error_samples: list[str] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    machine_busy_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        """Completed (acknowledged, successful) scans per second of wall time."""
        return self.scans / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def pct(self, cpu_seconds: float) -> float | None:
        """CPU seconds as percent of one core over the run (200 = two cores busy)."""
        return round(100 * cpu_seconds / self.elapsed_s, 1) if self.elapsed_s else None

    @property
    def other_pct(self) -> float | None:
        """CPU other work on the machine used during the run, in percent of one core."""
        if self.machine_busy_s is None:
            return None
        return self.pct(max(0.0, self.machine_busy_s - sum(self.cpu_s.values())))

    def summary(self) -> dict[str, Any]:
        """The run as a JSON-ready dict (latencies reduced to percentiles)."""
        ordered = sorted(self.latencies_ms)
        cpu_pct = {name: self.pct(seconds) for name, seconds in self.cpu_s.items()}
        if self.machine_busy_s is not None:  # the machine's busy CPU minus ours
            cpu_pct["other"] = self.other_pct
        return {
            "label": self.label,
            "scans": self.scans,
            "errors": self.errors,
            "elapsed_s": rounded(self.elapsed_s, 3),
            "per_s": rounded(self.per_s, 1),
            "p50_ms": rounded(percentile(ordered, 0.50)),
            "p95_ms": rounded(percentile(ordered, 0.95)),
            "p99_ms": rounded(percentile(ordered, 0.99)),
            "max_ms": rounded(ordered[-1] if ordered else None),
            "cpu_pct": cpu_pct,
            "cpu_us_per_scan": {
                name: round(1e6 * seconds / self.scans) if self.scans else None
                for name, seconds in self.cpu_s.items()
            },
            "error_samples": self.error_samples[:5],
            **self.extra,
        }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator`` rounded to 3 digits, None when either is missing or zero."""
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, 3)
