"""Edges and the ``Connection`` contract: what an agent host programs against.

``EdgeTransport`` (authenticate, create_call, join, close, events) is the
contract; ``MemoryEdge`` is the in-process edge for tests; the local edge
(``transport.local``, aiohttp + aiortc) and Stream's (``transport.stream``,
getstream SDK) are optional extras imported from their own packages.
"""

import logging

from actors.clock import SystemClock, VirtualClock
from actors.connection_interface import ConnectionOptions, ConnectionReport
from actors.predicates import (
    AtLeast,
    EmptyFor,
    KindPresent,
    Predicate,
    Someone,
    TrackPublished,
    UserPresent,
)
from actors.presence import ConnectionState, Presence
from messages import (
    ConnectionClosedError,
    EdgeActorsError,
    EdgeClosedError,
    InvalidCallIdError,
    LifecycleEntry,
    NotReadyError,
    Participant,
    ParticipantKind,
    ProtocolError,
    TrackInfo,
    TrackType,
    User,
)
from transport._connection import Connection
from transport._edge import Call, EdgeTransport
from transport.bus import (
    CallEndedEvent,
    ConnectionClosedEvent,
    ConnectionStateEvent,
    EdgeEvent,
    EventBus,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    ParticipantReconnectingEvent,
    ParticipantRejoinedEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
)
from transport.custom_events import CustomEventError
from transport.features import EdgeFeature, EdgeFeatureError
from transport.memory import MemoryCall, MemoryEdge, MemoryParticipant

__all__ = [
    "CustomEventError",
    "EdgeActorsError",
    "EdgeClosedError",
    "EdgeFeature",
    "EdgeFeatureError",
    "InvalidCallIdError",
    "NotReadyError",
    "ProtocolError",
    "AtLeast",
    "Call",
    "CallEndedEvent",
    "Connection",
    "ConnectionClosedError",
    "ConnectionClosedEvent",
    "ConnectionOptions",
    "ConnectionReport",
    "ConnectionState",
    "ConnectionStateEvent",
    "EdgeEvent",
    "EdgeTransport",
    "EmptyFor",
    "EventBus",
    "KindPresent",
    "LifecycleEntry",
    "MemoryCall",
    "MemoryEdge",
    "MemoryParticipant",
    "Participant",
    "ParticipantJoinedEvent",
    "ParticipantKind",
    "ParticipantLeftEvent",
    "ParticipantReconnectingEvent",
    "ParticipantRejoinedEvent",
    "Predicate",
    "Presence",
    "Someone",
    "SystemClock",
    "TrackAddedEvent",
    "TrackInfo",
    "TrackPublished",
    "TrackRemovedEvent",
    "TrackType",
    "User",
    "UserPresent",
    "VirtualClock",
]

# A library logs; the application decides where that goes.
logging.getLogger(__name__).addHandler(logging.NullHandler())
