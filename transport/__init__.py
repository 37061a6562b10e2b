"""Edges and the ``Connection`` contract: what an agent host programs against.

``EdgeTransport`` (authenticate, create_call, join, close, events) is the
contract; ``MemoryEdge`` is the in-process edge for tests; the local edge
(``transport.local``, aiohttp + aiortc) and Stream's (``transport.stream``,
getstream SDK) are optional extras imported from their own packages.
"""

from actors import ConnectionClosedError
from actors.presence import ConnectionState, Presence
from messages import Participant, TrackType, User
from transport._connection import Connection
from transport._edge import Call, EdgeTransport
from transport.events import (
    CallEndedEvent,
    ConnectionClosedEvent,
    EdgeEvent,
    EventBus,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
)
from transport.memory import MemoryCall, MemoryEdge, MemoryParticipant

__all__ = [
    "Call",
    "CallEndedEvent",
    "Connection",
    "ConnectionClosedError",
    "ConnectionClosedEvent",
    "ConnectionState",
    "EdgeEvent",
    "EdgeTransport",
    "EventBus",
    "MemoryCall",
    "MemoryEdge",
    "MemoryParticipant",
    "Participant",
    "ParticipantJoinedEvent",
    "ParticipantLeftEvent",
    "Presence",
    "TrackAddedEvent",
    "TrackRemovedEvent",
    "TrackType",
    "User",
]
