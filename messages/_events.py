"""Events an edge emits on its bus, named and shaped as vision-agents' edge events.

They are frozen structs built by the actors and handed to handlers as they are;
``call`` is the edge's own ``Call`` object, so events stay in the process and
are not part of the wire protocol.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from messages._types import ConnectionState, Participant, TrackType

__all__ = [
    "CallEndedEvent",
    "ConnectionStateEvent",
    "ConnectionClosedEvent",
    "EdgeEvent",
    "ParticipantJoinedEvent",
    "ParticipantLeftEvent",
    "ParticipantReconnectingEvent",
    "ParticipantRejoinedEvent",
    "TrackAddedEvent",
    "TrackRemovedEvent",
]


class EdgeEvent(msgspec.Struct, frozen=True):
    """Base of every edge event; subscribe to it to receive them all."""

    type: ClassVar[str] = "plugin.edge.event"


class TrackAddedEvent(EdgeEvent, frozen=True):
    """A participant's track is now in the call."""

    track_id: str
    track_type: TrackType
    participant: Participant | None
    call: Any = None
    type: ClassVar[str] = "plugin.edge.track_added"

    @property
    def user(self) -> Participant | None:
        """vision-agents 0.6 name for ``participant``."""
        return self.participant


class TrackRemovedEvent(EdgeEvent, frozen=True):
    """A participant's track left the call (unpublished, or its participant left)."""

    track_id: str
    track_type: TrackType
    participant: Participant | None
    call: Any = None
    type: ClassVar[str] = "plugin.edge.track_removed"

    @property
    def user(self) -> Participant | None:
        """vision-agents 0.6 name for ``participant``."""
        return self.participant


class ParticipantJoinedEvent(EdgeEvent, frozen=True):
    """A participant session (not the agent's own) joined the call."""

    participant: Participant
    call: Any = None
    type: ClassVar[str] = "plugin.edge.participant_joined"


class ParticipantLeftEvent(EdgeEvent, frozen=True):
    """A participant session left; ``reason`` is ``left``, ``dropped``, ``replaced``, ..."""

    participant: Participant
    call: Any = None
    reason: str = "left"
    type: ClassVar[str] = "plugin.edge.participant_left"


class CallEndedEvent(EdgeEvent, frozen=True):
    """The call itself ended (the edge said so); the connection closes next."""

    call: Any = None
    reason: str = "call_ended"
    type: ClassVar[str] = "plugin.edge.call_ended"


class ConnectionClosedEvent(EdgeEvent, frozen=True):
    """The connection closed; nothing is emitted for it afterwards."""

    call: Any = None
    reason: str = "closed"
    type: ClassVar[str] = "plugin.edge.connection_closed"


class ParticipantReconnectingEvent(EdgeEvent, frozen=True):
    """A participant's transport dropped; it keeps its place for the grace period."""

    participant: Participant
    call: Any = None
    type: ClassVar[str] = "plugin.edge.participant_reconnecting"


class ParticipantRejoinedEvent(EdgeEvent, frozen=True):
    """A dropped participant came back within its grace period (as a new session, maybe)."""

    participant: Participant
    previous: Participant
    call: Any = None
    type: ClassVar[str] = "plugin.edge.participant_rejoined"


class ConnectionStateEvent(EdgeEvent, frozen=True):
    """The connection moved from ``previous`` to ``state`` (the lifecycle state machine)."""

    state: ConnectionState
    previous: ConnectionState
    idle_since: float = 0.0
    call: Any = None
    type: ClassVar[str] = "plugin.edge.connection_state"
