"""Custom events: the JSON objects an agent sends to everyone in a call.

``check_custom_event(data, limit)`` is what every edge with
``EdgeFeature.CUSTOM_EVENTS`` applies before anything goes out: ``data`` must be
a JSON object of at most ``limit`` bytes, else a ``CustomEventError``. A pure
function: call it from any thread.
"""

from __future__ import annotations

from typing import Any

import msgspec

from messages import EdgeActorsError

__all__ = ["CustomEventError", "check_custom_event"]


class CustomEventError(EdgeActorsError, ValueError):
    """A custom event was not a JSON object within the edge's size limit.

    The message says which; send a smaller ``dict`` of JSON values (or a
    reference, such as a URL, to larger data).
    """


def check_custom_event(data: Any, limit: int) -> bytes:
    """``data`` as JSON bytes; ``CustomEventError`` unless it is an object of ≤ ``limit`` bytes."""
    if not isinstance(data, dict):
        msg = f"a custom event is a JSON object (a dict), not {type(data).__name__}"
        raise CustomEventError(msg)
    try:
        encoded = msgspec.json.encode(data)
    except (TypeError, msgspec.EncodeError) as exc:
        msg = f"a custom event must be JSON-encodable ({exc}): send dicts, lists, text, numbers"
        raise CustomEventError(msg) from None
    if len(encoded) > limit:
        msg = (
            f"a custom event is at most {limit} bytes of JSON, not {len(encoded)}: "
            "send less, or a reference to the rest"
        )
        raise CustomEventError(msg)
    return encoded
