"""The one error type of ULT: a stable code plus a message a person can read."""

from __future__ import annotations


class UltError(Exception):
    """An expected failure with a machine code (``cooldown``) and a plain-words message.

    ``extra`` carries fields the caller may show next to the message (e.g. the card's
    balance on a refused scan).
    """

    def __init__(self, code: str, message: str, **extra: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def to_ack(self) -> dict:
        """The Socket.IO acknowledgement for this error."""
        return {"ok": False, "error": {"code": self.code, "message": self.message}, **self.extra}
