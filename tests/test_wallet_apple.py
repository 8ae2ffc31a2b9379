"""Apple Wallet passes: the signed .pkpass, the pass registry, and the `pass` event with no
wallet configured."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import zipfile

import pytest
import socketio

from ult import keys, ops, run
from ult.cards import read_card, read_card_by_cid
from ult.connection import connect
from ult.embedded import EmbeddedServer
from ult.i18n import translate
from ult.identity import card_id, short_cid
from ult.scans import scan
from ult.settings import Settings
from ult.sponsors import register
from ult.wallet import registry
from ult.wallet.apple import AppleConfig, pkpass
from ult.wallet.source import aview

KEY = "w" * 43
T0 = 1_764_110_000_000


def apple_config(certs) -> AppleConfig:
    env = certs.env()
    settings = Settings(
        apple_pass_type_id=env["ULT_APPLE_PASS_TYPE_ID"],
        apple_team_id=env["ULT_APPLE_TEAM_ID"],
        apple_pass_cert=env["ULT_APPLE_PASS_CERT"],
        apple_pass_key=env["ULT_APPLE_PASS_KEY"],
        apple_wwdr_cert=env["ULT_APPLE_WWDR_CERT"],
        public_url="https://ult.example",
    )
    config = AppleConfig.from_settings(settings)
    assert config is not None
    return config


def test_apple_passes_are_off_unless_every_setting_is_there(wallet_certs):
    assert AppleConfig.from_settings(Settings()) is None
    half = Settings(apple_pass_type_id="pass.x", apple_team_id="T", apple_pass_cert="c.pem")
    assert AppleConfig.from_settings(half) is None


def test_read_card_is_read_card_by_cid(r, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    run(r, scan(s["sid"], KEY, nonce="n1"))
    by_key, by_cid = (
        run(r, read_card(s["sid"], KEY)),
        run(r, read_card_by_cid(s["sid"], card_id(KEY))),
    )
    assert by_key.cid == by_cid.cid and (by_key.visits, by_cid.visits) == (1, 1)


async def test_a_pkpass_is_signed_and_holds_no_key(r, ar, wallet_certs, tmp_path):
    reg = register(r, "Fika Sisters", "Storgatan 1", "SE", "local:fika", lat=59.33, lng=18.06)
    for n in range(3):
        run(r, scan(reg.sid, KEY, nonce=f"n{n}", now_ms=T0 + n * 4_000_000))
    cid = card_id(KEY)
    made = registry.new_pass(reg.sid, cid, "apple", "sv")
    assert run(r, registry.store(made)) == ""
    config = apple_config(wallet_certs)
    view = await aview(ar, made, config.public_url)
    body = pkpass(view, config, made.auth)

    files = zipfile.ZipFile(io.BytesIO(body)).namelist()
    z = zipfile.ZipFile(io.BytesIO(body))
    assert {"pass.json", "manifest.json", "signature", "icon.png", "logo.png"} <= set(files)
    manifest = json.loads(z.read("manifest.json"))
    assert set(manifest) == set(files) - {"manifest.json", "signature"}
    for name, sha1 in manifest.items():
        assert hashlib.sha1(z.read(name)).hexdigest() == sha1, name
    for name in files:
        (tmp_path / name).write_bytes(z.read(name))
    verified = subprocess.run(
        ["openssl", "smime", "-verify", "-binary", "-inform", "DER", "-in", "signature"]
        + ["-content", "manifest.json", "-CAfile", str(wallet_certs.root), "-purpose", "any"],
        cwd=tmp_path,
        capture_output=True,
    )
    assert verified.returncode == 0, verified.stderr
    signed = subprocess.run(
        ["openssl", "cms", "-cmsout", "-print", "-inform", "DER", "-in", "signature"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert "signingTime" in signed.stdout and "ULT Test WWDR" in signed.stdout

    data = json.loads(z.read("pass.json"))
    assert data["serialNumber"] == made.serial and data["authenticationToken"] == made.auth
    assert data["webServiceURL"] == "https://ult.example/passkit"
    assert data["organizationName"] == "Fika Sisters" and data["formatVersion"] == 1
    assert data["storeCard"]["primaryFields"][0]["value"] == 3
    assert data["storeCard"]["primaryFields"][0]["label"] == translate("sv", "Points") == "Poäng"
    assert data["locations"][0]["latitude"] == 59.33
    assert "barcodes" not in data
    for secret in (KEY, cid, short_cid(cid)):
        assert secret.encode() not in body and secret not in data["storeCard"].__repr__()


async def test_a_voucher_shows_its_code_and_expiry(r, ar, make_sponsor, wallet_certs):
    from ult.claims import claim

    s = make_sponsor(cooldown_min=0, points_needed=2, reward="A free bun")
    for n in range(2):
        run(r, scan(s["sid"], KEY, nonce=f"n{n}"))
    voucher, _ = run(r, claim(s["sid"], KEY))
    made = registry.new_pass(s["sid"], card_id(KEY), "apple", "en")
    view = await aview(ar, made, "https://ult.example")
    fields = json.loads(
        zipfile.ZipFile(io.BytesIO(pkpass(view, apple_config(wallet_certs), made.auth))).read(
            "pass.json"
        )
    )["storeCard"]["auxiliaryFields"]
    by_key = {f["key"]: f for f in fields}
    assert by_key["voucher"]["value"] == voucher.code
    assert by_key["voucher_until"]["value"].endswith("Z") and "dateStyle" in by_key["voucher_until"]


def test_a_card_keeps_its_newest_passes_only(r, make_sponsor):
    s = make_sponsor()
    cid = card_id(KEY)
    made = [
        registry.new_pass(s["sid"], cid, "apple", "en")
        for _ in range(registry.MAX_PASSES_PER_CARD + 2)
    ]
    dropped = [run(r, registry.store(p)) for p in made]
    assert dropped[: registry.MAX_PASSES_PER_CARD] == [""] * registry.MAX_PASSES_PER_CARD
    assert dropped[registry.MAX_PASSES_PER_CARD :] == [made[0].serial, made[1].serial]
    kept = run(r, registry.card_serials(s["sid"], cid))
    assert kept == [p.serial for p in made[2:]]
    assert 0 < r.ttl(keys.sponsor_keys(s["sid"]).wallet_pass(made[5].serial)) <= registry.PASS_TTL_S


def test_every_change_moves_the_tag_on_by_a_second_at_least(r, make_sponsor):
    s = make_sponsor()
    p = registry.new_pass(s["sid"], card_id(KEY), "apple", "en", now_ms=T0)
    run(r, registry.store(p))
    tags = [run(r, registry.touch(p.serial, now_ms=T0 + 10)) for _ in range(3)]
    assert tags == [p.tag + 1, p.tag + 2, p.tag + 3]
    later = run(r, registry.touch(p.serial, now_ms=T0 + 60_000))
    assert later == -(-(T0 + 60_000) // 1000)
    assert run(r, registry.touch(f"{s['sid']}.{'x' * 22}")) == 0  # no such pass


def test_a_download_token_works_once(r, make_sponsor):
    s = make_sponsor()
    p = registry.new_pass(s["sid"], card_id(KEY), "apple", "en")
    token, op = registry.issue_download(p.serial)
    run(r, op)
    assert 0 < r.ttl(keys.wallet_download(token)) <= registry.DOWNLOAD_TTL_S
    assert run(r, registry.take_download(token)) == p.serial
    assert run(r, registry.take_download(token)) is None
    assert registry.DOWNLOAD_TOKEN.fullmatch(token) and not registry.DOWNLOAD_TOKEN.fullmatch(
        "../x"
    )


def test_a_pass_takes_a_bounded_number_of_devices(r, make_sponsor):
    s = make_sponsor()
    p = registry.new_pass(s["sid"], card_id(KEY), "apple", "en")
    run(r, registry.store(p))
    answers = [
        run(r, registry.register_device(p, f"device{n}", "ab" * 32))
        for n in range(registry.MAX_DEVICES_PER_PASS + 1)
    ]
    assert answers == [1] * registry.MAX_DEVICES_PER_PASS + [-1]
    assert run(r, registry.register_device(p, "device0", "cd" * 32)) == 0
    assert run(r, registry.devices(p.serial))["device0"] == "cd" * 32


@pytest.fixture
async def client(service_url, r):
    c = socketio.AsyncClient(reconnection=False)
    await c.connect(service_url, transports=["websocket"])
    yield c
    await c.disconnect()


async def test_without_wallet_settings_pass_is_unavailable(client, make_sponsor, r):
    s = make_sponsor(cooldown_min=0)
    await client.call("scan", {"sid": s["sid"], "key": KEY, "nonce": "n1"})
    ack = await client.call("pass", {"sid": s["sid"], "key": KEY, "kind": "apple"})
    assert ack["ok"] is False and ack["error"]["code"] == "wallet_unavailable"
    bad = await client.call("pass", {"sid": s["sid"], "key": KEY, "kind": "paper"})
    assert bad["error"]["code"] == "bad_request"
    assert not r.keys("ult:wallet:*") and not r.keys("ult:*:pass*")
    assert ops.text(r.hget(keys.sponsor_keys(s["sid"]).passes, card_id(KEY))) == ""


@pytest.fixture
def own_r(tmp_path):
    """A Valkey of this test's own: the session's wallet service pushes from the shared
    server's outbox, and would take the serials this test reads back."""
    with EmbeddedServer(tmp_path / "valkey") as server:
        client = connect(url=server.url)
        yield client
        client.close()


def test_a_changed_card_queues_its_passes_for_the_pusher(own_r):
    r = own_r
    reg = register(r, "Fika Sisters", "Storgatan 1", "SE", "local:outbox-1")
    s = {"sid": reg.sid}
    mine = [registry.new_pass(s["sid"], card_id(KEY), "apple", "en") for _ in range(2)]
    other = registry.new_pass(s["sid"], card_id("o" * 43), "apple", "en")
    for p in [*mine, other]:
        run(r, registry.store(p))
    assert registry.card_changed(r, s["sid"], card_id(KEY)) == [p.serial for p in mine]
    assert r.lrange(keys.WALLET_OUTBOX, 0, -1) == [p.serial for p in mine][::-1]
    assert all(run(r, registry.get_pass(p.serial)).tag > p.tag for p in mine)
    assert run(r, registry.get_pass(other.serial)).tag == other.tag
    assert sorted(registry.sponsor_changed(r, s["sid"])) == sorted(p.serial for p in [*mine, other])
    assert r.llen(keys.WALLET_OUTBOX) == 5
    assert registry.card_changed(r, s["sid"], card_id("n" * 43)) == []  # no passes: no write
    assert r.llen(keys.WALLET_OUTBOX) == 5
