"""Ops run the same way on sync and asyncio clients, alone or batched by AutoPipeline."""

import asyncio

import pytest
import redis.asyncio
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from ult import arun, run
from ult.cards import read_card
from ult.embedded import free_port
from ult.errors import UltError
from ult.identity import card_id
from ult.ops import AutoPipeline, script_source
from ult.scans import scan
from ult.schema import lua_header

KEY = "k" * 43


async def test_concurrent_scans_share_pipelines_and_count_exactly(ar, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    rp = AutoPipeline(ar)
    pipelines = 0
    make_pipeline = ar.pipeline

    def counting_pipeline(*args, **kwargs):
        nonlocal pipelines
        pipelines += 1
        return make_pipeline(*args, **kwargs)

    ar.pipeline = counting_pipeline
    results = await asyncio.gather(
        *(rp.run(scan(s["sid"], KEY, nonce=f"n{i}")) for i in range(100))
    )
    assert sorted(res.visits for res in results) == list(range(1, 101))
    assert pipelines < 10  # started in one tick: a handful of round trips, not 100
    assert (await arun(ar, read_card(s["sid"], KEY))).visits == 100


def evalsha_calls(r) -> int:
    return int(r.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))


async def test_the_scans_of_one_tick_are_one_script_call(ar, r, make_sponsor):
    sponsors = [make_sponsor(f"Cafe {i}", cooldown_min=0) for i in range(3)]
    rp = AutoPipeline(ar)
    await rp.run(scan(sponsors[0]["sid"], KEY))  # loads the script
    before = evalsha_calls(r)
    keys = [f"{i:02d}" + "k" * 41 for i in range(30)]
    results = await asyncio.gather(*(rp.run(scan(s["sid"], key)) for s in sponsors for key in keys))
    assert evalsha_calls(r) - before == 1
    assert [res.visits for res in results] == [1] * 90
    assert {res.sid for res in results} == {s["sid"] for s in sponsors}


async def test_a_scan_that_fails_in_the_script_fails_alone(ar, r, make_sponsor):
    """A broken card record makes its own scan fail; the other scans of the call count."""
    s = make_sponsor(cooldown_min=0)
    broken = "b" * 43
    r.hset(f"ult:{{{s['sid']}}}:cards", card_id(broken), "not|a|card")
    rp = AutoPipeline(ar)
    results = await asyncio.gather(
        rp.run(scan(s["sid"], KEY, nonce="a")),
        rp.run(scan(s["sid"], broken)),
        rp.run(scan(s["sid"], KEY, nonce="b")),
        return_exceptions=True,
    )
    assert [res.visits for res in (results[0], results[2])] == [1, 2]
    assert isinstance(results[1], redis.exceptions.ResponseError)
    assert r.hget(f"ult:{{{s['sid']}}}:cards", card_id(broken)) == "not|a|card"


async def test_each_caller_gets_its_own_result_or_error(ar, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    rp = AutoPipeline(ar)
    good, bad = await asyncio.gather(
        rp.run(scan(s["sid"], KEY)), rp.run(scan("no-such-cafe", KEY)), return_exceptions=True
    )
    assert good.visits == 1
    assert isinstance(bad, UltError) and bad.code == "unknown_sponsor"


async def test_scripts_are_loaded_again_after_a_script_flush(ar, r, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    rp = AutoPipeline(ar)
    assert (await rp.run(scan(s["sid"], KEY))).visits == 1
    r.script_flush()
    results = await asyncio.gather(*(rp.run(scan(s["sid"], KEY, nonce=f"x{i}")) for i in range(5)))
    assert sorted(res.visits for res in results) == [2, 3, 4, 5, 6]
    assert run(r, read_card(s["sid"], KEY)).visits == 6


async def test_a_dead_server_fails_every_caller_of_the_batch():
    no_retry = Retry(NoBackoff(), 0)
    client = redis.asyncio.Redis(port=free_port(), socket_connect_timeout=0.5, retry=no_retry)
    rp = AutoPipeline(client)
    results = await asyncio.gather(
        *(rp.run(scan("fika-1234", KEY)) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(e, redis.exceptions.ConnectionError) for e in results)
    await client.aclose()


def test_sync_run_reports_errors_the_same_way(r):
    with pytest.raises(UltError) as e:
        run(r, scan("no-such-cafe", KEY))
    assert e.value.code == "unknown_sponsor"


def test_each_script_gets_the_generated_header_it_uses() -> None:
    """``script_source`` prepends the tables of ``ult.schema.lua_header`` the script names
    (each is built on every call), then ``lib.lua``."""
    scan_source, sha = script_source("scan")
    assert scan_source.startswith(lua_header(scan_source))
    assert "local F = {" in scan_source and "local SCAN_REPLY = {" in scan_source
    assert "local DECIDE_REPLY" not in scan_source
    assert "local DECIDE_REPLY = {" in script_source("decide")[0]
    assert len(sha) == 40 and script_source("scan") == (scan_source, sha)
