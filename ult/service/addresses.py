"""Who is the client: its address as seen directly or through a trusted reverse proxy.

An address is personal data: it only ever lives in this process's memory (as a key of the
bounded maps in :mod:`ult.service.ratelimit`), never in Redis, logs or files. For IPv6 "an
address" is its /64 prefix: one phone or one home holds a whole /64.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

UNKNOWN = "unknown"
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def address_key(text: str | None) -> str:
    """The limit key of an address: IPv4 as is, IPv6 as its /64 network."""
    ip = _ip(text or "")
    if ip is None:
        return UNKNOWN
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class TrustedProxies:
    """The reverse proxies whose ``X-Forwarded-For`` is believed (``ULT_TRUSTED_PROXIES``)."""

    def __init__(self, spec: str = "") -> None:
        self.networks: list[IPNetwork] = []
        for part in spec.replace(" ", ",").split(","):
            if part:
                self.networks.append(ipaddress.ip_network(part.strip(), strict=False))

    def __contains__(self, text: str | None) -> bool:
        ip = _ip(text or "")
        return ip is not None and any(ip in net for net in self.networks)

    def client(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> str:
        """The client's limit key. ``forwarded_for``: the ``X-Forwarded-For`` header values.

        Only a trusted peer's header counts, read from the right: each proxy appends the
        address it saw, so the first untrusted hop is the client (what it wrote itself to the
        left of that is forged or irrelevant).
        """
        if peer not in self:
            return address_key(peer)
        hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            if hop not in self:
                return address_key(hop)
        return address_key(hops[0] if hops else peer)


def scope_client(scope: dict, trusted: TrustedProxies) -> str:
    """The client's limit key for an ASGI scope or a python-socketio environ."""
    if "asgi.scope" in scope:  # python-socketio's environ wraps the ASGI scope
        scope = scope["asgi.scope"]
    peer = (scope.get("client") or (None,))[0]
    forwarded = [
        v.decode("latin-1") for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"
    ]
    return trusted.client(peer, forwarded)
