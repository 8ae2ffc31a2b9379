"""Google Wallet passes through the real service: `ult serve` with Google settings only, pointed
at the stand-in of Google's token endpoint and Wallet API (tests/support/google_stub.py), a real
Socket.IO client; and the pusher's handling of Google's errors."""

from __future__ import annotations

import json
import logging
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
import redis
import socketio
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from support.google_stub import (
    GoogleStub,
    new_rsa_key,
    running_google_stub,
    write_service_account,
)
from support.service import running_service
from support.wait import wait_until

from ult import run
from ult.analytics import lake
from ult.clock import DAY_MS, now_ms
from ult.embedded import EmbeddedServer
from ult.identity import card_id, short_cid
from ult.keys import sponsor_keys
from ult.scans import scan
from ult.wallet import registry
from ult.wallet.google import SAVE_URL, GoogleWallet, ServiceAccount, class_id, object_id
from ult.wallet.push import MAX_ATTEMPTS, Pusher
from ult.wallet.setup import Wallets
from ult.wallet.source import aview

ISSUER = "3388000000022123456"
KEY = "g" * 43
SECRETS = (KEY, card_id(KEY), short_cid(card_id(KEY)))
PUSH_WAIT_S = 10  # the pusher writes a change to Google well within this


@dataclass(frozen=True)
class GoogleService:
    """A running service with Google passes only: its URL, output, lake and the stand-in."""

    url: str
    log: Path
    lake: Path
    google: GoogleStub
    key: RSAPrivateKey
    account: dict[str, str]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A Valkey of this module's own: the session's Apple-only service (``wallet_service``)
    would take this module's serials from a shared outbox and drop them (no Google there)."""
    with EmbeddedServer(tmp_path_factory.mktemp("valkey")) as server:
        yield server


@pytest.fixture(scope="module")
def redis_url(redis_server: EmbeddedServer) -> str:
    return redis_server.url


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture(scope="module")
def google_stub(rsa_key: RSAPrivateKey) -> Iterator[GoogleStub]:
    with running_google_stub(rsa_key.public_key()) as stub:
        yield stub


@pytest.fixture(scope="module")
def service(
    redis_url: str,
    rsa_key: RSAPrivateKey,
    google_stub: GoogleStub,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GoogleService]:
    """`ult serve` with the three Google settings and no Apple ones."""
    var = tmp_path_factory.mktemp("var")
    key_file = var / "service-account.json"
    account = write_service_account(key_file, rsa_key, google_stub.token_uri)
    env = {
        "ULT_GOOGLE_WALLET_ISSUER_ID": ISSUER,
        "ULT_GOOGLE_WALLET_KEY": str(key_file),
        "ULT_GOOGLE_WALLET_API": google_stub.url,
    }
    log = var / "service.log"
    with running_service(redis_url, var, log, **env) as base:
        yield GoogleService(base, log, var / "lake", google_stub, rsa_key, account)


@pytest.fixture
async def phone(service: GoogleService, r: redis.Redis) -> AsyncIterator[socketio.AsyncClient]:
    c = socketio.AsyncClient(reconnection=False)
    await c.connect(service.url, transports=["websocket"])
    yield c
    await c.disconnect()
    shutil.rmtree(service.lake, ignore_errors=True)


async def scan_now(phone: socketio.AsyncClient, sid: str) -> dict:
    ack = await phone.call("scan", {"sid": sid, "key": KEY, "nonce": secrets.token_hex(4)})
    assert ack["ok"], ack
    return ack


def patched_balance(stub: GoogleStub, oid: str) -> int | None:
    """The balance of the latest PATCH of object ``oid`` the stand-in received (None: none)."""
    with stub.lock:
        balances = [b["loyaltyPoints"]["balance"]["int"] for o, b in stub.patches if o == oid]
    return balances[-1] if balances else None


async def test_a_google_pass_is_saved_and_follows_its_card(phone, service, make_sponsor) -> None:
    sid = make_sponsor(cooldown_min=0)["sid"]
    early = await phone.call("pass", {"sid": sid, "key": KEY, "kind": "google"})
    assert early["error"]["code"] == "card_not_started"
    await scan_now(phone, sid)
    apple = await phone.call("pass", {"sid": sid, "key": KEY, "kind": "apple"})
    assert apple["ok"] is False and apple["error"]["code"] == "wallet_unavailable"

    ack = await phone.call("pass", {"sid": sid, "key": KEY, "kind": "google", "lang": "sv"})
    assert ack["ok"] is True and ack["kind"] == "google", ack
    assert ack["url"].startswith(SAVE_URL)
    token = ack["url"].removeprefix(SAVE_URL)
    claims = jwt.decode(token, service.key.public_key(), algorithms=["RS256"], audience="google")
    assert jwt.get_unverified_header(token)["kid"] == service.account["private_key_id"]
    assert claims["typ"] == "savetowallet" and claims["iss"] == service.account["client_email"]
    assert claims["origins"] == [service.url]
    obj = claims["payload"]["loyaltyObjects"][0]
    oid = obj["id"]
    assert oid.startswith(ISSUER + ".") and obj["classId"] == class_id(ISSUER, sid)
    assert obj["loyaltyPoints"]["balance"]["int"] == 1
    stub = service.google
    assert class_id(ISSUER, sid) in stub.classes and oid in stub.objects
    assert "accountId" not in stub.objects[oid] and "accountName" not in stub.objects[oid]
    print(f"save link: {len(ack['url'])} characters")

    await scan_now(phone, sid)
    wait_until(
        lambda: patched_balance(stub, oid) == 2,
        PUSH_WAIT_S,
        message=lambda: f"no PATCH with balance 2 (got {patched_balance(stub, oid)})",
    )
    assert stub.objects[oid]["loyaltyPoints"]["balance"]["int"] == 2

    with stub.lock:
        sent = json.dumps([stub.classes, stub.objects, stub.patches, stub.requests])
    seen = {"url": ack["url"], "jwt": json.dumps(claims), "stub": sent}
    seen["log"] = service.log.read_text(errors="replace")
    for where, text in seen.items():
        for secret in SECRETS:
            assert secret not in text, f"a card's key or id in the {where}"


async def test_an_archived_card_keeps_its_points_on_its_pass(
    phone, service, make_sponsor, r
) -> None:
    """A rule change rewrites every pass of the business: one of a card ``ult archive
    --trim-days`` moved to the lake shows its points, not zero (the card is put back)."""
    sid = make_sponsor(cooldown_min=0)["sid"]
    away = now_ms() - 90 * DAY_MS
    for i in range(3):
        run(r, scan(sid, KEY, nonce=f"n{i}", now_ms=away + i * 60_000))
    ack = await phone.call("pass", {"sid": sid, "key": KEY, "kind": "google"})
    assert ack["ok"], ack
    oid = jwt.decode(ack["url"].removeprefix(SAVE_URL), options={"verify_signature": False})[
        "payload"
    ]["loyaltyObjects"][0]["id"]
    assert service.google.objects[oid]["loyaltyPoints"]["balance"]["int"] == 3

    assert lake.archive(r, service.lake, trim_days=30).cards == 1
    cards = sponsor_keys(sid).cards
    assert not r.hexists(cards, card_id(KEY)), "the card left Redis for the lake"
    assert len(registry.sponsor_changed(r, sid)) == 1  # as the rule editor does
    wait_until(lambda: patched_balance(service.google, oid) is not None, PUSH_WAIT_S)
    assert patched_balance(service.google, oid) == 3
    assert r.hexists(cards, card_id(KEY)), "put back by the pass's read"


# ---- the pusher and Google's errors (in this process, with a clock that does not wait) ----


@pytest.fixture
async def pusher(
    ar, rsa_key: RSAPrivateKey, google_stub: GoogleStub, tmp_path: Path
) -> AsyncIterator[tuple[Pusher, list[str], list[float]]]:
    """A pusher on a Google Wallet of the stand-in: (it, the outcomes it counted, its waits)."""
    key_file = tmp_path / "service-account.json"
    write_service_account(key_file, rsa_key, google_stub.token_uri)
    google = GoogleWallet(
        ISSUER, ServiceAccount.load(str(key_file)), api=google_stub.url, public_url="https://u.x"
    )
    outcomes: list[str] = []
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    wallets = Wallets(None, google, "https://u.x")
    pushing = Pusher(ar, wallets, outcomes.append, sleep)
    yield pushing, outcomes, waits
    await pushing.aclose()
    await wallets.aclose()
    google_stub.faults.clear()


async def google_pass(pusher: Pusher, r: redis.Redis, sid: str) -> registry.WalletPass:
    """A scanned card's Google pass, inserted at the stand-in."""
    run(r, scan(sid, KEY, nonce=secrets.token_hex(4)))
    made = registry.new_pass(sid, card_id(KEY), "google", "en")
    run(r, registry.store(made))
    assert pusher.wallets.google is not None
    await pusher.wallets.google.asave_link(await aview(pusher.r, made, "https://u.x"))
    return made


def patches_of(stub: GoogleStub, p: registry.WalletPass) -> tuple[int, int]:
    """(PATCHes of pass ``p`` the stand-in was sent, those it applied)."""
    oid = object_id(ISSUER, p.serial)
    with stub.lock:
        sent = sum(1 for m, path in stub.requests if m == "PATCH" and path.endswith(oid))
        return sent, sum(1 for patched, _ in stub.patches if patched == oid)


async def test_a_refused_update_is_not_tried_again(
    pusher, google_stub, make_sponsor, r, caplog
) -> None:
    pushing, outcomes, waits = pusher
    made = await google_pass(pushing, r, make_sponsor()["sid"])
    google_stub.fail_next(400)
    with caplog.at_level(logging.WARNING, logger="ult.wallet"):
        await pushing.deliver(made.serial)
    assert (outcomes, waits) == (["failed"], [])
    assert patches_of(google_stub, made) == (1, 0)
    logged = [rec.getMessage() for rec in caplog.records]
    assert len(logged) == 1 and "HTTP 400" in logged[0], logged
    for secret in (*SECRETS, made.serial, object_id(ISSUER, made.serial)):
        assert secret not in caplog.text


async def test_a_server_error_is_tried_again_with_the_apns_backoff(
    pusher, google_stub, make_sponsor, r
) -> None:
    pushing, outcomes, waits = pusher
    made = await google_pass(pushing, r, make_sponsor()["sid"])
    google_stub.fail_next(503, 429)
    await pushing.deliver(made.serial)
    assert (outcomes, waits) == (["retried", "retried", "sent"], [1.0, 2.0])
    assert patches_of(google_stub, made) == (3, 1)

    outcomes.clear()
    waits.clear()
    google_stub.fail_next(*[500] * MAX_ATTEMPTS)
    await pushing.deliver(made.serial)
    assert outcomes == ["retried"] * (MAX_ATTEMPTS - 1) + ["failed"]
    assert waits == [2.0**n for n in range(MAX_ATTEMPTS - 1)]
    assert patches_of(google_stub, made) == (3 + MAX_ATTEMPTS, 1)
