"""Small widget helpers shared by the panels: escaped HTML, messages, safe callbacks, times.

Rule of the dashboard: every string that did not come from this package goes through
:func:`esc` before it reaches a ``W.HTML`` (an inline ``onerror=`` handler would run there).
"""

from __future__ import annotations

import functools
import html
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import ipywidgets as W
import redis.exceptions

from ult.errors import UltError
from ult.i18n import N_, _, current, when

log = logging.getLogger("ult.dashboard")

F = TypeVar("F", bound=Callable[..., Any])

FIELD_STYLE = {"description_width": "9em"}  # labels of form fields line up on every tab

UNAVAILABLE = N_("The loyalty database is not reachable right now. Try again in a moment.")
UNEXPECTED = N_("Something went wrong on our side. Try again; if it keeps happening, restart ULT.")


def log_to_terminal() -> None:
    """Send the dashboard's log to the kernel process's real stderr (Voilà's terminal).

    In a kernel, ``sys.stderr`` is published to the page's outputs; a log record must never
    show up there, and an operator must still see the traceback of an unexpected error.
    """
    ipython = sys.modules.get("IPython")
    in_kernel = ipython is not None and ipython.get_ipython() is not None
    if in_kernel and not log.handlers:
        handler = logging.StreamHandler(sys.__stderr__)
        handler.setFormatter(logging.Formatter("[ult.dashboard] %(levelname)s | %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def esc(value: object) -> str:
    """HTML-escape anything for ``W.HTML`` (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def classed(widget: W.Widget, *names: str) -> W.Widget:
    """Add CSS classes (tests and the stylesheet select on them); returns the widget."""
    for name in names:
        widget.add_class(name)
    return widget


def plain_words(exc: BaseException) -> str:
    """What a sponsor reads for an exception: never a traceback."""
    if isinstance(exc, UltError):
        return exc.words(current())
    if isinstance(exc, redis.exceptions.ConnectionError | redis.exceptions.TimeoutError):
        return _(UNAVAILABLE)
    return _(UNEXPECTED)


class Message(W.HTML):
    """A one-line status under a form: ok, error, info or nothing."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        classed(self, "ult-message")

    def show(self, kind: str, text: str) -> None:
        """Show ``text`` (escaped) styled as ``kind`` (ok, error, info, warn)."""
        role = ' role="alert"' if kind == "error" else ""
        self.value = f'<div class="ult-note ult-note-{esc(kind)}"{role}>{esc(text)}</div>'

    def ok(self, text: str) -> None:
        """Show ``text`` as an ok note."""
        self.show("ok", text)

    def error(self, text: str) -> None:
        """Show ``text`` as an error note."""
        self.show("error", text)

    def info(self, text: str) -> None:
        """Show ``text`` as an info note."""
        self.show("info", text)

    def clear(self) -> None:
        """Show nothing."""
        self.value = ""


def guarded(message: Callable[[Any], Message]) -> Callable[[F], F]:
    """Decorate a widget callback method: failures become a plain-words error on the form.

    ``message(self)`` returns the :class:`Message` to write to. Unexpected errors are logged
    with their traceback in the kernel log, never shown on the page.
    """

    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def handler(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            except Exception as exc:
                if not isinstance(exc, UltError):
                    log.exception("dashboard action %s failed", fn.__name__)
                message(self).error(plain_words(exc))
                return None

        return handler  # type: ignore[return-value]

    return wrap


def tz(offset_min: int) -> timezone:
    """A fixed-offset timezone (minutes east of UTC)."""
    return timezone(timedelta(minutes=offset_min)) if offset_min else UTC


# strftime formats the panels used to ask for → the Babel style that words them per locale
_STYLES = {
    "%H:%M:%S": "time",
    "%H:%M": "short_time",
    "%Y-%m-%d": "date",
    "%d %b %H:%M": "day_time",
    "%Y-%m-%d %H:%M": "day_time",
    "%d %b %Y %H:%M": "day_time",
}


def local_time(ms: int, offset_min: int, fmt: str = "time") -> str:
    """An epoch-milliseconds time as local wall-clock text in the dashboard's language
    (``fmt``: a style of :func:`ult.i18n.when`, or one of the strftime formats above)."""
    moment = datetime.fromtimestamp(ms / 1000, tz(offset_min))
    return when(moment.replace(tzinfo=None), _STYLES.get(fmt, fmt))


def local_datetime(ms: int, offset_min: int) -> str:
    """``Nov 25, 2:03 PM`` in the given offset and the dashboard's language ("—" for no time)."""
    return local_time(ms, offset_min, "day_time") if ms else "—"


def table(headers: list[str], rows: list[list[str]], css: str, empty: str) -> str:
    """An HTML table from already-escaped cells (or ``empty`` as a note)."""
    if not rows:
        return f'<p class="ult-empty {css}">{esc(empty)}</p>'
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="ult-table {css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def section_html(title: str, hint: str) -> str:
    """A panel's section heading with its hint line (both escaped)."""
    return f'<h3 class="ult-h3">{esc(title)}</h3><p class="ult-hint">{esc(hint)}</p>'
