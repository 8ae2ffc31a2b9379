"""The sponsor dashboard: a Voilà app made from ``dashboards/sponsor.ipynb``.

In a notebook::

    from ult.dashboard import dashboard
    dashboard()

Modules: ``app`` (the page), ``tabs`` (the tabs, each panel built when first opened),
``registration`` (form, confirmation, owner key), ``storage`` (the browser's localStorage via anywidget), ``poster`` (QR, posters, print,
downloads), ``live`` (today's numbers, live feed with Void, loyalists), ``alerts`` (velocity
alerts), ``rule_editor`` (the reward rule), ``promo_editor`` (promotions), ``claims_panel`` (Approve / Reject / Void),
``counter_screen`` (the rotating counter code), ``table`` (rows with buttons), ``browser``
(download and print buttons), ``launch`` (running Voilà).
"""

from __future__ import annotations

from ult.dashboard.app import Dashboard
from ult.dashboard.context import Context
from ult.settings import Settings


def dashboard(settings: Settings | None = None) -> Dashboard:
    """A new sponsor dashboard for this page; display it (it is the cell's result)."""
    return Dashboard(Context(settings) if settings is not None else Context())


__all__ = ["Context", "Dashboard", "dashboard"]
