"""Wallet passes: what they cost a scan, and how soon a change reaches the phone.

    .venv/bin/python benchmarks/wallet.py [--scans 200]

Starts an embedded Valkey, the APNs stand-in of the tests (HTTP/2 cleartext) and two real
`ult serve` processes — one without wallet settings, one with made-up Apple certificates —
then for cards with 0, 1 and 10 registered devices (1 device per pass up to 5 passes, then
2) times sequential scans from one Socket.IO client (ack latency) and, with devices, the time
from a scan's ack to the stand-in receiving its push. Prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import secrets
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx
import redis
import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test support: certificates, APNs stand-in

from support.apns_stub import ApnsStub  # noqa: E402
from support.service import running_service  # noqa: E402
from support.wallet_certs import PASS_TYPE_ID, make_certs  # noqa: E402

from ult.embedded import EmbeddedServer  # noqa: E402
from ult.ops import run  # noqa: E402
from ult.rules import Rule, set_rule  # noqa: E402
from ult.sponsors import register  # noqa: E402

DEVICES = (0, 1, 10)
UNLIMITED = {"ULT_EVENT_RATE": "0"}  # one client scanning flat out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def registered(phone, http: httpx.AsyncClient, sid: str, key: str, devices: int) -> list[str]:
    """Passes of the card with ``devices`` devices registered: their push tokens."""
    tokens: list[str] = []
    passes = min(devices, 5)
    for n in range(passes):
        ack = await phone.call("pass", {"sid": sid, "key": key, "kind": "apple"})
        body = (await http.get(ack["url"])).content
        data = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("pass.json"))
        auth = {"Authorization": f"ApplePass {data['authenticationToken']}"}
        for _ in range(devices // passes + (n < devices % passes)):
            token = secrets.token_hex(32)
            path = f"/passkit/v1/devices/d{secrets.token_hex(6)}/registrations/{PASS_TYPE_ID}/"
            await http.post(path + data["serialNumber"], json={"pushToken": token}, headers=auth)
            tokens.append(token)
    return tokens


async def measure(
    base: str, r: redis.Redis, stub: ApnsStub | None, devices: int, scans: int
) -> str:
    reg = register(
        r, "Bench Café", f"Street {secrets.token_hex(3)}", "SE", f"bench:{secrets.token_hex(6)}"
    )
    run(r, set_rule(reg.sid, reg.owner_key, Rule(cooldown_min=0)))
    key = secrets.token_urlsafe(32)
    phone = socketio.AsyncClient(reconnection=False)
    await phone.connect(base, transports=["websocket"])
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        await phone.call("scan", {"sid": reg.sid, "key": key, "nonce": "first"})
        tokens = await registered(phone, http, reg.sid, key, devices) if devices else []
        acks, to_push = [], []
        for n in range(scans):
            sent = time.monotonic()
            ack = await phone.call("scan", {"sid": reg.sid, "key": key, "nonce": f"n{n}"})
            acked = time.monotonic()
            assert ack["ok"], ack
            acks.append(acked - sent)
            if stub is not None and tokens:
                first = tokens[0]
                while True:
                    arrived = [p.at for p in stub.pushes if p.path.endswith(first) and p.at >= sent]
                    if arrived or time.monotonic() - acked > 5:
                        break
                    await asyncio.sleep(0.001)
                if arrived:
                    to_push.append(min(arrived) - acked)
    await phone.disconnect()
    line = f"ack p50 {statistics.median(acks) * 1000:6.2f} ms  p95 {percentile(acks, 0.95) * 1000:6.2f} ms"
    if to_push:
        line += (
            f"   ack → push p50 {statistics.median(to_push) * 1000:6.2f} ms"
            f"  p95 {percentile(to_push, 0.95) * 1000:6.2f} ms  ({len(to_push)}/{scans} pushed)"
        )
    return line


async def main_async(scans: int, base_off: str, base_on: str, stub: ApnsStub, url: str) -> None:
    r = redis.Redis.from_url(url, decode_responses=True)
    print(f"{scans} sequential scans of one card, one Socket.IO client, loopback")
    print(f"wallet off           : {await measure(base_off, r, None, 0, scans)}")
    for devices in DEVICES:
        label = f"apple on, {devices:2d} devices"
        print(f"{label:21s}: {await measure(base_on, r, stub, devices, scans)}")
    total = len(stub.pushes)
    print(f"pushes received by the stand-in: {total}")
    r.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scans", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        certs = make_certs(tmp)
        stub = ApnsStub().start()
        try:
            with (
                EmbeddedServer(tmp / "valkey") as server,
                running_service(server.url, tmp / "off", tmp / "off.log", **UNLIMITED) as off,
                running_service(
                    server.url, tmp / "on", tmp / "on.log", **UNLIMITED, **certs.env(stub.url)
                ) as on,
            ):
                asyncio.run(main_async(args.scans, off, on, stub, server.url))
        finally:
            stub.close()


if __name__ == "__main__":
    main()
