"""Stream entry ids (``ms-seq``) as comparable pairs, and the bounds of an XRANGE."""

from __future__ import annotations

MAX_SEQ = 2**64 - 1
EntryId = tuple[int, int]


def parse_id(entry_id: str) -> EntryId:
    """``"1790000000000-3"`` → ``(1790000000000, 3)``."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def format_id(eid: EntryId) -> str:
    """``(1790000000000, 3)`` → ``"1790000000000-3"``."""
    return f"{eid[0]}-{eid[1]}"


def lower_bound(start: str) -> EntryId:
    """The smallest id an XRANGE ``start`` (``-``, ``ms``, ``ms-seq``, ``(ms-seq``) admits."""
    if start == "-":
        return (0, 0)
    if start.startswith("("):
        ms, seq = parse_id(start[1:])
        return (ms, seq + 1) if "-" in start else (ms + 1, 0)
    return parse_id(start)


def upper_bound(end: str) -> EntryId:
    """The largest id an XRANGE ``end`` (``+``, ``ms``, ``ms-seq``, ``(ms-seq``) admits."""
    if end == "+":
        return (2**63 - 1, MAX_SEQ)
    if end.startswith("("):
        ms, seq = parse_id(end[1:])
        if "-" not in end or seq == 0:
            return (ms - 1, MAX_SEQ)
        return (ms, seq - 1)
    return parse_id(end) if "-" in end else (int(end), MAX_SEQ)
