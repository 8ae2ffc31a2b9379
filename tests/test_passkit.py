"""Apple Wallet's web service end to end: a real service with Apple passes on, a real
Socket.IO client, the APNs stand-in, and HTTP calls as an iPhone makes them."""

from __future__ import annotations

import asyncio
import email.utils
import io
import json
import secrets
import zipfile

import httpx
from support.wait import wait_until
from support.wallet_certs import PASS_TYPE_ID

from ult.identity import card_id, short_cid

KEY = "p" * 43


def pass_json(body: bytes) -> dict:
    return json.loads(zipfile.ZipFile(io.BytesIO(body)).read("pass.json"))


def registration(device: str, serial: str) -> str:
    return f"/passkit/v1/devices/{device}/registrations/{PASS_TYPE_ID}/{serial}"


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"ApplePass {token}"}


async def new_pass(phone, sid: str, http) -> tuple[dict, httpx.Response]:
    ack = await phone.call("pass", {"sid": sid, "key": KEY, "kind": "apple", "lang": "en-GB"})
    assert ack["ok"] is True, ack
    got = await asyncio.to_thread(http.get, ack["url"])
    assert got.status_code == 200
    return pass_json(got.content), got


async def test_a_pass_follows_its_card(phone, http, wallet_service, apns_stub, make_sponsor, r):
    s = make_sponsor(cooldown_min=0)
    never = await phone.call("pass", {"sid": s["sid"], "key": KEY, "kind": "apple"})
    assert never["error"]["code"] == "card_not_started"
    await phone.call("scan", {"sid": s["sid"], "key": KEY, "nonce": "n1"})

    ack = await phone.call("pass", {"sid": s["sid"], "key": KEY, "kind": "apple", "lang": "en"})
    assert ack["url"].startswith(f"{wallet_service.url}/pass/") and KEY not in ack["url"]
    got = await asyncio.to_thread(http.get, ack["url"])
    assert got.status_code == 200 and got.headers["content-type"] == "application/vnd.apple.pkpass"
    assert got.headers["cache-control"] == "no-store"
    assert (await asyncio.to_thread(http.get, ack["url"])).status_code == 404  # once only
    data = pass_json(got.content)
    serial, token = data["serialNumber"], data["authenticationToken"]
    first_tag = email.utils.parsedate_to_datetime(got.headers["last-modified"]).timestamp()
    assert data["storeCard"]["primaryFields"][0]["value"] == 1

    device, push_token = "device" + secrets.token_hex(8), secrets.token_hex(32)
    body = {"pushToken": push_token}
    path = registration(device, serial)
    assert http.post(path, json=body, headers=auth(token)).status_code == 201
    assert http.post(path, json=body, headers=auth(token)).status_code == 200
    assert http.post(path, json=body, headers=auth("x" * 32)).status_code == 401
    assert http.post(path, json=body).status_code == 401
    unknown = registration(device, f"{s['sid']}.{'u' * 22}")
    assert http.post(unknown, json=body, headers=auth(token)).status_code == 401
    bad = http.post(path, content=b"{not json", headers=auth(token))
    assert bad.status_code == 400
    assert http.post(path, content=b"x" * 20_000, headers=auth(token)).status_code == 400

    scanned = await phone.call("scan", {"sid": s["sid"], "key": KEY, "nonce": "n2"})
    assert scanned["ok"] and scanned["points"] == 2
    pushed = wait_until(lambda: apns_stub.delivered(push_token), 10, message="no push arrived")
    assert pushed[0].headers["apns-topic"] == PASS_TYPE_ID
    assert pushed[0].headers[":method"] == "POST" and pushed[0].body == b"{}"

    listed = http.get(
        f"/passkit/v1/devices/{device}/registrations/{PASS_TYPE_ID}",
        params={"passesUpdatedSince": str(int(first_tag))},
    )
    assert listed.status_code == 200 and listed.json()["serialNumbers"] == [serial]
    last = listed.json()["lastUpdated"]
    assert int(last) > first_tag
    again = http.get(
        f"/passkit/v1/devices/{device}/registrations/{PASS_TYPE_ID}",
        params={"passesUpdatedSince": last},
    )
    assert again.status_code == 204

    latest = http.get(f"/passkit/v1/passes/{PASS_TYPE_ID}/{serial}", headers=auth(token))
    assert latest.status_code == 200
    assert pass_json(latest.content)["storeCard"]["primaryFields"][0]["value"] == 2
    modified = latest.headers["last-modified"]
    assert email.utils.parsedate_to_datetime(modified).timestamp() == int(last)
    at = {"If-Modified-Since": modified} | auth(token)
    assert http.get(f"/passkit/v1/passes/{PASS_TYPE_ID}/{serial}", headers=at).status_code == 304
    second_before = email.utils.formatdate(int(last) - 1, usegmt=True)
    before = {"If-Modified-Since": second_before} | auth(token)
    assert (
        http.get(f"/passkit/v1/passes/{PASS_TYPE_ID}/{serial}", headers=before).status_code == 200
    )
    stranger = http.get(f"/passkit/v1/passes/{PASS_TYPE_ID}/{serial}", headers=auth("y" * 32))
    assert stranger.status_code == 401

    assert http.delete(path, headers=auth("z" * 32)).status_code == 401
    assert http.delete(path, headers=auth(token)).status_code == 200
    assert not r.hgetall(f"ult:{{{s['sid']}}}:pass:{serial}:devices")
    count = len(apns_stub.pushes)
    await phone.call("scan", {"sid": s["sid"], "key": KEY, "nonce": "n3"})
    await asyncio.sleep(1.0)
    assert len(apns_stub.pushes) == count

    logged = http.post("/passkit/v1/log", json={"logs": [f"token {token} failed"] * 50})
    assert logged.status_code == 200
    assert http.post("/passkit/v1/log", content=b"[").status_code == 400

    cid = card_id(KEY)
    text = wallet_service.log.read_text()
    for secret in (KEY, cid, short_cid(cid), token, push_token):
        assert secret not in text
    for value in r.hgetall(f"ult:{{{s['sid']}}}:pass:{serial}").values():
        assert KEY not in value
    events = r.xrange(f"ult:{{{s['sid']}}}:events")
    assert all(serial not in json.dumps(fields) for _, fields in events)


async def test_paths_and_types_are_checked(http, phone, make_sponsor):
    assert http.get("/passkit/v1/passes/pass.other/x.y").status_code == 401
    long_device = "d" * 200
    listed = http.get(f"/passkit/v1/devices/{long_device}/registrations/{PASS_TYPE_ID}")
    assert listed.status_code == 204
    other_type = http.get("/passkit/v1/devices/dev/registrations/pass.other")
    assert other_type.status_code == 204
    assert http.get("/pass/" + "t" * 32).status_code == 404
    assert http.get("/pass/..%2F..%2Fetc").status_code == 404
