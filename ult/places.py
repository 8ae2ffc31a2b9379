"""Places: resolve a sponsor's (name, address, country) to one place with a stable id.

Two resolvers share one method, ``resolve(name, address, country) -> Place``:

- :class:`GoogleResolver` asks the Google Geocoding API (the legacy Places API can no longer be
  enabled by new Google projects), restricted to the country by a component filter. It first
  asks for "name, address" — when Google knows the business this gives the business's own
  ``place_id``, so two shops in one building stay apart — and falls back to the address alone
  when that finds nothing exact. Every failure becomes a :class:`~ult.errors.UltError` with a
  plain-words message; no googlemaps exception or traceback escapes.
- :class:`OfflineResolver` needs no network: it tidies the address and makes a stable
  ``local:<hash>`` id. Its places are ``verified=False`` ("not verified by Google").

:func:`resolver_from_settings` picks one: a ``GOOGLE_MAPS_API_KEY`` means Google.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

import googlemaps
import googlemaps.exceptions as gexc
import pycountry
import requests

from ult.errors import UltError
from ult.validation import LIMITS, check_text

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Place:
    """A resolved place. ``verified`` is True only when Google found it."""

    formatted_address: str
    place_id: str
    verified: bool
    lat: float | None = None
    lng: float | None = None
    partial_match: bool = False  # Google matched only part of the address: ask to check it.


class Resolver(Protocol):
    """What the dashboard and CLI need from a resolver."""

    def resolve(self, name: str, address: str, country: str) -> Place: ...


# --- countries --------------------------------------------------------------------------------


def _sort_key(text: str) -> str:
    """Accent- and case-blind key, so "Åland Islands" sorts among the A's."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _display_name(country: Any) -> str:
    """The everyday name ("Bolivia", "Taiwan") where pycountry has one."""
    return getattr(country, "common_name", None) or country.name


@lru_cache(maxsize=1)
def _countries() -> tuple[tuple[str, str], ...]:
    pairs = ((_display_name(c), c.alpha_2) for c in pycountry.countries)
    return tuple(sorted(pairs, key=lambda pair: _sort_key(pair[0])))


def countries() -> list[tuple[str, str]]:
    """All ISO 3166-1 countries as ``(name, alpha_2)``, sorted by name — for a dropdown."""
    return list(_countries())


def check_country(country: object) -> tuple[str, str]:
    """Validate an ISO 3166-1 alpha-2 code; return ``(ALPHA_2, name)`` or raise ``bad_country``."""
    code = country.strip().upper() if isinstance(country, str) else ""
    found = pycountry.countries.get(alpha_2=code) if re.fullmatch(r"[A-Z]{2}", code) else None
    if found is None:
        shown = str(country)[:10] if country else "nothing"
        raise UltError(
            "bad_country",
            f"Unknown country code '{shown}'. Pick your country from the list.",
        )
    return found.alpha_2, _display_name(found)


def _check_inputs(name: object, address: object, country: object) -> tuple[str, str, str, str]:
    """Validated ``(name, address, ALPHA_2, country_name)``; raises UltError otherwise."""
    clean_name = check_text("Business name", name, max_len=LIMITS["business_name"])
    clean_address = check_text("Address", address, max_len=LIMITS["address"])
    code, country_name = check_country(country)
    return clean_name, clean_address, code, country_name


# --- offline ----------------------------------------------------------------------------------


def tidy_address(address: str, country_name: str | None = None) -> str:
    """Collapse whitespace, tidy commas, and drop a trailing country name if given."""
    text = unicodedata.normalize("NFKC", address)
    parts = [" ".join(part.split()) for part in text.split(",")]
    parts = [part for part in parts if part]
    if country_name and parts and parts[-1].casefold() == country_name.casefold():
        parts.pop()
    return ", ".join(parts)


def _normalise(text: str) -> str:
    return tidy_address(text).casefold()


class OfflineResolver:
    """Resolve without a network: a tidied address and a stable ``local:<hash>`` id."""

    def resolve(self, name: str, address: str, country: str) -> Place:
        """Return an unverified place; the same input modulo case/whitespace gives the same id."""
        name, address, code, country_name = _check_inputs(name, address, country)
        street = tidy_address(address, country_name)
        if not street:
            raise UltError("bad_request", "Address is required.")
        key = "\x1f".join((_normalise(name), street.casefold(), code))
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
        return Place(
            formatted_address=f"{street}, {country_name}",
            place_id=f"local:{digest}",
            verified=False,
        )


# --- Google -----------------------------------------------------------------------------------


class GoogleResolver:
    """Resolve with the Google Geocoding API, restricted to the given country."""

    def __init__(
        self,
        key: str,
        base_url: str | None = None,
        timeout: float = 10,
        retry_timeout: float = 10,
    ) -> None:
        """``base_url`` points the client elsewhere (tests use a local stub)."""
        self._key = key or ""
        self._last = threading.local()
        session = requests.Session()
        session.hooks["response"].append(self._remember_status)
        options: dict[str, Any] = {"base_url": base_url.rstrip("/")} if base_url else {}
        try:
            self._client = googlemaps.Client(
                key=key,
                retry_over_query_limit=False,
                timeout=timeout,
                retry_timeout=retry_timeout,
                requests_session=session,
                **options,
            )
        except ValueError:
            raise UltError(
                "google_key_invalid",
                "The Google Maps API key is not valid (it should start with 'AIza'). "
                "Check GOOGLE_MAPS_API_KEY, or remove it to register without Google.",
            ) from None

    def _remember_status(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last.status = response.status_code

    def resolve(self, name: str, address: str, country: str) -> Place:
        """Ask Google for the business, then for the address alone if that finds nothing exact.

        Raises UltError: ``address_not_found``, ``google_denied``, ``google_quota``,
        ``google_unavailable``, ``google_timeout``, ``google_unreachable``, ``google_error``
        (and ``bad_request`` / ``bad_country`` for bad input).
        """
        name, address, code, country_name = _check_inputs(name, address, country)
        street = tidy_address(address, country_name)
        if not street:
            raise UltError("bad_request", "Address is required.")
        with_name = self._geocode(f"{name}, {street}", code)
        if with_name and not with_name[0].get("partial_match"):
            return _place_from(with_name[0], f"{street}, {country_name}")
        results = self._geocode(street, code)
        if not results:
            raise UltError(
                "address_not_found",
                f"Google could not find that address in {country_name}. "
                "Check the street and number.",
            )
        return _place_from(results[0], f"{street}, {country_name}")

    def _geocode(self, query: str, code: str) -> list[dict[str, Any]]:
        """One Geocoding request; googlemaps failures become UltError."""
        self._last.status = None
        try:
            results = self._client.geocode(query, components={"country": code})
        except Exception as exc:  # nothing from googlemaps may escape
            raise self._translate(exc) from None
        if not isinstance(results, list):
            raise self._translate(ValueError("results is not a list"))
        return [r for r in results if isinstance(r, dict) and r.get("place_id")]

    def _translate(self, exc: Exception) -> UltError:
        """The UltError a sponsor sees for one googlemaps failure (details go to the log)."""
        log.warning("Google geocoding failed: %s: %s", type(exc).__name__, self._redact(exc))
        status = getattr(self._last, "status", None)
        if isinstance(exc, gexc._OverQueryLimit):
            return UltError(
                "google_quota",
                "Google is refusing more address look-ups for now (the usage limit was "
                "reached). Wait a minute and try again.",
            )
        if isinstance(exc, gexc.ApiError):
            return _api_error(exc)
        if isinstance(exc, gexc.Timeout):
            if status is not None and status >= 500:
                return _unavailable(status)
            return UltError(
                "google_timeout",
                "Google did not answer in time. Check the internet connection and try again.",
            )
        if isinstance(exc, gexc.HTTPError):
            return _unavailable(exc.status_code)
        if isinstance(exc, gexc.TransportError):
            return UltError(
                "google_unreachable",
                "Could not reach Google to check the address. Check the internet connection "
                "and try again.",
            )
        return UltError(
            "google_error",
            "Google sent an answer we could not understand. Try again in a few minutes.",
        )

    def _redact(self, exc: Exception) -> str:
        """The exception text without the API key (request URLs carry it)."""
        text = str(exc)
        return text.replace(self._key, "AIza…") if self._key else text


def _unavailable(status: int | None) -> UltError:
    return UltError(
        "google_unavailable",
        f"Google's address service is not working right now (error {status}). "
        "Try again in a few minutes.",
    )


def _api_error(exc: gexc.ApiError) -> UltError:
    """REQUEST_DENIED, OVER_DAILY_LIMIT, INVALID_REQUEST, UNKNOWN_ERROR, ..."""
    status = str(exc.status)
    if status == "REQUEST_DENIED":
        return UltError(
            "google_denied",
            "Google refused the address look-up: the API key is not valid, or the Geocoding "
            "API is not enabled for it. Check GOOGLE_MAPS_API_KEY.",
        )
    if status == "OVER_DAILY_LIMIT":
        return UltError(
            "google_quota",
            "Google is refusing address look-ups: the key's daily limit or billing needs "
            "attention. Try again later.",
        )
    if status == "UNKNOWN_ERROR":
        return UltError(
            "google_unavailable",
            "Google's address service had a problem. Try again in a few minutes.",
        )
    if status == "INVALID_REQUEST":
        return UltError(
            "google_error",
            "Google could not read that address. Check it and try again.",
        )
    return UltError(
        "google_error",
        f"Google could not check the address ({status}). Try again in a few minutes.",
    )


def _place_from(result: dict[str, Any], fallback_address: str) -> Place:
    """A verified Place from one Geocoding result."""
    location = (result.get("geometry") or {}).get("location") or {}
    lat, lng = location.get("lat"), location.get("lng")
    return Place(
        formatted_address=str(result.get("formatted_address") or "").strip() or fallback_address,
        place_id=str(result["place_id"]),
        verified=True,
        lat=float(lat) if isinstance(lat, int | float) else None,
        lng=float(lng) if isinstance(lng, int | float) else None,
        partial_match=bool(result.get("partial_match")),
    )


def resolver_from_settings(settings: Any) -> GoogleResolver | OfflineResolver:
    """Google when ``settings.google_maps_api_key`` is set, else the offline resolver."""
    key = getattr(settings, "google_maps_api_key", None)
    return GoogleResolver(key) if key else OfflineResolver()
