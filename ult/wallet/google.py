"""Google Wallet: a card as a loyalty object of its business's loyalty class (docs/wallet.md).

A business is one ``loyaltyClass`` (``<issuer id>.ult-<sid>``), a pass one ``loyaltyObject``
(``<issuer id>.<serial>``). The service inserts both through the Wallet REST API, then hands
the phone an "Add to Google Wallet" link whose signed JWT names the object only, so the link
stays short whatever the pass shows. Later changes are PATCHed onto the object; Google pushes
them to the phone. Nothing here holds the card's key or its id: a pass knows its serial.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from ult.clock import DAY_MS, now_ms
from ult.errors import UltError
from ult.i18n import DEFAULT, LANGUAGES, number, translate_plural
from ult.messages import PLURALS
from ult.settings import Settings
from ult.wallet.view import PassView
from ult.wallet.words import pass_text

SAVE_URL = "https://pay.google.com/gp/v/save/"
SCOPE = "https://www.googleapis.com/auth/wallet_object.issuer"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
API_PATH = "/walletobjects/v1"
TIMEOUT = httpx.Timeout(10.0, connect=5.0)  # every call to Google: token and REST
ASSERTION_LIFETIME_S = 3600  # the longest Google's token endpoint accepts
TOKEN_MARGIN_S = 60  # an access token is renewed this long before it expires
# Google lets a pass notify 3 times in 24 hours; further messages are shown without a push.
NOTIFY_LIMIT = 3
NOTIFY_WINDOW_MS = DAY_MS
NOTIFY_TRACKED = 10_000  # passes whose recent notifications this process remembers
KEY_FIELDS = ("client_email", "private_key_id", "private_key", "token_uri")
ID_CHARACTERS = re.compile(r"[A-Za-z0-9_-]")  # what a Google id keeps as is ('.' separates)
MANIFEST = "service/static/manifest.webmanifest"  # the app's colour and icon, declared there


class GoogleWalletError(Exception):
    """A call to Google failed. ``retryable``: a server error or no connection (the pusher
    tries again later); otherwise Google refused the request and repeating it will not help."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable


@dataclass(frozen=True)
class ServiceAccount:
    """The parts of a Google service account's JSON key that sign requests and links."""

    client_email: str
    private_key_id: str
    private_key: RSAPrivateKey
    token_uri: str

    @classmethod
    def load(cls, path: str) -> ServiceAccount:
        """Read a JSON key file; a missing or malformed one is a ``bad_setting`` error."""
        try:
            with open(path, encoding="utf-8") as file:
                data = json.load(file)
        except OSError as exc:
            raise _bad_key(f"cannot read {path} ({exc.strerror or exc}).") from None
        except ValueError:
            raise _bad_key(f"{path} is not a JSON key file.") from None
        if not isinstance(data, dict):
            raise _bad_key(f"{path} is not a JSON key file.")
        missing = [name for name in KEY_FIELDS if not isinstance(data.get(name), str)]
        if missing:
            raise _bad_key(f"{path} lacks {', '.join(missing)}.")
        try:
            key = load_pem_private_key(data["private_key"].encode(), password=None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, RSAPrivateKey):
            raise _bad_key(f"the private_key of {path} is not an RSA key in PEM.")
        return cls(data["client_email"], data["private_key_id"], key, data["token_uri"])

    def sign(self, claims: Mapping[str, Any]) -> str:
        """``claims`` as an RS256 JWT with this account's key id."""
        return jwt.encode(
            dict(claims), self.private_key, algorithm="RS256", headers={"kid": self.private_key_id}
        )


def _bad_key(reason: str) -> UltError:
    return UltError("bad_setting", f"ULT_GOOGLE_WALLET_KEY: {reason}")


def google_id(issuer_id: str, name: str) -> str:
    """``<issuer id>.<name>`` with every character a Google id does not allow (and '.')
    written as ``.xx`` (its code point in hex): the same name always gives the same id and
    two names never share one."""
    safe = "".join(ch if ID_CHARACTERS.fullmatch(ch) else f".{ord(ch):02x}" for ch in name)
    return f"{issuer_id}.{safe}"


def class_id(issuer_id: str, sid: str) -> str:
    """The loyalty class of business ``sid``."""
    return google_id(issuer_id, f"ult-{sid}")


def object_id(issuer_id: str, serial: str) -> str:
    """The loyalty object of the pass ``serial``."""
    return google_id(issuer_id, serial)


class NotificationBudget:
    """Which messages may still notify: at most ``limit`` per pass in ``window_ms``.

    Kept in this process's memory, for the ``tracked`` passes notified most recently; a
    restart, or another process, forgets and may let Google refuse a 4th push (the message
    is then shown without one). Redis could share it, but a missed push costs little.
    """

    def __init__(
        self,
        limit: int = NOTIFY_LIMIT,
        window_ms: int = NOTIFY_WINDOW_MS,
        tracked: int = NOTIFY_TRACKED,
    ) -> None:
        self.limit, self.window_ms, self.tracked = limit, window_ms, tracked
        self._sent: OrderedDict[str, deque[int]] = OrderedDict()

    def take(self, serial: str, at_ms: int) -> bool:
        """Whether a message to ``serial`` at ``at_ms`` may notify; counts it if so."""
        sent = self._sent.pop(serial, None) or deque()
        while sent and sent[0] <= at_ms - self.window_ms:
            sent.popleft()
        allowed = len(sent) < self.limit
        if allowed:
            sent.append(at_ms)
        if sent:
            self._sent[serial] = sent
            if len(self._sent) > self.tracked:
                self._sent.popitem(last=False)
        return allowed

    def spend(self, serial: str, at_ms: int) -> None:
        """Count ``serial``'s budget as used up from ``at_ms`` on (Google said so)."""
        self._sent[serial] = deque([at_ms] * self.limit)

    def __len__(self) -> int:
        return len(self._sent)


@dataclass
class _Token:
    value: str
    expires_ms: int


class GoogleWallet:
    """Loyalty passes in Google Wallet for one issuer account."""

    def __init__(
        self,
        issuer_id: str,
        account: ServiceAccount,
        *,
        api: str,
        public_url: str,
        clock: Callable[[], int] = now_ms,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.issuer_id = issuer_id
        self.account = account
        self.api = api.rstrip("/") + API_PATH
        self.public_url = public_url.rstrip("/")
        self.clock = clock
        self.budget = NotificationBudget()
        self._http = httpx.AsyncClient(timeout=TIMEOUT, transport=transport)
        self._token: _Token | None = None
        self._token_lock = asyncio.Lock()
        self._classes: set[str] = set()  # classes known to exist at Google

    @classmethod
    def from_settings(cls, settings: Settings) -> GoogleWallet | None:
        """The Google Wallet of ``settings``; None unless both the issuer id and the key
        file are set. A bad key file or issuer id raises ``bad_setting`` at once."""
        issuer, key = settings.google_wallet_issuer_id, settings.google_wallet_key
        if not settings.google_wallet_on or not issuer or not key:
            return None
        if not issuer.isascii() or not issuer.isalnum():
            raise UltError(
                "bad_setting", "ULT_GOOGLE_WALLET_ISSUER_ID must be the console's issuer id."
            )
        return cls(
            issuer,
            ServiceAccount.load(key),
            api=settings.google_wallet_api,
            public_url=settings.public_url,
        )

    # ---- what the pass shows ------------------------------------------------------------

    def loyalty_class(self, view: PassView) -> dict[str, Any]:
        """The business's loyalty class: its name, the app's logo and colour, and what no
        pass holds, in every language (a class serves passes of all languages)."""
        colour, icon = _brand()
        return {
            "id": class_id(self.issuer_id, view.sid),
            "issuerName": view.biz,
            "programName": view.biz,
            "programLogo": {"sourceUri": {"uri": self.public_url + icon}},
            "hexBackgroundColor": colour,
            "reviewStatus": "UNDER_REVIEW",  # what Google asks of a new class
            "textModulesData": [
                {
                    "id": "privacy",
                    "header": pass_text(DEFAULT, "privacy"),
                    "body": pass_text(DEFAULT, "privacy_text"),
                    "localizedHeader": _localized("privacy"),
                    "localizedBody": _localized("privacy_text"),
                }
            ],
        }

    def loyalty_object(self, view: PassView) -> dict[str, Any]:
        """The pass: balance, progress toward the reward, an open voucher, the card's page,
        the place. No account name or id: a card belongs to nobody."""
        obj = {
            "id": object_id(self.issuer_id, view.serial),
            "classId": class_id(self.issuer_id, view.sid),
            "state": "ACTIVE",
            **self._changing(view),
            "linksModuleData": {
                "uris": [
                    {
                        "uri": self._absolute(view.card_url),
                        "description": pass_text(view.lang, "card_link"),
                    }
                ]
            },
        }
        if view.latitude is not None and view.longitude is not None:
            obj["locations"] = [{"latitude": view.latitude, "longitude": view.longitude}]
        return obj

    def _changing(self, view: PassView) -> dict[str, Any]:
        """The fields a scan or a claim changes: what :meth:`update` PATCHes (a closed
        voucher's module goes with the list it is no longer in)."""
        lang = view.lang
        modules = [{"id": "reward", "header": pass_text(lang, "reward"), "body": _progress(view)}]
        if view.voucher_code:
            modules.append(
                {"id": "voucher", "header": pass_text(lang, "voucher"), "body": view.voucher_code}
            )
        return {
            "loyaltyPoints": {
                "label": pass_text(lang, "points"),
                "balance": {"int": view.points},
            },
            "textModulesData": modules,
        }

    def _absolute(self, url: str) -> str:
        return url if urlsplit(url).scheme else f"{self.public_url}/{url.lstrip('/')}"

    # ---- the save link ------------------------------------------------------------------

    def save_link(self, view: PassView) -> str:
        """The "Add to Google Wallet" link carrying the whole object (no network; its class
        must exist at Google already)."""
        return self._link(self.loyalty_object(view))

    async def asave_link(self, view: PassView) -> str:
        """Insert the class (once per business) and the object, then the link naming the
        object: a short JWT, whatever the pass shows."""
        obj = await self._insert(view)
        balance = obj["loyaltyPoints"]["balance"]
        return self._link(
            {"id": obj["id"], "classId": obj["classId"], "loyaltyPoints": {"balance": balance}}
        )

    def _link(self, obj: Mapping[str, Any]) -> str:
        origin = urlsplit(self.public_url)
        claims = {
            "iss": self.account.client_email,
            "aud": "google",
            "typ": "savetowallet",
            "iat": self.clock() // 1000,
            "origins": [f"{origin.scheme}://{origin.netloc}"],
            "payload": {"loyaltyObjects": [obj]},
        }
        return SAVE_URL + self.account.sign(claims)

    async def _insert(self, view: PassView) -> dict[str, Any]:
        """Insert the pass's object (and its class, the first time); returns the object."""
        await self._ensure_class(view)
        obj = self.loyalty_object(view)
        await self._call("POST", "/loyaltyObject", obj, exists_ok=True)
        return obj

    async def _ensure_class(self, view: PassView) -> None:
        cid = class_id(self.issuer_id, view.sid)
        if cid not in self._classes:
            await self._call("POST", "/loyaltyClass", self.loyalty_class(view), exists_ok=True)
            self._classes.add(cid)

    # ---- updates ------------------------------------------------------------------------

    async def update(self, view: PassView, message: str | None) -> None:
        """PATCH the pass's balance and progress (an object Google lacks, its insert having
        failed, is inserted whole); with ``message``, add it to the pass too, notifying the
        phone while the pass's notification budget lasts."""
        oid = object_id(self.issuer_id, view.serial)
        try:
            await self._call("PATCH", f"/loyaltyObject/{oid}", self._changing(view))
        except GoogleWalletError as exc:
            if exc.status != 404:
                raise
            await self._insert(view)
        if message:
            await self._add_message(view, message)

    async def _add_message(self, view: PassView, message: str) -> None:
        """Add ``message`` to the pass, with a push while the budget lasts. Google keeps the
        count too: when it refuses the push (this process forgot, or another one pushed),
        the message goes without one and the pass's budget is spent for the day."""
        at = self.clock()
        path = f"/loyaltyObject/{object_id(self.issuer_id, view.serial)}/addMessage"
        if self.budget.take(view.serial, at):
            try:
                await self._call("POST", path, _message(view, message, at, notify=True))
                return
            except GoogleWalletError as exc:
                if exc.status in (None, 401) or not 400 <= exc.status < 500:
                    raise
                self.budget.spend(view.serial, at)
        await self._call("POST", path, _message(view, message, at, notify=False))

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._http.aclose()

    # ---- HTTP ---------------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, body: Mapping[str, Any], *, exists_ok: bool = False
    ) -> None:
        """One REST call, with a fresh token once if Google no longer takes ours. Errors
        name the resource kind only: paths hold pass ids, headers the token."""
        what = f"{method} {path.split('/')[1]}"
        response = await self._send(method, path, body, await self._access_token())
        if response.status_code == 401:
            self._token = None
            response = await self._send(method, path, body, await self._access_token())
        if response.is_success or (exists_ok and response.status_code == 409):
            return
        raise GoogleWalletError(
            f"Google Wallet {what}: HTTP {response.status_code}",
            status=response.status_code,
            retryable=response.status_code >= 500 or response.status_code == 429,
        )

    async def _send(
        self, method: str, path: str, body: Mapping[str, Any], token: str
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method, self.api + path, json=body, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise GoogleWalletError(
                f"Google Wallet unreachable ({type(exc).__name__})", retryable=True
            ) from None

    async def _access_token(self) -> str:
        """The cached access token, fetched anew shortly before it expires."""
        async with self._token_lock:
            if self._token is None or self._token.expires_ms <= self.clock():
                self._token = await self._fetch_token()
            return self._token.value

    async def _fetch_token(self) -> _Token:
        """The service account's JWT-bearer grant for the Wallet scope."""
        now_s = self.clock() // 1000
        assertion = self.account.sign(
            {
                "iss": self.account.client_email,
                "scope": SCOPE,
                "aud": self.account.token_uri,
                "iat": now_s,
                "exp": now_s + ASSERTION_LIFETIME_S,
            }
        )
        data = {"grant_type": JWT_BEARER, "assertion": assertion}
        try:
            response = await self._http.post(self.account.token_uri, data=data)
        except httpx.HTTPError as exc:
            raise GoogleWalletError(
                f"Google OAuth unreachable ({type(exc).__name__})", retryable=True
            ) from None
        if not response.is_success:
            raise GoogleWalletError(
                f"Google OAuth token: HTTP {response.status_code}",
                status=response.status_code,
                retryable=response.status_code >= 500,
            )
        grant = response.json()
        lifetime_s = max(int(grant.get("expires_in", 0)) - TOKEN_MARGIN_S, 0)
        return _Token(grant["access_token"], self.clock() + lifetime_s * 1000)


def _progress(view: PassView) -> str:
    """The card page's progress line (``common.js``): 3 of 10 points — 7 more for a coffee."""
    lang = view.lang
    if view.reward_ready:
        return translate_plural(lang, PLURALS["progress_ready"], view.points).format(
            reward=view.reward
        )
    return translate_plural(lang, PLURALS["progress"], view.points_needed).format(
        points=number(view.points, lang),
        more=number(view.points_needed - view.points, lang),
        reward=view.reward,
    )


def _message(view: PassView, body: str, at_ms: int, *, notify: bool) -> dict[str, Any]:
    """An AddMessageRequest: ``body`` under the business's name."""
    kind = "TEXT_AND_NOTIFY" if notify else "TEXT"
    return {
        "message": {"id": f"ult-{at_ms}", "header": view.biz, "body": body, "messageType": kind}
    }


def _localized(name: str) -> dict[str, Any]:
    """Google's LocalizedString of pass text ``name``: English and every catalog language."""
    return {
        "defaultValue": {"language": DEFAULT, "value": pass_text(DEFAULT, name)},
        "translatedValues": [
            {"language": lang, "value": pass_text(lang, name)}
            for lang in LANGUAGES
            if lang != DEFAULT
        ],
    }


@cache
def _brand() -> tuple[str, str]:
    """(theme colour, path of the largest plain icon) of the app's web manifest."""
    manifest = json.loads((resources.files("ult") / MANIFEST).read_text(encoding="utf-8"))
    icons = [icon for icon in manifest["icons"] if icon.get("purpose", "any") == "any"]
    largest = max(icons, key=lambda icon: int(icon["sizes"].split("x")[0]))
    return manifest["theme_color"], largest["src"]
