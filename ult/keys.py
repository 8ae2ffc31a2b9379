"""The Redis key schema. Every key of one sponsor carries the hash tag ``{sid}`` so one
script can touch them atomically and they land on one Redis Cluster slot.

- ``ult:{sid}:events``   stream: the sponsor's log (registered, scan, refused, rule, claim, void)
- ``ult:{sid}:profile``  hash: name, address, place_id, owner key hash, counters
- ``ult:{sid}:rule``     hash: the current reward rule
- ``ult:{sid}:cards``    hash: cid → packed card record (visits, points, times, nonces)
- ``ult:{sid}:claims``   hash: claim id → JSON claim; ``card:<cid>`` → the card's last claim id
- ``ult:{sid}:staff``    hash: ``k:<staff key hash>`` → name, ``n:<name>`` → staff key hash
- ``ult:{sid}:voided``   set: ids of scans the sponsor voided
- ``ult:{sid}:watched``  string with a TTL: someone watches the sponsor's live room
- ``ult:{sid}:promos``   hash: promotion id → JSON promotion (the scan reads the compiled
  ``promo_plan`` field of the profile instead, see :mod:`ult.promotions`)
- ``ult:sponsors``       stream: registry of all sponsors (for analysts)
- ``ult:places``         hash: place_id → sid (one registration per place)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

REGISTRY = "ult:sponsors"
PLACES = "ult:places"


@dataclass(frozen=True)
class SponsorKeys:
    """The keys of one sponsor."""

    sid: str

    def _key(self, name: str) -> str:
        return f"ult:{{{self.sid}}}:{name}"

    @cached_property
    def events(self) -> str:
        return self._key("events")

    @cached_property
    def profile(self) -> str:
        return self._key("profile")

    @cached_property
    def rule(self) -> str:
        return self._key("rule")

    @cached_property
    def cards(self) -> str:
        return self._key("cards")

    @cached_property
    def claims(self) -> str:
        return self._key("claims")

    @cached_property
    def voided(self) -> str:
        return self._key("voided")

    @cached_property
    def staff(self) -> str:
        return self._key("staff")

    @cached_property
    def watched(self) -> str:
        return self._key("watched")

    @cached_property
    def promos(self) -> str:
        return self._key("promos")

    def all(self) -> list[str]:
        """Every key of the sponsor, in the order the Lua scripts expect them."""
        return [
            self.profile,
            self.rule,
            self.cards,
            self.events,
            self.claims,
            self.voided,
            self.watched,
            self.staff,
            self.promos,
        ]


@lru_cache(maxsize=4096)  # bounded: sids come from outside
def sponsor_keys(sid: str) -> SponsorKeys:
    """The keys of sponsor ``sid`` (cached: every scan needs them)."""
    return SponsorKeys(sid)
