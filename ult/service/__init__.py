"""The scan service: Socket.IO events and the customer pages, on top of the core."""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # imported on first use: `ult serve` must set up metrics before the app is imported
    if name == "create_app":
        from ult.service.app import create_app

        return create_app
    raise AttributeError(name)
