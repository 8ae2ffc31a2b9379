"""The schema version and `ult migrate`, on data written in the format of version 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import redis

from ult import keys, run
from ult.claims import claim, decide, list_claims
from ult.errors import UltError
from ult.migrate import check_version, data_version, migrate
from ult.scans import scan
from ult.schema import CARD_RECORD, SCHEMA_VERSION, CardRecord
from ult.sponsors import register

T0 = 1_790_000_000_000
DAY = 86_400_000


def old_sponsor(r: redis.Redis, n: int, claims: int = 0) -> dict:
    """A sponsor with cards and claims as version 1 stored them: 8-field card records, no
    indexes of cards or claims, no version key."""
    reg = register(r, "Fika Sisters", f"Storgatan {n}", "SE", f"local:migrate-{n}")
    for i in range(max(claims, 1)):
        key = f"{'K' * 38}{i:02d}"
        for day in range(10 if i < claims else 1):
            run(r, scan(reg.sid, key, now_ms=T0 + day * DAY))
        if i < claims:
            run(r, claim(reg.sid, key, now_ms=T0 + 10 * DAY))
    k = keys.sponsor_keys(reg.sid)
    for cid, rec in r.hgetall(k.cards).items():
        r.hset(k.cards, cid, "|".join(rec.split("|")[:8]))
    r.delete(k.top, k.claimed, k.requested, keys.SCHEMA)
    return {"sid": reg.sid, "owner_key": reg.owner_key}


def test_unversioned_data_is_version_1_and_an_empty_redis_is_stamped(r):
    assert data_version(r) is None
    check_version(r)
    assert r.get(keys.SCHEMA) == str(SCHEMA_VERSION)
    r.flushall()
    old_sponsor(r, 1)
    assert data_version(r) == 1
    with pytest.raises(UltError) as e:
        check_version(r)
    assert e.value.code == "schema_older" and "ult migrate" in e.value.message


def test_migrate_builds_the_indexes_and_old_records_keep_working(r):
    s = old_sponsor(r, 1, claims=2)
    k = keys.sponsor_keys(s["sid"])
    assert all(len(rec.split("|")) == 8 for rec in r.hvals(k.cards))
    report = migrate(r)
    assert (report.before, report.after, report.sponsors) == (1, SCHEMA_VERSION, {2: 1})
    assert r.zcard(k.top) == r.hlen(k.cards) == 2
    assert r.zcard(k.claimed) == 2 and r.zcard(k.requested) == 0
    assert len(run(r, list_claims(s["sid"], now_ms=T0 + 11 * DAY))) == 2
    # an 8-field record reads as refused_ms = refused_n = 0, and the scripts take it on
    cid, rec = next(iter(r.hgetall(k.cards).items()))
    assert CardRecord.parse(rec).refused_n == 0
    key = f"{'K' * 38}00"
    after = run(r, scan(s["sid"], key, now_ms=T0 + 20 * DAY))
    assert after.visits == 11
    with pytest.raises(UltError):
        run(r, scan(s["sid"], key, now_ms=T0 + 20 * DAY + 1000))  # cooldown
    assert len(r.hget(k.cards, cid).split("|")) == len(CARD_RECORD)
    assert migrate(r).summary().endswith("nothing to do.")  # idempotent


def test_after_the_migration_a_decision_leaves_every_claim_listed(r):
    old = old_sponsor(r, 1, claims=3)
    stored = r.hgetall(keys.sponsor_keys(old["sid"]).claims)
    some = next(json.loads(v)["id"] for c, v in stored.items() if not c.startswith("card:"))
    migrate(r)
    # a decision indexes its one claim: on unmigrated data it would hide the other two
    run(r, decide(old["sid"], old["owner_key"], some, "void", now_ms=T0 + 10 * DAY + 1000))
    assert len(run(r, list_claims(old["sid"], now_ms=T0 + 10 * DAY + 2000))) == 3


def test_a_stopped_migration_resumes(r):
    a, b = old_sponsor(r, 1), old_sponsor(r, 2)
    r.sadd(keys.migration_progress(2), a["sid"])  # a run stopped after the first sponsor
    report = migrate(r)
    assert report.sponsors == {2: 1}
    assert r.zcard(keys.sponsor_keys(b["sid"]).top) == 1
    assert not r.exists(keys.migration_progress(2))


def ult(*args: str, url: str, tmp) -> subprocess.CompletedProcess:
    env = dict(os.environ, REDIS_URL=url, ULT_VAR_DIR=str(tmp))
    return subprocess.run(
        [sys.executable, "-m", "ult", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_service_and_dashboard_refuse_other_versions(r, redis_url, tmp_path):
    old_sponsor(r, 1)
    for command in (["serve", "--port", "9"], ["dashboard", "--port", "9"]):
        done = ult(*command, url=redis_url, tmp=tmp_path)
        assert done.returncode == 2
        assert done.stderr.strip() == (
            f"ult: The data in Redis is schema version 1, older than this ULT 0.1.0 "
            f"(schema {SCHEMA_VERSION}): run `ult migrate` first."
        )
    done = ult("migrate", url=redis_url, tmp=tmp_path)
    assert done.returncode == 0 and "from schema 1 to 2" in done.stdout
    r.set(keys.SCHEMA, SCHEMA_VERSION + 1)
    for command in (["serve", "--port", "9"], ["migrate"]):
        done = ult(*command, url=redis_url, tmp=tmp_path)
        assert done.returncode == 2 and done.stderr.count("\n") == 1
        assert f"schema version {SCHEMA_VERSION + 1}, newer" in done.stderr
        assert f"(schema {SCHEMA_VERSION})" in done.stderr
