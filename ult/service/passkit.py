"""Apple Wallet's web service (Apple's "Adding a Web Service to Update Passes") and the
one-time pass download, as Starlette routes (docs/wallet.md).

Under ``/passkit/v1/``: a device registers for a pass's pushes and unregisters, asks which of
its passes changed since an update tag, fetches a pass, and sends log lines. Calls about one
pass carry ``Authorization: ApplePass <authenticationToken>``; a wrong token and an unknown
serial get the same 401, so the answers never tell which serials exist.

A pass's update tag is a whole second (``ult.wallet.registry``: every change moves it on by at
least one): it is the pass's ``Last-Modified``, ``If-Modified-Since`` at or after it answers
304, and it is the ``passesUpdatedSince`` / ``lastUpdated`` tag.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ult import ops
from ult.connection import AsyncClient
from ult.errors import UltError
from ult.validation import MAX_PAYLOAD_BYTES
from ult.wallet import registry
from ult.wallet.apple import MEDIA_TYPE, AppleConfig, pkpass
from ult.wallet.registry import WalletPass
from ult.wallet.source import aview

log = logging.getLogger("ult.passkit")

NO_STORE = {"Cache-Control": "no-store"}
PASS_TYPE = re.compile(r"[A-Za-z0-9.-]{1,128}")
MAX_LOG_LINES = 20  # of one POST /log
MAX_LOG_CHARS = 300  # of one line
# what looks like a token, a serial or an identifier in a device's log line: never logged
SECRETISH = re.compile(r"[A-Za-z0-9_.-]{16,}")
AUTH_SCHEME = "ApplePass "


class BadRequest(Exception):
    """A body that is too large or not the JSON asked for: 400."""


class PassKit:
    """The routes, reading and writing the registry through ``r``."""

    def __init__(self, r: AsyncClient, apple: AppleConfig) -> None:
        self.r, self.apple = r, apple

    def routes(self) -> list[Route]:
        device = "/passkit/v1/devices/{device}/registrations/{pass_type}"
        return [
            Route("/pass/{token}", self.download),
            Route(device + "/{serial}", self.registration, methods=["POST", "DELETE"]),
            Route(device, self.updated_serials),
            Route("/passkit/v1/passes/{pass_type}/{serial}", self.latest),
            Route("/passkit/v1/log", self.device_log, methods=["POST"]),
        ]

    # ---- the one-time download --------------------------------------------------------

    async def download(self, request: Request) -> Response:
        """``GET /pass/<token>``: the pass the ``pass`` event made, once."""
        token = request.path_params["token"]
        if not registry.DOWNLOAD_TOKEN.fullmatch(token):
            return Response(status_code=404, headers=NO_STORE)
        serial = await ops.arun(self.r, registry.take_download(token))
        p = await ops.arun(self.r, registry.get_pass(serial)) if serial else None
        if p is None:
            return Response(status_code=404, headers=NO_STORE)
        return await self.pass_response(p)

    # ---- the web service --------------------------------------------------------------

    async def registration(self, request: Request) -> Response:
        """Register (POST, body ``{"pushToken"}``: 201 new, 200 known) or unregister (DELETE:
        200) a device for a pass's pushes; 401 for a wrong token or an unknown pass."""
        device = request.path_params["device"]
        p = await self.authorized(request)
        if p is None or not registry.DEVICE.fullmatch(device):
            return _status(401)
        if request.method == "DELETE":
            await ops.arun(self.r, registry.unregister_device(p, device))
            await ops.arun(self.r, registry.unfollow(device, p.serial))
            return _status(200)
        try:
            token = (await _json_body(request)).get("pushToken")
        except BadRequest:
            return _status(400)
        if not isinstance(token, str) or not registry.PUSH_TOKEN.fullmatch(token):
            return _status(400)
        done = await ops.arun(self.r, registry.register_device(p, device, token))
        if done == -2:
            return _status(401)
        if done == -1:  # the pass has its devices already: refused, Redis stays bounded
            return _status(403)
        await ops.arun(self.r, registry.follow(device, p.serial))
        return _status(201 if done == 1 else 200)

    async def updated_serials(self, request: Request) -> Response:
        """``{"serialNumbers", "lastUpdated"}``: the device's passes changed after
        ``passesUpdatedSince`` (all of them without it); 204 when none."""
        device = request.path_params["device"]
        if not (registry.DEVICE.fullmatch(device) and self.our_type(request)):
            return _status(204)
        since_text = request.query_params.get("passesUpdatedSince", "0")
        since = int(since_text) if since_text.isdigit() and len(since_text) < 16 else 0
        changed: dict[str, int] = {}
        for serial in await ops.arun(self.r, registry.device_serials(device)):
            p = await ops.arun(self.r, registry.get_pass(serial))
            if p is None:  # expired or dropped: the device no longer follows it
                await ops.arun(self.r, registry.unfollow(device, serial))
            elif p.tag > since:
                changed[serial] = p.tag
        if not changed:
            return _status(204)
        body = {"serialNumbers": sorted(changed), "lastUpdated": str(max(changed.values()))}
        return JSONResponse(body, headers=NO_STORE)

    async def latest(self, request: Request) -> Response:
        """The pass as it is now; 304 when ``If-Modified-Since`` is at or after its tag."""
        p = await self.authorized(request)
        if p is None:
            return _status(401)
        since = _http_time(request.headers.get("if-modified-since"))
        if since is not None and since >= p.tag:
            return Response(status_code=304, headers=_modified(p))
        return await self.pass_response(p)

    async def device_log(self, request: Request) -> Response:
        """Log lines a device sends about our passes: bounded, tokens cut out."""
        try:
            lines = (await _json_body(request)).get("logs")
        except BadRequest:
            return _status(400)
        if not isinstance(lines, list):
            return _status(400)
        for line in lines[:MAX_LOG_LINES]:
            if isinstance(line, str):
                log.info("device: %s", SECRETISH.sub("…", line[:MAX_LOG_CHARS]))
        return _status(200)

    # ---- what the routes share --------------------------------------------------------

    def our_type(self, request: Request) -> bool:
        pass_type = request.path_params["pass_type"]
        return bool(PASS_TYPE.fullmatch(pass_type)) and pass_type == self.apple.pass_type_id

    async def authorized(self, request: Request) -> WalletPass | None:
        """The path's Apple pass when the request carries its token, else None."""
        serial = request.path_params["serial"]
        header = request.headers.get("authorization", "")
        if not (self.our_type(request) and registry.sid_of(serial)):
            return None
        if not header.startswith(AUTH_SCHEME):
            return None
        p = await ops.arun(self.r, registry.get_pass(serial))
        if p is None or p.kind != "apple":
            return None
        return p if p.authorized(header[len(AUTH_SCHEME) :].strip()) else None

    async def pass_response(self, p: WalletPass) -> Response:
        """The signed pass ``p`` now (404 when its business left ULT)."""
        try:
            view = await aview(self.r, p, self.apple.public_url)
        except UltError:
            return Response(status_code=404, headers=NO_STORE)
        await ops.arun(self.r, registry.keep(p))
        body = pkpass(view, self.apple, p.auth)
        return Response(body, media_type=MEDIA_TYPE, headers={**NO_STORE, **_modified(p)})


def _status(code: int) -> Response:
    return Response(status_code=code, headers=NO_STORE)


def _modified(p: WalletPass) -> dict[str, str]:
    return {"Last-Modified": email.utils.formatdate(p.tag, usegmt=True)}


def _http_time(value: str | None) -> int | None:
    """An HTTP date as whole seconds since the epoch (None: absent or not a date)."""
    if not value or len(value) > 64:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError):
        return None


async def _json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, read to :data:`MAX_PAYLOAD_BYTES` at most."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_PAYLOAD_BYTES:
            raise BadRequest
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest from None
    if not isinstance(data, dict):
        raise BadRequest
    return data
