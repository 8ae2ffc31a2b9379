"""A local stand-in for Google's OAuth token endpoint and the Wallet REST API (loyalty classes
and objects), and a test service account whose key file points at it.

It checks what Google checks: the token request's assertion is signed by the service account's
key for the Wallet scope, and every API call carries a token it issued. Inserting an id twice
answers 409. Tests read what it received and script its failures.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

from ult.clock import now_ms
from ult.wallet.google import API_PATH, JWT_BEARER, NOTIFY_LIMIT, NOTIFY_WINDOW_MS, SCOPE

TOKEN_PATH = "/token"
MAX_ASSERTION_S = 3600  # Google takes assertions valid for an hour at most
ASSERTION_LEEWAY_S = 60  # ... and signed at most this far in its future


def new_rsa_key() -> RSAPrivateKey:
    """A fresh 2048-bit RSA key, as Google gives service accounts."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def write_service_account(path: Path, key: RSAPrivateKey, token_uri: str) -> dict[str, str]:
    """Write a service-account JSON key file (Google's fields) for ``key``; returns its data."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    data = {
        "type": "service_account",
        "project_id": "ult-test",
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": "wallet@ult-test.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return data


@dataclass
class GoogleStub:
    """What the stand-in holds and has seen. ``url`` is its base (the API root and the
    token endpoint's host)."""

    public_key: RSAPublicKey
    url: str = ""
    expires_in: int = 3600
    clock: Callable[[], int] = now_ms  # its time (ms), which a test may share with ULT's
    tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, API path)
    classes: dict[str, dict] = field(default_factory=dict)
    objects: dict[str, dict] = field(default_factory=dict)
    patches: list[tuple[str, dict]] = field(default_factory=list)
    notified: dict[str, list[int]] = field(default_factory=dict)  # object → push times
    faults: deque[int] = field(default_factory=deque)  # statuses for the next API calls
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def token_uri(self) -> str:
        return self.url + TOKEN_PATH

    def count(self, method: str, resource: str) -> int:
        """API calls of ``method`` on ``resource`` (``loyaltyClass``, ``loyaltyObject``)."""
        prefix = f"{API_PATH}/{resource}"
        return sum(1 for m, path in self.requests if m == method and path.startswith(prefix))

    def revoke_tokens(self) -> None:
        """Forget every access token issued (the next API call answers 401)."""
        with self.lock:
            self.tokens.clear()

    def fail_next(self, *statuses: int) -> None:
        """Answer the next API calls with these statuses instead of serving them."""
        with self.lock:
            self.faults.extend(statuses)

    # ---- served by the handler ---------------------------------------------------------

    def grant(self, form: dict[str, list[str]]) -> tuple[int, dict]:
        self.token_requests += 1
        if form.get("grant_type") != [JWT_BEARER]:
            return 400, {"error": "unsupported_grant_type"}
        try:
            claims = jwt.decode(
                form.get("assertion", [""])[0],
                self.public_key,
                algorithms=["RS256"],
                audience=self.token_uri,
                # the times are checked below, against the stub's clock
                options={
                    "require": ["iss", "aud", "iat", "exp"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as exc:
            return 400, {"error": "invalid_grant", "error_description": str(exc)}
        now_s = self.clock() // 1000
        iat, exp = claims["iat"], claims["exp"]
        if not iat - ASSERTION_LEEWAY_S <= now_s < exp <= iat + MAX_ASSERTION_S:
            return 400, {"error": "invalid_grant", "error_description": "bad iat/exp"}
        if claims.get("scope") != SCOPE:
            return 400, {"error": "invalid_scope"}
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return 200, {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}

    def api(self, method: str, path: str, auth: str, body: Any) -> tuple[int, dict]:
        self.requests.append((method, path))
        if self.faults:
            return self.faults.popleft(), {"error": {"message": "scripted failure"}}
        if auth.removeprefix("Bearer ") not in self.tokens:
            return 401, {"error": {"code": 401, "message": "invalid credentials"}}
        parts = path.removeprefix(API_PATH + "/").split("/")
        store = {"loyaltyClass": self.classes, "loyaltyObject": self.objects}.get(parts[0])
        if store is None or not isinstance(body, dict) and method != "GET":
            return 404, {"error": {"message": "not found"}}
        if method == "POST" and len(parts) == 1:
            if body.get("id") in store:
                return 409, {"error": {"code": 409, "message": "already exists"}}
            store[body["id"]] = body
            return 200, body
        found = store.get(parts[1]) if len(parts) > 1 else None
        if found is None:
            return 404, {"error": {"message": "not found"}}
        if method == "GET" and len(parts) == 2:
            return 200, found
        if method == "PATCH" and len(parts) == 2:
            self.patches.append((parts[1], body))
            found.update(body)
            return 200, found
        if method == "POST" and parts[2:] == ["addMessage"]:
            if body["message"].get("messageType") == "TEXT_AND_NOTIFY" and not self._notify(
                parts[1]
            ):
                return 429, {"error": {"code": 429, "message": "QuotaExceededException"}}
            found.setdefault("messages", []).append(body["message"])
            return 200, {"resource": found}
        return 404, {"error": {"message": "not found"}}

    def _notify(self, oid: str) -> bool:
        """Google's own count: 3 pushes per pass in 24 hours."""
        now = self.clock()
        recent = [t for t in self.notified.get(oid, []) if t > now - NOTIFY_WINDOW_MS]
        self.notified[oid] = recent + [now] if len(recent) < NOTIFY_LIMIT else recent
        return len(recent) < NOTIFY_LIMIT


def _handler(stub: GoogleStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            with stub.lock:
                if self.path == TOKEN_PATH and method == "POST":
                    status, body = stub.grant(parse_qs(raw))
                else:
                    payload = json.loads(raw) if raw else None
                    auth = self.headers.get("Authorization", "")
                    status, body = stub.api(method, self.path, auth, payload)
            self._answer(status, body)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def do_PATCH(self) -> None:  # noqa: N802
            self._serve("PATCH")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: the tests read what it recorded

    return Handler


@contextmanager
def running_google_stub(public_key: RSAPublicKey) -> Iterator[GoogleStub]:
    """The stand-in on 127.0.0.1, a free port, trusting tokens signed by ``public_key``."""
    stub = GoogleStub(public_key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    stub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
