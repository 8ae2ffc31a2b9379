"""The Socket.IO events of docs/protocol.md: one ``on_<event>`` method per event.

:class:`ScanNamespace` serves the default namespace. A request event (``scan``, ``card``,
``claim``, ``pass``, ``watch``, ``decide``, ``claims``) is a method marked with :func:`request`, which
checks the payload and the per-connection limits, times the request for the metrics and
turns every error into an ack: a request is answered with an ack dict and never raises.
"""

from __future__ import annotations

import functools
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
from ult.connection import AsyncClient
from ult.errors import UltError
from ult.identity import card_id, short_cid
from ult.messages import customer_error
from ult.ops import AutoPipeline
from ult.restoring import arestore_archived
from ult.scans import arun_scan, scan
from ult.schema import SCAN_REFUSALS
from ult.service import metrics
from ult.service.addresses import scope_client
from ult.service.guards import Guards
from ult.service.health import STORAGE_FULL, UNREACHABLE, storage_fault
from ult.service.notify import card_room, sponsor_room, staff_room
from ult.service.strict import RefusalLog, StrictServer
from ult.service.wallet import WalletDesk
from ult.service.watch import WatchFlags
from ult.sponsors import check_owner, code_secret, count_key_failure
from ult.staff import key_holder
from ult.validation import FORMATS, check_field, check_payload

log = logging.getLogger("ult.service")

COUNTER_DECISIONS = ("approve", "reject", "redeem")  # voiding stays on the owner's dashboard
MAX_LISTED_CLAIMS = 200  # the `claims` answer: newest first, bounded

# Requests of one process waiting for Redis at once; past this the service answers
# `unavailable` at once instead of letting every request wait out the pool timeout.
MAX_IN_FLIGHT = 1024

# The connect error of a client address over its connection cap: the sentence as `message`
# (what a Socket.IO client shows) and `{code, message}` as the error's `data`.
TOO_MANY_CONNECTIONS = customer_error("too_many_connections")

Ack = dict[str, Any]
Method = Callable[["ScanNamespace", str, dict[str, str]], Awaitable[Ack]]
Request = Callable[..., Awaitable[Ack]]


def request(*required: str, optional: tuple[str, ...] = ()) -> Callable[[Method], Request]:
    """Make ``on_<event>(self, conn, fields)`` a request event: the one JSON object it takes
    must have the ``required`` fields and may have the ``optional`` ones (each checked against
    its format in ult.validation); the method gets them as ``fields`` and returns the ack."""
    assert set(required + optional) <= FORMATS.keys(), "a field without a format"

    def mark(method: Method) -> Request:
        name = method.__name__.removeprefix("on_")

        @functools.wraps(method)
        async def answer(self: ScanNamespace, conn: str, *args: Any) -> Ack:
            with metrics.timed(name) as done:
                try:
                    if not self.limits.allow(conn):
                        await self.flooded(conn)
                    if len(args) != 1:
                        raise UltError("bad_request", "The request must be one JSON object.")
                    fields = check_payload(args[0], required, optional)
                    if self.in_flight >= MAX_IN_FLIGHT:  # overloaded: say so now, not after a wait
                        raise customer_error("unavailable")
                    self.in_flight += 1
                    try:
                        return done(await method(self, conn, fields))
                    finally:
                        self.in_flight -= 1
                except Exception as e:
                    return done(self.error_ack(name, e))

        return answer

    return mark


class ScanNamespace(socketio.AsyncNamespace):
    """The scan service's events on the default namespace; ``r`` serves every read and write
    (``rp``: the pipeline, e.g. one that waits for replicas)."""

    def __init__(
        self,
        sio: StrictServer,
        r: AsyncClient,
        guards: Guards,
        rp: AutoPipeline | None = None,
        wallet: WalletDesk | None = None,
    ) -> None:
        super().__init__("/")
        self.wallet = wallet  # None: no wallet passes (nothing to update either)
        self.sio = sio
        self.rp = rp or AutoPipeline(r)  # concurrent scans share round trips to Redis
        self.guards = guards
        self.limits = guards.events
        self.in_flight = 0  # requests waiting for Redis now
        self.address: dict[str, str] = {}  # connection → client address key (memory only)
        self.faults = RefusalLog(what="requests failed on storage")  # a summary, not a line each
        self.watchers = WatchFlags(sio, r)
        self.flusher: Any = None  # the task writing the metrics, started with the first connection
        # python-socketio looks a method up by name on every event; the requests go through
        # this table, built once, instead (connect and disconnect take its way)
        self.requests: dict[str, Request] = {
            name.removeprefix("on_"): getattr(self, name)
            for name in dir(type(self))
            if name.startswith("on_") and name not in ("on_connect", "on_disconnect")
        }
        metrics.watch(lambda: (self.in_flight, len(self.address)))

    async def trigger_event(self, event: str, *args: Any) -> Any:
        """Run the handler of ``event`` (python-socketio calls this for every event)."""
        answer = self.requests.get(event)
        if answer is None:
            return await super().trigger_event(event, *args)
        return await answer(*args)

    # ---- connections -----------------------------------------------------------------

    async def on_connect(self, conn: str, environ: dict, auth: Any = None) -> None:
        client = scope_client(environ, self.guards.trusted)
        if not self.guards.connections.acquire(client):
            error = TOO_MANY_CONNECTIONS
            raise socketio.exceptions.ConnectionRefusedError(
                error.message, {"code": error.code, "message": error.message}
            )
        self.address[conn] = client
        if self.flusher is None:
            self.flusher = self.sio.start_background_task(metrics.flush_forever)

    async def on_disconnect(self, conn: str, *args: Any) -> None:
        self.limits.forget(conn)
        self.guards.keys.forget(conn)
        metrics.flush()  # a connection's requests are in /metrics once it leaves
        client = self.address.pop(conn, None)
        if client is not None:
            self.guards.connections.release(client)

    # ---- customer events -------------------------------------------------------------

    @request("sid", "key", optional=("nonce", "at", "code", "pow"))
    async def on_scan(self, conn: str, f: dict[str, str]) -> Ack:
        code_state = "none"
        if "code" in f:
            check_field("code", f["code"])
            secret = await self.rp.run(code_secret(check_field("sid", f["sid"])))
            code_state = counter_code.check(secret, f["sid"], f["code"])
        # a token of the address's new-card budget, given back unless a new card was started;
        # past the budget, a solved challenge lets this one new card through instead
        new_cards = self.guards.new_cards
        client = self.address.get(conn, "")
        charged = new_cards.take(client)
        new_ok = charged or self.solved(client, f)
        try:
            result = await arun_scan(  # a card back from the lake is restored first
                self.rp.run,
                scan(
                    f["sid"],
                    f["key"],
                    f.get("nonce"),
                    f.get("at"),
                    code_state,
                    new_card_allowed=new_ok,
                ),
            )
        except Exception as e:
            refusal = e if isinstance(e, UltError) and e.code in SCAN_REFUSALS else None
            # a new card's refusal (code required) still wrote an event: keep it charged
            if charged and not (refusal and not refusal.extra["visits"]):
                new_cards.refund(client)
            if refusal:  # the page shows the card: keep it live there too
                await self.sio.enter_room(conn, card_room(f["sid"], card_id(f["key"])))
            if isinstance(e, UltError) and e.code == "too_many_new_cards":
                e.extra["challenge"] = self.guards.challenges.issue(client, f["sid"], f["key"])
            raise
        if charged and not result.created:
            new_cards.refund(client)
        self.guards.health.clear()  # a write went through: storage is fine again
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
            await self.sio.emit("scan", live, room=sponsor_room(result.sid))
        await self.sio.enter_room(conn, card_room(result.sid, result.cid))
        if self.wallet and not result.duplicate:
            self.wallet.card_changed(result.sid, result.cid)
        return result.to_ack()

    @request("sid", "key")
    async def on_card(self, conn: str, f: dict[str, str]) -> Ack:
        card = await self.rp.run(read_card(f["sid"], f["key"]))
        # a card moved to the lake shows its visits: restored now, as its next scan would be
        if card.visits == 0 and await arestore_archived(self.rp.run, card.sid, card.cid):
            card = await self.rp.run(read_card(f["sid"], f["key"]))
        await self.sio.enter_room(conn, card_room(card.sid, card.cid))
        return {"ok": True, **card.to_dict(), "now_ms": now_ms()}

    @request("sid", "key")
    async def on_claim(self, conn: str, f: dict[str, str]) -> Ack:
        found, created = await self.rp.run(claim(f["sid"], f["key"]))
        room = card_room(f["sid"], found.cid)
        await self.sio.enter_room(conn, room)
        data = found.to_dict()
        if created:
            await self.sio.emit("claim", data, room=sponsor_room(f["sid"]))
            # the card's other tabs (the wallet, a second scan page) update live too
            update = data | {"now_ms": now_ms()}
            await self.sio.emit("claim_update", update, room=room, skip_sid=conn)
            if self.wallet:
                self.wallet.card_changed(f["sid"], found.cid)
        return {"ok": True, "claim": data, "created": created, "now_ms": now_ms()}

    @request("sid", "key", "kind", optional=("lang",))
    async def on_pass(self, conn: str, f: dict[str, str]) -> Ack:
        check_field("kind", f["kind"])
        if self.wallet is None:
            raise customer_error("wallet_unavailable")
        lang = check_field("lang", f["lang"]) if "lang" in f else None
        return await self.wallet.make_pass(f["sid"], f["key"], f["kind"], lang)

    # ---- sponsor and staff events ----------------------------------------------------

    @request("sid", optional=("owner_key", "staff_key"))
    async def on_watch(self, conn: str, f: dict[str, str]) -> Ack:
        if ("owner_key" in f) == ("staff_key" in f):
            raise UltError("bad_request", "Send either 'owner_key' or 'staff_key'.")
        if "owner_key" in f:
            op = check_owner(f["sid"], f["owner_key"])
            profile = await self.checked_key(conn, f["sid"], op)
            ack = {"ok": True, "sid": profile.sid, "biz": profile.biz}
        else:
            holder = await self.checked_key(conn, f["sid"], key_holder(f["sid"], f["staff_key"]))
            ack = {"ok": True, "sid": holder.sid, "biz": holder.biz, "staff": holder.who}
            if not holder.is_owner:  # revoking the key drops this connection (Notifier)
                await self.sio.enter_room(conn, staff_room(holder.sid, holder.who))
        await self.sio.enter_room(conn, sponsor_room(ack["sid"]))
        await self.watchers.mark(ack["sid"])
        return ack

    @request("sid", "staff_key", "claim_id", "decision")
    async def on_decide(self, conn: str, f: dict[str, str]) -> Ack:
        if f["decision"] not in COUNTER_DECISIONS:
            raise UltError("bad_request", "'decision' must be approve, reject or redeem.")
        op = decide(f["sid"], f["staff_key"], f["claim_id"], f["decision"])
        decided = await self.checked_key(conn, f["sid"], op)
        at = now_ms()
        data = decided.to_dict()
        # every device holding the card sees the change live (e.g. the voucher turns "used")
        card = card_room(f["sid"], decided.cid)
        await self.sio.emit("claim_update", data | {"now_ms": at}, room=card)
        staff_view = data | {"by": decided.by}
        await self.sio.emit("claim", staff_view, room=sponsor_room(f["sid"]))
        if self.wallet:
            self.wallet.card_changed(f["sid"], decided.cid)
        return {"ok": True, "claim": staff_view, "now_ms": at}

    @request("sid", "staff_key")
    async def on_claims(self, conn: str, f: dict[str, str]) -> Ack:
        holder = await self.checked_key(conn, f["sid"], key_holder(f["sid"], f["staff_key"]))
        at = now_ms()
        found = await self.rp.run(list_claims(holder.sid))
        recent = [c for c in found if c.status == "requested" or at - c.created_ms < DAY_MS]
        listed = [c.to_dict() | {"by": c.by} for c in recent[:MAX_LISTED_CLAIMS]]
        return {"ok": True, "biz": holder.biz, "staff": holder.who, "claims": listed, "now_ms": at}

    # ---- what the requests share -----------------------------------------------------

    def solved(self, client: str, f: dict[str, str]) -> bool:
        """Whether the scan ``f`` carries a solution of its card's challenge (spent now)."""
        if "pow" not in f:
            return False
        solution = check_field("pow", f["pow"])
        return self.guards.challenges.redeem(client, solution, f["sid"], f["key"])

    async def checked_key(self, conn: str, sid: str, op: Any) -> Any:
        """Run ``op``, which checks an owner or staff key, through the key-guessing guard."""
        client = self.address.get(conn, "")
        self.guards.keys.check(client, sid, conn)
        try:
            found = await self.rp.run(op)
        except UltError as e:
            if e.code == "unauthorized":
                self.guards.keys.failure(client, sid)
                metrics.KEY_FAILURES.inc()
                await self.rp.run(count_key_failure(sid))
            raise
        self.guards.keys.proved(conn, sid)
        return found

    async def flooded(self, conn: str) -> None:
        """``conn`` sent past its event rate: refuse; close it when it keeps flooding."""
        if self.limits.strike(conn):  # stop spending CPU on it
            await self.sio.drop(conn, "event flood")
        raise customer_error("rate_limited")

    def error_ack(self, event: str, error: Exception) -> Ack:
        """The ack of a request of ``event`` that failed with ``error`` (logged if unexpected).
        Called from the ``except`` block, so a logged traceback is ``error``'s."""
        if isinstance(error, UltError):
            return error.to_ack()
        if isinstance(error, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
            self.faults.note(f"{event}: storage unavailable")
            metrics.REDIS_ERRORS.inc()
            return UNREACHABLE.to_ack()
        if isinstance(error, redis.exceptions.ResponseError):
            reason = storage_fault(error)
            if reason is not None:
                self.guards.health.fault(reason)
                self.faults.note(f"{event}: {reason}")
                metrics.REDIS_ERRORS.inc()
                return STORAGE_FULL.to_ack()
        log.exception("%s failed", event)
        return customer_error("server_error").to_ack()


def register_events(
    sio: StrictServer,
    r: AsyncClient,
    guards: Guards,
    rp: AutoPipeline | None = None,
    wallet: WalletDesk | None = None,
) -> ScanNamespace:
    """Serve the events of docs/protocol.md on ``sio``'s default namespace."""
    namespace = ScanNamespace(sio, r, guards, rp, wallet)
    sio.register_namespace(namespace)
    return namespace
