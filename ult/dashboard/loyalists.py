"""The loyal customers table of the live tab: anonymous short card ids only."""

from __future__ import annotations

from typing import Any

from ult.dashboard.ui import esc, local_datetime, table
from ult.i18n import _


def loyalists_html(rows: list[dict[str, Any]], offset_min: int) -> str:
    """The loyal customers table: anonymous short card ids only."""
    cells = [
        [
            f'<code class="ult-cid">{esc(row["cid"])}</code>',
            esc(row["visits"]),
            esc(row["points"]),
            esc(local_datetime(row["first_ms"], offset_min)),
            esc(local_datetime(row["last_ms"], offset_min)),
        ]
        for row in rows
    ]
    return table(
        [_("Card"), _("Visits"), _("Points"), _("First visit"), _("Last visit")],
        cells,
        "ult-loyalists-table",
        _("No cards yet."),
    )
