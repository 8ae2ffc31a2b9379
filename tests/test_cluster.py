"""ULT on a real Redis Cluster (3 masters + 3 replicas of the embedded Valkey): the CLI,
scans and claims with live events across two service processes, demo + analytics + export,
metrics across workers, and a failover that loses no acknowledged scan (last: it kills a
master of the session's cluster)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import socketio
from support.wait import wait_until, wait_until_async

from ult import analytics as ua
from ult import demo, keys, run
from ult.analytics import export, lake
from ult.cli import main
from ult.connection import connect
from ult.identity import card_id
from ult.rules import Rule, get_rule
from ult.service.notify import Notifier
from ult.sponsors import list_sponsors, register

KEY = "c" * 43


def make_sponsor(r, n: int = 1, **rule: object) -> dict:
    from ult.rules import set_rule

    reg = register(r, f"Cluster Café {n}", f"Klustergatan {n}", "SE", f"local:cluster-{n}")
    if rule:
        run(r, set_rule(reg.sid, reg.owner_key, Rule(**rule)))
    return {"sid": reg.sid, "owner_key": reg.owner_key}


async def client(url: str, **handlers) -> socketio.AsyncClient:
    c = socketio.AsyncClient(reconnection=False)
    for event, fn in handlers.items():
        c.on(event, fn)
    await c.connect(url, transports=["websocket"])
    return c


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return resp.read().decode()


def test_the_cli_finds_the_cluster_from_any_node(cluster, rcl, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("REDIS_URL", cluster.nodes[-1].url)  # a replica's address works too
    monkeypatch.setenv("ULT_PUBLIC_URL", "http://127.0.0.1:1")
    args = ["--name", "Nodgatan Bar", "--address", "Nodgatan 1", "--country", "SE"]
    assert main(["register", *args]) == 0
    reg = json.loads(capsys.readouterr().out)
    rule = ["rule", reg["sid"], "--owner-key", reg["owner_key"], "--points-needed", "3"]
    assert main(rule) == 0
    assert json.loads(capsys.readouterr().out)["points_needed"] == 3
    assert main(["qr", reg["sid"], "-o", str(tmp_path / "qr.png")]) == 0
    assert (tmp_path / "qr.png").stat().st_size > 100
    assert [s["sid"] for s in list_sponsors(rcl)] == [reg["sid"]]
    assert main(["register", *args]) == 2  # the same place twice: refused, as on one server


async def test_scans_claims_and_live_events_across_two_processes(cluster, cluster_services, rcl):
    one, two = cluster_services
    s = make_sponsor(rcl, cooldown_min=0, points_needed=2, approval="instant")
    scans, claims, updates = asyncio.Queue(), asyncio.Queue(), asyncio.Queue()
    sponsor = await client(two, scan=scans.put_nowait, claim=claims.put_nowait)
    phone = await client(one)
    other_tab = await client(two, claim_update=updates.put_nowait)
    try:
        assert (await sponsor.call("watch", {"sid": s["sid"], "owner_key": s["owner_key"]}))["ok"]
        assert (await other_tab.call("card", {"sid": s["sid"], "key": KEY}))["ok"]
        for n in (1, 2):
            ack = await phone.call("scan", {"sid": s["sid"], "key": KEY, "nonce": f"n{n}"})
            assert ack["ok"] and ack["visits"] == n
            assert (await asyncio.wait_for(scans.get(), 5))["visits"] == n
        ack = await phone.call("claim", {"sid": s["sid"], "key": KEY})
        assert ack["ok"] and ack["created"]
        assert (await asyncio.wait_for(claims.get(), 5))["id"] == ack["claim"]["id"]
        assert (await asyncio.wait_for(updates.get(), 5))["id"] == ack["claim"]["id"]
        # the dashboard kernel's write-only emitter reaches the card on the cluster too
        notifier = Notifier(cluster.url)
        try:
            notifier.claim_update(s["sid"], card_id(KEY), {"id": "staff-said-so"})
        finally:
            notifier.close()
        assert (await asyncio.wait_for(updates.get(), 5))["id"] == "staff-said-so"
    finally:
        for c in (sponsor, phone, other_tab):
            await c.disconnect()
    kinds = [f["t"] for _, f in rcl.xrange(keys.sponsor_keys(s["sid"]).events)]
    assert kinds.count("scan") == 2 and "claim" in kinds


def test_demo_analytics_and_export_read_every_master(rcl, tmp_path: Path):
    config = demo.DemoConfig(sponsors=4, days=10, seed=5, end_ms=1_790_000_000_000)
    report = demo.load(rcl, config, progress=False)
    masters = {cluster_slot_owner(rcl, keys.sponsor_keys(s["sid"]).events) for s in report.sponsors}
    assert len(masters) >= 2  # the sponsors really are spread over the cluster
    events = ua.load_events(rcl, progress=False, lake=False)
    assert len(events) == report.entries
    assert sorted(ua.load_sponsors(rcl)["sid"]) == sorted(s["sid"] for s in report.sponsors)
    written = export.export(rcl, tmp_path / "export", progress=False)
    assert sum(w.rows for w in written if w.path.name.startswith("events-")) // 2 == report.entries
    # the lake: archive every master's streams, trim the old part, and read both back as one
    end = config.end_ms
    done = lake.archive(rcl, tmp_path / "lake", trim_days=5, now_ms=end)
    assert done.entries == report.entries and done.trimmed > 0
    back = ua.load_events(rcl, progress=False, lake=tmp_path / "lake")
    assert len(back) == report.entries


def cluster_slot_owner(r, key: str) -> str:
    return r.get_node_from_key(key).name


def test_metrics_add_up_over_worker_processes(cluster, rcl, tmp_path):
    from support.service import running_service

    s = make_sponsor(rcl, cooldown_min=0)

    async def scans(base: str, n: int) -> None:
        phones = [await client(base) for _ in range(6)]  # spread over the workers
        try:
            for i in range(n):
                ack = await phones[i % 6].call("scan", {"sid": s["sid"], "key": KEY})
                assert ack["ok"]
            bad = await phones[0].call("scan", {"sid": "no-such-0000", "key": KEY})
            assert bad["error"]["code"] == "unknown_sponsor"
        finally:
            for p in phones:
                await p.disconnect()

    with running_service(cluster.url, tmp_path, ULT_WORKERS="2") as base:
        asyncio.run(scans(base, 12))
        page = get(f"{base}/metrics")
    assert 'ult_scans_total{outcome="ok"} 12.0' in page
    assert 'ult_refusals_total{code="unknown_sponsor",event="scan"} 1.0' in page
    assert 'ult_event_seconds_count{event="scan"} 13.0' in page
    assert s["sid"] not in page and "127.0.0.1" not in page  # nothing per sponsor or address


def test_dashboard_registers_follows_the_live_feed_and_edits_the_rule(cluster, rcl):
    from support.dashboard import live_threads, register_in

    from ult.claims import claim
    from ult.dashboard import Context, Dashboard
    from ult.scans import scan
    from ult.settings import load_settings

    dash = Dashboard(Context(load_settings({"REDIS_URL": cluster.url})))
    dash.store.value, dash.store.loaded = {"uid": "d" * 32}, True
    try:
        business = register_in(dash, "Klustret", "Nodgatan 3")
        run(rcl, scan(business.sid, KEY, at="table-9"))
        wait_until(lambda: "table-9" in str(dash.live.feed.rows), 5, message="scan not in the feed")
        dash.rules.inputs["points_needed"].value = 2
        dash.rules.inputs["cooldown_min"].value = 0
        dash.rules.approval.value = "staff"
        dash.rules._on_save()
        assert "Saved" in dash.rules.message.value
        assert run(rcl, get_rule(business.sid)).points_needed == 2
        run(rcl, scan(business.sid, KEY))
        made, _ = run(rcl, claim(business.sid, KEY))
        wait_until(lambda: dash.claims.pending.row_ids == [made.id], 5, message="claim not shown")
        assert dash.claims.pending.act("approve", made.id)  # the real notifier, on the cluster
        assert f"Approved {made.code}" in dash.claims.message.value
    finally:
        dash.close()
    wait_until(lambda: not live_threads(), 4, message="the live reader still runs")


def healthz(base: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_healthz_asks_every_master(cluster, cluster_services, rcl):
    """A master that stops answering makes /healthz degraded, whichever master it is."""
    from ult.service.health import MASTER_SILENT, MASTER_TIMEOUT_S

    one, _ = cluster_services
    assert healthz(one) == (200, {"status": "ok", "redis": "ok"})
    pause_ms = int((MASTER_TIMEOUT_S + 1) * 1000)  # past the check's wait, short of a failover
    for master in rcl.get_primaries():
        with cluster.client(master.port) as paused:
            paused.execute_command("CLIENT", "PAUSE", pause_ms, "ALL")
        status, body = healthz(one)
        assert status == 503 and body["status"] == "degraded", body
        assert body["reason"] == f"{MASTER_SILENT} ({master.name})"
        wait_until(lambda: healthz(one)[0] == 200, 10, message="/healthz not ok after the pause")


@pytest.mark.slow
async def test_failover_loses_no_acknowledged_scan(cluster, cluster_services, rcl):
    one, two = cluster_services
    s = make_sponsor(rcl, cooldown_min=0)
    events = keys.sponsor_keys(s["sid"]).events
    victim = cluster.master_port_of(events)
    acked: set[str] = set()
    codes: list[str] = []
    resumed_at: list[float] = []
    killed_at = 0.0
    stop = asyncio.Event()

    async def phone(base: str, name: str) -> None:
        c = await client(base)
        n = 0
        try:
            while not stop.is_set():
                n += 1
                key = f"{name}x{n:040d}"  # a new card each time: no cooldown, one scan each
                ack = await c.call("scan", {"sid": s["sid"], "key": key, "nonce": "n"}, timeout=10)
                if ack["ok"]:
                    acked.add(card_id(key))
                    if codes and not resumed_at:
                        resumed_at.append(time.monotonic())
                else:
                    codes.append(ack["error"]["code"])
                    await asyncio.sleep(0.05)
        finally:
            await c.disconnect()

    tasks = [asyncio.create_task(phone(b, f"{b[-5:]}p{i}")) for b in (one, two) for i in range(4)]
    await asyncio.sleep(1.5)
    with cluster.client(victim) as master:  # acks waited for a replica, once per batch
        waits = master.info("commandstats")["cmdstat_wait"]["calls"]
    before = len(acked)
    assert 0 < waits < before
    cluster.kill(victim)
    killed_at = time.monotonic()
    try:
        resumed = "scans did not resume after the failover"
        await wait_until_async(lambda: resumed_at, 30, interval=0.1, message=resumed)
        await asyncio.sleep(1.0)  # and keep going on the promoted replica
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert before > 0 and resumed_at, "scans did not resume after the failover"
    assert set(codes) <= {"unavailable"}, codes  # a failover shows as `unavailable`, nothing else
    await asyncio.to_thread(cluster.wait_healthy, 30)
    fresh = connect(url=cluster.url)
    try:
        assert cluster.master_port_of(events) != victim
        in_stream = {f["c"] for _, f in fresh.xrange(events) if f.get("t") == "scan"}
    finally:
        fresh.close()
    assert acked - in_stream == set(), f"{len(acked - in_stream)} acknowledged scans lost"
    assert json.loads(get(f"{one}/healthz"))["status"] == "ok"  # healthy again, by itself
    assert json.loads(get(f"{two}/healthz"))["status"] == "ok"
    print(
        f"failover: {len(acked)} acked scans, all in the stream; {waits} WAITs for {before} "
        f"scans before the kill; {len(codes)} unavailable; "
        f"scans resumed {resumed_at[0] - killed_at:.1f} s after the kill"
    )
