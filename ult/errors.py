"""The one error type of ULT: a stable code plus a message a person can read."""

from __future__ import annotations

from collections.abc import Mapping


class Term(str):
    """A parameter of an error message that is itself a catalog sentence (a field's name):
    translated with the message."""


class UltError(Exception):
    """An expected failure with a machine code (``cooldown``) and a plain-words message.

    ``message`` is a catalog msgid (marked with ``N_``) with ``{name}`` placeholders filled
    from ``params``: :attr:`message` is the English text, :meth:`words` the text in a reader's
    language. ``extra`` carries fields the caller may show next to the message (e.g. the
    card's balance on a refused scan).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        params: Mapping[str, object] | None = None,
        **extra: object,
    ) -> None:
        self.msgid = message
        self.params = dict(params or {})
        self.message = message.format(**self.params) if self.params else message
        super().__init__(self.message)
        self.code = code
        self.extra = extra

    def words(self, lang: str) -> str:
        """The message in ``lang`` (its msgid and every :class:`Term` through the catalog)."""
        from ult.i18n import translate

        if lang == "en":
            return self.message
        values = {
            key: translate(lang, value) if isinstance(value, Term) else value
            for key, value in self.params.items()
        }
        text = translate(lang, self.msgid)
        try:
            return text.format(**values) if values else text
        except (KeyError, IndexError, ValueError):
            return self.message

    def to_ack(self) -> dict:
        """The Socket.IO acknowledgement for this error."""
        return {"ok": False, "error": {"code": self.code, "message": self.message}, **self.extra}
