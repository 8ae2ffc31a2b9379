"""``ult export``: sponsors' event streams to CSV and Parquet files.

One file per sponsor and format, ``events-<sid>.csv`` / ``events-<sid>.parquet``, with the
columns of :func:`ult.analytics.load_stream` (card ids already shortened), plus the
registry as ``sponsors.csv`` / ``sponsors.parquet`` (public profile fields and rules, never
the owner-key hash or code secret). Streams are read in pages; memory grows with the
largest single stream, stored compactly as Arrow columns.

These are row-level files for an analyst's own tools: they hold no identities but are not
k-anonymous (only the notebooks' tables are); keep them where the stream data is kept.
:func:`read_export` reads either format back with the loader's dtypes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ult.analytics.loading import (
    CATEGORY_COLUMNS,
    INT_COLUMNS,
    SPONSOR_DTYPES,
    load_sponsors,
    load_stream,
    sorted_categories,
    sponsor_ids,
)

if TYPE_CHECKING:
    import pandas as pd

    from ult.connection import Client

FORMATS = ("csv", "parquet")


@dataclass(frozen=True)
class Exported:
    """One written file."""

    path: Path
    rows: int

    def to_dict(self) -> dict[str, object]:
        return {"file": str(self.path), "rows": self.rows}


def write_frame(df: pd.DataFrame, path: str | Path) -> Exported:
    """Write one DataFrame as CSV or Parquet, chosen by the file's suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        df.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S.%fZ")  # UTC times
    elif path.suffix == ".parquet":
        df.to_parquet(path, index=False, engine="pyarrow")
    else:
        raise ValueError(f"{path}: use a .csv or .parquet file name")
    return Exported(path, len(df))


def export_stream(r: Client, sid: str, path: str | Path, progress: bool = False) -> Exported:
    """One sponsor's stream to ``path`` (``.csv`` or ``.parquet``)."""

    return write_frame(load_stream(r, sid, progress=progress), path)


def export(
    r: Client,
    out_dir: str | Path,
    sids: Iterable[str] | None = None,
    formats: Sequence[str] = FORMATS,
    progress: bool = True,
) -> list[Exported]:
    """The registry and the streams of ``sids`` (default: every sponsor) into ``out_dir``."""
    from tqdm.auto import tqdm

    from ult.errors import UltError

    formats = _check_formats(formats)
    out = Path(out_dir)
    known = sponsor_ids(r)
    sids = known if sids is None else list(sids)
    unknown = sorted(set(sids) - set(known))
    if unknown:
        raise UltError("unknown_sponsor", f"No business with id {', '.join(map(repr, unknown))}.")
    sponsors = load_sponsors(r)
    sponsors = sponsors[sponsors["sid"].isin(sids)].reset_index(drop=True)
    written = [write_frame(sponsors, out / f"sponsors.{fmt}") for fmt in formats]
    for sid in tqdm(sids, desc="Exporting", unit=" sponsors", disable=not progress):
        events = load_stream(r, sid, progress=False)
        written += [write_frame(events, out / f"events-{sid}.{fmt}") for fmt in formats]
    return written


def _check_formats(formats: Sequence[str]) -> list[str]:
    formats = list(dict.fromkeys(formats))
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be among {FORMATS}")
    return formats


def read_export(path: str | Path) -> pd.DataFrame:
    """An exported file read back with the dtypes of :func:`ult.analytics.load_stream`
    (events) or :func:`ult.analytics.load_sponsors` (the registry)."""
    import pandas as pd

    path = Path(path)
    if path.suffix == ".parquet":
        df = pd.read_parquet(path, engine="pyarrow")
        for col in df.columns:
            if isinstance(df[col].dtype, pd.CategoricalDtype):
                df[col] = sorted_categories(df[col])
        return df
    df = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""])
    return _sponsor_dtypes(df) if "registered" in df.columns else _event_dtypes(df)


def _event_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    df["time"] = pd.to_datetime(df["time"], utc=True, format="ISO8601").astype(
        "datetime64[ms, UTC]"
    )
    for col in df.columns:
        if col in INT_COLUMNS:
            df[col] = df[col].astype("Int32")
        elif col in CATEGORY_COLUMNS:
            df[col] = df[col].astype("category")
    return df


def _sponsor_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    df["registered"] = pd.to_datetime(df["registered"], utc=True, format="ISO8601")
    for col in ("verified", "require_code"):
        df[col] = df[col].map({"True": True, "False": False})
    return df.astype(SPONSOR_DTYPES)


def configure(subparsers: argparse._SubParsersAction) -> None:
    """Add ``ult export`` to the CLI."""
    p = subparsers.add_parser(
        "export",
        help="write sponsors' event streams to CSV and/or Parquet files",
        description="Write DIR/events-<sid>.csv|parquet per sponsor (short card ids, UTC times) "
        "and DIR/sponsors.csv|parquet (public profile and rule). Prints the files as JSON.",
    )
    p.add_argument("sids", nargs="*", metavar="SID", help="sponsors to export (default: all)")
    p.add_argument(
        "--format",
        choices=[*FORMATS, "both"],
        default="both",
        help="file format (default: both)",
    )
    p.add_argument(
        "-o", "--output", default="export", metavar="DIR", help="directory (default: export)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    """``ult export``: write the files, print them as JSON."""
    from ult.connection import connect
    from ult.settings import load_settings

    formats = FORMATS if args.format == "both" else (args.format,)
    written = export(
        connect(load_settings()),
        args.output,
        sids=args.sids or None,
        formats=formats,
        progress=not args.quiet,
    )
    print(json.dumps([w.to_dict() for w in written], indent=2))
    return 0
