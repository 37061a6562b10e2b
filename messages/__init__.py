"""The mailbox protocol of edge-actors: value types, messages, events and the wire codec.

Everything here is a frozen ``msgspec.Struct`` (or an ``IntEnum``), so a message
can be handed from one actor to another, or from one thread to another, without a
copy and without a lock. This package imports nothing else of edge-actors.
"""

import logging

from messages._codec import (
    ProtocolError,
    decode,
    decode_json,
    encode,
    encode_json,
    strict_decode,
    wire_form,
)
from messages._errors import (
    ConnectionClosedError,
    EdgeActorsError,
    EdgeClosedError,
    NotReadyError,
)
from messages._events import (
    CallEndedEvent,
    ConnectionClosedEvent,
    ConnectionStateEvent,
    EdgeEvent,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    ParticipantReconnectingEvent,
    ParticipantRejoinedEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
)
from messages._ids import CALL_ID_PATTERN, InvalidCallIdError, check_call_id
from messages._protocol import (
    Close,
    Message,
    ParticipantJoined,
    ParticipantLeft,
    TrackAdded,
    TrackRemoved,
)
from messages._types import (
    ConnectionState,
    LifecycleEntry,
    MediaHealth,
    Participant,
    ParticipantKind,
    TrackInfo,
    TrackType,
    User,
)

__all__ = [
    "ConnectionClosedError",
    "EdgeActorsError",
    "EdgeClosedError",
    "NotReadyError",
    "CALL_ID_PATTERN",
    "InvalidCallIdError",
    "check_call_id",
    "CallEndedEvent",
    "Close",
    "ConnectionClosedEvent",
    "ConnectionState",
    "ConnectionStateEvent",
    "EdgeEvent",
    "LifecycleEntry",
    "MediaHealth",
    "Message",
    "Participant",
    "ParticipantJoined",
    "ParticipantJoinedEvent",
    "ParticipantLeft",
    "ParticipantKind",
    "ParticipantLeftEvent",
    "ParticipantReconnectingEvent",
    "ParticipantRejoinedEvent",
    "ProtocolError",
    "TrackAdded",
    "TrackAddedEvent",
    "TrackInfo",
    "TrackRemoved",
    "TrackRemovedEvent",
    "TrackType",
    "User",
    "decode",
    "decode_json",
    "encode",
    "encode_json",
    "strict_decode",
    "wire_form",
]

# A library logs; the application decides where that goes.
logging.getLogger(__name__).addHandler(logging.NullHandler())
