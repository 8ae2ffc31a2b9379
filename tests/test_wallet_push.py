"""The pass pusher against the APNs stand-in: a gone device is forgotten, server errors are
tried again, and APNs being down costs no scan."""

from __future__ import annotations

import asyncio
import io
import json
import secrets
import time
import zipfile

import pytest
from support.wait import wait_until
from support.wallet_certs import PASS_TYPE_ID

from ult.wallet.push import MAX_ATTEMPTS

KEY = "q" * 43


@pytest.fixture
def stub(apns_stub):
    """The stand-in, answering 200 again once the test is over."""
    yield apns_stub
    apns_stub.statuses.clear()
    apns_stub.delay_s = 0.0
    if apns_stub.server is None:
        apns_stub.start()


async def registered_pass(phone, http, sid: str) -> tuple[str, str, str]:
    """A scanned card's Apple pass with one device registered: (serial, device, push token)."""
    await phone.call("scan", {"sid": sid, "key": KEY, "nonce": secrets.token_hex(4)})
    ack = await phone.call("pass", {"sid": sid, "key": KEY, "kind": "apple"})
    data = json.loads(
        zipfile.ZipFile(io.BytesIO((await asyncio.to_thread(http.get, ack["url"])).content)).read(
            "pass.json"
        )
    )
    serial, device, token = (
        data["serialNumber"],
        "dev" + secrets.token_hex(6),
        secrets.token_hex(32),
    )
    path = f"/passkit/v1/devices/{device}/registrations/{PASS_TYPE_ID}/{serial}"
    auth = {"Authorization": f"ApplePass {data['authenticationToken']}"}
    assert http.post(path, json={"pushToken": token}, headers=auth).status_code == 201
    return serial, device, token


def to(stub, token: str) -> list:
    return [p for p in stub.pushes if p.path.endswith(token)]


async def scan(phone, sid: str) -> dict:
    return await phone.call("scan", {"sid": sid, "key": KEY, "nonce": secrets.token_hex(4)})


async def test_a_gone_device_is_forgotten(phone, http, stub, make_sponsor, r):
    s = make_sponsor(cooldown_min=0)
    serial, device, token = await registered_pass(phone, http, s["sid"])
    stub.statuses.append(410)
    await scan(phone, s["sid"])
    wait_until(lambda: to(stub, token), 10, message="no push")
    key = f"ult:{{{s['sid']}}}:pass:{serial}:devices"
    wait_until(lambda: not r.hexists(key, device), 5, message="the device is still registered")
    assert not r.sismember(f"ult:device:{{{device}}}:passes", serial)
    await scan(phone, s["sid"])
    await asyncio.sleep(1.0)
    assert [p.status for p in to(stub, token)] == [410]


async def test_a_server_error_is_tried_again(phone, http, stub, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    _, _, token = await registered_pass(phone, http, s["sid"])
    stub.statuses.extend([500, 503])
    started = time.monotonic()
    await scan(phone, s["sid"])
    wait_until(lambda: stub.delivered(token), 15, message="never delivered")
    print(f"delivered after 2 errors in {time.monotonic() - started:.2f} s")
    assert [p.status for p in to(stub, token)] == [500, 503, 200]
    metrics = http.get("/metrics").text
    assert 'ult_wallet_pushes_total{outcome="retried"}' in metrics


async def test_scans_count_while_apns_is_down(phone, http, stub, make_sponsor):
    s = make_sponsor(cooldown_min=0)
    _, _, token = await registered_pass(phone, http, s["sid"])
    stub.stop()
    started = time.monotonic()
    acks = [await scan(phone, s["sid"]) for _ in range(5)]
    acked_in = time.monotonic() - started
    assert [a["ok"] for a in acks] == [True] * 5 and acks[-1]["points"] == 6
    print(f"5 scans acked in {acked_in * 1000:.0f} ms with APNs down")
    await asyncio.sleep(1.5)
    stub.start()
    wait_until(lambda: stub.delivered(token), 20, message="no push after APNs came back")
    await asyncio.sleep(2.5)  # later retries of the same changes land too, then stop
    assert 1 <= len(to(stub, token)) <= 5 * MAX_ATTEMPTS
    print(f"{len(to(stub, token))} pushes reached the device after the outage")
