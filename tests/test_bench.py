"""``ult bench``: a small smoke run (few clients, few scans, no dashboard) — not its speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ult.bench.report import FIXED_KEYS, targets
from ult.bench.stats import RunResult, percentile

SMOKE = [
    "--quick",
    "--json",
    "--clients", "4",
    "--scans", "200",
    "--sponsors", "3",
    "--client-procs", "1",
    "--sweep-seconds", "0.5",
    "--memory-scans", "500",
    "--no-dashboard",
]  # fmt: skip


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([], 0.5) is None


def test_run_summary_and_targets() -> None:
    run = RunResult("x", scans=4, elapsed_s=2.0, latencies_ms=[1.0, 2.0, 3.0, 4.0])
    run.cpu_s = {"service": 1.0}
    summary = run.summary()
    assert summary["per_s"] == 2.0
    assert summary["cpu_us_per_scan"] == {"service": 250_000}
    checked = targets(
        {
            "ratio_vs_socketio": 0.35,
            "p99_ms_at_half_load": 10.0,
            "redis_bytes_per_scan": None,
            "scale_out_ratio": 1.6,
            "dashboard_interactive_s": None,
        }
    )
    assert checked["ratio_vs_socketio_min"] == {
        "target": 0.7,
        "value": 0.35,
        "met": False,
        "missed_by": 0.5,
    }
    assert checked["p99_ms_at_half_load_max"]["met"] is True
    assert checked["redis_bytes_per_scan_max"]["met"] is None


@pytest.mark.slow
def test_bench_smoke_run_reports_numbers_without_errors(tmp_path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ult", "bench", *SMOKE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=_clean_env(),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(proc.stdout)
    assert all(key in res for key in FIXED_KEYS)
    assert res["errors"] == 0 and res["errors_closed_loop_runs"] == 0, res["details"]
    for key in ("scans_per_s", "socketio_baseline_per_s", "redis_baseline_per_s"):
        assert res[key] > 0
    assert res["ratio_vs_socketio"] > 0 and res["ratio_vs_redis"] > 0
    assert 0 < res["p50_ms"] <= res["p95_ms"] <= res["p99_ms"]
    assert [p["load_fraction"] for p in res["sweep"]] == [0.25, 0.5, 0.75, 1.0]
    assert all(p["rate_per_s"] > 0 and p["p99_ms"] is not None for p in res["sweep"])
    assert res["redis_bytes_per_scan"] > 0
    assert res["service_rss_mb"] > 0
    assert res["scale_out_ratio"] > 0
    assert res["dashboard_interactive_s"] is None  # --no-dashboard
    assert res["machine"]["cores"] >= 1 and res["machine"]["server_version"]


def _clean_env() -> dict[str, str]:
    """Our environment without project settings (the bench starts its own everything)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ULT_", "REDIS_URL"))}
