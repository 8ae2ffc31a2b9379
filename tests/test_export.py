"""``ult export``: streams to CSV and Parquet, read back equal to what the loader gives."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import redis

import ult.analytics as ua
from ult import demo, keys, run
from ult.analytics import export
from ult.claims import claim
from ult.cli import main
from ult.rules import Rule, set_rule
from ult.scans import scan
from ult.sponsors import register

START = 1_700_000_000_000


@pytest.fixture
def awkward(r: redis.Redis) -> str:
    """A sponsor whose stream has commas, quotes, non-ASCII text, JSON and a claim."""
    reg = register(r, 'Café "Ø", Ltd; 北京', "Gatan 1, 2tr", "SE", "local:awkward", now_ms=START)
    run(
        r,
        set_rule(
            reg.sid, reg.owner_key, Rule(points_needed=2, reward="NA, «free»"), now_ms=START + 1
        ),
    )
    key = "k" * 43
    run(r, scan(reg.sid, key, "n1", "table-1", now_ms=START + 3_600_000))
    run(r, scan(reg.sid, key, "n2", now_ms=START + 9_000_000))
    run(r, claim(reg.sid, key, now_ms=START + 9_100_000))
    return reg.sid


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_round_trip(r: redis.Redis, awkward: str, tmp_path: Path, fmt: str) -> None:
    written = export.export(r, tmp_path, formats=[fmt], progress=False)
    assert [w.path.name for w in written] == [f"sponsors.{fmt}", f"events-{awkward}.{fmt}"]
    events = ua.load_stream(r, awkward, progress=False)
    back = export.read_export(tmp_path / f"events-{awkward}.{fmt}")
    pd.testing.assert_frame_equal(back, events)
    assert set(back["type"].astype(str)) == {"registered", "rule", "scan", "claim"}
    assert back["biz"].iloc[0] == 'Café "Ø", Ltd; 北京'
    sponsors = export.read_export(tmp_path / f"sponsors.{fmt}")
    pd.testing.assert_frame_equal(sponsors, ua.load_sponsors(r), check_flags=False)


def test_round_trip_of_demo_data(r: redis.Redis, tmp_path: Path) -> None:
    config = demo.DemoConfig(sponsors=2, days=14, seed=4, end_ms=1_790_000_000_000)
    report = demo.load(r, config, progress=False)
    written = export.export(r, tmp_path, progress=False)
    assert len(written) == 2 + 2 * 2
    assert sum(w.rows for w in written if w.path.name.startswith("events-")) // 2 == report.entries
    for sponsor in report.sponsors:
        events = ua.load_stream(r, sponsor["sid"], progress=False)
        for fmt in ("csv", "parquet"):
            back = export.read_export(tmp_path / f"events-{sponsor['sid']}.{fmt}")
            pd.testing.assert_frame_equal(back, events)


def test_export_one_stream_from_python(r: redis.Redis, awkward: str, tmp_path: Path) -> None:
    out = export.export_stream(r, awkward, tmp_path / "one.parquet")
    assert out.rows == r.xlen(keys.sponsor_keys(awkward).events)
    assert pd.read_parquet(out.path)["cid"].dropna().str.len().eq(12).all()  # short ids only
    with pytest.raises(ValueError):
        export.export_stream(r, awkward, tmp_path / "one.xlsx")


def test_cli(
    r: redis.Redis, awkward: str, redis_url: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)
    other = register(r, "Other", "Road 2", "SE", "local:other", now_ms=START + 10_000_000).sid
    assert main(["export", awkward, "--format", "csv", "-o", str(tmp_path), "--quiet"]) == 0
    files = json.loads(capsys.readouterr().out)
    assert [Path(f["file"]).name for f in files] == ["sponsors.csv", f"events-{awkward}.csv"]
    assert len(pd.read_csv(tmp_path / "sponsors.csv")) == 1  # only the sponsor asked for
    assert main(["export", "-o", str(tmp_path / "all"), "--quiet"]) == 0
    names = sorted(p.name for p in (tmp_path / "all").iterdir())
    assert f"events-{other}.parquet" in names and len(names) == 6
    assert main(["export", "no-such-sid", "-o", str(tmp_path), "--quiet"]) == 2
    assert "no-such-sid" in capsys.readouterr().err
