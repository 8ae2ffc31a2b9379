"""Which wallets this ULT offers: Apple (all ULT_APPLE_* set) and Google (its issuer id and
key file set). Neither: no pass is made or updated."""

from __future__ import annotations

from dataclasses import dataclass

from ult.settings import Settings
from ult.wallet.apple import AppleConfig
from ult.wallet.google import GoogleWallet


@dataclass(frozen=True)
class Wallets:
    """The configured wallets (at least one)."""

    apple: AppleConfig | None
    google: GoogleWallet | None
    public_url: str  # ULT_PUBLIC_URL: passes link back to it

    @classmethod
    def from_settings(cls, settings: Settings) -> Wallets | None:
        """The wallets ``settings`` configure, or None when none is."""
        apple, google = AppleConfig.from_settings(settings), GoogleWallet.from_settings(settings)
        public_url = settings.public_url.rstrip("/")
        return cls(apple, google, public_url) if apple or google else None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of pass on offer, as the ``pass`` event names them."""
        return tuple(k for k, on in (("apple", self.apple), ("google", self.google)) if on)

    async def aclose(self) -> None:
        """Close the connections to Google (APNs' belong to the pusher)."""
        if self.google is not None:
            await self.google.aclose()
