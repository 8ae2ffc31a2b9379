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
from ult.claims import claim
from ult.clock import now_ms
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
from ult.service.notify import card_room, sponsor_room
from ult.service.strict import StrictServer
from ult.service.watch import WatchFlags
from ult.sponsors import check_owner, code_secret, count_key_failure
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
                    metrics.IN_FLIGHT.inc()
                    try:
                        return await fn(conn, fields)
                    finally:
                        in_flight -= 1
                        metrics.IN_FLIGHT.dec()
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

    @event("watch", ("sid", "owner_key"))
    async def on_watch(conn: str, f: dict[str, str]) -> dict[str, Any]:
        client = address.get(conn, "")
        guards.keys.check(client, f["sid"])
        try:
            profile = await rp.run(check_owner(f["sid"], f["owner_key"]))
        except UltError as e:
            if e.code == "unauthorized":
                guards.keys.failure(client, f["sid"])
                await rp.run(count_key_failure(f["sid"]))
            raise
        await sio.enter_room(conn, sponsor_room(profile.sid))
        await watchers.mark(profile.sid)
        return {"ok": True, "sid": profile.sid, "biz": profile.biz}

    @sio.event
    async def connect(conn: str, environ: dict, auth: Any = None) -> None:
        client = scope_client(environ, guards.trusted)
        if not guards.connections.acquire(client):
            raise socketio.exceptions.ConnectionRefusedError(
                {"code": "too_many_connections", "message": TOO_MANY_CONNECTIONS}
            )
        address[conn] = client
        metrics.CONNECTIONS.inc()

    @sio.event
    async def disconnect(conn: str, *args: Any) -> None:
        limits.forget(conn)
        client = address.pop(conn, None)
        if client is not None:
            guards.connections.release(client)
            metrics.CONNECTIONS.dec()

    watchers = WatchFlags(sio, r)


# Requests of one process waiting for Redis at once; past this the service answers
# `unavailable` at once instead of letting every request wait out the pool timeout.
MAX_IN_FLIGHT = 1024
TOO_MANY_CONNECTIONS = "Too many connections from this network — close some tabs and try again."
