"""The service's side of wallet passes: the ``pass`` event and marking changed cards.

``pass {sid, key, kind, lang?}`` makes a new pass of the card (docs/protocol.md): for Apple a
one-time download link (the key never goes into a URL: ``/pass/<token>``), for Google a
"save" link. Only a card that has been scanned gets a pass (a pass per random key would let
anyone grow Redis without visiting); a card has at most ``MAX_PASSES_PER_CARD`` passes, its
oldest is dropped for a new one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ult import ops
from ult.cards import read_card
from ult.clock import now_ms
from ult.connection import AsyncClient
from ult.i18n import DEFAULT, supported
from ult.messages import customer_error
from ult.wallet import registry
from ult.wallet.setup import Wallets
from ult.wallet.source import aview

log = logging.getLogger("ult.service")

DOWNLOAD_PATH = "/pass/"  # GET /pass/<token>: ult.service.passkit


class WalletDesk:
    """Makes passes for the ``pass`` event and queues changed cards' passes for the pusher.
    Exists only when a wallet is configured: without one the service holds None instead."""

    def __init__(self, r: AsyncClient, wallets: Wallets) -> None:
        self.r, self.wallets = r, wallets
        self.tasks: set[asyncio.Task[Any]] = set()

    async def make_pass(self, sid: str, key: str, kind: str, lang: str | None) -> dict[str, Any]:
        """The ``pass`` event's ack: ``{ok, kind, url}``."""
        if kind not in self.wallets.kinds:
            raise customer_error("wallet_unavailable")
        card = await ops.arun(self.r, read_card(sid, key))
        if not card.visits:
            raise customer_error("card_not_started")
        made = registry.new_pass(card.sid, card.cid, kind, supported(lang) or DEFAULT)
        dropped = await ops.arun(self.r, registry.store(made))
        if dropped:
            await registry.aforget(self.r, dropped)
        if kind == "apple":
            token, op = registry.issue_download(made.serial)
            await ops.arun(self.r, op)
            url = f"{self.wallets.public_url}{DOWNLOAD_PATH}{token}"
        else:
            assert self.wallets.google is not None  # kinds names only configured wallets
            view = await aview(self.r, made, self.wallets.public_url)
            url = await self.wallets.google.asave_link(view)
        return {"ok": True, "kind": kind, "url": url, "now_ms": now_ms()}

    def card_changed(self, sid: str, cid: str) -> None:
        """Card ``cid`` changed: update its passes, in a task of its own (called once the
        request's ack is on its way; never awaited by a request)."""
        self._later(registry.acard_changed(self.r, sid, cid))

    def _later(self, work: Any) -> None:
        async def quietly() -> None:
            try:
                await work
            except Exception:  # a pass not updated never fails the request that changed it
                log.warning("could not queue a wallet update", exc_info=True)

        task = asyncio.ensure_future(quietly())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
