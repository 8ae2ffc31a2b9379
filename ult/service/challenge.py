"""Proof-of-work challenges: how a new card gets past a shared address's new-card budget.

Phones behind one carrier-grade NAT or a café's Wi-Fi share an address, so its budget
(``ULT_NEW_CARDS_PER_MINUTE``) runs out at lunchtime for honest customers too. A new card
refused for the budget gets an ALTCHA challenge (HMAC-signed, ``altcha`` package) in its
refusal; the page solves it (SHA-256 brute force, ``static/js/pow-worker.js``) and sends the
same scan again with the solution, which starts that one card whatever the budget says.

A challenge is bound to one card at one business (``for`` in its salt), expires after
``TTL_S`` and is spent once per process: a solution buys one card, never a second. Its
price rises with the solutions an address sent in the last minutes (``RecentLevel``), so a
farm solving flat out pays more per card than a queue of honest phones. Everything about an
address stays in this process's memory.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import secrets
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import altcha

from ult.buckets import MAX_ADDRESSES
from ult.settings import Settings

ALGORITHM: Literal["SHA-256"] = "SHA-256"
TTL_S = 120  # a slow phone solves in seconds; a stale challenge is simply issued again
# The numbers a phone searches (half of them on average) when its address is calm: ~0.3–0.6 s
# in a Chromium worker at 4× CPU throttling, ~25 ms of a server core (docs/deploy.md).
BASE_MAX_NUMBER = 50_000
MAX_FACTOR = 8  # the price stops rising here: a phone still solves within a few seconds
FREE_SOLUTIONS_PER_MINUTE = 30  # what a busy café's first visits send past the budget
MAX_SPENT = 100_000  # solutions remembered as spent (one per card started; oldest go first)
KEY_FILE = "challenge.key"
TEXT_FIELDS = ("algorithm", "challenge", "salt", "signature")  # of a solution, with number


class RecentLevel:
    """A leaky level per address: +1 per solution, draining ``per_minute`` a minute.

    Bounded like :class:`ult.buckets.BucketMap`: at most ``max_keys`` addresses, least
    recently used go first.
    """

    def __init__(self, per_minute: float, max_keys: int = MAX_ADDRESSES) -> None:
        self.rate = per_minute / 60
        self.max_keys = max_keys
        self._levels: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def level(self, key: str, now: float | None = None) -> float:
        """The level of ``key`` now."""
        now = time.monotonic() if now is None else now
        value, stamp = self._levels.get(key, (0.0, now))
        return max(0.0, value - (now - stamp) * self.rate)

    def add(self, key: str, now: float | None = None) -> None:
        """Count one solution of ``key``."""
        now = time.monotonic() if now is None else now
        self._levels[key] = (self.level(key, now) + 1, now)
        self._levels.move_to_end(key)
        if len(self._levels) > self.max_keys:
            self._levels.popitem(last=False)


def card_tag(sid: str, key: str) -> str:
    """What binds a challenge to one card at one business (not the key: it is a secret)."""
    return hashlib.sha256(f"ult-challenge:{sid}:{key}".encode()).hexdigest()[:16]


class Challenges:
    """Issues challenges and redeems their solutions, for one service process."""

    def __init__(self, hmac_key: str, free_per_minute: float = FREE_SOLUTIONS_PER_MINUTE) -> None:
        self.hmac_key = hmac_key
        self.free_per_minute = free_per_minute
        self.recent = RecentLevel(free_per_minute)
        self.spent: OrderedDict[str, float] = OrderedDict()  # challenge → expiry (unix s)

    @classmethod
    def from_settings(cls, settings: Settings) -> Challenges:
        return cls(settings.challenge_key or stored_key(settings.var_path))

    def max_number(self, client: str) -> int:
        """The search range of ``client``'s next challenge."""
        factor = 1 + self.recent.level(client) / self.free_per_minute
        return int(BASE_MAX_NUMBER * min(MAX_FACTOR, factor))

    def issue(self, client: str, sid: str, key: str) -> dict[str, Any]:
        """A challenge for the card ``key`` at ``sid``, priced for ``client``."""
        max_number = self.max_number(client)
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=TTL_S)
        options = altcha.ChallengeOptionsV1(
            algorithm=ALGORITHM,
            max_number=max_number,
            hmac_key=self.hmac_key,
            expires=expires,
            params={"for": card_tag(sid, key)},
        )
        c = altcha.create_challenge_v1(options)
        return {
            "algorithm": c.algorithm,
            "challenge": c.challenge,
            "salt": c.salt,
            "signature": c.signature,
            "maxnumber": max_number,
        }

    def redeem(self, client: str, solution: str, sid: str, key: str) -> bool:
        """Whether ``solution`` (base64 ALTCHA payload) solves an unspent, unexpired challenge
        of this card; if so it is spent now."""
        payload = _payload(solution)
        if payload is None:
            return False
        params = altcha.extract_params_v1(payload)
        if params.get("for") != [card_tag(sid, key)] or "expires" not in params:
            return False
        ok, _ = altcha.verify_solution_v1(payload, self.hmac_key, check_expires=True)
        if not ok or payload["challenge"] in self.spent:
            return False
        self._spend(payload["challenge"], float(params["expires"][0]))
        self.recent.add(client)
        return True

    def _spend(self, challenge: str, expires: float) -> None:
        now = time.time()
        while self.spent and (
            len(self.spent) >= MAX_SPENT or next(iter(self.spent.values())) < now
        ):
            self.spent.popitem(last=False)  # expired ones can no longer pass verification
        self.spent[challenge] = expires


def _payload(solution: str) -> Any:
    """The ALTCHA payload in ``solution``, or None when it is not one."""
    try:
        data = json.loads(base64.b64decode(solution, validate=True))
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("number"), int):
        return None
    if not all(isinstance(data.get(name), str) for name in TEXT_FIELDS):
        return None
    return data


def stored_key(var_dir: Path) -> str:
    """The HMAC key under ``var_dir``, made on first use. Every worker process of a host
    reads the same file, so each verifies the others' challenges."""
    path = var_dir / KEY_FILE
    if not path.exists():
        var_dir.mkdir(parents=True, exist_ok=True)
        tmp = var_dir / f".{KEY_FILE}.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32))
        try:
            os.link(tmp, path)  # atomic: of workers starting together, the first one wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
