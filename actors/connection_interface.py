"""What a connection actor is given and gives back: its options, its report, its requests.

``ConnectionOptions`` are the policies a connection is joined with;
``ConnectionReport`` is what ``Connection.report()`` returns; ``ReportRequest``,
``CatchUp`` and ``WaitEnded`` are the actor's own messages beside the
protocol's five; ``ConnectionOwner`` is what the actor tells its ``Connection``.
Frozen msgspec Structs, made on any thread; the actor reads them on its loop.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

import msgspec

from messages import ConnectionState, LifecycleEntry, MediaHealth, Participant, TrackInfo

__all__ = [
    "CATCH_UP",
    "CatchUp",
    "ConnectionOptions",
    "ConnectionOwner",
    "ConnectionReport",
    "DuplicateSessions",
    "ReportRequest",
    "WaitEnded",
]

DuplicateSessions = Literal["allow", "newest", "oldest"]
"""What a second session of the same user does: see ``ConnectionOptions``."""


class ConnectionOptions(msgspec.Struct, frozen=True):
    """Policies of one connection; an edge has defaults and ``join()`` may override them."""

    reconnect_grace: float = 0.0
    """Seconds a dropped participant keeps its place (``0``: it leaves at once)."""
    idle_timeout: float | None = None
    """Close the connection after this many seconds idle (``None``: never)."""
    duplicate_sessions: DuplicateSessions = "allow"
    """What a second session of the same user does: ``allow``, ``newest`` or ``oldest`` wins."""
    lifecycle_history: int = 64
    """How many lifecycle entries ``report()`` keeps."""
    record: str | None = None
    """A file to record the mailbox to (see ``actors.recording``), or ``None``.

    ``{call_id}`` and ``{key}`` in it are filled in, so one edge-wide setting
    such as ``"calls/{call_id}-{key}.rec"`` gives every connection its own file.
    """

    def __post_init__(self) -> None:
        if not 0 <= self.reconnect_grace < float("inf"):
            msg = "reconnect_grace must be a finite number of seconds, 0 or more"
            raise ValueError(msg)
        if self.idle_timeout is not None and not 0 < self.idle_timeout < float("inf"):
            msg = "idle_timeout must be a positive, finite number of seconds (or None)"
            raise ValueError(msg)
        if self.duplicate_sessions not in ("allow", "newest", "oldest"):
            msg = f"duplicate_sessions: allow, newest or oldest, not {self.duplicate_sessions!r}"
            raise ValueError(msg)


class ConnectionReport(msgspec.Struct, frozen=True):
    """What ``Connection.report()`` returns: one connection, as its actor sees it now."""

    key: str
    call_id: str
    agent_user_id: str
    state: ConnectionState
    idle_since: float
    participants: tuple[Participant, ...]
    reconnecting: tuple[str, ...]
    tracks: tuple[TrackInfo, ...]
    mailbox_depth: int
    messages_handled: int
    restarts: int
    lifecycle: tuple[LifecycleEntry, ...]
    waits: int = 0
    """Waits pending on the connection (``wait_for`` calls not yet settled)."""
    media: MediaHealth | None = None
    """The call's media as the edge receives it (``EdgeTransport.media_health``), if counted."""


# The actor's own messages, beside the protocol's five. Like those, they are
# frozen msgspec Structs; they carry futures, so they never go on the wire.


class ReportRequest(msgspec.Struct, frozen=True):
    """Ask a connection actor for its ``ConnectionReport``."""


class CatchUp(msgspec.Struct, frozen=True):
    """Ask a connection actor to answer once every message queued before it is handled."""


CATCH_UP = CatchUp()


class WaitEnded(msgspec.Struct, frozen=True):
    """From the ``Connection``: a wait ended with ``outcome`` (recorded if recording)."""

    future: Any
    outcome: str


class ConnectionOwner(Protocol):
    """What a ``ConnectionActor`` tells its owner; called on the actor's loop."""

    def actor_closed(self, reason: str) -> None:
        """A ``Close`` was handled: release the transport."""

    def actor_evicted(self, participant: Participant, reason: str) -> None:
        """A duplicate-session policy turned ``participant`` away: disconnect it."""
