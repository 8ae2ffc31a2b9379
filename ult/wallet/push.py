"""The pass pusher: tells wallets that a pass changed.

A change (a scan, a claim, a decision, a new rule) gives the card's passes a new update tag
and queues their serials in ``ult:wallet:outbox`` (``ult.wallet.registry``). One pusher per
service process takes them with ``BRPOP`` — each serial goes to one process only — and for an
Apple pass sends an empty push to every device registered for it (``ult.wallet.apns``); for a
Google pass it writes the new balance through Google's API. A push that gets no answer or a
server error (APNs' or Google's) is tried again later, with a growing wait, a bounded number of
times, in its own task: a slow or absent APNs or Google never holds up other passes, and never
a scan (the scan is acked before its card is even queued). A request Google refuses (any other
4xx) is not repeated: it would be refused again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.exceptions

from ult import keys, ops
from ult.connection import AsyncClient
from ult.wallet import registry
from ult.wallet.apns import Apns
from ult.wallet.google import GoogleWallet, GoogleWalletError
from ult.wallet.setup import Wallets
from ult.wallet.source import aview
from ult.wallet.words import pass_text

log = logging.getLogger("ult.wallet")

MAX_ATTEMPTS = 6  # one push is tried this often at most (waits 1, 2, 4, 8, 16 s between)
FIRST_RETRY_S = 1.0
MAX_IN_FLIGHT = 256  # pushes under way in one process; past it, serials wait in Redis
POP_TIMEOUT_S = 1  # the BRPOP's block: how soon the pusher notices it is stopped

Counted = Callable[[str], None]  # one push's outcome: sent, gone, retried, failed


class Pusher:
    """Delivers the outbox's serials; ``count`` tallies each push's outcome (the metrics)."""

    def __init__(
        self,
        r: AsyncClient,
        wallets: Wallets,
        count: Counted = lambda outcome: None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.r, self.wallets, self.count, self.sleep = r, wallets, count, sleep
        apple = wallets.apple
        self.apns = (
            Apns(apple.apns_url, apple.pass_type_id, apple.cert_file, apple.key_file)
            if apple
            else None
        )
        self.slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        self.tasks: set[asyncio.Task[Any]] = set()

    async def run_forever(self) -> None:
        """Take serials from the outbox and deliver each, until cancelled."""
        while True:
            await self.slots.acquire()
            self.slots.release()  # only waits for room: each push takes its own slot
            try:
                popped = await self.r.brpop([keys.WALLET_OUTBOX], timeout=POP_TIMEOUT_S)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
                await self.sleep(FIRST_RETRY_S)  # Redis away: the serials wait there
                continue
            if popped:
                self.spawn(self.deliver(ops.text(popped[1])))

    def spawn(self, work: Awaitable[Any]) -> None:
        async def bounded() -> None:
            async with self.slots:
                try:
                    await work
                except Exception:  # one pass's failure never stops the pusher
                    log.exception("wallet update failed")

        task = asyncio.ensure_future(bounded())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def deliver(self, serial: str) -> None:
        """Tell the wallets holding pass ``serial`` that it changed."""
        p = await ops.arun(self.r, registry.get_pass(serial))
        if p is None:
            return
        if p.kind == "apple" and self.apns is not None:
            for device, token in (await ops.arun(self.r, registry.devices(serial))).items():
                self.spawn(self.push(p, device, token))
        elif p.kind == "google" and self.wallets.google is not None:
            await self.update_google(self.wallets.google, p)

    async def push(self, p: registry.WalletPass, device: str, token: str) -> None:
        """One push to one device, tried again on no answer or a server error."""
        assert self.apns is not None
        for attempt in range(MAX_ATTEMPTS):
            outcome = await self.apns.push(token)
            if outcome.delivered:
                self.count("sent")
                return
            if outcome.gone:  # the device dropped the pass: forget its registration
                await ops.arun(self.r, registry.unregister_device(p, device))
                await ops.arun(self.r, registry.unfollow(device, p.serial))
                self.count("gone")
                return
            if not outcome.retry or attempt == MAX_ATTEMPTS - 1:
                break
            await self.retry_later(attempt)
        self.count("failed")
        log.warning("a wallet push failed (APNs status %s)", outcome.status)

    async def update_google(self, google: GoogleWallet, p: registry.WalletPass) -> None:
        """Write pass ``p``'s card as it is now to Google, tried again on no answer, a 429 or
        a server error; each try reads the card afresh, so a late one writes the latest."""
        for attempt in range(MAX_ATTEMPTS):
            view = await aview(self.r, p, self.wallets.public_url)
            ready = pass_text(p.lang, "reward_ready", reward=view.reward)
            try:
                await google.update(view, ready if view.reward_ready else None)
                self.count("sent")
                return
            except GoogleWalletError as exc:
                if not exc.retryable or attempt == MAX_ATTEMPTS - 1:
                    self.count("failed")
                    log.warning("a wallet push failed (%s)", exc)  # names no pass: see google.py
                    return
            await self.retry_later(attempt)

    async def retry_later(self, attempt: int) -> None:
        """Count a retry and wait before try ``attempt`` + 1: 1, 2, 4, 8, 16 s."""
        self.count("retried")
        await self.sleep(FIRST_RETRY_S * 2**attempt)

    async def aclose(self) -> None:
        """Stop the pushes under way and close the APNs connection (the Google client
        belongs to the service's :class:`Wallets`, shared with the ``pass`` event)."""
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.apns is not None:
            await self.apns.aclose()
