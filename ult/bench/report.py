"""Results: the JSON object (its first keys are a fixed interface) and the printed table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ult.bench.stats import RunResult, ratio

# The keys other tools read. Never rename or remove one.
FIXED_KEYS = (
    "scans_per_s",
    "socketio_baseline_per_s",
    "redis_baseline_per_s",
    "ratio_vs_socketio",
    "ratio_vs_redis",
    "p50_ms",
    "p95_ms",
    "p99_ms",
    "errors",
    "sweep",
    "redis_bytes_per_scan",
    "service_rss_mb",
    "scale_out_ratio",
    "dashboard_interactive_s",
    "machine",
)


NOISY_PCT = 25.0


@dataclass
class Collected:
    """What the stages produced, before it becomes the results object."""

    config: Any = None
    machine: dict[str, Any] = field(default_factory=dict)
    ult: RunResult | None = None
    bare: RunResult | None = None
    xadd: RunResult | None = None
    sweep: list[dict[str, Any]] = field(default_factory=list)
    sweep_runs: list[RunResult] = field(default_factory=list)
    service_rss_mb: float | None = None
    scale_runs: list[RunResult] = field(default_factory=list)
    scale_out: dict[str, Any] | None = None
    memory: dict[str, Any] | None = None
    dashboard: dict[str, Any] | None = None
    skipped: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def runs(self) -> list[RunResult]:
        """Every load run."""
        found = [self.ult, self.bare, self.xadd, *self.sweep_runs, *self.scale_runs]
        return [run for run in found if run is not None]

    def closed_loop_errors(self) -> int:
        """Failed scans of the closed-loop runs (and refused scans of the memory stage).

        These must be 0. The sweep's open-loop runs are counted apart: offered more than
        the service can do (its top point), a service *should* refuse some scans.
        """
        memory_errors = self.memory["errors"] if self.memory else 0
        runs = [self.ult, self.bare, self.xadd, *self.scale_runs]
        return sum(run.errors for run in runs if run is not None) + memory_errors

    def cpu_ratio(self) -> float | None:
        """Server CPU per bare Socket.IO event / service CPU per ULT scan.

        What the throughput ratio would be if each server had a core to itself: robust to
        other work on the machine and to the client's share of the cores.
        """
        if not (self.ult and self.bare and self.ult.scans and self.bare.scans):
            return None
        ult = self.ult.cpu_s.get("service", 0) / self.ult.scans
        bare = self.bare.cpu_s.get("server", 0) / self.bare.scans
        return ratio(bare, ult)

    def noisy_runs(self) -> list[str]:
        """Runs during which other work used more than NOISY_PCT of one core."""
        noisy = []
        for run in self.runs():
            if run.other_pct is not None and run.other_pct > NOISY_PCT:
                noisy.append(f"{run.label} (other load {run.other_pct}%)")
        return noisy

    def results(self) -> dict[str, Any]:
        """The JSON-ready results: the fixed keys, then targets and details."""
        ult = self.ult.summary() if self.ult else {}
        sweep_half = next((p for p in self.sweep if p["load_fraction"] == 0.5), None)
        out: dict[str, Any] = {
            "scans_per_s": ult.get("per_s"),
            "socketio_baseline_per_s": _per_s(self.bare),
            "redis_baseline_per_s": _per_s(self.xadd),
            "ratio_vs_socketio": ratio(_per_s(self.ult), _per_s(self.bare)),
            "ratio_vs_redis": ratio(_per_s(self.ult), _per_s(self.xadd)),
            "p50_ms": ult.get("p50_ms"),
            "p95_ms": ult.get("p95_ms"),
            "p99_ms": ult.get("p99_ms"),
            "errors": self.ult.errors if self.ult else None,
            "sweep": self.sweep,
            "redis_bytes_per_scan": self.memory["bytes_per_scan"] if self.memory else None,
            "service_rss_mb": self.service_rss_mb,
            "scale_out_ratio": self.scale_out["ratio"] if self.scale_out else None,
            "dashboard_interactive_s": self.dashboard["median_s"] if self.dashboard else None,
            "machine": self.machine,
            "dashboard_returning_s": (
                self.dashboard.get("returning_median_s") if self.dashboard else None
            ),
            "max_ms": ult.get("max_ms"),
            "p99_ms_at_half_load": sweep_half["p99_ms"] if sweep_half else None,
            "errors_closed_loop_runs": self.closed_loop_errors(),
            "errors_sweep": sum(run.errors for run in self.sweep_runs),
        }
        out["cpu_ratio_vs_socketio"] = self.cpu_ratio()
        out["noisy_runs"] = self.noisy_runs()
        out["targets"] = targets(out)
        out["details"] = {
            "ult": ult,
            "socketio_baseline": self.bare.summary() if self.bare else None,
            "redis_baseline": self.xadd.summary() if self.xadd else None,
            "scale_out": self.scale_out,
            "memory": self.memory,
            "dashboard": self.dashboard,
            "skipped": self.skipped,
            **self.extra,
        }
        out["config"] = _config(self.config)
        return out


def _per_s(run: RunResult | None) -> float | None:
    return round(run.per_s, 1) if run else None


def _config(cfg: Any) -> dict[str, Any]:
    if cfg is None:
        return {}
    values = asdict(cfg)
    values["client_processes"] = cfg.processes
    return values


def _check(value: float | None, target: float, higher_is_better: bool) -> dict[str, Any]:
    """A target, the value reached, whether it is met and by how much it is missed."""
    if value is None:
        return {"target": target, "value": None, "met": None, "missed_by": None}
    met = value >= target if higher_is_better else value <= target
    missed_by = None if met else round(abs(target - value) / target, 3)
    return {"target": target, "value": value, "met": met, "missed_by": missed_by}


def targets(out: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets against this run (``missed_by``: fraction of the target)."""
    return {
        "ratio_vs_socketio_min": _check(out["ratio_vs_socketio"], 0.70, True),
        "p99_ms_at_half_load_max": _check(out["p99_ms_at_half_load"], 25.0, False),
        "redis_bytes_per_scan_max": _check(out["redis_bytes_per_scan"], 150.0, False),
        "scale_out_ratio_min": _check(out["scale_out_ratio"], 1.6, True),
        "dashboard_interactive_s_max": _check(out["dashboard_interactive_s"], 3.0, False),
        "dashboard_returning_s_max": _check(out.get("dashboard_returning_s"), 2.0, False),
    }


def to_json(results: dict[str, Any]) -> str:
    return json.dumps(results, indent=2, ensure_ascii=False)


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _run_row(name: str, run: dict[str, Any] | None) -> str:
    if not run:
        return f"  {name:<26} (not run)"
    cpu = " ".join(f"{k} {v}" for k, v in run["cpu_us_per_scan"].items())
    other = run["cpu_pct"].get("other")
    cpu += f"  (other load {other}%)" if other is not None else ""
    return (
        f"  {name:<26} {_fmt(run['per_s'], 0):>8} {_fmt(run['p50_ms']):>7} {_fmt(run['p95_ms']):>7}"
        f" {_fmt(run['p99_ms']):>7} {_fmt(run['max_ms']):>8} {_fmt(run['errors']):>6}   {cpu}"
    )


def render_table(res: dict[str, Any]) -> str:
    """The human-readable report."""
    m, d = res["machine"], res["details"]
    cfg = res["config"]
    lines = [
        f"ULT bench — {m['cores']} cores ({m['cpu_model']}), Python {m['python']}, "
        f"{m['server']} {m['server_version']} (AOF {m['appendfsync']}), "
        f"load average at start {m['load_avg_at_start'][0]}",
        f"{cfg['clients']} clients in {cfg['client_processes']} process(es), "
        f"{cfg['scans']:,} scans per closed-loop run, {cfg['sponsors']} sponsors\n"
        "a visit is what the scan page sends: one `scan` event, whose answer carries the card",
        "",
        f"  {'run':<26} {'per s':>8} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} {'max ms':>8}"
        f" {'errors':>6}   CPU µs per scan",
        _run_row("ULT end-to-end", d["ult"]),
        _run_row("bare Socket.IO (ceiling)", d["socketio_baseline"]),
        _run_row("raw Redis XADD (ceiling)", d["redis_baseline"]),
        _run_row("ULT, 1 process (again)", (d["scale_out"] or {}).get("one_process_run")),
        _run_row("ULT, 2 service processes", (d["scale_out"] or {}).get("run")),
        "",
        f"  ULT / bare Socket.IO {_fmt(res['ratio_vs_socketio'], 3)} "
        f"(by server CPU per event {_fmt(res['cpu_ratio_vs_socketio'], 3)})   "
        f"ULT / raw XADD {_fmt(res['ratio_vs_redis'], 3)}   "
        f"2 processes / 1 {_fmt(res['scale_out_ratio'], 3)}",
        "",
        "  load sweep (open loop)   rate/s  achieved   p50 ms  p99 ms  errors   CPU % (100 = a core)",
    ]
    for p in res["sweep"]:
        lines.append(
            f"  {p['load_fraction']:>6.0%} of max         {_fmt(p['rate_per_s'], 0):>7}"
            f" {_fmt(p['achieved_per_s'], 0):>9} {_fmt(p['p50_ms']):>8} {_fmt(p['p99_ms']):>7}"
            f" {p['errors']:>7}   {_cpu_split(p['cpu_pct'])}"
        )
    lines += ["", *_memory_lines(res), *_dashboard_lines(res), "", *_target_lines(res)]
    if res["noisy_runs"]:
        lines.append("measured beside other work: " + "; ".join(res["noisy_runs"]))
    lines.append(
        f"errors: ULT end-to-end {res['errors']}, all closed-loop runs "
        f"{res['errors_closed_loop_runs']}, load sweep {res['errors_sweep']}"
        f"   (run took {d.get('duration_s')} s)"
    )
    return "\n".join(lines)


def _cpu_split(cpu_pct: dict[str, float | None]) -> str:
    """``196% = clients 84 service 84 redis 28 other 0``: CPU of all cores, and its parts."""
    total = sum(v or 0.0 for v in cpu_pct.values())
    return f"{total:.0f}% = " + " ".join(f"{k} {v or 0:.0f}" for k, v in cpu_pct.items())


def _memory_lines(res: dict[str, Any]) -> list[str]:
    mem = res["details"]["memory"]
    rss = res["service_rss_mb"]
    if not mem:
        return [f"  service RSS after the ULT run: {_fmt(rss)} MB"]
    return [
        f"  Redis: {_fmt(mem['bytes_per_scan'])} bytes per scan after {mem['scans']:,} scans "
        f"({mem['sponsors']} sponsors, {mem['cards']:,} cards); one stream "
        f"{_fmt(mem['stream_bytes_per_entry'])} B/entry, one card {_fmt(mem['card_bytes_each'])} B",
        f"  service RSS: {_fmt(res['details'].get('service_rss_idle_mb'))} MB idle, "
        f"{_fmt(rss)} MB after the ULT run",
    ]


def _dashboard_lines(res: dict[str, Any]) -> list[str]:
    dash = res["details"]["dashboard"]
    if not dash:
        reason = res["details"]["skipped"].get("dashboard", "not run")
        return [f"  dashboard interactive: — ({reason})"]
    lines = []
    for label, key in (("first visit", ""), ("returning sponsor", "returning_")):
        if f"{key}median_s" in dash:
            runs = ", ".join(f"{t:.2f}" for t in dash[f"{key}runs_s"])
            median = dash[f"{key}median_s"]
            lines.append(f"  dashboard interactive, {label}: median {median:.2f} s (runs: {runs})")
    return lines


def _target_lines(res: dict[str, Any]) -> list[str]:
    lines = ["targets:"]
    for name, t in res["targets"].items():
        if t["met"] is None:
            state = "not measured"
        elif t["met"]:
            state = "met"
        else:
            state = f"MISSED by {t['missed_by']:.0%}"
        lines.append(
            f"  {name:<30} target {t['target']:<6} value {_fmt(t['value'], 3):<10} {state}"
        )
    return lines
