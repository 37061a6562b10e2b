"""The root of every error edge-actors raises, and the error of a call made too early or late."""

from __future__ import annotations

__all__ = ["EdgeActorsError", "NotReadyError"]


class EdgeActorsError(Exception):
    """Base of every exception class of edge-actors: ``except EdgeActorsError`` catches ours.

    Each subclass also derives from the built-in a caller would expect
    (``ValueError`` for bad input, ``RuntimeError`` for a wrong state), and its
    message says what was wrong and what to do. Waits that time out raise
    ``asyncio.TimeoutError``, as the connection contract says.
    """


class NotReadyError(EdgeActorsError, RuntimeError):
    """Something was used before it was ready or after it was done.

    For example a participant that has not joined yet, or an edge that was not
    started: the message names what to call first.
    """
