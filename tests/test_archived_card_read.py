"""A card `ult archive --trim-days` moved to the lake shows its visits and points on the
customer's wallet page (the `card` event over a real Socket.IO client and `ult serve`), is back
in Redis after that read, and its next scan continues from them."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import socketio
from support.service import running_service

from ult import run
from ult.analytics import lake
from ult.clock import DAY_MS, now_ms
from ult.identity import card_id
from ult.keys import sponsor_keys
from ult.scans import scan

KEY = "w" * 43


@pytest.fixture(scope="module")
def service(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """A service of this module's own: (its URL, its lake)."""
    var = tmp_path_factory.mktemp("var")
    with running_service(redis_url, var) as base:
        yield base, var / "lake"


@pytest.fixture
async def client(service: tuple, r: redis.Redis) -> AsyncIterator[tuple]:
    """A Socket.IO client of that service, and its lake (emptied afterwards)."""
    base, lake_dir = service
    c = socketio.AsyncClient(reconnection=False)
    await c.connect(base, transports=["websocket"])
    yield c, lake_dir
    await c.disconnect()
    shutil.rmtree(lake_dir, ignore_errors=True)


async def test_an_archived_card_reads_as_it_was_and_scans_on(client, make_sponsor, r) -> None:
    c, lake_dir = client
    sid = make_sponsor(cooldown_min=0)["sid"]
    away = now_ms() - 90 * DAY_MS
    for i in range(3):
        run(r, scan(sid, KEY, nonce=f"n{i}", now_ms=away + i * 60_000))
    k = sponsor_keys(sid)
    assert lake.archive(r, lake_dir, trim_days=30).cards == 1
    assert not r.hexists(k.cards, card_id(KEY)), "the card left Redis for the lake"

    card = await c.call("card", {"sid": sid, "key": KEY})
    assert card["ok"] and (card["visits"], card["points"]) == (3, 3)
    assert r.hexists(k.cards, card_id(KEY)), "restored by the read, as a scan restores"

    ack = await c.call("scan", {"sid": sid, "key": KEY, "nonce": "back"})
    assert ack["ok"] and (ack["visits"], ack["points"]) == (4, 4)


async def test_a_new_card_reads_as_zero_and_leaves_nothing(client, make_sponsor, r) -> None:
    c, lake_dir = client
    sid = make_sponsor()["sid"]
    run(r, scan(sid, KEY, now_ms=now_ms() - 90 * DAY_MS))
    assert lake.archive(r, lake_dir, trim_days=30).cards == 1  # the sponsor has a filter
    card = await c.call("card", {"sid": sid, "key": "n" * 43})
    assert card["ok"] and (card["visits"], card["points"], card["history"]) == (0, 0, [])
    assert r.hlen(sponsor_keys(sid).cards) == 0, "reading a card never creates one"
