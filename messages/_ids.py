"""Identifiers that reach paths and URLs: what a valid call id is."""

from __future__ import annotations

import re

from messages._errors import EdgeActorsError

__all__ = ["CALL_ID_PATTERN", "InvalidCallIdError", "check_call_id"]

CALL_ID_PATTERN = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.:-]{0,127}")
"""1 to 128 of ``A-Z a-z 0-9 _ - . :``, not starting with ``.`` or ``:``.

Such an id is safe as a URL path segment, a file name part and a log field: no
``/``, no ``..``, no spaces or control characters.
"""


class InvalidCallIdError(EdgeActorsError, ValueError):
    """A call id is not valid; the message says what a valid one looks like."""


def check_call_id(call_id: object) -> str:
    """``call_id`` if it is valid (see ``CALL_ID_PATTERN``); else ``InvalidCallIdError``."""
    if isinstance(call_id, str) and CALL_ID_PATTERN.fullmatch(call_id):
        return call_id
    shown = repr(call_id) if len(repr(call_id)) <= 60 else repr(call_id)[:57] + "..."
    msg = (
        f"invalid call id {shown}: use 1 to 128 letters, digits, '_', '-', '.' or ':', "
        "not starting with '.' or ':'"
    )
    raise InvalidCallIdError(msg)
