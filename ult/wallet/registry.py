"""Which wallet passes exist, for which card, and which Apple devices follow them (Redis).

A pass is named by its serial, ``<sid>.<22 random characters>``: the sid (shown on the pass
anyway) says which sponsor's slot holds the pass, the random part makes it unguessable. Its
record keeps the card id — the only link from a pass to its card — and never leaves Redis.

Keys (``ult.keys``): ``ult:{sid}:passes`` (cid → the card's serials), ``ult:{sid}:pass:<serial>``
(the pass) and ``…:devices`` (device → push token), ``ult:device:{<device>}:passes`` (the
serials a device follows), ``ult:wallet:outbox`` (serials to push) and one-time download tokens.
Each step touches one hash slot (``lua/wallet.lua``).
"""

from __future__ import annotations

import asyncio
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from typing import Any

from ult import keys, ops
from ult.clock import DAY_MS, or_now
from ult.connection import AsyncClient, Client

KINDS = ("apple", "google")
MAX_PASSES_PER_CARD = 8  # a phone asking for pass after pass drops its oldest: Redis stays bounded
MAX_DEVICES_PER_PASS = 10  # devices registered for one pass (one person's phone and watch...)
PASS_TTL_S = 400 * DAY_MS // 1000  # a pass nobody fetched for this long is forgotten
DOWNLOAD_TTL_S = 300  # a download link is good for one GET within this time
MAX_OUTBOX = 100_000  # serials waiting for the pusher; past it the oldest are dropped

SERIAL = re.compile(r"([a-z0-9-]{3,64})\.[A-Za-z0-9_-]{22}")
DOWNLOAD_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
DEVICE = re.compile(r"[A-Za-z0-9._-]{1,128}")  # Apple's deviceLibraryIdentifier
PUSH_TOKEN = re.compile(r"[0-9A-Fa-f]{16,200}")  # Apple's push token, hex


@dataclass(frozen=True)
class WalletPass:
    """One pass as Redis keeps it. ``tag`` is its update tag: the second of its last change
    (Last-Modified; it grows by at least one on every change)."""

    serial: str
    sid: str
    kind: str
    cid: str
    auth: str  # Apple's authenticationToken: what the device sends back
    lang: str
    created_ms: int
    tag: int

    @property
    def updated_ms(self) -> int:
        return self.tag * 1000

    def authorized(self, token: str | None) -> bool:
        """Whether ``token`` is this pass's authentication token (constant time)."""
        return token is not None and hmac.compare_digest(token.encode(), self.auth.encode())

    def fields(self) -> dict[str, str]:
        return {
            "kind": self.kind,
            "cid": self.cid,
            "auth": self.auth,
            "lang": self.lang,
            "created_ms": str(self.created_ms),
            "tag": str(self.tag),
        }


def sid_of(serial: str) -> str | None:
    """The sponsor of ``serial``, or None when it is not a serial at all."""
    found = SERIAL.fullmatch(serial) if isinstance(serial, str) else None
    return found.group(1) if found else None


def new_pass(sid: str, cid: str, kind: str, lang: str, now_ms: int | None = None) -> WalletPass:
    """A new pass of card ``cid`` (not stored yet: :func:`store`)."""
    now_ms = or_now(now_ms)
    return WalletPass(
        serial=f"{sid}.{secrets.token_urlsafe(16)}",
        sid=sid,
        kind=kind,
        cid=cid,
        auth=secrets.token_urlsafe(24),
        lang=lang,
        created_ms=now_ms,
        tag=math.ceil(now_ms / 1000),
    )


def _script(on: list[str], args: list[Any], parse: Any) -> ops.Op[Any]:
    return ops.script("wallet", on, args, parse)


def store(p: WalletPass) -> ops.Op[str]:
    """Keep ``p`` and list it on its card; answers the card's oldest serial when that one was
    dropped for it ('' otherwise): :func:`forget` it."""
    k = keys.sponsor_keys(p.sid)
    flat = [x for item in p.fields().items() for x in item]
    args = ["add", p.cid, p.serial, PASS_TTL_S, MAX_PASSES_PER_CARD, *flat]
    return _script([k.passes, k.wallet_pass(p.serial)], args, ops.text)


def get_pass(serial: str) -> ops.Op[WalletPass | None]:
    """The pass ``serial``, or None (unknown, expired, or not a serial)."""
    sid = sid_of(serial) or "-"

    def parse(flat: Any) -> WalletPass | None:
        h = ops.as_dict(flat)
        if not h or sid_of(serial) is None:
            return None
        return WalletPass(
            serial=serial,
            sid=sid,
            kind=h["kind"],
            cid=h["cid"],
            auth=h["auth"],
            lang=h.get("lang", "en"),
            created_ms=int(h.get("created_ms", "0")),
            tag=int(h["tag"]),
        )

    return ops.command(parse, "HGETALL", keys.sponsor_keys(sid).wallet_pass(serial))


def keep(p: WalletPass) -> ops.Op[bool]:
    """``p`` was fetched: it and its devices live another :data:`PASS_TTL_S`."""
    k = keys.sponsor_keys(p.sid)
    on = [k.wallet_pass(p.serial), k.pass_devices(p.serial)]
    return _script(on, ["keep", PASS_TTL_S], lambda v: bool(int(v)))


def touch(serial: str, now_ms: int | None = None) -> ops.Op[int]:
    """The card of pass ``serial`` changed: its new update tag (0: the pass is gone)."""
    k = keys.sponsor_keys(sid_of(serial) or "-")
    return _script([k.wallet_pass(serial)], ["touch", or_now(now_ms)], int)


def card_serials(sid: str, cid: str) -> ops.Op[list[str]]:
    """The serials of card ``cid``'s passes, oldest first."""
    k = keys.sponsor_keys(sid)
    return ops.command(lambda v: ops.text(v).split(), "HGET", k.passes, cid)


def sponsor_serials(sid: str) -> ops.Op[list[str]]:
    """The serials of every pass of the sponsor (a new rule changes them all)."""

    def parse(flat: Any) -> list[str]:
        return [s for value in ops.as_dict(flat).values() for s in value.split()]

    return ops.command(parse, "HGETALL", keys.sponsor_keys(sid).passes)


def register_device(p: WalletPass, device: str, push_token: str) -> ops.Op[int]:
    """Register ``device`` for updates of ``p``: 1 new, 0 already (token updated), -1 the
    pass has :data:`MAX_DEVICES_PER_PASS` devices, -2 the pass is gone."""
    k = keys.sponsor_keys(p.sid)
    on = [k.wallet_pass(p.serial), k.pass_devices(p.serial)]
    args = ["register", device, push_token, MAX_DEVICES_PER_PASS, PASS_TTL_S]
    return _script(on, args, int)


def follow(device: str, serial: str) -> ops.Op[int]:
    """List ``serial`` among the passes ``device`` follows (its own slot)."""
    return ops.command(int, "SADD", keys.device_passes(device), serial)


def unregister_device(p: WalletPass, device: str) -> ops.Op[bool]:
    """``device`` no longer follows ``p``: its push token is deleted. False: it did not."""
    k = keys.sponsor_keys(p.sid)
    return ops.command(lambda v: bool(int(v)), "HDEL", k.pass_devices(p.serial), device)


def unfollow(device: str, serial: str) -> ops.Op[int]:
    return ops.command(int, "SREM", keys.device_passes(device), serial)


def devices(serial: str) -> ops.Op[dict[str, str]]:
    """The devices registered for pass ``serial``: device → push token."""
    k = keys.sponsor_keys(sid_of(serial) or "-")
    return ops.command(ops.as_dict, "HGETALL", k.pass_devices(serial))


def device_serials(device: str) -> ops.Op[list[str]]:
    """The serials ``device`` follows."""
    return ops.command(
        lambda v: sorted(ops.text(s) for s in v), "SMEMBERS", keys.device_passes(device)
    )


def issue_download(serial: str) -> tuple[str, ops.Op[Any]]:
    """A one-time download token for pass ``serial`` (good for :data:`DOWNLOAD_TTL_S`)."""
    token = secrets.token_urlsafe(24)
    op = ops.command(bool, "SET", keys.wallet_download(token), serial, "EX", DOWNLOAD_TTL_S)
    return token, op


def take_download(token: str) -> ops.Op[str | None]:
    """The serial of download ``token`` (checked against :data:`DOWNLOAD_TOKEN` first), once:
    the token is gone afterwards."""
    return ops.command(lambda v: ops.text(v) or None, "GETDEL", keys.wallet_download(token))


def enqueue(serials: list[str]) -> ops.Op[int]:
    """Queue ``serials`` for the pusher (the outbox is trimmed by :func:`trim_outbox`)."""
    return ops.command(int, "LPUSH", keys.WALLET_OUTBOX, *serials)


def trim_outbox() -> ops.Op[Any]:
    return ops.command(bool, "LTRIM", keys.WALLET_OUTBOX, 0, MAX_OUTBOX - 1)


# ---- passes that follow their card ------------------------------------------------------


async def aforget(r: AsyncClient, serial: str) -> None:
    """Delete pass ``serial`` and its devices' registrations (a card's oldest dropped pass)."""
    k = keys.sponsor_keys(sid_of(serial) or "-")
    for device in await ops.arun(r, devices(serial)):
        await ops.arun(r, unfollow(device, serial))
    await r.delete(k.wallet_pass(serial), k.pass_devices(serial))


async def acard_changed(r: AsyncClient, sid: str, cid: str) -> list[str]:
    """Card ``cid`` changed: its passes get a new tag and are queued for the pusher."""
    return await _amark(r, await ops.arun(r, card_serials(sid, cid)))


async def asponsor_changed(r: AsyncClient, sid: str) -> list[str]:
    """Every card of ``sid`` changed (its rule did)."""
    return await _amark(r, await ops.arun(r, sponsor_serials(sid)))


async def _amark(r: AsyncClient, serials: list[str]) -> list[str]:
    tags = await asyncio.gather(*(ops.arun(r, touch(s)) for s in serials))
    live = [s for s, tag in zip(serials, tags, strict=True) if tag]
    if live:
        await ops.arun(r, enqueue(live))
        await ops.arun(r, trim_outbox())
    return live


def card_changed(r: Client, sid: str, cid: str) -> list[str]:
    """:func:`acard_changed` on a synchronous client (the dashboard)."""
    return _mark(r, ops.run(r, card_serials(sid, cid)))


def sponsor_changed(r: Client, sid: str) -> list[str]:
    """:func:`asponsor_changed` on a synchronous client (the dashboard)."""
    return _mark(r, ops.run(r, sponsor_serials(sid)))


def _mark(r: Client, serials: list[str]) -> list[str]:
    live = [s for s in serials if ops.run(r, touch(s))]
    if live:
        ops.run(r, enqueue(live))
        ops.run(r, trim_outbox())
    return live
