"""Durable files: written under a temporary name, fsynced, renamed into place, and the
directory fsynced, so a crash leaves the old file or the new one, never half of one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TMP_SUFFIX = ".tmp"


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, unsynced: set[Path] | None = None) -> None:
    """Create ``path`` and its missing parents, each new entry fsynced into its parent (or
    the parent added to ``unsynced``, for the caller to fsync once)."""
    missing = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        d.mkdir()
        if unsynced is None:
            fsync_dir(d.parent)
        else:
            unsynced.add(d.parent)


def write_durable(
    path: Path, write: Callable[[BinaryIO], object], unsynced: set[Path] | None = None
) -> int:
    """Write a file through ``write(fileobj)`` under a temporary name, fsync it, rename it to
    ``path`` and fsync the directory (or add it to ``unsynced``, for the caller to fsync
    once for many files). Returns its size. On any failure no file is left."""
    make_dirs(path.parent, unsynced)
    tmp = path.with_name("." + path.name + TMP_SUFFIX)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        size = tmp.stat().st_size
        os.replace(tmp, path)
        if unsynced is None:
            fsync_dir(path.parent)
        else:
            unsynced.add(path.parent)
        return size
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
