"""What a connection's readers see: the ``Presence`` snapshot, in a ``PresenceCell``.

The connection actor is the only writer: after each change it builds a new frozen
``Presence`` and swaps it into the connection's ``PresenceCell``. Readers on any
thread read ``cell.presence`` (one attribute load) and get a consistent view;
there is nothing to lock.
"""

from __future__ import annotations

import msgspec

from messages import ConnectionState, Participant, TrackInfo

__all__ = ["ConnectionState", "Presence", "PresenceCell"]


class Presence(msgspec.Struct, frozen=True):
    """An immutable view of one connection's call, as of ``version``.

    - ``participants``: every session in the call but the agent's own, in join
      order, including those in ``reconnecting`` (ids within their grace period);
    - ``tracks``: what they publish;
    - ``state`` and ``since``: the lifecycle state and the clock reading at which
      it began; ``idle_since`` is ``since`` while ``IDLE``, else ``0.0``.
    """

    participants: tuple[Participant, ...] = ()
    tracks: tuple[TrackInfo, ...] = ()
    reconnecting: tuple[str, ...] = ()
    state: ConnectionState = ConnectionState.WAITING
    since: float = 0.0
    idle_since: float = 0.0
    version: int = 0


class PresenceCell:
    """Holds the latest ``Presence`` of one connection; written only by its connection actor.

    A ``Connection`` is the cell of its own actor (a subclass: one object fewer
    per connection); a bare ``PresenceCell`` serves an actor without one.
    """

    __slots__ = ("_presence",)

    def __init__(self, presence: Presence | None = None) -> None:
        self._presence = presence if presence is not None else Presence()

    @property
    def presence(self) -> Presence:
        """The snapshot last published (any thread; an immutable value)."""
        return self._presence

    def _swap_in(self, presence: Presence) -> None:
        """Swap in ``presence``: called by the connection actor only, on its loop.

        Private, so that a ``Connection`` offers its users no way to write presence.
        """
        self._presence = presence
