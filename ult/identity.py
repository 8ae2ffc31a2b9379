"""Anonymous identities: card ids, owner keys, sponsor ids.

The server never stores a customer's key, only ``cid = sha256(key)`` (its first 128 bits,
hex): enough to tell cards apart, useless for spending their points.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata

CID_HEX_CHARS = 32
SHORT_CID_CHARS = 12


def card_id(key: str) -> str:
    """The stored identity of a customer card: the first 128 bits of sha256(key), hex."""
    return hashlib.sha256(key.encode()).hexdigest()[:CID_HEX_CHARS]


def short_cid(cid: str) -> str:
    """The form shown to sponsors and analysts."""
    return cid[:SHORT_CID_CHARS]


def new_secret() -> str:
    """256 random bits, base64url without padding (43 characters)."""
    return secrets.token_urlsafe(32)


def hash_owner_key(owner_key: str) -> str:
    return hashlib.sha256(b"ult-owner:" + owner_key.encode()).hexdigest()


def hash_staff_key(staff_key: str) -> str:
    """The stored form of a staff key (another prefix: a staff key never passes as an owner's)."""
    return hashlib.sha256(b"ult-staff:" + staff_key.encode()).hexdigest()


def owner_key_matches(owner_key: str, stored_hash: str | None) -> bool:
    """Constant-time check of an owner key against its stored hash."""
    if not stored_hash:
        return False
    return hmac.compare_digest(hash_owner_key(owner_key), stored_hash)


def slugify(name: str, max_len: int = 40) -> str:
    """``"Fika Sisters & Co."`` → ``"fika-sisters-co"``; non-Latin names fall back to "biz"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    slug = slug[:max_len].rstrip("-")
    return slug or "biz"


def make_sid(name: str, place_id: str, hash_chars: int = 4) -> str:
    """Readable, stable sponsor id: slug of the name plus a short hash of the place_id."""
    digest = hashlib.sha256(place_id.encode()).hexdigest()[:hash_chars]
    return f"{slugify(name)}-{digest}"
