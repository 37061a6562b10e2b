"""The root of every error edge-actors raises, and the domain's errors of state."""

from __future__ import annotations

__all__ = ["ConnectionClosedError", "EdgeActorsError", "EdgeClosedError", "NotReadyError"]


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


class EdgeClosedError(NotReadyError):
    """The edge was used (started, joined) after its ``close()`` began.

    An edge is started at most once and closed once: the message says to make
    a new edge.
    """


class ConnectionClosedError(EdgeActorsError, RuntimeError):
    """The connection was closed while the caller was waiting on it, or before."""

    @classmethod
    def of(cls, key: str, why: str = "") -> ConnectionClosedError:
        """The error for connection ``key`` (``why``: the reason it closed, if known)."""
        reason = f" ({why})" if why else ""
        return cls(f"connection {key} is closed{reason}: join the call again for a new one")
