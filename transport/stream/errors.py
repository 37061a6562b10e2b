"""The Stream edge's errors: each says what Stream refused or what failed, and what to do."""

from __future__ import annotations

from typing import Any

from messages import EdgeActorsError

__all__ = [
    "StreamCredentialsError",
    "StreamEdgeError",
    "StreamJoinError",
    "StreamRequestError",
    "api_refusal",
]


class StreamEdgeError(EdgeActorsError, RuntimeError):
    """Base of the Stream edge's errors."""


class StreamCredentialsError(StreamEdgeError):
    """Stream's API key or secret is missing or was refused; the text says which and why."""


class StreamRequestError(StreamEdgeError):
    """Stream's API refused a request for a reason other than credentials (the text gives it)."""


class StreamJoinError(StreamEdgeError):
    """The SDK could not join the call (the coordinator or the SFU refused, or was unreachable)."""


def api_refusal(exc: BaseException) -> tuple[int, str] | None:
    """(HTTP status, Stream's message) of the API refusal behind ``exc``, if there is one.

    The SDK raises ``StreamApiException`` from its REST calls and wraps it in
    other errors on its join path; this follows ``__cause__``/``__context__``.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        status: Any = getattr(current, "status_code", None)
        if isinstance(status, int) and hasattr(current, "api_error"):
            message = str(getattr(current, "message", "") or current)
            return status, message
        current = current.__cause__ or current.__context__
    return None
