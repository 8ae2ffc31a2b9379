"""A table whose rows carry buttons (Approve, Reject, Void), as one anywidget.

The kernel sends plain text cells; ``table.js`` puts them into the page with ``textContent``,
so a customer's or sponsor's text can never become markup. A click sends ``{event: "action",
action, id}``; the kernel checks that the row still offers that action, runs the handler and
answers ``done`` (the page then re-enables the row's buttons). An action with ``confirm``
asks for a second click first (voiding cannot be undone).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from ult.i18n import _

log = logging.getLogger("ult.dashboard")

OnAction = Callable[[str, str], None]  # (action name, row id)


@dataclass(frozen=True)
class Action:
    """One button of a row."""

    name: str
    label: str
    style: str = ""  # "primary" | "danger" | "" (plain)
    confirm: str = ""  # label of the second click, when one is needed

    def to_json(self) -> dict[str, str]:
        """The form the page gets."""
        return {
            "name": self.name,
            "label": _(self.label),
            "style": self.style,
            "confirm": _(self.confirm) if self.confirm else "",
        }


@dataclass(frozen=True)
class Column:
    """One column: the cell key, its heading and a CSS class for its cells."""

    key: str
    label: str
    css: str = ""

    def to_json(self) -> dict[str, str]:
        """The form the page gets."""
        return {"key": self.key, "label": _(self.label), "css": self.css}


@dataclass(frozen=True)
class Row:
    """One row: plain-text cells by column key, CSS classes, and its buttons."""

    id: str
    cells: dict[str, str]
    css: str = ""
    cell_css: dict[str, str] = field(default_factory=dict)
    actions: tuple[Action, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The form the page gets."""
        return {
            "id": self.id,
            "cells": dict(self.cells),
            "css": self.css,
            "cell_css": dict(self.cell_css),
            "actions": [a.to_json() for a in self.actions],
        }


class ActionTable(anywidget.AnyWidget):
    """Rows of text with per-row buttons. Set rows with :meth:`show`; clicks call ``on_action``."""

    _esm = Path(__file__).with_name("table.js")

    columns = t.List(t.Dict()).tag(sync=True)
    rows = t.List(t.Dict()).tag(sync=True)
    empty = t.Unicode("").tag(sync=True)
    css = t.Unicode("").tag(sync=True)

    def __init__(
        self, columns: list[Column], empty: str, on_action: OnAction, css: str = ""
    ) -> None:
        super().__init__(columns=[c.to_json() for c in columns], empty=empty, css=css)
        self._on_action = on_action
        self._offered: dict[str, set[str]] = {}
        self.on_msg(self._on_message)

    def show(self, rows: list[Row]) -> None:
        """Replace the rows (no-op when nothing changed)."""
        data = [row.to_json() for row in rows]
        self._offered = {row.id: {a.name for a in row.actions} for row in rows}
        if data != self.rows:
            self.rows = data

    @property
    def row_ids(self) -> list[str]:
        """The ids of the rows shown, top first."""
        return [row["id"] for row in self.rows]

    def row(self, row_id: str) -> dict[str, Any] | None:
        """The row with this id as the page has it, if shown."""
        return next((row for row in self.rows if row["id"] == row_id), None)

    def offers(self, row_id: str, action: str) -> bool:
        """Whether the row ``row_id`` currently has the button ``action``."""
        return action in self._offered.get(row_id, set())

    def act(self, action: str, row_id: str) -> bool:
        """Do what a click on ``action`` of row ``row_id`` does; False if it is not offered."""
        if not self.offers(row_id, action):
            log.info("ignored %s on a row that does not offer it", action)
            return False
        self._on_action(action, row_id)
        return True

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("event") != "action":
            return
        action, row_id = content.get("action"), content.get("id")
        if isinstance(action, str) and isinstance(row_id, str):
            try:
                self.act(action, row_id)
            finally:
                self.send({"event": "done", "id": row_id})
