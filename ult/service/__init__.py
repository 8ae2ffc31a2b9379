"""The scan service: Socket.IO events and the customer pages, on top of the core."""

from ult.service.app import create_app

__all__ = ["create_app"]
