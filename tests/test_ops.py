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
from ult.ops import AutoPipeline
from ult.scans import scan

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
