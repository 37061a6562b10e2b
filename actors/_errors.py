"""Errors raised by the edge-actors runtime and its domain actors."""

from __future__ import annotations

__all__ = [
    "BlockingOnLoopError",
    "ConnectionClosedError",
    "MailboxFullError",
    "NoEventLoopError",
]


class NoEventLoopError(RuntimeError):
    """An ``AsyncioActor`` was started where no event loop could host it.

    Start it from code running on an asyncio loop (inside ``asyncio.run()`` or a
    task), or from another thread with ``AsyncioActor.start_on(loop, ...)``.
    """


class BlockingOnLoopError(RuntimeError):
    """``Future.get()`` was called on an event loop thread for a result not yet there.

    Blocking there would freeze every actor hosted on that loop, including the one
    that must answer. ``await`` the future instead; from another thread, ``get()``
    works as in pykka.
    """


class ConnectionClosedError(RuntimeError):
    """The connection was closed while the caller was waiting on it, or before."""


class MailboxFullError(RuntimeError):
    """A ``tell`` found the actor's bounded mailbox full; nothing was queued.

    Retry later, or ``await actors.send(ref, message)``, which waits for room.
    """
