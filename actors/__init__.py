"""The edge-actors runtime: pykka actors hosted on asyncio, and the domain actors.

``AsyncioActor`` is a ``pykka.Actor``: ``start()``, ``tell``, ``ask``, ``proxy``,
``on_start``/``on_receive``/``on_stop``/``on_failure`` work as pykka documents
them, while the actor costs a few hundred bytes and no thread. ``ask()`` returns
an ``AsyncioFuture`` that asyncio awaits without blocking the loop.
"""

import logging

from actors._actor import AsyncioActor
from actors._api import ask, send, stop_all, teller
from actors._directory import directory
from actors._errors import (
    BlockingOnLoopError,
    EdgeActorsError,
    MailboxFullError,
    NoEventLoopError,
)
from actors._future import AsyncioFuture, awaitable
from actors._supervision import RestartPolicy

__all__ = [
    "AsyncioActor",
    "AsyncioFuture",
    "BlockingOnLoopError",
    "EdgeActorsError",
    "MailboxFullError",
    "NoEventLoopError",
    "RestartPolicy",
    "ask",
    "awaitable",
    "directory",
    "send",
    "stop_all",
    "teller",
]

# A library logs; the application decides where that goes.
logging.getLogger(__name__).addHandler(logging.NullHandler())
