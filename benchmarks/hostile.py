"""What one hostile action costs the scan service: bytes of memory, log and Redis per action.

    .venv/bin/python benchmarks/hostile.py [--rev GIT_REV] [--json]

Starts a throwaway embedded Valkey and one `ult serve` with the default settings, then plays an
attacker from 127.0.0.2 (one address): reconnect-and-farm new cards, binary attachments,
malformed frames, half-sent HTTP requests and wrong owner keys. Then, each from its own
addresses: 16 addresses filling the connection cap (``--max-connections``, each address at its
share) and a newcomer plus ``/healthz`` during it; a flood of refused scans of returning cards
(Redis bytes and stream entries); a huge request header; Engine.IO polling handshakes; and a
till among wrong staff-key guessers on its shared address. ``--rev`` runs the service of an
older commit (``git archive``) instead, to compare before and after. Figures are printed,
never asserted: a regression shows as a number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import redis
import socketio

from ult import run
from ult.embedded import EmbeddedServer, free_port
from ult.launcher import stop_process, wait_http
from ult.rules import Rule, set_rule
from ult.scans import scan
from ult.sponsors import register

ROOT = Path(__file__).resolve().parent.parent  # the checkout

ATTACKER = "127.0.0.2"
# Runs `ult serve` from a given source tree even though this venv has ULT installed editable.
LAUNCH = (
    "import sys; sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
    "sys.path.insert(0, sys.argv[1]); from ult.cli import main; sys.exit(main(sys.argv[2:]))"
)


class Target:
    """The service under attack and the three meters."""

    def __init__(self, url: str, proc: subprocess.Popen, log: Path, r: redis.Redis) -> None:
        self.url, self.proc, self.log, self.r = url, proc, log, r
        self.port = int(url.rsplit(":", 1)[1])

    def meters(self) -> dict[str, int]:
        rss = 0
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
        return {
            "memory": rss,
            "log": self.log.stat().st_size,
            "redis": int(self.r.info("memory")["used_memory"]),
            "files": len(os.listdir(f"/proc/{self.proc.pid}/fd")),
        }


def session() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(ATTACKER, 0), limit=0))


async def raw_socket(url: str, s: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    ws = await s.ws_connect(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
    await ws.receive_str()
    await ws.send_str("40")
    await ws.receive_str()
    return ws


async def farm(t: Target, sid: str, n: int) -> int:
    """Reconnect and scan with a fresh key each time; returns cards created."""
    created = 0
    async with session() as s:
        for i in range(n):
            c = socketio.AsyncClient(reconnection=False, http_session=s)
            await c.connect(t.url, transports=["websocket"])
            ack = await c.call("scan", {"sid": sid, "key": f"farm{i:06d}" + "f" * 33})
            created += bool(ack.get("ok"))
            await c.disconnect()
    return created


async def attachments(t: Target, n: int) -> int:
    """One event announcing ``n`` attachments of 7.9 KB, then the attachments."""
    sent = 0
    async with session() as s:
        ws = await raw_socket(t.url, s)
        await ws.send_str(f'45{n}-["scan",{{"_placeholder":true,"num":0}}]')
        blob = b"\x00" * 7900
        try:
            for _ in range(n):
                if ws.closed:
                    break
                await ws.send_bytes(blob)
                sent += 1
        except (ConnectionError, aiohttp.ClientError):
            pass
        await asyncio.sleep(0.5)
        await ws.close()
    return sent


async def malformed(t: Target, n: int) -> int:
    """``n`` frames of ``42garbage``, reconnecting whenever the server hangs up."""
    sent = 0
    async with session() as s:
        ws = await raw_socket(t.url, s)
        for _ in range(n):
            if ws.closed:
                ws = await raw_socket(t.url, s)
            try:
                await ws.send_str("42garbage")
                sent += 1
            except (ConnectionError, aiohttp.ClientError):
                ws = await raw_socket(t.url, s)
            if sent % 50 == 0:
                await asyncio.sleep(0)  # let the server's close arrive
        await asyncio.sleep(0.5)
        await ws.close()
    return sent


def half_sent(t: Target, n: int) -> tuple[int, bool]:
    """``n`` requests whose headers never end; returns (held by the server, /healthz ok)."""
    socks = []
    for _ in range(n):
        try:
            sock = socket.create_connection(("127.0.0.1", t.port), source_address=(ATTACKER, 0))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            socks.append(sock)
        except OSError:
            break
    time.sleep(1.0)
    held = t.meters()["files"]
    try:
        healthy = wait_http(f"{t.url}/healthz", timeout=3)
    finally:
        for sock in socks:
            sock.close()
    return held, healthy


async def guesses(t: Target, sid: str, n: int) -> int:
    """``n`` wrong owner keys for ``watch``, 20 per connection; returns answers 'unauthorized'."""
    checked = 0
    async with session() as s:
        for start in range(0, n, 20):
            c = socketio.AsyncClient(reconnection=False, http_session=s)
            await c.connect(t.url, transports=["websocket"])
            acks = await asyncio.gather(
                *(
                    c.call("watch", {"sid": sid, "owner_key": "w" * 43})
                    for _ in range(start, min(n, start + 20))
                )
            )
            checked += sum(a.get("error", {}).get("code") == "unauthorized" for a in acks)
            await c.disconnect()
    return checked


def session_at(address: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0), limit=0))


def raw_get(t: Target, source: str, path: str, headers: bytes = b"") -> bytes:
    """One request on its own connection from ``source``: the answer's status line."""
    try:
        with socket.create_connection(("127.0.0.1", t.port), 5, source_address=(source, 0)) as c:
            c.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
            return c.recv(4096).split(b"\r\n", 1)[0]
    except OSError as e:
        return type(e).__name__.encode()


async def was_closed(ws: aiohttp.ClientWebSocketResponse) -> bool:
    """Whether the server closed ``ws`` (for the newcomer's sake)."""
    try:
        msg = await ws.receive(timeout=1.0)
    except TimeoutError:
        return False
    except (aiohttp.ClientError, ConnectionError):
        return True
    return msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)


async def fill(t: Target, sid: str, per_address: int) -> str:
    """16 addresses open ``per_address`` websockets each (the cap), then a newcomer scans and
    /healthz is asked from a fifth address: 'healthz <status>, newcomer <ok>, evicted <n>'."""
    sessions = [session_at(f"127.0.3.{i}") for i in range(1, 17)]
    held = []
    try:
        for s in sessions:
            for _ in range(per_address):
                try:
                    held.append(await raw_socket(t.url, s))
                except (aiohttp.ClientError, ConnectionError):
                    break
        health = raw_get(t, "127.0.4.1", "/healthz", b"Connection: close\r\n").decode()
        async with session_at("127.0.4.2") as s:
            c = socketio.AsyncClient(reconnection=False, http_session=s)
            try:
                await c.connect(t.url, transports=["websocket"])
                ack = await c.call("scan", {"sid": sid, "key": "newcomer" + "n" * 35}, timeout=5)
                ok = bool(ack.get("ok"))
                await c.disconnect()
            except Exception:
                ok = False
        evicted = sum(await asyncio.gather(*(was_closed(ws) for ws in held)))
        status = health[9:12] or "reset"
        return f"healthz {status}, newcomer {'in' if ok else 'out'}, {evicted} cut"
    finally:
        for ws in held:
            await ws.close()
        for s in sessions:
            await s.close()


async def refusal_flood(t: Target, sid: str, cards: int, n: int) -> str:
    """``cards`` returning cards scanned ``n`` times in all (cooldown: refused), fresh nonces,
    over 10 connections from one address: 'entries +<stream entries>'."""
    keys = [f"refuse{i:04d}" + "r" * 33 for i in range(cards)]
    entries = t.r.xlen(f"ult:{{{sid}}}:events")
    async with session_at("127.0.5.1") as s:
        clients = []
        for _ in range(10):
            c = socketio.AsyncClient(reconnection=False, http_session=s)
            await c.connect(t.url, transports=["websocket"])
            clients.append(c)
        for i in range(n):
            c = clients[i % len(clients)]
            payload = {"sid": sid, "key": keys[i % cards], "nonce": f"n{i:08d}"}
            await c.call("scan", payload, timeout=5)
        for c in clients:
            await c.disconnect()
    return f"entries +{t.r.xlen(f'ult:{{{sid}}}:events') - entries}"


def huge_header(t: Target, megabytes: int) -> str:
    """One request whose header is ``megabytes`` long: the status, or how it ended."""
    sent = 0
    try:
        with socket.create_connection(("127.0.0.1", t.port), source_address=("127.0.6.1", 0)) as c:
            c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nAccept-Language: ")
            chunk = b"a" * 65536
            while sent < megabytes << 20:
                c.sendall(chunk)
                sent += len(chunk)
            c.sendall(b"\r\n\r\n")
            answer = c.recv(4096).split(b"\r\n", 1)[0].decode()
    except OSError as e:
        answer = type(e).__name__
    status = answer[9:12] if answer.startswith("HTTP/") else answer.replace("Error", "")
    return f"{status} after {sent >> 10} KB"


def polling(t: Target, n: int) -> str:
    """``n`` Engine.IO polling handshakes from 10 addresses: the statuses answered."""
    answers: dict[str, int] = {}
    for i in range(n):
        line = raw_get(t, f"127.0.7.{i % 10 + 1}", "/socket.io/?EIO=4&transport=polling")
        status = line.decode()[9:12] or "reset"
        answers[status] = answers.get(status, 0) + 1
    return ", ".join(f"{k}×{v}" for k, v in answers.items())


async def till_lockout(t: Target, sid: str, owner_key: str, n: int) -> str:
    """A till that proved its key, and ``n`` wrong staff keys from its shared address: what
    the till's next request is answered."""
    right = {"sid": sid, "staff_key": owner_key}
    async with session_at("127.0.8.1") as s:
        till = socketio.AsyncClient(reconnection=False, http_session=s)
        guesser = socketio.AsyncClient(reconnection=False, http_session=s)
        await till.connect(t.url, transports=["websocket"])
        await guesser.connect(t.url, transports=["websocket"])
        await till.call("watch", right)
        for _ in range(n):
            await guesser.call("claims", {"sid": sid, "staff_key": "w" * 43})
        ack = await till.call("claims", right)
        await till.disconnect()
        await guesser.disconnect()
    return "till served" if ack.get("ok") else f"till: {ack['error']['code']}"


def measure(t: Target, name: str, n: int, action) -> dict:
    before = t.meters()
    result = action()
    if asyncio.iscoroutine(result):
        result = asyncio.run(result)
    time.sleep(0.5)
    after = t.meters()
    row = {"action": name, "attempts": n, "result": result}
    for k in ("memory", "log", "redis"):
        row[f"{k}_per_attempt"] = round((after[k] - before[k]) / n)
    return row


def source_tree(rev: str | None, tmp: Path) -> Path:
    if rev is None:
        return ROOT
    out = tmp / "src"
    out.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", help="run the service of this git revision (e.g. a baseline)")
    parser.add_argument("--scale", type=int, default=1, help="multiply the attempt counts")
    parser.add_argument(
        "--max-connections",
        type=int,
        default=1024,
        help="ULT_MAX_CONNECTIONS of the service "
        "(16 addresses fill it, each at a 16th; the default setting is 4096)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ult-hostile-") as tmp_name:
        tmp = Path(tmp_name)
        src = source_tree(args.rev, tmp)
        server = EmbeddedServer(tmp / "valkey").start()
        r = redis.Redis.from_url(server.url, decode_responses=True)
        reg = register(r, "Bench", "Storgatan 1", "SE", "bench-place")
        run(r, set_rule(reg.sid, reg.owner_key, Rule(cooldown_min=0)))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ULT_", "REDIS_URL"))}
        env.update(REDIS_URL=server.url, ULT_VAR_DIR=str(tmp / "var"))
        per_address = args.max_connections // 16
        env.update(
            ULT_MAX_CONNECTIONS=str(args.max_connections),
            ULT_CONNECTIONS_PER_ADDRESS=str(per_address),
        )
        strict = register(r, "Strict", "Storgatan 2", "SE", "bench-place-2")  # 1-hour cooldown
        refusing = [f"refuse{i:04d}" + "r" * 33 for i in range(20)]
        for key in refusing:
            run(r, scan(strict.sid, key))
        log = tmp / "service.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", LAUNCH, str(src), "serve", "--port", str(port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        t = Target(f"http://127.0.0.1:{port}", proc, log, r)
        try:
            assert wait_http(f"{t.url}/healthz", timeout=30, proc=proc), "service did not start"
            k = args.scale
            rows = [
                measure(
                    t,
                    "reconnect-and-farm (cards created)",
                    300 * k,
                    lambda: farm(t, reg.sid, 300 * k),
                ),
                measure(
                    t, "attachments (of 7.9 KB sent)", 2000 * k, lambda: attachments(t, 2000 * k)
                ),
                measure(t, "malformed frames (sent)", 2000 * k, lambda: malformed(t, 2000 * k)),
                measure(
                    t, "half-sent requests (files held)", 1000 * k, lambda: half_sent(t, 1000 * k)
                ),
                measure(
                    t, "wrong owner keys (checked)", 400 * k, lambda: guesses(t, reg.sid, 400 * k)
                ),
                measure(
                    t,
                    "connection fill + newcomer, /healthz",
                    args.max_connections,
                    lambda: fill(t, reg.sid, per_address),
                ),
                measure(
                    t,
                    "refused scans, 20 returning cards",
                    2000 * k,
                    lambda: refusal_flood(t, strict.sid, 20, 2000 * k),
                ),
                measure(t, "one huge header (MB)", 300, lambda: huge_header(t, 300)),
                measure(t, "polling handshakes", 500 * k, lambda: polling(t, 500 * k)),
                measure(
                    t,
                    "till among wrong staff keys",
                    20,
                    lambda: till_lockout(t, strict.sid, strict.owner_key, 20),
                ),
            ]
        finally:
            stop_process(proc)
            r.close()
            server.stop()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"Cost per hostile action from one address ({args.rev or 'this tree'}):")
    print(
        f"  {'action':<38} {'attempts':>8} {'result':>14} {'memory B':>9} {'log B':>7} {'redis B':>8}"
    )
    for row in rows:
        print(
            f"  {row['action']:<38} {row['attempts']:>8} {str(row['result']):>14} "
            f"{row['memory_per_attempt']:>9} {row['log_per_attempt']:>7} {row['redis_per_attempt']:>8}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
