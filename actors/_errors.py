"""Errors of the actor runtime itself: starting, blocking, full mailboxes."""

from __future__ import annotations

from messages import EdgeActorsError

__all__ = [
    "EdgeActorsError",
    "BlockingOnLoopError",
    "MailboxFullError",
    "NoEventLoopError",
]


class NoEventLoopError(EdgeActorsError, RuntimeError):
    """An ``AsyncioActor`` was started where no event loop could host it.

    Start it from code running on an asyncio loop (inside ``asyncio.run()`` or a
    task), or from another thread with ``AsyncioActor.start_on(loop, ...)``.
    """


class BlockingOnLoopError(EdgeActorsError, RuntimeError):
    """``Future.get()`` was called on an event loop thread for a result not yet there.

    Blocking there would freeze every actor hosted on that loop, including the one
    that must answer. ``await`` the future instead; from another thread, ``get()``
    works as in pykka.
    """


class MailboxFullError(EdgeActorsError, RuntimeError):
    """A ``tell`` found the actor's bounded mailbox full; nothing was queued.

    Retry later, or ``await actors.send(ref, message)``, which waits for room.
    """
