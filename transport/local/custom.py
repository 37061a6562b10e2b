"""Custom events: the JSON objects the agent sends to a call's participants.

``custom_frame(data)`` checks what the agent wants to send and makes the
``Custom`` signaling frame of it; anything that is not a JSON object of at most
``MAX_CUSTOM_EVENT`` bytes is a ``CustomEventError`` before a byte goes out.
Pure functions: call them from any thread.
"""

from __future__ import annotations

from typing import Any

import msgspec

from messages import EdgeActorsError
from transport.local.signaling import MAX_CUSTOM_EVENT, Custom

__all__ = ["CustomEventError", "custom_frame"]


class CustomEventError(EdgeActorsError, ValueError):
    """A custom event was not a JSON object of at most ``MAX_CUSTOM_EVENT`` bytes.

    The message says which; send a smaller ``dict`` of JSON values (or a
    reference, such as a URL, to larger data).
    """


def custom_frame(data: Any) -> Custom:
    """The ``Custom`` frame that carries ``data``; ``CustomEventError`` if it may not go out."""
    if not isinstance(data, dict):
        msg = f"a custom event is a JSON object (a dict), not {type(data).__name__}"
        raise CustomEventError(msg)
    try:
        size = len(msgspec.json.encode(data))
    except (TypeError, msgspec.EncodeError) as exc:
        msg = f"a custom event must be JSON-encodable ({exc}): send dicts, lists, text, numbers"
        raise CustomEventError(msg) from None
    if size > MAX_CUSTOM_EVENT:
        msg = (
            f"a custom event is at most {MAX_CUSTOM_EVENT} bytes of JSON, not {size}: "
            "send less, or a reference to the rest"
        )
        raise CustomEventError(msg)
    return Custom(data)
