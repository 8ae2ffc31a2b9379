"""Apple Wallet passes: a card as a signed ``.pkpass`` (docs/wallet.md).

A ``.pkpass`` is a zip of ``pass.json``, its images, ``manifest.json`` (the SHA-1 of every
file) and ``signature`` (``ult.wallet.pkcs7``). The pass names this service's PassKit web
service (``ult.service.passkit``), where the phone registers for updates and fetches the
pass again after each push (``ult.wallet.push``).
"""

from __future__ import annotations

import hashlib
import io
import json
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.hazmat.primitives.serialization.pkcs7 import PKCS7PrivateKeyTypes

from ult.errors import UltError
from ult.i18n import number
from ult.settings import Settings
from ult.wallet.pkcs7 import sign_manifest
from ult.wallet.view import PassView
from ult.wallet.words import pass_text

MEDIA_TYPE = "application/vnd.apple.pkpass"
WEB_SERVICE_PATH = "/passkit"  # the pass's webServiceURL: {ULT_PUBLIC_URL}/passkit
IMAGE_SIZES = {"icon.png": 29, "icon@2x.png": 58, "icon@3x.png": 87, "logo.png": 50}
ICON_COLOR = (17, 24, 39)  # the pass's foregroundColor, below
LETTER_COLOR = (255, 255, 255)
LETTER_SCALE = 0.6  # the letter's height, as a share of the icon's side
ICONS_CACHED = 64  # businesses' initials whose images are kept drawn
COLORS = {
    "backgroundColor": "rgb(255, 255, 255)",
    "foregroundColor": f"rgb{ICON_COLOR}",
    "labelColor": "rgb(75, 85, 99)",
}


@dataclass(frozen=True)
class AppleConfig:
    """The Pass Type ID and its certificates: Apple passes are on only with all of them."""

    pass_type_id: str
    team_id: str
    cert: x509.Certificate
    key: PKCS7PrivateKeyTypes
    wwdr: x509.Certificate
    cert_file: str  # the same certificate and key authenticate the service to APNs
    key_file: str
    apns_url: str
    public_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> AppleConfig | None:
        """The configuration of ``settings``, or None when any ULT_APPLE_* is unset."""
        s = settings
        if not s.apple_wallet_on:
            return None
        assert s.apple_pass_type_id and s.apple_team_id and s.apple_pass_cert and s.apple_pass_key
        assert s.apple_wwdr_cert
        key = load_pem_private_key(_read(s.apple_pass_key, "ULT_APPLE_PASS_KEY"), password=None)
        return cls(
            pass_type_id=s.apple_pass_type_id,
            team_id=s.apple_team_id,
            cert=x509.load_pem_x509_certificate(_read(s.apple_pass_cert, "ULT_APPLE_PASS_CERT")),
            key=key,  # type: ignore[arg-type]  # a pass key is RSA or EC, checked by signing
            wwdr=x509.load_pem_x509_certificate(_read(s.apple_wwdr_cert, "ULT_APPLE_WWDR_CERT")),
            cert_file=s.apple_pass_cert,
            key_file=s.apple_pass_key,
            apns_url=s.apns_url.rstrip("/"),
            public_url=s.public_url.rstrip("/"),
        )

    @property
    def web_service_url(self) -> str:
        return self.public_url + WEB_SERVICE_PATH


def _read(path: str, env: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise UltError("bad_setting", f"{env}: cannot read {path} ({e.strerror}).") from None


def pass_json(view: PassView, config: AppleConfig, auth: str) -> dict[str, Any]:
    """The ``pass.json`` of ``view`` (``auth``: the pass's authenticationToken)."""
    lang = view.lang
    data: dict[str, Any] = {
        "formatVersion": 1,
        "passTypeIdentifier": config.pass_type_id,
        "teamIdentifier": config.team_id,
        "serialNumber": view.serial,
        "authenticationToken": auth,
        "webServiceURL": config.web_service_url,
        "organizationName": view.biz,
        "description": pass_text(lang, "description", biz=view.biz),
        "logoText": view.biz,
        **COLORS,
        "storeCard": card_fields(view),
    }
    if view.latitude is not None and view.longitude is not None:
        data["locations"] = [
            {
                "latitude": view.latitude,
                "longitude": view.longitude,
                "relevantText": pass_text(lang, "nearby", biz=view.biz),
            }
        ]
    return data


def card_fields(view: PassView) -> dict[str, list[dict[str, Any]]]:
    """The ``storeCard`` fields: points up front, visits and progress, the reward (and an
    open voucher), and on the back the card's page and what the pass does not hold."""
    lang = view.lang

    def field(key: str, label: str, value: Any, **extra: Any) -> dict[str, Any]:
        return {"key": key, "label": pass_text(lang, label), "value": value, **extra}

    ready = view.reward_ready
    reward = pass_text(lang, "reward_ready", reward=view.reward) if ready else view.reward
    progress = f"{number(min(view.points, view.points_needed), lang)} / "
    progress += number(view.points_needed, lang)
    auxiliary = [field("reward", "reward", reward, changeMessage="%@")]
    if view.voucher_code:
        auxiliary.append(
            field("voucher", "voucher", view.voucher_code, changeMessage=_text(lang, "voucher"))
        )
    if view.voucher_code and view.voucher_expires_ms:
        until = datetime.fromtimestamp(view.voucher_expires_ms / 1000, UTC)
        auxiliary.append(
            field(
                "voucher_until",
                "voucher_until",
                until.isoformat(timespec="seconds").replace("+00:00", "Z"),
                dateStyle="PKDateStyleShort",
                timeStyle="PKDateStyleShort",
            )
        )
    return {
        "primaryFields": [
            field("points", "points", view.points, changeMessage=_text(lang, "points"))
        ],
        "secondaryFields": [
            field("visits", "visits", view.visits, changeMessage=_text(lang, "visits")),
            field("progress", "progress", progress),
        ],
        "auxiliaryFields": auxiliary,
        "backFields": [
            field("card", "card_link", view.card_url),
            field("privacy", "privacy", pass_text(lang, "privacy_text")),
        ],
    }


def _text(lang: str, name: str) -> str:
    return pass_text(lang, f"{name}_changed")


def initial(biz: str) -> str:
    """The letter a pass's icon shows for business ``biz``: its first letter or digit,
    without accents ("Öst" → "O"); "" when it has none in ASCII (the icon's font has no
    other glyphs)."""
    for ch in unicodedata.normalize("NFKD", biz):
        if ch.isascii() and ch.isalnum():
            return ch.upper()
    return ""


@lru_cache(maxsize=ICONS_CACHED)
def images(letter: str) -> dict[str, bytes]:
    """The pass's PNG images: a square in the pass's text colour with ``letter`` on it, drawn
    at each size (the core has no picture of the business, and reads none of the service's
    files)."""
    from PIL import Image, ImageDraw, ImageFont

    made = {}
    for name, size in IMAGE_SIZES.items():
        icon = Image.new("RGB", (size, size), ICON_COLOR)
        if letter:
            font = ImageFont.load_default(size * LETTER_SCALE)
            centre = (size / 2, size / 2)
            ImageDraw.Draw(icon).text(centre, letter, fill=LETTER_COLOR, font=font, anchor="mm")
        out = io.BytesIO()
        icon.save(out, "PNG", optimize=True)
        made[name] = out.getvalue()
    return made


def pkpass(view: PassView, config: AppleConfig, auth: str) -> bytes:
    """The signed ``.pkpass`` of ``view``."""
    files = {"pass.json": json.dumps(pass_json(view, config, auth), ensure_ascii=False).encode()}
    files |= images(initial(view.biz))
    manifest = json.dumps(
        {name: hashlib.sha1(body).hexdigest() for name, body in files.items()}, sort_keys=True
    ).encode()
    files["manifest.json"] = manifest
    files["signature"] = sign_manifest(manifest, config.cert, config.key, config.wwdr)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, body in files.items():
            z.writestr(name, body)
    return out.getvalue()
