"""Bounded dashboard kernels: every page of the dashboard holds a Python kernel (~75 MB).

- :class:`PageLedger` counts the pages (kernels) each client address holds and all
  addresses together, and refuses a new page beyond either cap. In memory only.
- :class:`PageKernelManager` is Jupyter's kernel manager with that ledger and two rules of its
  own for letting kernels go:

  - a kernel whose page's websocket closed is shut down ``page_gone_s`` seconds later unless
    a page reconnects. The browser's own unload request (Voilà's ``sendBeacon``) is not
    relied on: a browser may drop it, and a phone that loses its network sends none.
  - a kernel no page ever connected to is culled ``cull_idle_timeout`` seconds after it was
    handed to a page. Whether the kernel is busy does not matter (a live dashboard keeps its
    kernel busy with nobody watching), and a preheated kernel's wait in the pool does not
    count (it would otherwise be culled while its page is still loading).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from enum import Enum

from jupyter_core.utils import ensure_async
from jupyter_server.services.kernels.kernelmanager import AsyncMappingKernelManager
from traitlets import Integer, Unicode

from ult.addresses import TrustedProxies
from ult.dashboard.keyguard import PassSigner
from ult.guesses import KeyGuard


class Refusal(Enum):
    """Why a new dashboard page was refused (the HTTP status to answer with)."""

    ADDRESS = 429  # this address holds its share of pages
    FULL = 503  # all pages are taken


class PageLedger:
    """Pages (kernels) per client key and in all; a cap of 0 means no limit.

    ``reserved`` of the ``total`` pages are only for browsers that hold a business (a
    :class:`~ult.dashboard.keyguard.PassSigner` cookie): anonymous pages get the rest, so
    anonymous visitors cannot turn a sponsor away. The total stays ``total``.
    """

    def __init__(self, per_address: int, total: int, reserved: int = 0) -> None:
        self.per_address = per_address
        self.total = total
        self.reserved = min(reserved, total) if total else 0
        self._counts: Counter[str] = Counter()  # reserved or bound pages per key
        self._owners: dict[str, tuple[str, bool]] = {}  # kernel id -> (key, holder)
        self.anonymous = 0  # pages of browsers without a pass

    @property
    def pages(self) -> int:
        return sum(self._counts.values())

    @property
    def addresses(self) -> int:
        """How many client keys hold pages (a key is dropped with its last page)."""
        return len(self._counts)

    def admit(self, key: str, holder: bool = False) -> Refusal | None:
        """Reserve a page for ``key`` (``holder``: its browser holds a business), or say why
        not. Pair with :meth:`bind` or :meth:`cancel`."""
        if self.per_address and self._counts[key] >= self.per_address:
            return Refusal.ADDRESS
        if self.total and self.pages >= self.total:
            return Refusal.FULL
        if not holder and self.reserved and self.anonymous >= self.total - self.reserved:
            return Refusal.FULL
        self._counts[key] += 1
        self.anonymous += not holder
        return None

    def bind(self, key: str, kernel_id: str, holder: bool = False) -> None:
        """The page reserved for ``key`` got ``kernel_id``: the reservation ends with it."""
        self._owners[kernel_id] = (key, holder)

    def cancel(self, key: str, holder: bool = False) -> None:
        """A reservation that got no kernel (the request failed) is given back."""
        self._decrement(key, holder)

    def forget(self, kernel_id: str) -> None:
        """``kernel_id`` is gone: its page no longer counts."""
        owner = self._owners.pop(kernel_id, None)
        if owner is not None:
            self._decrement(*owner)

    def key_of(self, kernel_id: str) -> str | None:
        """The client key whose page holds ``kernel_id`` (None: no page has it)."""
        owner = self._owners.get(kernel_id)
        return owner[0] if owner else None

    def kernel_ids(self) -> list[str]:
        return list(self._owners)

    def _decrement(self, key: str, holder: bool) -> None:
        self.anonymous -= not holder
        self._counts[key] -= 1
        if self._counts[key] <= 0:
            del self._counts[key]  # no trace of an address once its pages are gone


class PageKernelManager(AsyncMappingKernelManager):
    """Jupyter's kernel manager with per-address page caps and the no-page culling rule."""

    pages_per_address = Integer(3, config=True, help="Pages one client address may hold.")
    max_pages = Integer(12, config=True, help="Pages held by all addresses together.")
    reserved_pages = Integer(
        0, config=True, help="Of max_pages, pages only browsers holding a business may take."
    )
    trusted_proxies = Unicode(
        "", config=True, help="Reverse proxies whose X-Forwarded-For is believed."
    )
    key_guesses_per_minute = Integer(
        6, config=True, help="Wrong owner keys one address may try per minute; 0: no limit."
    )
    page_gone_s = Integer(
        5, config=True, help="Seconds a kernel outlives its last page's websocket; 0: culling only."
    )

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.ledger = PageLedger(self.pages_per_address, self.max_pages, self.reserved_pages)
        self.proxies = TrustedProxies(self.trusted_proxies)
        self.key_guard = KeyGuard(self.key_guesses_per_minute)  # asked by pages: keyguard.py
        self.passes = PassSigner()
        self._pageless_since: dict[str, float] = {}
        self._gone_timers: dict[str, asyncio.TimerHandle] = {}

    def handed_to_page(self, key: str, kernel_id: str, holder: bool = False) -> None:
        """``kernel_id`` now serves a page for ``key``; its page has the timeout to connect."""
        self.ledger.bind(key, kernel_id, holder)
        self._pageless_since[kernel_id] = time.monotonic()

    @property
    def retry_after_s(self) -> int:
        """Seconds after which a page that went away has surely been let go."""
        if self.cull_idle_timeout <= 0:
            return 60  # no culling: only closing tabs frees pages
        return self.cull_idle_timeout + 2 * self.cull_interval

    def notify_connect(self, kernel_id: str) -> None:
        """A page's websocket reached ``kernel_id``: a pending let-go is called off."""
        super().notify_connect(kernel_id)
        timer = self._gone_timers.pop(kernel_id, None)
        if timer is not None:
            timer.cancel()

    def notify_disconnect(self, kernel_id: str) -> None:
        """A page's websocket went away: with no page left, the kernel goes after the grace."""
        super().notify_disconnect(kernel_id)
        if self.page_gone_s <= 0 or self._kernel_connections.get(kernel_id, 1) > 0:
            return
        self._pageless_since[kernel_id] = time.monotonic()
        if kernel_id not in self._gone_timers:
            loop = asyncio.get_running_loop()
            self._gone_timers[kernel_id] = loop.call_later(
                self.page_gone_s, lambda: asyncio.ensure_future(self._let_go(kernel_id))
            )

    async def _let_go(self, kernel_id: str) -> None:
        self._gone_timers.pop(kernel_id, None)
        if kernel_id in self and self._kernel_connections.get(kernel_id, 0) <= 0:
            self.log.info("Shutting down a dashboard kernel whose page went away")
            await self.shutdown_kernel(kernel_id)

    # async, as on Jupyter's async managers (jupyter_client types it on its sync base)
    async def shutdown_kernel(self, kernel_id: str, *args, **kwargs) -> None:  # type: ignore[override]
        try:
            await ensure_async(super().shutdown_kernel(kernel_id, *args, **kwargs))
        finally:
            self._forget(kernel_id)

    async def cull_kernels(self) -> None:
        await super().cull_kernels()
        for kernel_id in set(self.ledger.kernel_ids()) | set(self._pageless_since):
            if kernel_id not in self:  # died on its own, or removed another way
                self._forget(kernel_id)

    async def cull_kernel_if_idle(self, kernel_id: str) -> None:
        kernel = self._kernels[kernel_id]
        if getattr(kernel, "execution_state", None) == "dead":
            await ensure_async(super().cull_kernel_if_idle(kernel_id))
            return
        if self._kernel_connections.get(kernel_id, 0) > 0:
            self._pageless_since.pop(kernel_id, None)
            return
        now = time.monotonic()
        since = self._pageless_since.setdefault(kernel_id, now)
        if now - since > self.cull_idle_timeout:
            self.log.info("Shutting down a dashboard kernel without a page for %d s", now - since)
            await self.shutdown_kernel(kernel_id)

    def _forget(self, kernel_id: str) -> None:
        self.ledger.forget(kernel_id)
        self.key_guard.forget(kernel_id)
        self._pageless_since.pop(kernel_id, None)
        timer = self._gone_timers.pop(kernel_id, None)
        if timer is not None:
            timer.cancel()
