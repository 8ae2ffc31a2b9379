"""The data's schema version, and ``ult migrate``: older data upgraded in place.

Redis holds the version of its layout in ``ult:schema`` (``ult.schema.SCHEMA_VERSION``). It
is written at first use — the first registration, or a service starting on an empty Redis —
by ``ult restore`` and by a migration. Data with no version but with sponsors was written by
a release before versions existed: version 1.

A migration upgrades the data to one version, sponsor by sponsor. Each sponsor's step is
atomic and safe to repeat; the sids done are recorded (``ult:migration:<n>``), so a run that
was stopped resumes where it was. The version moves only when every sponsor is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ult import __version__, keys, ops
from ult.connection import Client
from ult.errors import UltError
from ult.keyspace import sponsor_ids
from ult.schema import SCHEMA_VERSION

UNVERSIONED = 1  # data written before the version was stored


def data_version(r: Client) -> int | None:
    """The version of the data in Redis; None when it holds no ULT data yet."""
    stored = r.get(keys.SCHEMA)
    if stored is not None:
        return int(stored)
    if r.exists(keys.REGISTRY) or r.exists(keys.PLACES):
        return UNVERSIONED
    return None


def stamp_if_new(r: Client) -> None:
    """Write the current version on a Redis with no ULT data yet (first use)."""
    if data_version(r) is None:
        r.set(keys.SCHEMA, SCHEMA_VERSION, nx=True)


def check_version(r: Client) -> None:
    """Let a program start only on data of its own version (an empty Redis is stamped).

    UltError ``schema_newer`` (run a newer ULT) or ``schema_older`` (run ``ult migrate``),
    each one line naming both versions."""
    stamp_if_new(r)
    found = data_version(r) or SCHEMA_VERSION
    if found > SCHEMA_VERSION:
        raise UltError(
            "schema_newer",
            f"The data in Redis is schema version {found}, newer than this ULT {__version__} "
            f"(schema {SCHEMA_VERSION}): run a newer ULT.",
        )
    if found < SCHEMA_VERSION:
        raise UltError(
            "schema_older",
            f"The data in Redis is schema version {found}, older than this ULT {__version__} "
            f"(schema {SCHEMA_VERSION}): run `ult migrate` first.",
        )


@dataclass(frozen=True)
class Migration:
    """The upgrade of the data from version ``to - 1`` to ``to``."""

    to: int
    what: str  # one line for the operator
    sponsor: Callable[[Client, str], None]  # one sponsor's step: atomic, safe to repeat


def _indexes_v2(r: Client, sid: str) -> None:
    k = keys.sponsor_keys(sid)
    on = [k.cards, k.claims, k.top, k.claimed, k.requested]
    ops.run(r, ops.script("migrate_2", on, [], lambda reply: reply))


MIGRATIONS = (
    Migration(
        2,
        "build the loyalists' and the claims' indexes (card records of version 1 are read "
        "as they are)",
        _indexes_v2,
    ),
)


@dataclass
class MigrationReport:
    """What a run of :func:`migrate` did."""

    before: int | None
    after: int | None
    sponsors: dict[int, int] = field(default_factory=dict)  # version → sponsors migrated

    def summary(self) -> str:
        if self.before is None:
            return f"No ULT data yet; marked as schema {self.after}."
        if self.before == self.after:
            return f"The data is at schema {self.after} already; nothing to do."
        done = ", ".join(f"{n} sponsors to {v}" for v, n in self.sponsors.items())
        return f"Migrated the data from schema {self.before} to {self.after} ({done})."


def migrate(r: Client, on_step: Callable[[str], None] = lambda line: None) -> MigrationReport:
    """Upgrade the data to :data:`SCHEMA_VERSION`, one migration after the other; refuses
    data newer than this ULT (UltError ``schema_newer``)."""
    before = data_version(r)
    report = MigrationReport(before, before)
    if before is None:
        stamp_if_new(r)
        report.after = data_version(r)
        return report
    if before > SCHEMA_VERSION:
        check_version(r)
    for migration in MIGRATIONS:
        if migration.to > before:
            on_step(f"schema {migration.to - 1} → {migration.to}: {migration.what}")
            report.sponsors[migration.to] = _apply(r, migration)
            report.after = migration.to
    return report


def _apply(r: Client, migration: Migration) -> int:
    progress = keys.migration_progress(migration.to)
    done = {ops.text(sid) for sid in r.smembers(progress)}
    count = 0
    for sid in sponsor_ids(r):
        if sid not in done:
            migration.sponsor(r, sid)
            r.sadd(progress, sid)
            count += 1
    r.set(keys.SCHEMA, migration.to)
    r.delete(progress)
    return count
