"""benchmarks/phone.py in its smoke mode: a real phone page reaches "Visit N recorded" twice."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.browser
@pytest.mark.slow
def test_smoke_run_shows_a_first_and_a_next_visit(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "phone.py"), "--smoke", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["runs"] == 1
    for kind, visit in (("first", 1), ("next", 2)):
        assert out[kind]["median_ms"] > 0
        rows = out[kind]["waterfall"]
        assert any(r["note"] == f"Visit {visit} recorded" for r in rows)
        assert any(r["what"] == "scan sent → ack" for r in rows)
    assert out["first"]["link"]["connections_to_shown"] >= 1
    assert out["first"]["link"]["bytes_down_to_shown"] > 0
    assert out["blocked_requests"] == []
