"""Who is asking: the client address a dashboard request is counted against.

The address is the TCP peer, unless that peer is a trusted reverse proxy: then it is the
last address in ``X-Forwarded-For`` that is not itself a trusted proxy (anyone can write
the header; only the proxies' own additions are believed). An IPv6 client counts as its
/64 prefix, since one phone or home holds a whole /64.

The key is personal data: it lives in process memory only, never in a log or a file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPV6_PREFIX = 64


def parse_proxies(text: str) -> tuple[Network, ...]:
    """Networks from a comma- or space-separated list of addresses/CIDRs (ValueError if bad)."""
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"'{item}' is not an IP address or CIDR") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: Iterable[Network]):
    return any(address in network for network in proxies)


def client_key(peer: str, forwarded_for: str | None, proxies: tuple[Network, ...] = ()) -> str:
    """The key a request from ``peer`` (with its ``X-Forwarded-For``) is counted under."""
    address = _address(peer)
    if address is None:
        return peer  # not an IP (a unix socket): one shared key
    if forwarded_for and _trusted(address, proxies):
        for hop in reversed(forwarded_for.split(",")):
            forwarded = _address(hop)
            if forwarded is None:
                break  # garbage from before our proxies: stop at the last believed hop
            address = forwarded
            if not _trusted(address, proxies):
                break
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_PREFIX), strict=False))
    return str(address)
