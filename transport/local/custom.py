"""Custom events: the JSON objects the agent sends to a call's participants.

``custom_frame(data)`` checks what the agent wants to send and makes the
``Custom`` signaling frame of it; anything that is not a JSON object of at most
``MAX_CUSTOM_EVENT`` bytes is a ``CustomEventError`` before a byte goes out.
Pure functions: call them from any thread.
"""

from __future__ import annotations

from typing import Any

from transport.custom_events import CustomEventError, check_custom_event
from transport.local.signaling import MAX_CUSTOM_EVENT, Custom

__all__ = ["CustomEventError", "custom_frame"]


def custom_frame(data: Any) -> Custom:
    """The ``Custom`` frame that carries ``data``; ``CustomEventError`` if it may not go out."""
    check_custom_event(data, MAX_CUSTOM_EVENT)
    return Custom(data)
