"""Scale-out: the same closed-loop run against 2 service processes sharing one Redis.

The processes share Socket.IO rooms through python-socketio's Redis manager (the service
always runs with it); clients alternate between the two URLs. The 1-process reference is
run again right before the 2-process run, so both see the same machine (on a shared
machine, minutes apart can differ more than the effect measured). The ratio says how much
a second process buys here — which needs a free core: read it with the core count.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ult.bench.procs import Child
from ult.bench.scans import LoadPlan, run_load
from ult.bench.stats import RunResult, ratio


def run_scale_out(
    base: LoadPlan,
    services: list[Child],
    redis_pids: list[int],
    load: Callable[[LoadPlan, dict[str, list[int]]], RunResult] = run_load,
) -> RunResult:
    """Closed loop with the clients spread over ``services`` (client i → service i mod n)."""
    label = f"ULT, {len(services)} service process(es)"
    plan = replace(base, label=label, targets=tuple(s.url for s in services))
    watch = {f"service{i + 1}": [s.pid] for i, s in enumerate(services)}
    watch["redis"] = redis_pids
    return load(plan, watch)


def scale_out_summary(one: RunResult, many: RunResult, processes: int) -> dict[str, Any]:
    """The scale-out figures for the report."""
    return {
        "service_processes": processes,
        "one_process_per_s": round(one.per_s, 1),
        "one_process_run": one.summary(),
        "per_s": round(many.per_s, 1),
        "ratio": ratio(many.per_s, one.per_s),
        "run": many.summary(),
    }
