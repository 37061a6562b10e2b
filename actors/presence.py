"""What a connection's readers see: ``ConnectionState`` and the ``Presence`` snapshot.

The registry actor is the only writer: after each change it builds a new frozen
``Presence`` and swaps it into the connection's ``PresenceCell``. Readers on any
thread read ``cell.presence`` (one attribute load) and get a consistent view;
there is nothing to lock.
"""

from __future__ import annotations

import enum

import msgspec

from messages import Participant

__all__ = ["ConnectionState", "Presence", "PresenceCell"]


class ConnectionState(enum.Enum):
    """Where a connection is in its life (the seed's table).

    ``WAITING``: nobody but the agent has joined yet (``idle_since() == 0.0``);
    ``ACTIVE``: one or more participants present (``0.0``); ``IDLE``: all have
    left (``idle_since() > 0``); ``CLOSED``: the connection is terminated.
    """

    WAITING = "waiting"
    ACTIVE = "active"
    IDLE = "idle"
    CLOSED = "closed"


class Presence(msgspec.Struct, frozen=True):
    """An immutable view of one connection's call, as of ``version``.

    ``participants`` excludes every session of the agent's own user, in join
    order; ``idle_since`` is the clock reading of the last departure while the
    call is idle, else ``0.0``.
    """

    participants: tuple[Participant, ...] = ()
    idle_since: float = 0.0
    state: ConnectionState = ConnectionState.WAITING
    version: int = 0


class PresenceCell:
    """Holds the latest ``Presence`` of one connection; written only by its registry shard."""

    __slots__ = ("presence",)

    def __init__(self) -> None:
        self.presence = Presence()
