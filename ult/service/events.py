"""The Socket.IO events (docs/protocol.md). Every handler answers with an ack dict, never raises."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
import redis.exceptions
import socketio

from ult import counter_code
from ult.cards import read_card
from ult.claims import claim, decide, list_claims
from ult.clock import DAY_MS, now_ms
from ult.errors import UltError
from ult.identity import card_id, short_cid
from ult.messages import customer_error
from ult.ops import AutoPipeline
from ult.scans import scan
from ult.schema import SCAN_REFUSALS
from ult.service import metrics
from ult.service.addresses import scope_client
from ult.service.guards import Guards
from ult.service.health import STORAGE_FULL, UNREACHABLE, storage_fault
from ult.service.notify import card_room, sponsor_room, staff_room
from ult.service.strict import StrictServer
from ult.service.watch import WatchFlags
from ult.sponsors import check_owner, code_secret, count_key_failure
from ult.staff import key_holder
from ult.validation import FORMATS, check_field, check_payload

log = logging.getLogger("ult.service")

Handler = Callable[[str, dict[str, str]], Awaitable[dict[str, Any]]]


def register_events(
    sio: StrictServer,
    r: redis.asyncio.Redis,
    guards: Guards,
    rp: AutoPipeline | None = None,
) -> None:
    """Attach the event handlers to ``sio``; they use ``r`` for every read and write
    (``rp``: the pipeline, e.g. one that waits for replicas)."""
    rp = rp or AutoPipeline(r)  # concurrent scans share round trips to Redis
    in_flight = 0
    limits = guards.events
    address: dict[str, str] = {}  # connection → client address key (memory only)

    def event(name: str, required: tuple[str, ...], optional: tuple[str, ...] = ()):
        assert set(required + optional) <= FORMATS.keys(), f"{name}: a field without a format"

        def wrap(fn: Handler) -> Handler:
            async def handler(conn: str, *args: Any) -> dict[str, Any]:
                with metrics.timed(name) as done:
                    return done(await answer(conn, *args))

            async def answer(conn: str, *args: Any) -> dict[str, Any]:
                nonlocal in_flight
                try:
                    if not limits.allow(conn):
                        if limits.strike(conn):  # keeps flooding: stop spending CPU on it
                            await sio.drop(conn, "event flood")
                        raise customer_error("rate_limited")
                    if len(args) != 1:
                        raise UltError("bad_request", "The request must be one JSON object.")
                    fields = check_payload(args[0], required, optional)
                    if in_flight >= MAX_IN_FLIGHT:  # overloaded: say so now, not after a wait
                        raise customer_error("unavailable")
                    in_flight += 1
                    try:
                        return await fn(conn, fields)
                    finally:
                        in_flight -= 1
                except UltError as e:
                    return e.to_ack()
                except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                    log.warning("%s: storage unavailable", name)
                    metrics.REDIS_ERRORS.inc()
                    return UNREACHABLE.to_ack()
                except redis.exceptions.ResponseError as e:
                    reason = storage_fault(e)
                    if reason is None:
                        log.exception("%s failed", name)
                        return customer_error("server_error").to_ack()
                    guards.health.fault(reason)
                    log.warning("%s: %s", name, reason)
                    metrics.REDIS_ERRORS.inc()
                    return STORAGE_FULL.to_ack()
                except Exception:
                    log.exception("%s failed", name)
                    return customer_error("server_error").to_ack()

            sio.on(name, handler)
            return handler

        return wrap

    @event("scan", ("sid", "key"), ("nonce", "at", "code"))
    async def on_scan(conn: str, f: dict[str, str]) -> dict[str, Any]:
        code_state = "none"
        if "code" in f:
            check_field("code", f["code"])
            secret = await rp.run(code_secret(check_field("sid", f["sid"])))
            code_state = counter_code.check(secret, f["sid"], f["code"])
        # a token of the address's new-card budget, given back unless a new card was started
        client = address.get(conn, "")
        new_ok = guards.new_cards.take(client)
        try:
            result = await rp.run(
                scan(
                    f["sid"],
                    f["key"],
                    f.get("nonce"),
                    f.get("at"),
                    code_state,
                    new_card_allowed=new_ok,
                )
            )
        except Exception as e:
            # a new card's refusal (code required) still wrote an event: keep it charged
            refused = isinstance(e, UltError) and e.code in SCAN_REFUSALS
            if new_ok and not (refused and not e.extra["visits"]):
                guards.new_cards.refund(client)
            if refused:  # the page shows the card: keep it live there too
                await sio.enter_room(conn, card_room(f["sid"], card_id(f["key"])))
            raise
        if new_ok and not result.created:
            guards.new_cards.refund(client)
        guards.health.clear()  # a write went through: storage is fine again
        if not result.duplicate and result.watched:
            at_ms = int(result.entry_id.split("-")[0])
            live = {
                "sid": result.sid,
                "cid": short_cid(result.cid),
                "visits": result.visits,
                "points": result.points,
                "at_ms": at_ms,
                "tag": f.get("at"),
            }
            # only when a sponsor watches: otherwise no publish through Redis at all
            await sio.emit("scan", live, room=sponsor_room(result.sid))
        await sio.enter_room(conn, card_room(result.sid, result.cid))
        return result.to_ack()

    @event("card", ("sid", "key"))
    async def on_card(conn: str, f: dict[str, str]) -> dict[str, Any]:
        card = await rp.run(read_card(f["sid"], f["key"]))
        await sio.enter_room(conn, card_room(card.sid, card.cid))
        return {"ok": True, **card.to_dict(), "now_ms": now_ms()}

    @event("claim", ("sid", "key"))
    async def on_claim(conn: str, f: dict[str, str]) -> dict[str, Any]:
        found, created = await rp.run(claim(f["sid"], f["key"]))
        room = card_room(f["sid"], found.cid)
        await sio.enter_room(conn, room)
        data = found.to_dict()
        if created:
            await sio.emit("claim", data, room=sponsor_room(f["sid"]))
            # the card's other tabs (the wallet, a second scan page) update live too
            await sio.emit("claim_update", data | {"now_ms": now_ms()}, room=room, skip_sid=conn)
        return {"ok": True, "claim": data, "created": created, "now_ms": now_ms()}

    async def checked_key(conn: str, sid: str, op: Any) -> Any:
        """Run ``op``, which checks an owner or staff key, through the key-guessing guard."""
        client = address.get(conn, "")
        guards.keys.check(client, sid)
        try:
            return await rp.run(op)
        except UltError as e:
            if e.code == "unauthorized":
                guards.keys.failure(client, sid)
                await rp.run(count_key_failure(sid))
            raise

    @event("watch", ("sid",), ("owner_key", "staff_key"))
    async def on_watch(conn: str, f: dict[str, str]) -> dict[str, Any]:
        if ("owner_key" in f) == ("staff_key" in f):
            raise UltError("bad_request", "Send either 'owner_key' or 'staff_key'.")
        if "owner_key" in f:
            profile = await checked_key(conn, f["sid"], check_owner(f["sid"], f["owner_key"]))
            ack = {"ok": True, "sid": profile.sid, "biz": profile.biz}
        else:
            holder = await checked_key(conn, f["sid"], key_holder(f["sid"], f["staff_key"]))
            ack = {"ok": True, "sid": holder.sid, "biz": holder.biz, "staff": holder.who}
            if not holder.is_owner:  # revoking the key drops this connection (Notifier)
                await sio.enter_room(conn, staff_room(holder.sid, holder.who))
        await sio.enter_room(conn, sponsor_room(ack["sid"]))
        await watchers.mark(ack["sid"])
        return ack

    @event("decide", ("sid", "staff_key", "claim_id", "decision"))
    async def on_decide(conn: str, f: dict[str, str]) -> dict[str, Any]:
        if f["decision"] not in COUNTER_DECISIONS:
            raise UltError("bad_request", "'decision' must be approve, reject or redeem.")
        op = decide(f["sid"], f["staff_key"], f["claim_id"], f["decision"])
        decided = await checked_key(conn, f["sid"], op)
        at = now_ms()
        data = decided.to_dict(at)
        # every device holding the card sees the change live (e.g. the voucher turns "used")
        await sio.emit("claim_update", data | {"now_ms": at}, room=card_room(f["sid"], decided.cid))
        staff_view = data | {"by": decided.by}
        await sio.emit("claim", staff_view, room=sponsor_room(f["sid"]))
        return {"ok": True, "claim": staff_view, "now_ms": at}

    @event("claims", ("sid", "staff_key"))
    async def on_claims(conn: str, f: dict[str, str]) -> dict[str, Any]:
        holder = await checked_key(conn, f["sid"], key_holder(f["sid"], f["staff_key"]))
        at = now_ms()
        found = await rp.run(list_claims(holder.sid))
        recent = [c for c in found if c.status == "requested" or at - c.created_ms < DAY_MS]
        listed = [c.to_dict(at) | {"by": c.by} for c in recent[:MAX_LISTED_CLAIMS]]
        return {"ok": True, "biz": holder.biz, "staff": holder.who, "claims": listed, "now_ms": at}

    @sio.event
    async def connect(conn: str, environ: dict, auth: Any = None) -> None:
        nonlocal flusher
        client = scope_client(environ, guards.trusted)
        if not guards.connections.acquire(client):
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": "too_many_connections", "message": TOO_MANY_CONNECTIONS}
            )
        address[conn] = client
        if flusher is None:
            flusher = sio.start_background_task(metrics.flush_forever)

    @sio.event
    async def disconnect(conn: str, *args: Any) -> None:
        limits.forget(conn)
        metrics.flush()  # a connection's requests are in /metrics once it leaves
        client = address.pop(conn, None)
        if client is not None:
            guards.connections.release(client)

    watchers = WatchFlags(sio, r)
    flusher = None  # the task writing the metrics, started with the first connection
    metrics.watch(lambda: (in_flight, len(address)))


COUNTER_DECISIONS = ("approve", "reject", "redeem")  # voiding stays on the owner's dashboard
MAX_LISTED_CLAIMS = 200  # the `claims` answer: newest first, bounded

# Requests of one process waiting for Redis at once; past this the service answers
# `unavailable` at once instead of letting every request wait out the pool timeout.
MAX_IN_FLIGHT = 1024
TOO_MANY_CONNECTIONS = "Too many connections from this network — close some tabs and try again."
