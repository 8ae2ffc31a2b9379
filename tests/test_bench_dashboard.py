"""``ult bench``'s dashboard stage: a first visit in a fresh private window and a returning
sponsor's browser with its own profile each reach the page's control (not how fast)."""

from __future__ import annotations

import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ult.bench.dashboard import READY_NAME, RETURNING_NAME, time_dashboard

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_both_loads_reach_their_control(redis_url: str, tmp_path: Path) -> None:
    # a thread of its own: the session's browser already runs Playwright's loop in this one
    with ThreadPoolExecutor(1) as pool:
        job = pool.submit(time_dashboard, redis_url, tmp_path / "var", tmp_path, runs=1)
        res = job.result(timeout=300)
    assert len(res["runs_s"]) == 1 and len(res["returning_runs_s"]) == 1
    assert res["median_s"] > 0 and res["returning_median_s"] > 0
    assert READY_NAME in res["ready_selector"] and RETURNING_NAME in res["returning_selector"]
    left = [p.name for p in Path(tempfile.gettempdir()).glob("ult-bench-profile-*")]
    assert not left, f"browser profiles left behind: {left}"
