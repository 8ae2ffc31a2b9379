"""A customer's phone on slow mobile data: from opening the QR's URL to "Visit N recorded".

    .venv/bin/python benchmarks/phone.py [--runs 5] [--json] [--smoke]

Starts a throwaway embedded Valkey, one `ult serve` and, in front of it, the loopback proxy
of ``slow_link.py`` shaped like Lighthouse's "Slow 4G" (150 ms round trip, 1.6 Mbit/s down
and 750 kbit/s up on one shared link, 2 extra round trips per new connection for TCP + TLS).
``ULT_PUBLIC_URL`` is the proxy, so the QR's URL goes through it. Debian's Chromium plays the
phone (390×844 at 3×, mobile, CPU throttled 4×); it can reach the proxy and nothing else.

Each run is a fresh browser profile:

* first visit: empty cache, no service worker, no localStorage → the scan page;
* next visit: the same profile, once its service worker is active and the link is quiet, a new
  tab opens the same URL (a fresh nonce: a counted visit; the sponsor's cooldown is 0). The
  proxy drops its connections before it, as a later visit finds no warm connection.

The figure is in-page: ``performance.now()`` when the headline turns to "Visit N recorded"
(a MutationObserver), measured from the navigation's start (``performance.timeOrigin``); the
next animation frame is when it is on screen. Wall-clock from ``page.goto`` is a cross-check.
Where the time goes comes from Navigation and Resource Timing, Long Tasks (the phone's main
thread busy: socket events wait meanwhile), a WebSocket wrapper that notes the Engine.IO /
Socket.IO frames, and the proxy's own log (bytes, connections, each request and its answer
on the link). ``--smoke`` is one run without any throttling, for CI.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import redis
from playwright.sync_api import BrowserContext, Playwright, sync_playwright
from slow_link import SLOW_4G, UNTHROTTLED, Profile, SlowLink, Stats, run_in_thread

from ult.bench.chromium import CHROMIUM, CHROMIUM_ARGS
from ult.embedded import EmbeddedServer, free_port
from ult.launcher import stop_process, wait_http
from ult.rules import Rule
from ult.sponsors import register

CPU_SLOWDOWN = 4
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 11; moto g power (2022)) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36"
)
VISIT_TIMEOUT_MS = 30_000
QUIET_S = 0.5  # the link counts as idle after this long without a byte

# Runs before any page script: notes the WebSocket's life and the moment the visit shows.
# Engine.IO v4 frames: "0{…}" open, "40…" Socket.IO connect, "42<id>[…]" an event with an
# ack id, "43<id>[…]" its ack.
INSTRUMENT = r"""
(() => {
  const now = () => performance.now();
  const marks = (window.__phone = {
    ws: [], shown: null, painted: null, text: null, start: now(), busy: [],
  });
  // the phone's main thread busy for 50 ms or more at a time: socket events wait meanwhile
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) marks.busy.push([e.startTime, e.startTime + e.duration]);
  }).observe({ type: "longtask", buffered: true });
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      const m = (this.__m = { created: now() });
      marks.ws.push(m);
      this.addEventListener("open", () => { m.open ??= now(); });
      this.addEventListener("message", (e) => {
        const d = typeof e.data === "string" ? e.data : "";
        const key = d.startsWith("0") ? "eio_open" : d.startsWith("40") ? "sio_connect"
          : d.startsWith("43") ? "ack" : null;
        if (key) m[key] ??= now();
      });
    }
    send(d) {
      if (typeof d === "string") {
        if (d.startsWith("40")) this.__m.sio_sent ??= now();
        if (d.startsWith("42")) this.__m.scan_sent ??= now();
      }
      return super.send(d);
    }
  };
  const recorded = /^Visit \d+ recorded$/;
  new MutationObserver(() => {
    const h = document.getElementById("headline");
    if (marks.shown === null && h && recorded.test(h.textContent.trim())) {
      marks.shown = now();
      marks.text = h.textContent.trim();
      requestAnimationFrame(() => { marks.painted = now(); });
    }
  }).observe(document, { childList: true, subtree: true, characterData: true });
})();
"""

COLLECT = """() => ({
  timeOrigin: performance.timeOrigin,
  nav: performance.getEntriesByType("navigation")[0].toJSON(),
  resources: performance.getEntriesByType("resource").map((e) => e.toJSON()),
  marks: window.__phone,
  controlled: Boolean(navigator.serviceWorker && navigator.serviceWorker.controller),
})"""

SW_READY = """() => Promise.race([
  navigator.serviceWorker.ready.then((r) => Boolean(r.active)),
  new Promise((resolve) => setTimeout(() => resolve(false), 30000)),
])"""


@dataclass
class Visit:
    """One visit: the in-page figures and what the link carried meanwhile."""

    kind: str
    shown_ms: float
    painted_ms: float
    wall_ms: float
    text: str
    page: dict[str, Any]
    link: dict[str, Any] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(default_factory=list)


# ---- the service ----------------------------------------------------------------------


@dataclass
class Stack:
    """The running service behind the slow link, and the sponsor's scan URL."""

    link: SlowLink
    scan_url: str
    log: Path


def service_env(redis_url: str, var_dir: Path, public_url: str) -> dict[str, str]:
    """The service's environment, isolated from ~ and .env, per-address limits off (every
    phone here comes from 127.0.0.1)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ULT_", "REDIS_URL"))}
    env.update(
        REDIS_URL=redis_url,
        ULT_VAR_DIR=str(var_dir),
        ULT_PUBLIC_URL=public_url,
        ULT_NEW_CARDS_PER_MINUTE="0",
        ULT_CONNECTIONS_PER_ADDRESS="0",
        ULT_KEY_GUESSES_PER_MINUTE="0",
        HOME=str(var_dir),
    )
    return env


@contextlib.contextmanager
def running_service(redis_url: str, tmp: Path, public_url: str, port: int) -> Iterator[Path]:
    """`ult serve` on ``port``; yields its log file."""
    var = tmp / "var"
    var.mkdir()
    log = tmp / "service.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ult", "serve", "--port", str(port)],
            env=service_env(redis_url, var, public_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            if not wait_http(f"http://127.0.0.1:{port}/healthz", timeout=30, proc=proc):
                raise RuntimeError(f"scan service did not start:\n{log.read_text()[-2000:]}")
            yield log
        finally:
            stop_process(proc)


def register_sponsor(redis_url: str) -> str:
    """One sponsor whose rule lets every scan count (cooldown 0); returns its sid."""
    r = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        place = f"local:phone-bench-{uuid.uuid4().hex}"
        reg = register(r, "Phone Bench Café", "Storgatan 1", "SE", place, rule=Rule(cooldown_min=0))
        return reg.sid
    finally:
        r.close()


@contextlib.contextmanager
def stack(tmp: Path, profile: Profile) -> Iterator[Stack]:
    """Valkey, the service and the slow link in front of it; all gone on exit."""
    port = free_port()
    with (
        EmbeddedServer(tmp / "valkey") as valkey,
        run_in_thread(("127.0.0.1", port), profile) as link,
        running_service(valkey.url, tmp, link.url, port) as log,
    ):
        sid = register_sponsor(valkey.url)
        yield Stack(link, f"{link.url}/s/{sid}", log)


# ---- the phone ------------------------------------------------------------------------


def phone_args(proxy_port: int) -> list[str]:
    """Chromium's flags: the project's, and everything but the proxy sent to a dead proxy
    (a routed Playwright context would turn the HTTP cache off, so no route())."""
    dead = free_port()  # nothing listens there: every request through it fails at once
    return [
        *CHROMIUM_ARGS,
        f"--proxy-server=http://127.0.0.1:{dead}",
        f"--proxy-bypass-list=<-loopback>;127.0.0.1:{proxy_port}",  # this order only
    ]


def new_phone(pw: Playwright, profile_dir: Path, proxy_port: int) -> BrowserContext:
    """A fresh browser profile in ``profile_dir``: a phone that never saw the site."""
    home = profile_dir / "home"
    home.mkdir(parents=True)
    return pw.chromium.launch_persistent_context(
        str(profile_dir / "chromium"),
        executable_path=CHROMIUM,
        args=phone_args(proxy_port),
        env={**os.environ, "HOME": str(home), "TMPDIR": str(home), "XDG_CONFIG_HOME": str(home)},
        viewport={"width": 390, "height": 844},
        device_scale_factor=3,
        is_mobile=True,
        has_touch=True,
        user_agent=PHONE_UA,
        locale="en-US",
        service_workers="allow",
    )


def visit(
    ctx: BrowserContext,
    link: SlowLink,
    url: str,
    kind: str,
    cpu: float,
    failures: dict[str, list[str]],
) -> Visit:
    """Open ``url`` in a new tab and wait for "Visit N recorded"; the tab is closed after."""
    page = ctx.new_page()
    page.on("requestfailed", lambda req: note_failure(failures, link, req))
    page.add_init_script(INSTRUMENT)
    if cpu > 1:
        ctx.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": cpu})
    before = link.stats()
    started = time.time()
    page.goto(url, wait_until="commit")
    page.wait_for_function(
        "() => window.__phone && window.__phone.painted !== null", timeout=VISIT_TIMEOUT_MS
    )
    wall_ms = (time.time() - started) * 1000
    data = page.evaluate(COLLECT)
    if kind == "first":
        wait_service_worker(page)
    page.close()
    wait_quiet(link)
    marks = data["marks"]
    v = Visit(kind, marks["shown"], marks["painted"], wall_ms, marks["text"], data)
    v.link = link_report(before, link.stats(), data["timeOrigin"], marks["painted"], link.profile)
    v.rows = waterfall(data, link.stats(), len(before.conns))
    return v


def note_failure(failures: dict[str, list[str]], link: SlowLink, req: Any) -> None:
    """A request that failed: ``blocked`` if it was not for the proxy, else ``failed``."""
    kind = "failed" if req.url.startswith(link.url) else "blocked"
    failures[kind].append(f"{req.url} {req.failure}")


def wait_service_worker(page: Any) -> None:
    """Until the service worker is active (a returning phone has it), or 30 s."""
    page.evaluate(SW_READY)


def wait_quiet(link: SlowLink, timeout: float = 60.0) -> None:
    """Until no byte has been on the link for QUIET_S (the service worker's install is done)."""
    deadline = time.time() + timeout
    while time.time() < deadline and link.idle_for() < QUIET_S:
        time.sleep(0.1)


def one_run(
    pw: Playwright, st: Stack, profile_dir: Path, cpu: float, failures: dict[str, list[str]]
) -> tuple[Visit, Visit]:
    """A first and a next visit in one fresh profile."""
    ctx = new_phone(pw, profile_dir, st.link.port)
    try:
        first = visit(ctx, st.link, st.scan_url, "first", cpu, failures)
        st.link.threadsafe(st.link.drop_connections())
        nxt = visit(ctx, st.link, st.scan_url, "next", cpu, failures)
    finally:
        ctx.close()
    return first, nxt


# ---- where the time goes --------------------------------------------------------------


def link_report(
    before: Stats, after: Stats, origin_ms: float, painted: float, profile: Profile
) -> dict[str, Any]:
    """Bytes, connections and round trips of one visit, from the proxy's log."""
    shown_at = (origin_ms + painted) / 1000
    chunks = after.chunks[len(before.chunks) :]
    conns = after.conns[len(before.conns) :]
    return {
        "bytes_down_to_shown": sum(c.size for c in chunks if not c.up and c.release <= shown_at),
        "bytes_up_to_shown": sum(c.size for c in chunks if c.up and c.sent <= shown_at),
        "bytes_down_total": after.bytes_down - before.bytes_down,
        "bytes_up_total": after.bytes_up - before.bytes_up,
        "connections_to_shown": sum(1 for c in conns if c.opened <= shown_at),
        "connections_total": len(conns),
        "round_trips_to_shown": serial_round_trips(chunks, conns, shown_at, profile),
        "exchanges_to_shown": len([x for x in exchanges(chunks) if x[2] <= shown_at]),
    }


def exchanges(chunks: list[Any]) -> list[tuple[int, float, float]]:
    """Request/answer pairs on each connection: (connection, phone sends, first answer byte
    arrives)."""
    out: list[tuple[int, float, float]] = []
    for conn in sorted({c.conn for c in chunks}):
        mine = sorted((c for c in chunks if c.conn == conn), key=lambda c: c.tx_start)
        asked: float | None = None
        for c in mine:
            if c.up and asked is None:
                asked = c.tx_start
            elif not c.up and asked is not None:
                out.append((conn, asked, c.release))
                asked = None
    return out


def serial_round_trips(chunks: list[Any], conns: list[Any], until: float, profile: Profile) -> int:
    """The most round trips that happened one after another before ``until``: the longest
    chain of non-overlapping waits (a handshake counts for its round trips, each request and
    its first answer byte for one)."""
    waits = [(a, b, 1) for _, a, b in exchanges(chunks) if b <= until]
    waits += [(c.opened, c.ready, profile.handshake_rtts) for c in conns if c.ready <= until]
    waits = [w for w in waits if w[2] > 0]
    waits.sort(key=lambda w: w[1])
    best: list[int] = []  # best[i]: the longest chain ending with waits[i]
    for i, (start, _, weight) in enumerate(waits):
        before = [best[j] for j in range(i) if waits[j][1] <= start + 0.001]
        best.append(weight + max(before, default=0))
    return max(best, default=0)


def path_of(url: str) -> str:
    return urlparse(url).path or "/"


def waterfall(data: dict[str, Any], stats: Stats, first_conn: int) -> list[dict[str, Any]]:
    """The visit's timeline in ms from navigation start: one row per step."""
    origin, nav, m = data["timeOrigin"], data["nav"], data["marks"]
    rows: list[dict[str, Any]] = []

    def row(
        what: str, start: float | None, end: float | None, size: int = 0, note: str = ""
    ) -> None:
        if start is not None:
            rows.append(
                {
                    "what": what,
                    "start": start,
                    "end": end if end is not None else start,
                    "bytes": size,
                    "note": note,
                }
            )

    for c in stats.conns[first_conn:]:
        row(f"connection {c.id} (TCP+TLS)", c.opened * 1000 - origin, c.ready * 1000 - origin)
    mine = {c.id for c in stats.conns[first_conn:]}
    for conn, asked, answered in exchanges([c for c in stats.chunks if c.conn in mine]):
        if answered * 1000 - origin <= m["painted"]:  # the link's part in the visit
            row(
                f"connection {conn}: sent → answered",
                asked * 1000 - origin,
                answered * 1000 - origin,
            )
    if nav.get("workerStart"):
        row("service worker starts", nav["workerStart"], nav["fetchStart"])
    row(
        f"HTML {path_of(nav['name'])}",
        nav["requestStart"] or nav["fetchStart"],
        nav["responseEnd"],
        nav.get("transferSize", 0),
        f"first byte {nav['responseStart']:.0f}",
    )
    row("DOMContentLoaded", nav["domContentLoadedEventEnd"], None)
    row("the document's first script", m.get("start"), None)
    for start, end in m.get("busy", []):
        row("main thread busy (long task)", start, end)
    for r in data["resources"]:
        how = r.get("deliveryType") or ("network" if r.get("transferSize") else "cache")
        status = r.get("responseStatus") or ""
        row(
            path_of(r["name"]),
            r["startTime"],
            r["responseEnd"],
            r.get("transferSize", 0),
            f"{how} {status}".strip(),
        )
    for ws in m["ws"]:
        row("websocket created → open", ws.get("created"), ws.get("open"))
        row("Engine.IO open packet", ws.get("eio_open"), None)
        row("Socket.IO connect → connected", ws.get("sio_sent"), ws.get("sio_connect"))
        row("scan sent → ack", ws.get("scan_sent"), ws.get("ack"))
    row("text shown", m["shown"], None, note=m["text"])
    row("on screen (next frame)", m["painted"], None)
    rows.sort(key=lambda x: (x["start"], x["end"]))
    return rows


# ---- report ---------------------------------------------------------------------------


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "median_ms": round(statistics.median(values)),
        "min_ms": round(min(values)),
        "max_ms": round(max(values)),
        "runs_ms": [round(v) for v in values],
    }


def report(
    runs: list[tuple[Visit, Visit]], profile: Profile, cpu: float, failures: dict[str, list[str]]
) -> dict[str, Any]:
    """The figures of all runs and the median run's waterfalls, as one JSON-able object."""
    middle = sorted(runs, key=lambda r: r[0].painted_ms)[len(runs) // 2]
    out: dict[str, Any] = {
        "profile": {
            "rtt_ms": profile.rtt_s * 1000,
            "down_kbit_s": profile.down_bps / 1000,
            "up_kbit_s": profile.up_bps / 1000,
            "handshake_rtts": profile.handshake_rtts,
            "cpu_slowdown": cpu,
        },
        "runs": len(runs),
        "measure": "in-page performance.now() from navigation start to the frame after the "
        "headline reads 'Visit N recorded'",
        "blocked_requests": failures["blocked"],
        "failed_requests": failures["failed"],
    }
    for i, kind in enumerate(("first", "next")):
        visits = [r[i] for r in runs]
        out[kind] = summary([v.painted_ms for v in visits])
        out[kind]["text_set"] = summary([v.shown_ms for v in visits])
        out[kind]["wall_from_goto"] = summary([v.wall_ms for v in visits])
        out[kind]["link"] = middle[i].link
        out[kind]["waterfall"] = middle[i].rows
    return out


def bar(start: float, end: float, scale: float, width: int = 40) -> str:
    a = max(0, min(width, round(start * scale)))
    b = max(a + 1, min(width, round(end * scale)))
    return " " * a + ("█" * (b - a) if end > start else "│")


def print_table(out: dict[str, Any]) -> None:
    p = out["profile"]
    print(
        f"Phone: {p['rtt_ms']:.0f} ms RTT, {p['down_kbit_s']:.0f}/{p['up_kbit_s']:.0f} kbit/s, "
        f"{p['handshake_rtts']} handshake RTTs per connection, CPU ÷{p['cpu_slowdown']:g}; "
        f"{out['runs']} runs"
    )
    print(f"Measure: {out['measure']}\n")
    print(
        f"{'visit':<7}{'median':>8}{'min':>7}{'max':>7}   text set (median)  wall from goto (median)"
    )
    for kind in ("first", "next"):
        f = out[kind]
        print(
            f"{kind:<7}{f['median_ms']:>6} ms{f['min_ms']:>7}{f['max_ms']:>7}   "
            f"{f['text_set']['median_ms']:>8} ms          {f['wall_from_goto']['median_ms']:>8} ms"
        )
    for kind in ("first", "next"):
        print_waterfall(kind, out[kind])
    for kind in ("blocked", "failed"):
        if out[f"{kind}_requests"]:
            print(f"\n{kind.capitalize()} requests:", *out[f"{kind}_requests"], sep="\n  ")


def print_waterfall(kind: str, f: dict[str, Any]) -> None:
    rows, link = f["waterfall"], f["link"]
    total = max(r["end"] for r in rows) or 1
    scale = 40 / total
    print(f"\n{kind} visit (the median run), ms from navigation start:")
    print(f"  {'start':>6} {'end':>6}  {'what':<34}{'bytes':>7}  {'timeline':<40}  note")
    for r in rows:
        size = str(r["bytes"]) if r["bytes"] else ""
        print(
            f"  {r['start']:>6.0f} {r['end']:>6.0f}  {r['what'][:34]:<34}{size:>7}  "
            f"{bar(r['start'], r['end'], scale):<40}  {r['note']}"
        )
    print(
        f"  link until shown: {link['bytes_down_to_shown']} B down, {link['bytes_up_to_shown']} B up, "
        f"{link['connections_to_shown']} connections, {link['round_trips_to_shown']} round trips "
        f"in series ({link['exchanges_to_shown']} request/answer pairs); whole visit incl. the "
        f"service worker's install: {link['bytes_down_total']} B down, {link['bytes_up_total']} B up, "
        f"{link['connections_total']} connections"
    )


# ---- main -----------------------------------------------------------------------------


def measure(runs: int, profile: Profile, cpu: float) -> dict[str, Any]:
    """Start everything, run, clean up; returns the report."""
    with tempfile.TemporaryDirectory(prefix="ult-phone-") as tmp_name:
        tmp = Path(tmp_name)
        with stack(tmp, profile) as st, sync_playwright() as pw:
            failures: dict[str, list[str]] = {"blocked": [], "failed": []}
            results = [one_run(pw, st, tmp / f"phone-{i}", cpu, failures) for i in range(runs)]
            return report(results, profile, cpu, failures)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh phones to measure (default 5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--smoke", action="store_true", help="one run, no throttling (CI)")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: every `with` above stops its process and removes its files
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.smoke:
        out = measure(1, UNTHROTTLED, 1)
    else:
        out = measure(max(1, args.runs), SLOW_4G, CPU_SLOWDOWN)
    if args.json:
        print(json.dumps(out, indent=1))
    else:
        print_table(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
