"""What a wallet pass shows of a card: the same facts for Apple's and Google's formats."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PassView:
    """One card as its passes show it. Never holds the card's key or its id: ``serial`` is a
    random name of the pass, the only link back to the card is kept in Redis."""

    serial: str  # random, the pass's identity (Apple's serialNumber, Google's object suffix)
    sid: str  # the business (shown on the pass anyway)
    biz: str  # the business's name
    points: int
    visits: int
    points_needed: int  # points for the reward (the rule's points_needed)
    reward: str  # the reward's text
    lang: str  # the customer's language: the pass's labels are in it
    card_url: str  # the card's page on this service, without the key
    updated_ms: int  # when the card last changed (Last-Modified, the update tag)
    voucher_code: str | None = None  # an open voucher's code, if the card has one
    voucher_expires_ms: int | None = None  # ... and when it expires
    latitude: float | None = None  # the business's place, where the place lookup gave one
    longitude: float | None = None

    @property
    def reward_ready(self) -> bool:
        """Whether the card has the points for its reward."""
        return self.points >= self.points_needed
