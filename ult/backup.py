"""``ult backup DIR`` and ``ult restore DIR``: every key ULT keeps in Redis, and the lake's
bookmarks, copied out and back.

A backup is a directory:

- ``keys.jsonl.gz``: one JSON line per key — ``key``, ``sid`` (its hash tag, or null for a
  global key), ``type``, ``size`` (entries, fields or members), ``ttl_ms`` (-1: none) and
  ``dump``, the base64 of Redis's ``DUMP`` of it (exact: a stream keeps its ids and last id);
- ``bookmarks/<sid>.json``: the lake's bookmarks (the lake's Parquet files are backed up as
  files, see docs/operations.md);
- ``manifest.json``, written last: the format, the schema version of the data, the time and
  the counts. A directory without it is no backup.

Consistency: each sponsor's keys (they share the ``{sid}`` hash tag, so one slot) are read
by one script, atomically: every card matches its stream, whatever scans arrive meanwhile.
The registry is read first, then ``ult:places`` (a registration writes the place first, so
every sponsor listed has its place); sponsors not yet in the registry then (a registration
under way) are left out. Sponsors are copied one after the other, each at its own moment.
"""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ult import __version__, keys
from ult.connection import Client
from ult.errors import UltError
from ult.keyspace import masters, scan_keys
from ult.migrate import data_version
from ult.schema import SCHEMA_VERSION

FORMAT = "ult-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
KEYS_FILE = "keys.jsonl.gz"
BOOKMARKS = "bookmarks"
RESTORE_BATCH = 200  # RESTORE commands per round trip

# KEYS: keys of one slot. Reply: {key, type, size, pttl, dump, ...} for each that exists.
_DUMP_LUA = """
local out = {}
local sizes = {hash = 'HLEN', stream = 'XLEN', set = 'SCARD', zset = 'ZCARD', list = 'LLEN',
  string = 'STRLEN'}
for _, key in ipairs(KEYS) do
  local payload = redis.call('DUMP', key)
  if payload then
    local kind = redis.call('TYPE', key)['ok']
    local size = sizes[kind] and redis.call(sizes[kind], key) or 0
    for _, v in ipairs({key, kind, size, redis.call('PTTL', key), payload}) do
      out[#out + 1] = v
    end
  end
end
return out
"""
# KEYS: the registry stream. Reply: the sids it lists.
_REGISTRY_LUA = """
local sids = {}
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  for i = 1, #e[2], 2 do
    if e[2][i] == 'sid' then sids[#sids + 1] = e[2][i + 1] end
  end
end
return sids
"""


@dataclass
class Manifest:
    """What ``manifest.json`` says of a backup."""

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    schema_version: int = SCHEMA_VERSION
    ult_version: str = __version__
    created: str = ""
    created_ms: int = 0
    seconds: float = 0.0
    masters: int = 1
    keys: int = 0
    sponsors: int = 0
    left_out: list[str] = field(default_factory=list)  # registrations under way: not copied
    entries: dict[str, int] = field(default_factory=dict)  # key name → entries, e.g. cards
    bookmarks: int = 0
    bytes: int = 0

    def summary(self) -> str:
        cards, events = self.entries.get("cards", 0), self.entries.get("events", 0)
        return (
            f"{self.keys} keys of {self.sponsors} sponsors ({cards} cards, {events} events), "
            f"{self.bookmarks} lake bookmarks, schema {self.schema_version}: "
            f"{self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s"
        )


@dataclass(frozen=True)
class Record:
    """One key of a backup."""

    key: str
    sid: str | None
    type: str
    size: int
    ttl_ms: int
    dump: bytes

    def to_json(self) -> str:
        data = asdict(self) | {"dump": base64.b64encode(self.dump).decode()}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> Record:
        data = json.loads(line)
        return cls(**data | {"dump": base64.b64decode(data["dump"])})


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _dump(r: Client, on: list[str]) -> list[Record]:
    """The keys of ``on`` (one slot) that exist, read atomically."""
    flat = r.eval(_DUMP_LUA, len(on), *on)
    out = []
    for i in range(0, len(flat), 5):
        key, kind, size, ttl, payload = flat[i : i + 5]
        key = _text(key)
        out.append(Record(key, keys.hash_tag(key), _text(kind), int(size), int(ttl), payload))
    return out


def _records(r: Client, manifest: Manifest) -> Iterator[Record]:
    """Every key under ``ult:``: the global keys, then each sponsor's at once."""
    groups: dict[str, set[str]] = {}
    global_keys: set[str] = set()
    for key in scan_keys(r):
        sid = keys.hash_tag(key)
        if sid is None:
            global_keys.add(key)
        else:
            groups.setdefault(sid, set()).add(key)
    listed = {_text(s) for s in r.eval(_REGISTRY_LUA, 1, keys.REGISTRY)}
    for key in [keys.REGISTRY, keys.PLACES, *sorted(global_keys - {keys.REGISTRY, keys.PLACES})]:
        yield from _dump(r, [key])
    for sid in sorted(groups.keys() | listed):
        found = _dump(r, sorted(groups.get(sid, set()) | set(keys.sponsor_keys(sid).all())))
        profile = keys.sponsor_keys(sid).profile
        if sid not in listed and any(rec.key == profile for rec in found):
            manifest.left_out.append(sid)
            continue
        manifest.sponsors += sid in listed
        yield from found


def _copy_bookmarks(source: Path | None, to: Path) -> int:
    """Copy the lake's bookmarks (before Redis: a bookmark is never ahead of the data it
    marks)."""
    to.mkdir()
    if source is None or not source.is_dir():
        return 0
    found = sorted(source.glob("*.json"))
    for path in found:
        shutil.copy2(path, to / path.name)
    return len(found)


def _prepare(directory: Path) -> None:
    if directory.exists() and any(directory.iterdir()):
        raise UltError("backup_exists", f"{directory} is not empty: back up into a new directory.")
    directory.mkdir(parents=True, exist_ok=True)


def backup(r: Client, directory: Path, bookmarks: Path | None = None) -> Manifest:
    """Write a backup of every ``ult:`` key (``r`` must not decode responses) and of the
    lake's bookmarks (the directory ``bookmarks``) into the new or empty ``directory``."""
    directory = Path(directory)
    _prepare(directory)
    start = time.monotonic()
    now = datetime.now(UTC)
    manifest = Manifest(created=now.isoformat(timespec="seconds"))
    manifest.created_ms = int(now.timestamp() * 1000)
    manifest.bookmarks = _copy_bookmarks(bookmarks, directory / BOOKMARKS)
    manifest.schema_version = data_version(r) or SCHEMA_VERSION
    manifest.masters = len(masters(r))
    with gzip.open(directory / KEYS_FILE, "wt", encoding="utf-8") as out:
        for record in _records(r, manifest):
            if record.key == keys.SCHEMA:
                continue  # the manifest carries it; a restore writes it last
            out.write(record.to_json() + "\n")
            manifest.keys += 1
            name = record.key.rsplit(":", 1)[-1] if record.sid else record.key
            manifest.entries[name] = manifest.entries.get(name, 0) + record.size
    manifest.bytes = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    manifest.seconds = round(time.monotonic() - start, 3)
    (directory / MANIFEST).write_text(json.dumps(asdict(manifest), indent=2) + "\n")
    return manifest


def read_manifest(directory: Path) -> Manifest:
    """The manifest of a backup; UltError ``not_a_backup`` or ``backup_too_new``."""
    path = Path(directory) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        raise UltError("not_a_backup", f"{directory} holds no ULT backup ({MANIFEST}).") from None
    if data.get("format") != FORMAT:
        raise UltError("not_a_backup", f"{directory} holds no ULT backup ({MANIFEST}).")
    manifest = Manifest(**{k: v for k, v in data.items() if k in Manifest.__dataclass_fields__})
    if manifest.format_version > FORMAT_VERSION or manifest.schema_version > SCHEMA_VERSION:
        raise UltError(
            "backup_too_new",
            f"The backup in {directory} is schema version {manifest.schema_version}, newer than "
            f"this ULT {__version__} (schema {SCHEMA_VERSION}): restore it with a newer ULT.",
        )
    return manifest


def holds_data(r: Client) -> bool:
    """Whether Redis holds ULT data (a version stamp alone is no data)."""
    return any(key != keys.SCHEMA for key in scan_keys(r))


def _read_records(directory: Path) -> Iterator[Record]:
    with gzip.open(Path(directory) / KEYS_FILE, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield Record.from_json(line)


def _clear(r: Client) -> None:
    for node in masters(r):
        pipe = node.pipeline(transaction=False)
        for key in node.scan_iter(match=keys.PATTERN, count=1000):
            pipe.unlink(key)  # one key a command: a cluster refuses keys of several slots
        pipe.execute()


def _restore_keys(r: Client, records: Iterable[Record]) -> int:
    """RESTORE the records, sponsors' keys first, the global keys last (a restore that
    stopped halfway has no registry yet)."""
    later: list[Record] = []
    count = 0

    def send(batch: list[Record]) -> None:
        pipe = r.pipeline(transaction=False)
        for rec in batch:
            pipe.restore(rec.key, max(rec.ttl_ms, 0), rec.dump, replace=True)
        pipe.execute()

    batch: list[Record] = []
    for rec in records:
        if rec.sid is None:
            later.append(rec)
            continue
        batch.append(rec)
        if len(batch) >= RESTORE_BATCH:
            send(batch)
            count, batch = count + len(batch), []
    send(batch + later)
    return count + len(batch) + len(later)


def _restore_bookmarks(directory: Path, target: Path | None, force: bool) -> int:
    found = sorted((Path(directory) / BOOKMARKS).glob("*.json"))
    if not found or target is None:
        return 0
    if not force and target.is_dir() and any(target.glob("*.json")):
        raise UltError(
            "restore_not_empty",
            f"The lake has bookmarks already ({target}): restore only fills an empty lake "
            "(--force replaces them).",
        )
    target.mkdir(parents=True, exist_ok=True)
    for path in found:
        shutil.copy2(path, target / path.name)
    return len(found)


def restore(r: Client, directory: Path, bookmarks: Path | None = None, force: bool = False) -> str:
    """Fill an empty Redis (``r`` must not decode responses) and the lake's bookmarks (the
    directory ``bookmarks``) from the backup in ``directory``; with ``force``, ULT's keys and
    bookmarks are replaced. Returns a one-line summary."""
    start = time.monotonic()
    manifest = read_manifest(directory)
    if not force and holds_data(r):
        raise UltError(
            "restore_not_empty",
            "Redis already holds ULT data: restore only fills an empty one (--force replaces it).",
        )
    copied = _restore_bookmarks(directory, bookmarks, force)
    if force:
        _clear(r)
    count = _restore_keys(r, _read_records(directory))
    r.set(keys.SCHEMA, manifest.schema_version)
    seconds = time.monotonic() - start
    return (
        f"Restored {count} keys of {manifest.sponsors} sponsors and {copied} lake bookmarks "
        f"from {manifest.created} (schema {manifest.schema_version}) in {seconds:.1f} s."
    )
