"""Load sweep: latency at fixed fractions of the measured maximum rate (open loop).

Closed-loop clients hide queueing: a slow ack just slows the next request. Here scans
start on a fixed schedule whatever the acks do, and each latency counts from the scan's
scheduled start, so the point where latency bends shows up (no coordinated omission).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ult.bench.scans import LoadPlan, run_load
from ult.bench.stats import RunResult

FRACTIONS = (0.25, 0.50, 0.75, 1.00)


def sweep_point(result: RunResult, fraction: float) -> dict[str, Any]:
    """One row of the sweep, with the fixed keys first."""
    s = result.summary()
    return {
        "load_fraction": fraction,
        "rate_per_s": s["rate_per_s"],
        "p50_ms": s["p50_ms"],
        "p99_ms": s["p99_ms"],
        "achieved_per_s": s["per_s"],
        "p95_ms": s["p95_ms"],
        "max_ms": s["max_ms"],
        "errors": s["errors"],
        "cpu_pct": s["cpu_pct"],
        "error_samples": s["error_samples"],
    }


def run_sweep(
    base: LoadPlan,
    max_rate: float,
    duration_s: float,
    watch: dict[str, list[int]],
    load: Callable[[LoadPlan, dict[str, list[int]]], RunResult] = run_load,
    progress: Callable[[str], None] = lambda _: None,
    fractions: tuple[float, ...] = FRACTIONS,
) -> tuple[list[dict[str, Any]], list[RunResult]]:
    """Open-loop runs at ``fraction × max_rate`` for ``duration_s`` each: rows and raw runs."""
    rows, runs = [], []
    for fraction in fractions:
        rate = max(1.0, fraction * max_rate)
        plan = replace(
            base, label=f"sweep {fraction:.0%}", rate=rate, duration_s=duration_s, scans=0
        )
        progress(f"sweep: {fraction:.0%} of max = {rate:,.0f} scans/s for {duration_s:g} s")
        result = load(plan, watch)
        rows.append(sweep_point(result, fraction))
        runs.append(result)
    return rows, runs
