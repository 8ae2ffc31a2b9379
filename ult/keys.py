"""The Redis key schema. Every key of one sponsor carries the hash tag ``{sid}`` so one
script can touch them atomically and they land on one Redis Cluster slot.

- ``ult:{sid}:events``   stream: the sponsor's log (registered, scan, refused, rule, claim, void)
- ``ult:{sid}:profile``  hash: name, address, place_id, owner key hash, counters
- ``ult:{sid}:rule``     hash: the current reward rule
- ``ult:{sid}:cards``    hash: cid → packed card record (visits, points, times, nonces)
- ``ult:{sid}:claims``   hash: claim id → JSON claim; ``card:<cid>`` → the card's last claim id
- ``ult:{sid}:staff``    hash: ``k:<staff key hash>`` → name, ``n:<name>`` → staff key hash
- ``ult:{sid}:voided``   set: ids of scans the sponsor voided
- ``ult:{sid}:top``      sorted set: the best ``schema.TOP_KEPT`` cids of ``cards`` by visits,
  then last visit (the loyalists view; ``lib.lua``: ``rank_card``)
- ``ult:{sid}:claimed``  sorted set: claim ids by creation time (the claims list reads a page)
- ``ult:{sid}:requested`` sorted set: the claims waiting for staff, by creation time
- ``ult:{sid}:archived`` string: a Bloom filter of the cids moved to the lake (``ult archive
  --trim-days``): an unknown card in it may be a returning one, to restore from the lake
- ``ult:{sid}:watched``  string with a TTL: someone watches the sponsor's live room
- ``ult:{sid}:promos``   hash: promotion id → JSON promotion (the scan reads the compiled
  ``promo_plan`` field of the profile instead, see :mod:`ult.promotions`)
- ``ult:{sid}:passes``   hash: cid → the serials of the card's wallet passes, oldest first
- ``ult:{sid}:pass:<serial>`` hash: one wallet pass (kind, cid, auth token, lang, times);
  ``…:devices`` hash: the Apple devices registered for it (device id → push token)
- ``ult:device:{<device>}:passes`` set: the serials an Apple device registered
- ``ult:wallet:outbox``  list: serials of passes whose card changed, for the pass pusher
- ``ult:wallet:download:<token>`` string with a TTL: a one-time pass download → serial
- ``ult:sponsors``       stream: registry of all sponsors (for analysts)
- ``ult:places``         hash: place_id → sid (one registration per place)
- ``ult:schema``         string: the data's schema version (``ult.schema.SCHEMA_VERSION``)
- ``ult:migration:<n>``  set: the sids a migration to version n has done (``ult migrate``)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

REGISTRY = "ult:sponsors"
PLACES = "ult:places"
SCHEMA = "ult:schema"
PATTERN = "ult:*"  # every key ULT keeps (backups copy them all)
WALLET_OUTBOX = "ult:wallet:outbox"


def wallet_download(token: str) -> str:
    """A one-time download of a wallet pass: its serial, for a few minutes."""
    return f"ult:wallet:download:{token}"


def device_passes(device: str) -> str:
    """The serials an Apple device registered for updates (tagged by the device)."""
    return f"ult:device:{{{device}}}:passes"


def migration_progress(version: int) -> str:
    """The set of sids the migration to ``version`` has done."""
    return f"ult:migration:{version}"


def hash_tag(key: str) -> str | None:
    """The sid of a sponsor's key (its ``{sid}`` hash tag), or None for a global key."""
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start + 1 : end] if start >= 0 and end > start + 1 else None


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
    def top(self) -> str:
        return self._key("top")

    @cached_property
    def claimed(self) -> str:
        return self._key("claimed")

    @cached_property
    def requested(self) -> str:
        return self._key("requested")

    @cached_property
    def archived(self) -> str:
        return self._key("archived")

    @cached_property
    def staff(self) -> str:
        return self._key("staff")

    @cached_property
    def watched(self) -> str:
        return self._key("watched")

    @cached_property
    def promos(self) -> str:
        return self._key("promos")

    @cached_property
    def passes(self) -> str:
        return self._key("passes")

    def wallet_pass(self, serial: str) -> str:
        """One wallet pass of the sponsor (``ult.wallet.registry``)."""
        return self._key(f"pass:{serial}")

    def pass_devices(self, serial: str) -> str:
        """The Apple devices registered for a pass: device id → push token."""
        return self._key(f"pass:{serial}:devices")

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
            self.top,
            self.claimed,
            self.requested,
            self.archived,
        ]


@lru_cache(maxsize=4096)  # bounded: sids come from outside
def sponsor_keys(sid: str) -> SponsorKeys:
    """The keys of sponsor ``sid`` (cached: every scan needs them)."""
    return SponsorKeys(sid)
