"""What every panel of one dashboard page shares: settings, Redis, the place resolver, and
the notifier that tells customers' phones about staff decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

from ult.connection import Client, connect
from ult.dashboard.keyguard import KeyChecks, page_guard
from ult.places import Resolver, resolver_from_settings
from ult.settings import Settings, load_settings
from ult.wallet import registry

LIVE_BLOCK_MS = 1000  # XREAD BLOCK timeout: how soon a live reader notices it must stop


class ClaimNotifier(Protocol):
    """What the dashboard needs of ``ult.service.notify.Notifier``."""

    def claim_update(self, sid: str, cid: str, claim: dict[str, Any]) -> None:
        """Tell the card's open pages that its claim changed (``cid``: the full card id)."""

    def staff_revoked(self, sid: str, name: str) -> None:
        """Drop the live connections watching with a revoked staff key."""


@dataclass
class Context:
    """One page's shared services. Redis connects lazily: building the page needs none."""

    settings: Settings = field(default_factory=load_settings)
    resolver_override: Resolver | None = None
    notifier_override: ClaimNotifier | None = None

    @cached_property
    def redis(self) -> Client:
        """The page's client (a pool: safe to share with the live reader's thread)."""
        return connect(
            self.settings,
            socket_connect_timeout=3,
            socket_timeout=10,
            client_name="ult-dashboard",
        )

    def live_redis(self, name: str) -> Client:
        """A dedicated client for one blocking reader (its socket outlives each XREAD BLOCK)."""
        return connect(
            self.settings,
            socket_connect_timeout=3,
            socket_timeout=LIVE_BLOCK_MS / 1000 + 5,
            client_name=name,
        )

    @cached_property
    def keys(self) -> KeyChecks:
        """The page's owner-key checks, through the Voilà server's guessing guard."""
        return KeyChecks(lambda: self.redis, page_guard(self.settings.key_guesses_per_minute))

    @cached_property
    def resolver(self) -> Resolver:
        """Google when GOOGLE_MAPS_API_KEY is set, else the offline resolver."""
        return self.resolver_override or resolver_from_settings(self.settings)

    @cached_property
    def notifier(self) -> ClaimNotifier:
        """Emits ``claim_update`` to customers through the Socket.IO Redis manager (write-only)."""
        if self.notifier_override is not None:
            return self.notifier_override
        from ult.service.notify import Notifier  # python-socketio: only when staff act

        return Notifier(self.settings.effective_redis_url)

    @property
    def wallets(self) -> bool:
        """Whether wallet passes are on offer (else there is nothing to keep up to date; the
        scan service makes and pushes them)."""
        return self.settings.apple_wallet_on or self.settings.google_wallet_on

    def card_changed(self, sid: str, cid: str) -> None:
        """A card changed here: its wallet passes are queued for an update (none: nothing)."""
        if self.wallets:
            registry.card_changed(self.redis, sid, cid)

    def close(self) -> None:
        """Release the page's connections."""
        if "redis" in self.__dict__:
            self.redis.close()
        if "notifier" in self.__dict__:
            getattr(self.notifier, "close", lambda: None)()
