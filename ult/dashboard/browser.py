"""Buttons that act in the browser: save a file the kernel makes, print a document.

Both are anywidgets. A download's bytes travel as a message buffer only when clicked, so a page
with many posters keeps a small widget state; printing goes through a hidden iframe, so only
the poster is printed, not the dashboard around it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anywidget
import traitlets as t

from ult.dashboard.ui import plain_words
from ult.i18n import N_, _

log = logging.getLogger("ult.dashboard")

DOWNLOAD_TOOLTIP = N_("Download {filename}")
DOWNLOAD_FAILED = N_("The file could not be made.")

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str) -> str:
    """A download name without path separators or odd characters."""
    cleaned = _UNSAFE_FILENAME.sub("-", name).strip("-.")
    return cleaned[:120] or "download"


class DownloadButton(anywidget.AnyWidget):
    """A button that saves ``produce()`` as ``filename`` in the browser."""

    _esm = Path(__file__).with_name("download.js")

    label = t.Unicode("Download").tag(sync=True)
    filename = t.Unicode("download").tag(sync=True)
    hover_words = t.Unicode("").tag(sync=True)  # the page's words, translated here
    failed_words = t.Unicode("").tag(sync=True)

    def __init__(self, label: str, filename: str, mime: str, produce: Callable[[], bytes]) -> None:
        super().__init__(
            label=label,
            filename=safe_filename(filename),
            hover_words=_(DOWNLOAD_TOOLTIP),
            failed_words=_(DOWNLOAD_FAILED),
        )
        self.mime = mime
        self._produce = produce
        self.on_msg(self._on_message)

    def make_file(self) -> bytes:
        """The file's bytes, as a click would download them."""
        return self._produce()

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict) or content.get("event") != "download":
            return
        try:
            data = self.make_file()
        except Exception as exc:
            log.warning("download %s failed: %s", self.filename, exc)
            self.send({"event": "file", "error": plain_words(exc)})
            return
        self.send({"event": "file", "filename": self.filename, "mime": self.mime}, buffers=[data])


class PrintButton(anywidget.AnyWidget):
    """A button that prints ``html`` (a complete document) through a hidden iframe."""

    _esm = Path(__file__).with_name("print.js")

    label = t.Unicode("Print").tag(sync=True)
    html = t.Unicode("").tag(sync=True)
