"""The mailbox protocol of edge-actors: value types, messages, events and the wire codec.

Everything here is a frozen ``msgspec.Struct`` (or an ``IntEnum``), so a message
can be handed from one actor to another, or from one thread to another, without a
copy and without a lock. This package imports nothing else of edge-actors.
"""

from messages._codec import ProtocolError, decode, decode_json, encode, encode_json
from messages._events import (
    CallEndedEvent,
    ConnectionClosedEvent,
    EdgeEvent,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
)
from messages._protocol import (
    Close,
    Message,
    ParticipantJoined,
    ParticipantLeft,
    TrackAdded,
    TrackRemoved,
)
from messages._types import Participant, TrackType, User

__all__ = [
    "CallEndedEvent",
    "Close",
    "ConnectionClosedEvent",
    "EdgeEvent",
    "Message",
    "Participant",
    "ParticipantJoined",
    "ParticipantJoinedEvent",
    "ParticipantLeft",
    "ParticipantLeftEvent",
    "ProtocolError",
    "TrackAdded",
    "TrackAddedEvent",
    "TrackRemoved",
    "TrackRemovedEvent",
    "TrackType",
    "User",
    "decode",
    "decode_json",
    "encode",
    "encode_json",
]
