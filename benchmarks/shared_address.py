"""Honest first visits and a card farm behind one shared address (a café's Wi-Fi, a carrier NAT).

    .venv/bin/python benchmarks/shared_address.py [--seconds 60] [--json]

Starts a throwaway embedded Valkey and one `ult serve` with the default settings
(``ULT_NEW_CARDS_PER_MINUTE`` 30), then, all from 127.0.0.3: honest customers, one new card
every 1.5 s, who solve the proof-of-work challenge at a phone's price (solved in Python, then
waiting out what Chromium at 4× CPU throttling takes, ``PHONE_US_PER_HASH``), while a farm on
that same address runs (a) without solving challenges and (b) solving each with the altcha
package's Python solver flat out, in its own process. Prints, per case, honest visits counted
and refused, the honest wait for a challenge, farm cards per minute and the farm's CPU seconds
per card. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import aiohttp
import altcha
import redis
import socketio

from ult import run
from ult.embedded import EmbeddedServer, free_port
from ult.launcher import stop_process, wait_http
from ult.rules import Rule, set_rule
from ult.sponsors import register

SHARED = "127.0.0.3"
HONEST_EVERY_S = 1.5
# Chromium at 4× CPU throttling, crypto.subtle on the page's thread: ~40 µs a hash (docs/deploy.md;
# in a worker, which the throttling slows less, ~12–25 µs); Python ~1 µs
PHONE_US_PER_HASH = 40.0
FARM_CONNECTIONS = 8  # past one connection's event rate (20 a second)


def pow_field(challenge: dict) -> tuple[str, int]:
    """Solve ``challenge`` with the altcha package: the scan's `pow` field and hashes tried."""
    found = altcha.solve_challenge_v1(
        challenge["challenge"], challenge["salt"], challenge["algorithm"], challenge["maxnumber"]
    )
    number = found.number if found else -1
    fields = ("algorithm", "challenge", "salt", "signature")
    payload = {name: challenge[name] for name in fields} | {"number": number}
    return base64.b64encode(json.dumps(payload).encode()).decode(), number + 1


async def connected(url: str) -> tuple[aiohttp.ClientSession, socketio.AsyncClient]:
    """A Socket.IO connection leaving from the shared address."""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(SHARED, 0)))
    client = socketio.AsyncClient(reconnection=False, http_session=session)
    await client.connect(url, transports=["websocket"])
    return session, client


async def honest_visit(url: str, sid: str, n: int, pool: ProcessPoolExecutor) -> dict:
    """One phone's first visit: scan; when challenged, solve at a phone's price and send again."""
    session, c = await connected(url)
    payload = {"sid": sid, "key": f"honest{n:05d}{time.time_ns()}".ljust(43, "h"), "nonce": "v"}
    waited = 0.0
    try:
        ack = await c.call("scan", payload, timeout=30)
        if not ack["ok"] and "challenge" in ack:
            started = time.monotonic()
            loop = asyncio.get_running_loop()
            pow, hashes = await loop.run_in_executor(pool, pow_field, ack["challenge"])
            phone_s = hashes * PHONE_US_PER_HASH / 1e6
            await asyncio.sleep(max(0.0, phone_s - (time.monotonic() - started)))
            waited = time.monotonic() - started
            ack = await c.call("scan", payload | {"pow": pow}, timeout=30)
        return {"ok": bool(ack["ok"]), "waited": waited}
    finally:
        await c.disconnect()
        await session.close()


async def honest_run(url: str, sid: str, seconds: float) -> dict:
    """New customers every ``HONEST_EVERY_S`` for ``seconds``."""
    with ProcessPoolExecutor(max_workers=1) as pool:
        visits = []
        for n in range(int(seconds / HONEST_EVERY_S)):
            visits.append(asyncio.create_task(honest_visit(url, sid, n, pool)))
            await asyncio.sleep(HONEST_EVERY_S)
        done = await asyncio.gather(*visits)
    waits = [v["waited"] for v in done if v["waited"]]
    return {
        "honest_counted": sum(v["ok"] for v in done),
        "honest_refused": sum(not v["ok"] for v in done),
        "honest_challenged": len(waits),
        "honest_wait_mean_s": round(sum(waits) / len(waits), 2) if waits else 0.0,
        "honest_wait_max_s": round(max(waits), 2) if waits else 0.0,
    }


def cpu_s() -> float:
    """CPU seconds this process has used."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


async def farm(url: str, sid: str, seconds: float, solve: bool) -> dict:
    """New cards as fast as ``FARM_CONNECTIONS`` connections may, solving or not."""
    opened = [await connected(url) for _ in range(FARM_CONNECTIONS)]
    cards, solving = 0, 0.0
    deadline = time.monotonic() + seconds
    try:
        for n in range(10**9):
            if time.monotonic() > deadline:
                break
            c = opened[n % FARM_CONNECTIONS][1]
            payload = {"sid": sid, "key": f"farm{n:07d}{time.time_ns()}".ljust(43, "f")}
            ack = await c.call("scan", payload, timeout=30)
            if not ack["ok"] and solve and "challenge" in ack:
                before = cpu_s()
                pow = pow_field(ack["challenge"])[0]
                solving += cpu_s() - before
                ack = await c.call("scan", payload | {"pow": pow}, timeout=30)
            cards += bool(ack["ok"])
            if not ack["ok"] and ack["error"]["code"] == "rate_limited":
                await asyncio.sleep(0.05)
    finally:
        for session, c in opened:
            await c.disconnect()
            await session.close()
    return {"cards": cards, "cpu_s": cpu_s(), "solve_cpu_s": solving}


def farm_process(url: str, sid: str, seconds: float, solve: bool) -> subprocess.Popen:
    """The farm in its own process, so its CPU is its own (printed as JSON on exit)."""
    args = [sys.executable, __file__, "--farm", url, sid, str(seconds), "1" if solve else "0"]
    return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)


def service_cpu(pid: int) -> float:
    """CPU seconds the service process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_case(url: str, r: redis.Redis, pid: int, mode: str, seconds: float) -> dict:
    """Honest customers for ``seconds`` beside a farm in ``mode`` (none, plain, solving)."""
    reg = register(r, f"Cafe {mode}", "Storgatan 1", "SE", f"bench-{mode}-{time.time_ns()}")
    run(r, set_rule(reg.sid, reg.owner_key, Rule(cooldown_min=0)))
    cpu_before = service_cpu(pid)
    proc = farm_process(url, reg.sid, seconds, mode == "solving") if mode != "none" else None
    honest = asyncio.run(honest_run(url, reg.sid, seconds))
    farmed = json.loads(proc.communicate()[0]) if proc else {"cards": 0, "cpu_s": 0.0}
    cards = farmed["cards"]
    solving = farmed.get("solve_cpu_s", 0.0)
    return {
        "farm": mode,
        **honest,
        "farm_cards_per_min": round(cards * 60 / seconds, 1),
        "farm_cpu_s_per_card": round(farmed["cpu_s"] / cards, 4) if cards else None,
        "farm_solve_cpu_s_per_card": round(solving / cards, 4) if cards and solving else None,
        "service_cpu_s": round(service_cpu(pid) - cpu_before, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each case")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--farm", nargs=4, help=argparse.SUPPRESS)  # the farm's own process
    args = parser.parse_args(argv)
    if args.farm:
        url, sid, seconds, solve = args.farm
        print(json.dumps(asyncio.run(farm(url, sid, float(seconds), solve == "1"))))
        return 0
    with tempfile.TemporaryDirectory(prefix="ult-shared-") as tmp_name:
        tmp = Path(tmp_name)
        server = EmbeddedServer(tmp / "valkey").start()
        r = redis.Redis.from_url(server.url, decode_responses=True)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ULT_", "REDIS_URL"))}
        env.update(REDIS_URL=server.url, ULT_VAR_DIR=str(tmp / "var"))
        cmd = [sys.executable, "-m", "ult", "serve", "--port", str(port)]
        with (tmp / "service.log").open("wb") as out:
            proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            assert wait_http(f"{url}/healthz", timeout=30, proc=proc), "service did not start"
            rows = []
            for i, mode in enumerate(("none", "plain", "solving")):
                if i:
                    time.sleep(62)  # the address's budget and price settle between cases
                rows.append(one_case(url, r, proc.pid, mode, args.seconds))
        finally:
            stop_process(proc)
            server.stop()
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for row in rows:
            print("  ".join(f"{k}={v}" for k, v in row.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
