"""The sponsor's profile in the browser's ``localStorage``, bridged by anywidget.

The profile is one JSON entry::

    {"v": 1, "uid": "<owner id>", "current": "<sid>", "lang": "<chosen language>",
     "businesses": [{"sid", "biz", "place_id", "owner_key", "formatted_address", "added_ms"}]}

``storage.js`` reads it once per page (when the widget is first rendered, i.e. after every
model of the page has loaded), sets ``value`` and then ``loaded``; the kernel reacts with
``observe``. The store must therefore be displayed (it renders nothing visible). Writes go the other way: the kernel assigns ``value`` and
the browser merges it into the stored entry (the union of businesses, so two tabs never lose
one). Everything read from the browser is checked here before the kernel uses it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from ult.clock import now_ms
from ult.errors import UltError
from ult.validation import LIMITS, check_field, check_text, clip_text

STORAGE_KEY = "ult.sponsor"
SCHEMA_VERSION = 1
MAX_BUSINESSES = 200
_MAX_TZ_MIN = 14 * 60
_REGION = re.compile(r"^[A-Za-z]{2,3}[-_]([A-Za-z]{2})\b")


@dataclass(frozen=True)
class Business:
    """One business this browser's owner registered (or added with its owner key)."""

    sid: str
    biz: str
    place_id: str
    owner_key: str
    formatted_address: str = ""
    added_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        """The form kept in localStorage."""
        return asdict(self)

    @classmethod
    def from_json(cls, item: object) -> Business | None:
        """A checked Business from stored JSON, or None when the entry is unusable."""
        if not isinstance(item, dict):
            return None
        try:
            added = item.get("added_ms", 0)
            sid = check_field("sid", item.get("sid"))
            return cls(
                sid=sid,
                # names and addresses are only shown: a long one is cut, never a reason to
                # lose the business from the selector
                biz=clip_text(item.get("biz"), "business_name") or sid,
                place_id=check_text("place_id", item.get("place_id"), max_len=LIMITS["place_id"]),
                owner_key=check_field("owner_key", item.get("owner_key")),
                formatted_address=clip_text(item.get("formatted_address"), "formatted_address"),
                added_ms=added if isinstance(added, int) and not isinstance(added, bool) else 0,
            )
        except UltError:
            return None

    @property
    def label(self) -> str:
        """How the business selector names it (plain text, never HTML)."""
        return f"{self.biz} — {self.formatted_address}" if self.formatted_address else self.biz


class BrowserStore(anywidget.AnyWidget):
    """Bridge to one ``localStorage`` entry. Observe ``loaded`` before reading ``value``."""

    _esm = Path(__file__).with_name("storage.js")

    storage_key = t.Unicode(STORAGE_KEY).tag(sync=True)
    value = t.Dict().tag(sync=True)
    loaded = t.Bool(False).tag(sync=True)
    error = t.Unicode("").tag(sync=True)  # "blocked" or "refused" (STORAGE_ERRORS)
    title = t.Unicode("").tag(sync=True)  # the page's <title>, in the dashboard's language
    tz_offset_min = t.Int(0).tag(sync=True)
    locale = t.Unicode("").tag(sync=True)
    # the pass of a business whose owner key the server accepted: kept by the browser in a
    # cookie, it admits this browser's next pages from those reserved for sponsors
    owner_pass = t.Unicode("").tag(sync=True)

    def businesses(self) -> list[Business]:
        """Every usable business in the profile, oldest first, one per sid."""
        items = self.value.get("businesses") if isinstance(self.value, dict) else None
        found: dict[str, Business] = {}
        for item in items if isinstance(items, list) else []:
            business = Business.from_json(item)
            if business is not None:
                found[business.sid] = business
        return sorted(found.values(), key=lambda b: b.added_ms)[:MAX_BUSINESSES]

    def business(self, sid: str | None) -> Business | None:
        """The stored business with this sid, if any."""
        return next((b for b in self.businesses() if b.sid == sid), None)

    @property
    def uid(self) -> str:
        """The owner id the browser made for this profile ("" before it loaded)."""
        uid = self.value.get("uid") if isinstance(self.value, dict) else None
        return uid if isinstance(uid, str) and re.fullmatch(r"[0-9a-f]{32}", uid) else ""

    @property
    def current(self) -> str | None:
        """The sid last selected on this browser, if it is still one of the businesses."""
        sid = self.value.get("current") if isinstance(self.value, dict) else None
        return sid if self.business(sid) else None

    def add_business(self, business: Business) -> None:
        """Keep ``business`` (replacing one with the same sid) and make it current."""
        self._require_loaded()
        if not business.added_ms:
            business = Business(**{**business.to_json(), "added_ms": now_ms()})
        others = [b.to_json() for b in self.businesses() if b.sid != business.sid]
        self._update(businesses=[*others, business.to_json()], current=business.sid)

    def set_current(self, sid: str) -> None:
        """Remember which business is selected."""
        self._require_loaded()
        if self.business(sid) and self.value.get("current") != sid:
            self._update(current=sid)

    def choose_language(self, lang: str) -> None:
        """Remember the dashboard language chosen on this browser."""
        self._require_loaded()
        self._update(lang=lang)

    @property
    def utc_offset_min(self) -> int:
        """The browser's offset from UTC in minutes (UTC+1 → 60), bounded to ±14 h."""
        return max(-_MAX_TZ_MIN, min(_MAX_TZ_MIN, -int(self.tz_offset_min)))

    def country_hint(self) -> str | None:
        """The region of the browser's language (``sv-SE`` → ``SE``), if it names one."""
        match = _REGION.match(self.locale or "")
        return match.group(1).upper() if match else None

    def _update(self, **changes: Any) -> None:
        base = dict(self.value) if isinstance(self.value, dict) else {}
        self.value = {**base, "v": SCHEMA_VERSION, **changes}

    def _require_loaded(self) -> None:
        if not self.loaded:
            raise UltError("not_ready", "The page is still opening — wait a second and try again.")
