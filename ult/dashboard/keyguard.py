"""Owner keys checked by dashboard pages, through one guessing guard in the Voilà server.

Every dashboard page is its own kernel process, and a page reloaded is a new kernel: a guard
kept in a kernel would start afresh with every page. So the guard (:class:`ult.guesses.KeyGuard`,
the scan service's too) lives in the Voilà server process, which knows the client address of
each page (:meth:`PageLedger.key_of`); a kernel asks it before and after each key check:

    kernel --POST /ult/keys {"kernel", "sid", "what"}, signed--> Voilà server
    "check" → {"wait": seconds}   "failure" → {}   "proved" → {"pass": cookie value}

A request is signed (HMAC-SHA256) with the kernel's own Jupyter session key, which only that
kernel and the server know, so neither a browser nor another kernel can speak for a page.
Addresses stay in the server's memory; the kernel never learns its page's address.

A page whose owner key was accepted gets a *pass* (``"proved"``): the business id signed with
a secret of this server process, which the page keeps in a cookie. A browser with a pass is
admitted from the pages reserved for sponsors (:class:`~ult.dashboard.kernels.PageLedger`).
The pass names a business, never a person or an address.

Outside Voilà (a notebook in JupyterLab, the tests) the page keeps a :class:`LocalGuard`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from tornado.web import RequestHandler

from ult import ops
from ult.connection import Client
from ult.errors import UltError
from ult.guesses import KeyGuard, too_many_attempts
from ult.sponsors import count_key_failure
from ult.validation import check_field

T = TypeVar("T")

GUARD_URL_ENV = "ULT_DASHBOARD_KEY_GUARD_URL"  # set by launch.voila_command for the kernels
GUARD_PATH = "/ult/keys"
SIGNATURE = "X-Ult-Signature"
PASS_COOKIE = "ult_pass"
PASS_DAYS = 365
_ACTIONS = ("check", "failure", "proved")


def sign(key: bytes, body: bytes) -> str:
    """The signature of ``body`` under a kernel's session key."""
    return hmac.new(key, body, hashlib.sha256).hexdigest()


class PassSigner:
    """Passes (cookie values) proving that a browser holds a business's owner key."""

    def __init__(self, secret: bytes | None = None) -> None:
        self._secret = secret or secrets.token_bytes(32)

    def issue(self, sid: str) -> str:
        """The pass of ``sid``: the sid and its signature."""
        return f"{sid}.{self._mac(sid)}"

    def valid(self, value: str | None) -> bool:
        """Whether ``value`` is a pass this server issued."""
        sid, _, mac = (value or "").rpartition(".")
        if not re.fullmatch(r"[a-z0-9-]{3,64}", sid):
            return False
        return hmac.compare_digest(mac, self._mac(sid))

    def _mac(self, sid: str) -> str:
        return hmac.new(self._secret, sid.encode(), hashlib.sha256).hexdigest()[:32]


# ---- the Voilà server's side ---------------------------------------------------------------


class KeyGuardHandler(RequestHandler):
    """``POST /ult/keys``: a kernel asks the guard about a key check of its page."""

    def check_xsrf_cookie(self) -> None:
        """No cookie: the request is signed with the kernel's session key instead."""

    def post(self) -> None:
        manager = self.settings["kernel_manager"]
        try:
            msg = json.loads(self.request.body)
            kernel_id, what = str(msg["kernel"]), msg["what"]
            sid = check_field("sid", msg["sid"])
        except (ValueError, KeyError, TypeError, UltError):
            self.send_error(400)
            return
        if what not in _ACTIONS or kernel_id not in manager:
            self.send_error(403)
            return
        key = manager.get_kernel(kernel_id).session.key
        if not hmac.compare_digest(
            sign(key, self.request.body), self.request.headers.get(SIGNATURE, "")
        ):
            self.send_error(403)
            return
        self.finish(answer(manager, kernel_id, sid, what))


def answer(manager: Any, kernel_id: str, sid: str, what: str) -> dict[str, Any]:
    """What the guard says to ``kernel_id`` about a key check for ``sid``."""
    guard: KeyGuard = manager.key_guard
    address = manager.ledger.key_of(kernel_id) or kernel_id  # a page not handed out yet
    if what == "check":
        return {"wait": guard.wait_s(address, sid, kernel_id)}
    if what == "failure":
        guard.failure(address, sid)
        return {}
    guard.proved(kernel_id, sid)
    return {"pass": manager.passes.issue(sid)}


# ---- the kernel's side -----------------------------------------------------------------------


class Guard(Protocol):
    """What a page asks about its key checks."""

    def wait_s(self, sid: str) -> int: ...

    def failure(self, sid: str) -> None: ...

    def proved(self, sid: str) -> str: ...


class LocalGuard:
    """A guard of this process alone (outside Voilà): the page counts as one address."""

    def __init__(self, per_minute: int) -> None:
        self.guard = KeyGuard(per_minute)

    def wait_s(self, sid: str) -> int:
        return self.guard.wait_s("this page", sid)

    def failure(self, sid: str) -> None:
        self.guard.failure("this page", sid)

    def proved(self, sid: str) -> str:
        return ""


class ServerGuard:
    """The Voilà server's guard, asked over HTTP with requests signed by this kernel."""

    def __init__(self, url: str, kernel_id: str, session_key: bytes) -> None:
        self.url, self.kernel_id, self.key = url, kernel_id, session_key

    def wait_s(self, sid: str) -> int:
        return int(self._ask(sid, "check").get("wait", 0))

    def failure(self, sid: str) -> None:
        self._ask(sid, "failure")

    def proved(self, sid: str) -> str:
        return str(self._ask(sid, "proved").get("pass", ""))

    def _ask(self, sid: str, what: str) -> dict[str, Any]:
        body = json.dumps({"kernel": self.kernel_id, "sid": sid, "what": what}).encode()
        headers = {"Content-Type": "application/json", SIGNATURE: sign(self.key, body)}
        request = urllib.request.Request(self.url, body, headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.loads(response.read() or b"{}")
        except OSError:  # the server that serves this page: refuse rather than guess unguarded
            raise UltError(
                "server_error", "The dashboard could not check the key; try again."
            ) from None


def page_guard(per_minute: int) -> Guard:
    """The guard of this page: the Voilà server's when this kernel runs under it."""
    url = os.environ.get(GUARD_URL_ENV, "")
    # only when this process is a kernel: importing ipykernel elsewhere swaps the comm manager
    kernelapp = sys.modules.get("ipykernel.kernelapp")
    IPKernelApp = getattr(kernelapp, "IPKernelApp", None)
    if not url or IPKernelApp is None or not IPKernelApp.initialized():
        return LocalGuard(per_minute)
    app = IPKernelApp.instance()
    kernel_id = Path(app.connection_file).stem.removeprefix("kernel-")
    return ServerGuard(url, kernel_id, app.session.key)


class KeyChecks:
    """Every owner-key check of one page: guarded, and each wrong key counted for its owner."""

    def __init__(self, redis: Callable[[], Client], guard: Guard) -> None:
        self.redis = redis
        self.guard = guard
        self.on_pass: Callable[[str], None] = lambda _value: None

    def checked(self, sid: str, op: ops.Op[T]) -> T:
        """Run ``op``, which checks a key for ``sid``; ``too_many_attempts`` when guessing."""
        wait = self.guard.wait_s(sid)
        if wait:
            raise too_many_attempts(wait)
        try:
            return ops.run(self.redis(), op)
        except UltError as e:
            if e.code == "unauthorized":
                self.guard.failure(sid)
                ops.run(self.redis(), count_key_failure(sid))
            raise

    def owner(self, sid: str, op: ops.Op[T]) -> T:
        """:meth:`checked` for the owner key: once accepted, the browser gets its pass."""
        found = self.checked(sid, op)
        value = self.guard.proved(sid)
        if value:
            self.on_pass(value)
        return found
