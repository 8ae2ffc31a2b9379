"""The per-address limits of one service process, built from settings in one place."""

from __future__ import annotations

from dataclasses import dataclass, field

from ult.addresses import TrustedProxies
from ult.guesses import KeyGuard
from ult.service.challenge import Challenges
from ult.service.health import StorageHealth
from ult.service.ratelimit import BucketMap, ConnectionLimits, OpenCounts
from ult.settings import Settings


@dataclass
class Guards:
    """What the Socket.IO events consult before spending anything on a client."""

    events: ConnectionLimits
    trusted: TrustedProxies
    connections: OpenCounts
    new_cards: BucketMap
    keys: KeyGuard
    challenges: Challenges  # what lets a new card past new_cards
    health: StorageHealth = field(default_factory=StorageHealth)

    @classmethod
    def from_settings(cls, settings: Settings) -> Guards:
        n = settings.new_cards_per_minute
        return cls(
            events=ConnectionLimits(settings.event_rate),
            trusted=TrustedProxies(settings.trusted_proxies),
            connections=OpenCounts(settings.connections_per_address),
            new_cards=BucketMap(n, n),
            keys=KeyGuard(settings.key_guesses_per_minute),
            challenges=Challenges.from_settings(settings),
        )
