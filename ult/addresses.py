"""Who is asking: the client address a request is counted against, for the per-address limits
of the scan service and the dashboard.

The address is the TCP peer, unless that peer is a trusted reverse proxy
(``ULT_TRUSTED_PROXIES``): then it is the last address in ``X-Forwarded-For`` that is not
itself a trusted proxy. Anyone can write the header; only the proxies' own additions, at its
right end, are believed. An IPv6 client counts as its /64 prefix, since one phone or home holds
a whole /64.

An address is personal data: it only ever lives in process memory (as a key of the limits'
bounded maps), never in Redis, logs or files.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

UNKNOWN = "unknown"
IPV6_PREFIX = 64
IP = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str | None) -> IP | None:
    try:
        ip = ipaddress.ip_address((text or "").strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _key(ip: IP) -> str:
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((ip, IPV6_PREFIX), strict=False))
    return str(ip)


def address_key(text: str | None) -> str:
    """The limit key of an address: IPv4 as is, IPv6 as its /64 network."""
    ip = _ip(text)
    return UNKNOWN if ip is None else _key(ip)


class TrustedProxies:
    """The reverse proxies whose ``X-Forwarded-For`` is believed.

    ``spec``: addresses or CIDRs separated by commas or spaces; ValueError names a bad one.
    """

    def __init__(self, spec: str = "") -> None:
        self.networks: list[IPNetwork] = []
        for item in spec.replace(",", " ").split():
            try:
                self.networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"'{item}' is not an IP address or CIDR") from None

    def __contains__(self, text: str | None) -> bool:
        ip = _ip(text)
        return ip is not None and any(ip in net for net in self.networks)

    def client(self, peer: str | None, forwarded_for: Iterable[str] = ()) -> str:
        """The client's limit key. ``forwarded_for``: the ``X-Forwarded-For`` header values.

        Read from the right: each proxy appends the address it saw, so the first untrusted hop
        is the client (what it wrote itself further left is forged or irrelevant). A hop that
        is not an address stops the walk at the last believed one.
        """
        ip = _ip(peer)
        if ip is None:
            return UNKNOWN
        if peer not in self:
            return _key(ip)
        hops = [h for value in forwarded_for for h in value.split(",") if h.strip()]
        for hop in reversed(hops):
            hop_ip = _ip(hop)
            if hop_ip is None:
                break
            ip = hop_ip
            if hop not in self:
                break
        return _key(ip)
