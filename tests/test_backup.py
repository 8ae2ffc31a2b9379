"""`ult backup` and `ult restore` on a real Valkey and on the real cluster: after backup →
FLUSHALL → restore everything is back, scans continue where they were, analytics agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest
import redis
from redis.cluster import RedisCluster

import ult.analytics as ua
from ult import demo, keys, run
from ult.backup import backup, read_manifest, restore
from ult.claims import claim, list_claims
from ult.connection import Client, connect
from ult.errors import UltError
from ult.keyspace import scan_keys
from ult.scans import scan
from ult.schema import SCHEMA_VERSION, CardRecord
from ult.sponsors import register
from ult.staff import create_staff_key, key_holder

END_MS = 1_790_000_000_000
DAY = 86_400_000
KEY = "A" * 40  # a customer's card key


def raw(url: str) -> Client:
    return connect(url=url, decode_responses=False)


def value(c: Client, key: str) -> object:
    """A key's type and value, in a form that compares equal however Redis encodes it."""
    kind = c.type(key)
    if kind == "stream":
        return kind, c.xrange(key), c.xinfo_stream(key)["last-generated-id"]
    read = {
        "hash": c.hgetall,
        "set": c.smembers,
        "zset": lambda k: c.zrange(k, 0, -1, withscores=True),
        "string": c.get,
        "list": lambda k: c.lrange(k, 0, -1),
    }
    return kind, read[kind](key), c.pttl(key) > 0


def contents(url: str) -> dict[str, object]:
    """Every ULT key (but the version) with its value."""
    c = connect(url=url)
    return {k: value(c, k) for k in sorted(scan_keys(c)) if k != keys.SCHEMA}


def figures(r: Client) -> tuple[pd.DataFrame, pd.DataFrame]:
    events = ua.load_events(r, progress=False, lake=False)
    return events, ua.reward_funnel(events)


def shop(r: Client, n: int = 1) -> dict:
    reg = register(r, "Fika Sisters", f"Storgatan {n}", "SE", f"local:backup-{n}")
    return {"sid": reg.sid, "owner_key": reg.owner_key}


def test_backup_flush_restore_brings_everything_back(r: redis.Redis, redis_url, tmp_path):
    demo.load(r, demo.DemoConfig(sponsors=3, days=14, seed=11, end_ms=END_MS), progress=False)
    s = shop(r)
    staff_key = run(r, create_staff_key(s["sid"], s["owner_key"], "Ada"))
    first = run(r, scan(s["sid"], KEY, nonce="n1", now_ms=END_MS))
    before, (events, funnel) = contents(redis_url), figures(r)
    claims_before = run(r, list_claims(s["sid"], now_ms=END_MS))
    (tmp_path / "lake" / "_bookmarks").mkdir(parents=True)
    (tmp_path / "lake" / "_bookmarks" / f"{s['sid']}.json").write_text('{"last": "1-0"}')

    manifest = backup(raw(redis_url), tmp_path / "b", tmp_path / "lake" / "_bookmarks")
    assert manifest.schema_version == SCHEMA_VERSION and manifest.sponsors == 4
    assert manifest.entries["cards"] > 0 and manifest.bookmarks == 1
    assert read_manifest(tmp_path / "b").keys == manifest.keys == len(before)

    r.flushall()
    (tmp_path / "lake" / "_bookmarks" / f"{s['sid']}.json").unlink()
    restore(raw(redis_url), tmp_path / "b", tmp_path / "lake" / "_bookmarks")
    assert contents(redis_url) == before
    assert r.get(keys.SCHEMA) == str(SCHEMA_VERSION)
    assert (tmp_path / "lake" / "_bookmarks" / f"{s['sid']}.json").exists()
    restored_events, restored_funnel = figures(r)
    pd.testing.assert_frame_equal(restored_events, events)
    pd.testing.assert_frame_equal(restored_funnel, funnel)
    assert run(r, list_claims(s["sid"], now_ms=END_MS)) == claims_before
    assert run(r, key_holder(s["sid"], staff_key)).who == "Ada"
    # scans go on where they were: the retried nonce, the cooldown, the next visit
    again = run(r, scan(s["sid"], KEY, nonce="n1", now_ms=END_MS + 1000))
    assert again.entry_id == "" and again.visits == first.visits
    with pytest.raises(UltError) as e:
        run(r, scan(s["sid"], KEY, nonce="n2", now_ms=END_MS + 2000))
    assert e.value.code == "cooldown"
    later = run(r, scan(s["sid"], KEY, nonce="n3", now_ms=END_MS + DAY))
    assert later.visits == first.visits + 1


def test_a_backup_during_scans_restores_cards_that_match_their_streams(r, redis_url, tmp_path):
    shops = [shop(r, n) for n in range(1, 4)]
    stop = threading.Event()

    def scanning() -> None:
        c = connect(url=redis_url)
        t = END_MS
        while not stop.is_set():
            t += DAY
            for i, s in enumerate(shops):
                run(c, scan(s["sid"], f"{KEY[:-2]}{i:02d}", now_ms=t))
        c.close()

    thread = threading.Thread(target=scanning)
    thread.start()
    try:
        for n in range(3):
            backup(raw(redis_url), tmp_path / f"b{n}")
    finally:
        stop.set()
        thread.join()
    r.flushall()
    restore(raw(redis_url), tmp_path / "b1")
    for s in shops:
        k = keys.sponsor_keys(s["sid"])
        scans: dict[str, int] = {}
        for _, f in r.xrange(k.events):
            if f["t"] == "scan":
                scans[f["c"]] = scans.get(f["c"], 0) + 1
        cards = {cid: CardRecord.parse(rec).visits for cid, rec in r.hgetall(k.cards).items()}
        assert cards == scans


def test_restore_refuses_a_redis_with_data_unless_forced(r, redis_url, tmp_path):
    s = shop(r)
    backup(raw(redis_url), tmp_path / "b")
    run(r, scan(s["sid"], KEY, now_ms=END_MS))
    with pytest.raises(UltError) as e:
        restore(raw(redis_url), tmp_path / "b")
    assert e.value.code == "restore_not_empty"
    restore(raw(redis_url), tmp_path / "b", force=True)
    assert r.hlen(keys.sponsor_keys(s["sid"]).cards) == 0  # as it was at the backup


def cli(*args: str, url: str, tmp: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, REDIS_URL=url, ULT_VAR_DIR=str(tmp / "var"))
    return subprocess.run(
        [sys.executable, "-m", "ult", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_commands(r, redis_url, tmp_path):
    s = shop(r)
    run(r, scan(s["sid"], KEY, now_ms=END_MS))
    before = contents(redis_url)
    done = cli("backup", str(tmp_path / "b"), url=redis_url, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "1 sponsors" in done.stdout and "1 cards" in done.stdout
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["format_version"] == 1
    again = cli("backup", str(tmp_path / "b"), url=redis_url, tmp=tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr
    refused = cli("restore", str(tmp_path / "b"), url=redis_url, tmp=tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().count("\n") == 0 and "--force" in refused.stderr
    r.flushall()
    done = cli("restore", str(tmp_path / "b"), url=redis_url, tmp=tmp_path)
    assert done.returncode == 0, done.stderr
    assert contents(redis_url) == before
    nothing = cli("restore", str(tmp_path / "nothing"), url=redis_url, tmp=tmp_path)
    assert nothing.returncode == 2 and "no ULT backup" in nothing.stderr


def test_on_the_cluster_and_from_one_server_into_it(
    rcl: RedisCluster, r, redis_url, cluster, tmp_path
):
    s = shop(rcl)
    for day in range(12):
        run(rcl, scan(s["sid"], KEY, now_ms=END_MS + day * DAY))
    run(rcl, claim(s["sid"], KEY, now_ms=END_MS + 12 * DAY))
    before, (events, funnel) = contents(cluster.url), figures(rcl)
    backup(raw(cluster.url), tmp_path / "b")
    rcl.flushall(target_nodes=RedisCluster.PRIMARIES)
    restore(raw(cluster.url), tmp_path / "b")
    assert contents(cluster.url) == before
    restored_events, restored_funnel = figures(rcl)
    pd.testing.assert_frame_equal(restored_events, events)
    pd.testing.assert_frame_equal(restored_funnel, funnel)
    assert run(rcl, scan(s["sid"], KEY, now_ms=END_MS + 13 * DAY)).visits == 13

    one = shop(r, 2)
    run(r, scan(one["sid"], KEY, now_ms=END_MS))
    backup(raw(redis_url), tmp_path / "single")
    restore(raw(cluster.url), tmp_path / "single", force=True)
    assert run(rcl, scan(one["sid"], KEY, now_ms=END_MS + DAY)).visits == 2
    assert rcl.get(keys.SCHEMA) == str(SCHEMA_VERSION)
