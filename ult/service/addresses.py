"""The client of an ASGI request or a Socket.IO connection, for the per-address limits
(:mod:`ult.addresses`)."""

from __future__ import annotations

from ult.addresses import TrustedProxies


def scope_client(scope: dict, trusted: TrustedProxies) -> str:
    """The client's limit key for an ASGI scope or a python-socketio environ."""
    if "asgi.scope" in scope:  # python-socketio's environ wraps the ASGI scope
        scope = scope["asgi.scope"]
    peer = (scope.get("client") or (None,))[0]
    forwarded = [
        v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"
    ]
    return trusted.client(peer, forwarded)
