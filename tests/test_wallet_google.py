"""Google Wallet passes against a local stand-in of Google's token endpoint and Wallet API
(tests/support/google_stub.py): the save link, the class and object inserts, updates and
their notification budget, token refresh and errors, and the settings."""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from support.google_stub import (
    GoogleStub,
    new_rsa_key,
    running_google_stub,
    write_service_account,
)

from ult.clock import DAY_MS, now_ms
from ult.embedded import free_port
from ult.errors import UltError
from ult.i18n import LANGUAGES
from ult.identity import card_id, short_cid
from ult.settings import Settings
from ult.validation import LIMITS
from ult.wallet.google import (
    NOTIFY_LIMIT,
    GoogleWallet,
    GoogleWalletError,
    NotificationBudget,
    ServiceAccount,
    class_id,
    google_id,
    object_id,
)
from ult.wallet.view import PassView
from ult.wallet.words import pass_text

ISSUER = "3388000000022123456"
PUBLIC_URL = "https://loyalty.example.com"
MAX_LINK_CHARS = 1800  # longer save links break in some browsers and QR codes
HOUR_MS = 3_600_000


class Clock:
    """An injectable clock (milliseconds) that tests move by hand. It starts now: the stand-in,
    like Google, refuses token requests signed at another time."""

    def __init__(self) -> None:
        self.ms = now_ms()

    def __call__(self) -> int:
        return self.ms


@pytest.fixture(scope="module")
def rsa_key() -> RSAPrivateKey:
    return new_rsa_key()


@pytest.fixture
def stub(rsa_key: RSAPrivateKey) -> Iterator[GoogleStub]:
    with running_google_stub(rsa_key.public_key()) as running:
        yield running


@pytest.fixture
def key_file(tmp_path: Path, rsa_key: RSAPrivateKey, stub: GoogleStub) -> Path:
    path = tmp_path / "service-account.json"
    write_service_account(path, rsa_key, stub.token_uri)
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def wallet(key_file: Path, stub: GoogleStub, clock: Clock) -> AsyncIterator[GoogleWallet]:
    stub.clock = clock  # Google and ULT agree on the time
    google = GoogleWallet(
        ISSUER, ServiceAccount.load(str(key_file)), api=stub.url, public_url=PUBLIC_URL, clock=clock
    )
    yield google
    await google.aclose()


def make_view(sid: str = "fika-sisters-3fa9", points: int = 3, **changes: object) -> PassView:
    view = PassView(
        serial=f"{sid}.{secrets.token_urlsafe(16)}",
        sid=sid,
        biz="Fika Sisters",
        points=points,
        visits=points,
        points_needed=10,
        reward="a cinnamon bun",
        lang="en",
        card_url=f"/s/{sid}",
        updated_ms=1_780_000_000_000,
        latitude=59.3326,
        longitude=18.0649,
    )
    return replace(view, **changes)  # type: ignore[arg-type]


def decode(link: str, rsa_key: RSAPrivateKey) -> dict:
    assert link.startswith("https://pay.google.com/gp/v/save/")
    token = link.rsplit("/", 1)[1]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, rsa_key.public_key(), algorithms=["RS256"], audience="google")
    return {"header": header, **claims}


# ---- the save link ----------------------------------------------------------------------


async def test_save_link_is_signed_short_and_anonymous(
    wallet: GoogleWallet, rsa_key: RSAPrivateKey, stub: GoogleStub
) -> None:
    key = secrets.token_urlsafe(32)  # the card's key, which the pass must never carry
    cid = card_id(key)
    longest = make_view(
        biz="B" * LIMITS["business_name"],
        reward="R" * LIMITS["reward"],
        points=9999,
        voucher_code="K7Q2MX",
    )
    full = wallet.save_link(longest)
    short = await wallet.asave_link(longest)
    print(f"\nsave link: {len(full)} chars carrying the object, {len(short)} naming it")
    for link in (full, short):
        assert len(link) < MAX_LINK_CHARS
        claims = decode(link, rsa_key)
        assert claims["header"]["kid"] == wallet.account.private_key_id
        assert claims["iss"] == "wallet@ult-test.iam.gserviceaccount.com"
        assert claims["typ"] == "savetowallet"
        assert claims["origins"] == [PUBLIC_URL]
        assert claims["iat"] == wallet.clock() // 1000
        (obj,) = claims["payload"]["loyaltyObjects"]
        assert obj["id"] == f"{ISSUER}.{longest.serial.replace('.', '.2e')}"
        assert obj["loyaltyPoints"]["balance"] == {"int": 9999}
        text = link + json.dumps(claims)
        for secret in (key, cid, short_cid(cid)):
            assert secret not in text
    stored = stub.objects[object_id(ISSUER, longest.serial)]
    for secret in (key, cid, short_cid(cid)):
        assert secret not in json.dumps(stored)
    assert "accountId" not in stored and "accountName" not in stored


def test_full_object_shows_progress_link_and_place(wallet: GoogleWallet) -> None:
    view = make_view(points=3)
    obj = wallet.loyalty_object(view)
    assert obj["classId"] == f"{ISSUER}.ult-fika-sisters-3fa9"
    assert obj["state"] == "ACTIVE"
    assert obj["textModulesData"][0]["body"] == "3 of 10 points — 7 more for a cinnamon bun"
    assert obj["linksModuleData"]["uris"][0] == {
        "uri": f"{PUBLIC_URL}/s/fika-sisters-3fa9",
        "description": "Your card",
    }
    assert [m["id"] for m in obj["textModulesData"]] == ["reward"]
    assert obj["locations"] == [{"latitude": 59.3326, "longitude": 18.0649}]
    ready = wallet.loyalty_object(make_view(points=12, latitude=None, longitude=None))
    assert ready["textModulesData"][0]["body"] == "12 points — enough for a cinnamon bun!"
    assert "locations" not in ready
    voucher = wallet.loyalty_object(make_view(points=12, voucher_code="K7Q2MX", lang="sv"))
    assert voucher["textModulesData"][1]["body"] == "K7Q2MX"
    assert voucher["loyaltyPoints"]["label"] == pass_text("sv", "points")
    cls = wallet.loyalty_class(view)
    assert cls["programName"] == cls["issuerName"] == "Fika Sisters"
    assert cls["programLogo"]["sourceUri"]["uri"] == f"{PUBLIC_URL}/static/icons/icon-512.png"
    assert cls["reviewStatus"] == "UNDER_REVIEW"
    (privacy,) = cls["textModulesData"]
    assert privacy["body"] == pass_text("en", "privacy_text")
    translated = {t["language"]: t["value"] for t in privacy["localizedBody"]["translatedValues"]}
    assert translated == {lang: pass_text(lang, "privacy_text") for lang in LANGUAGES[1:]}


def test_google_ids_are_deterministic_and_distinct() -> None:
    names = ["fika.abc", "fika.2eabc", "fika/abc", "fika abc", "fika-abc", "fika_abc"]
    ids = [google_id(ISSUER, name) for name in names]
    assert len(set(ids)) == len(names)
    assert ids == [google_id(ISSUER, name) for name in names]
    for made in ids:
        assert made.startswith(f"{ISSUER}.")
        assert all(ch.isalnum() or ch in "._-" for ch in made)
    assert class_id(ISSUER, "fika-sisters-3fa9") == f"{ISSUER}.ult-fika-sisters-3fa9"


# ---- inserts ------------------------------------------------------------------------------


async def test_class_inserted_once_per_business(wallet: GoogleWallet, stub: GoogleStub) -> None:
    first, second = make_view(), make_view()
    await wallet.asave_link(first)
    await wallet.asave_link(second)
    assert stub.count("POST", "loyaltyClass") == 1
    assert stub.count("POST", "loyaltyObject") == 2
    assert set(stub.classes) == {class_id(ISSUER, first.sid)}
    assert {o["classId"] for o in stub.objects.values()} == {class_id(ISSUER, first.sid)}

    await wallet.asave_link(make_view(sid="kaffe-hornet-0b1c"))
    assert stub.count("POST", "loyaltyClass") == 2

    # a link asked for again (the object exists: 409) is still given
    again = await wallet.asave_link(first)
    assert again.startswith("https://pay.google.com/gp/v/save/")
    assert len(stub.objects) == 3
    assert stub.token_requests == 1  # one token for all of it


async def test_class_that_exists_at_google_is_fine(
    key_file: Path, stub: GoogleStub, wallet: GoogleWallet, clock: Clock
) -> None:
    await wallet.asave_link(make_view())
    restarted = GoogleWallet(  # another process: it does not know the class exists
        ISSUER, ServiceAccount.load(str(key_file)), api=stub.url, public_url=PUBLIC_URL, clock=clock
    )
    try:
        await restarted.asave_link(make_view())
    finally:
        await restarted.aclose()
    assert stub.count("POST", "loyaltyClass") == 2 and len(stub.classes) == 1
    assert len(stub.objects) == 2


# ---- updates ------------------------------------------------------------------------------


async def test_update_patches_points_and_limits_notifications(
    wallet: GoogleWallet, stub: GoogleStub, clock: Clock
) -> None:
    view = make_view(points=3)
    oid = object_id(ISSUER, view.serial)
    await wallet.asave_link(view)

    await wallet.update(replace(view, points=4), None)
    assert stub.objects[oid]["loyaltyPoints"]["balance"] == {"int": 4}
    assert "messages" not in stub.objects[oid]

    for n in range(NOTIFY_LIMIT + 1):
        clock.ms += HOUR_MS
        await wallet.update(replace(view, points=5 + n), f"Visit {n + 1} counted")
    kinds = [m["messageType"] for m in stub.objects[oid]["messages"]]
    assert kinds == ["TEXT_AND_NOTIFY"] * NOTIFY_LIMIT + ["TEXT"]
    assert stub.objects[oid]["loyaltyPoints"]["balance"] == {"int": 5 + NOTIFY_LIMIT}
    assert stub.count("PATCH", "loyaltyObject") == NOTIFY_LIMIT + 2

    clock.ms += DAY_MS - HOUR_MS  # a day after the first notification: one may go again
    await wallet.update(replace(view, points=12), "Your cinnamon bun is ready")
    last = stub.objects[oid]["messages"][-1]
    assert last["messageType"] == "TEXT_AND_NOTIFY"
    assert last["body"] == "Your cinnamon bun is ready"
    assert stub.objects[oid]["textModulesData"][0]["body"].startswith("12 points")

    # another pass has its own budget
    other = make_view()
    await wallet.asave_link(other)
    await wallet.update(other, "Welcome")
    assert stub.objects[object_id(ISSUER, other.serial)]["messages"][0]["messageType"] == (
        "TEXT_AND_NOTIFY"
    )


async def test_update_of_an_object_google_lacks_inserts_it(
    wallet: GoogleWallet, stub: GoogleStub
) -> None:
    view = make_view(points=5)
    await wallet.update(view, "Visit 5 counted")  # its save link's inserts had failed
    stored = stub.objects[object_id(ISSUER, view.serial)]
    assert stored["loyaltyPoints"]["balance"] == {"int": 5} and stored["classId"] in stub.classes
    assert stored["messages"][0]["body"] == "Visit 5 counted"


async def test_push_refused_by_google_goes_without_one(
    wallet: GoogleWallet, stub: GoogleStub, key_file: Path, clock: Clock
) -> None:
    view = make_view()
    oid = object_id(ISSUER, view.serial)
    await wallet.asave_link(view)
    for n in range(NOTIFY_LIMIT):
        await wallet.update(view, f"Visit {n + 1} counted")
    restarted = GoogleWallet(  # a new process: its budget forgot the three pushes
        ISSUER, ServiceAccount.load(str(key_file)), api=stub.url, public_url=PUBLIC_URL, clock=clock
    )
    try:
        await restarted.update(replace(view, points=9), "Visit 4 counted")
        await restarted.update(replace(view, points=10), "Visit 5 counted")
    finally:
        await restarted.aclose()
    kinds = [m["messageType"] for m in stub.objects[oid]["messages"]]
    assert kinds == ["TEXT_AND_NOTIFY"] * NOTIFY_LIMIT + ["TEXT", "TEXT"]
    assert stub.objects[oid]["loyaltyPoints"]["balance"] == {"int": 10}
    # refused once, then the budget knew: the 5th message was not offered as a push
    assert stub.count("POST", "loyaltyObject") == 1 + NOTIFY_LIMIT + 3


def test_notification_budget_is_bounded() -> None:
    budget = NotificationBudget(limit=1, window_ms=1000, tracked=2)
    assert budget.take("a", 0) and budget.take("b", 0) and budget.take("c", 0)
    assert len(budget) == 2  # "a", the least recent, is forgotten
    assert not budget.take("c", 999)
    assert budget.take("c", 1000)


# ---- tokens and errors -------------------------------------------------------------------


async def test_rejected_token_is_refreshed_once(wallet: GoogleWallet, stub: GoogleStub) -> None:
    view = make_view()
    await wallet.asave_link(view)
    stub.revoke_tokens()
    await wallet.update(replace(view, points=4), None)
    assert stub.token_requests == 2
    assert stub.objects[object_id(ISSUER, view.serial)]["loyaltyPoints"]["balance"]["int"] == 4

    stub.fail_next(401, 401)  # still refused with a fresh token: no loop, a clear error
    with pytest.raises(GoogleWalletError) as failed:
        await wallet.update(view, None)
    assert failed.value.status == 401 and not failed.value.retryable
    assert stub.token_requests == 3


async def test_token_request_signed_by_another_key_is_refused(
    tmp_path: Path, stub: GoogleStub
) -> None:
    impostor = tmp_path / "impostor.json"
    write_service_account(impostor, new_rsa_key(), stub.token_uri)
    wallet = GoogleWallet(
        ISSUER, ServiceAccount.load(str(impostor)), api=stub.url, public_url=PUBLIC_URL
    )
    try:
        with pytest.raises(GoogleWalletError) as refused:
            await wallet.asave_link(make_view())
    finally:
        await wallet.aclose()
    assert refused.value.status == 400 and not refused.value.retryable
    assert stub.requests == [] and stub.classes == {}


async def test_token_is_cached_until_shortly_before_it_expires(
    wallet: GoogleWallet, stub: GoogleStub, clock: Clock
) -> None:
    view = make_view()
    await wallet.asave_link(view)
    clock.ms += (stub.expires_in - 120) * 1000
    await wallet.update(view, None)
    assert stub.token_requests == 1
    clock.ms += 61_000  # inside the renewal margin
    await wallet.update(view, None)
    assert stub.token_requests == 2


async def test_server_error_and_no_connection_raise_retryable(
    wallet: GoogleWallet, stub: GoogleStub, key_file: Path
) -> None:
    view = make_view()
    await wallet.asave_link(view)
    stub.fail_next(500)
    with pytest.raises(GoogleWalletError) as failed:
        await wallet.update(view, None)
    assert failed.value.status == 500 and failed.value.retryable
    assert view.serial not in str(failed.value)

    stub.fail_next(400)
    with pytest.raises(GoogleWalletError) as refused:
        await wallet.update(view, None)
    assert refused.value.status == 400 and not refused.value.retryable

    gone = GoogleWallet(
        ISSUER,
        ServiceAccount.load(str(key_file)),
        api=f"http://127.0.0.1:{free_port()}",
        public_url=PUBLIC_URL,
    )
    gone.account = replace(gone.account, token_uri=f"http://127.0.0.1:{free_port()}/token")
    try:
        with pytest.raises(GoogleWalletError) as unreachable:
            await gone.asave_link(view)
    finally:
        await gone.aclose()
    assert unreachable.value.retryable and unreachable.value.status is None


# ---- settings -----------------------------------------------------------------------------


async def test_from_settings(tmp_path: Path, key_file: Path) -> None:
    assert GoogleWallet.from_settings(Settings()) is None
    assert GoogleWallet.from_settings(Settings(google_wallet_issuer_id=ISSUER)) is None
    assert GoogleWallet.from_settings(Settings(google_wallet_key=str(key_file))) is None

    made = GoogleWallet.from_settings(
        Settings(
            google_wallet_issuer_id=ISSUER, google_wallet_key=str(key_file), public_url=PUBLIC_URL
        )
    )
    assert made is not None
    assert made.api == "https://walletobjects.googleapis.com/walletobjects/v1"
    await made.aclose()

    good = json.loads(key_file.read_text())
    bad_files = {
        "missing.json": None,
        "not-json.json": "{",
        "list.json": "[]",
        "no-key.json": json.dumps({k: v for k, v in good.items() if k != "private_key"}),
        "bad-pem.json": json.dumps({**good, "private_key": "-----BEGIN PRIVATE KEY-----\nx"}),
    }
    for name, text in bad_files.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(UltError) as failed:
            GoogleWallet.from_settings(
                Settings(google_wallet_issuer_id=ISSUER, google_wallet_key=str(path))
            )
        assert failed.value.code == "bad_setting"
        assert "ULT_GOOGLE_WALLET_KEY" in failed.value.message
        assert good["private_key"][40:80] not in failed.value.message

    with pytest.raises(UltError, match="ULT_GOOGLE_WALLET_ISSUER_ID"):
        GoogleWallet.from_settings(
            Settings(google_wallet_issuer_id="33 88", google_wallet_key=str(key_file))
        )
