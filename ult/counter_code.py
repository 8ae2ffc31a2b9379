"""Rotating counter codes: a QR on a screen at the counter whose token changes
every 30 seconds, so a photo of it taken home earns nothing.

The token is an HMAC of the sponsor id and the 30-second window under the sponsor's secret;
the current and the previous window are accepted (a grace for a slow scan).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

WINDOW_S = 30
TOKEN_CHARS = 16


def token(secret: str, sid: str, window: int) -> str:
    """The token of one window."""
    digest = hmac.new(secret.encode(), f"{sid}:{window}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:TOKEN_CHARS]


def window_at(now_s: float) -> int:
    return int(now_s // WINDOW_S)


def current_code(secret: str, sid: str, now_s: float | None = None) -> str:
    """The code to show on the counter screen now."""
    return token(secret, sid, window_at(time.time() if now_s is None else now_s))


def seconds_left(now_s: float | None = None) -> float:
    """Seconds until the code shown now changes."""
    now_s = time.time() if now_s is None else now_s
    return WINDOW_S - (now_s % WINDOW_S)


def check(secret: str, sid: str, code: str | None, now_s: float | None = None) -> str:
    """``'none'`` without a code, ``'ok'`` for the current or previous window, else ``'bad'``."""
    if not code:
        return "none"
    window = window_at(time.time() if now_s is None else now_s)
    for w in (window, window - 1):
        if hmac.compare_digest(token(secret, sid, w), code):
            return "ok"
    return "bad"
