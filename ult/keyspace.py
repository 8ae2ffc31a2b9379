"""ULT's keys on every server: ``SCAN`` over one Redis or over each master of a cluster.

A cluster client's own ``SCAN`` asks one node; the keys of ULT are spread over every master's
slots, so backups and migrations walk the masters one by one.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from redis.cluster import RedisCluster

from ult import keys
from ult.connection import Client

PAGE = 1000  # keys per SCAN call: few round trips, and no long stall of the server


def masters(r: Client) -> list[redis.Redis]:
    """A client per master: the server itself, or each master of the cluster."""
    if isinstance(r, RedisCluster):
        found = [r.get_redis_connection(node) for node in r.get_primaries()]
        return [c for c in found if c is not None]
    return [r]


def scan_keys(r: Client, pattern: str = keys.PATTERN) -> Iterator[str]:
    """Every key matching ``pattern`` on every master (text, whatever the client decodes)."""
    for node in masters(r):
        for key in node.scan_iter(match=pattern, count=PAGE):
            yield key.decode() if isinstance(key, bytes) else key


def has_keys(r: Client, pattern: str = keys.PATTERN) -> bool:
    """Whether any key matches ``pattern`` (stops at the first)."""
    return next(scan_keys(r, pattern), None) is not None


def sponsor_ids(r: Client) -> list[str]:
    """The sid of every sponsor with a profile, sorted (the registry may lack none of them,
    but a migration must not trust it to)."""
    found = {keys.hash_tag(k) for k in scan_keys(r, "ult:{*}:profile")}
    return sorted(sid for sid in found if sid)
