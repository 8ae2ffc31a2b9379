"""Which wallets this ULT offers: Apple (all ULT_APPLE_* set) and Google (its helper module,
``ult.wallet.google``, with its settings). Neither: no pass is made or updated."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from ult.settings import Settings
from ult.wallet.apple import AppleConfig


@dataclass(frozen=True)
class Wallets:
    """The configured wallets (at least one)."""

    apple: AppleConfig | None
    google: Any | None  # ult.wallet.google.GoogleWallet
    public_url: str  # ULT_PUBLIC_URL: passes link back to it

    @classmethod
    def from_settings(cls, settings: Settings) -> Wallets | None:
        """The wallets ``settings`` configure, or None when none is."""
        apple, google = AppleConfig.from_settings(settings), google_wallet(settings)
        public_url = settings.public_url.rstrip("/")
        return cls(apple, google, public_url) if apple or google else None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of pass on offer, as the ``pass`` event names them."""
        return tuple(k for k, on in (("apple", self.apple), ("google", self.google)) if on)


def google_wallet(settings: Settings) -> Any | None:
    """Google Wallet of ``settings``, or None (not configured, or its module not installed)."""
    try:
        module = importlib.import_module("ult.wallet.google")
    except ModuleNotFoundError:
        return None
    return module.GoogleWallet.from_settings(settings)
