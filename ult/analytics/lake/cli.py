"""``ult archive``: the command line of :func:`ult.analytics.lake.archiving.archive` (and,
with ``--compact``, :func:`ult.analytics.lake.compaction.compact`)."""

from __future__ import annotations

import argparse
import os

from ult.analytics.lake.archiving import NICE, archive


def configure(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ult archive`` to the CLI."""
    p = subparsers.add_parser(
        "archive",
        help="append the streams to the Parquet lake (ULT_LAKE_DIR); optionally trim Redis",
    )
    p.add_argument(
        "--trim-days",
        type=int,
        metavar="N",
        help="then trim from Redis the archived entries older than N days",
    )
    p.add_argument(
        "--compact",
        action="store_true",
        help="then merge the small day parts into few large files (see docs/data.md)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_archive)


def cmd_archive(args: argparse.Namespace) -> int:
    """``ult archive``: a progress bar on a terminal, a one-line summary always (one more for
    ``--compact``)."""
    from ult.connection import connect
    from ult.settings import load_settings

    settings = load_settings()
    os.nice(NICE)
    progress = False if args.quiet else None
    report = archive(
        connect(settings), settings.lake_path, trim_days=args.trim_days, progress=progress
    )
    print(report.summary())
    if args.compact:
        from ult.analytics.lake.compaction import compact

        print(compact(settings.lake_path).summary())
    return 0
