"""Public value types shared by every edge: ``TrackType``, ``User``, ``Participant``."""

from __future__ import annotations

import enum
from enum import IntEnum
from typing import Any

import msgspec

__all__ = [
    "ConnectionState",
    "LifecycleEntry",
    "MediaHealth",
    "Participant",
    "ParticipantKind",
    "TrackInfo",
    "TrackType",
    "User",
]


class TrackType(IntEnum):
    """The kind of a media track, numbered as Stream's SFU and vision-agents number them."""

    UNSPECIFIED = 0
    AUDIO = 1
    VIDEO = 2
    SCREEN_SHARE = 3
    SCREEN_SHARE_AUDIO = 4


class ParticipantKind(enum.StrEnum):
    """Who a participant is, as far as the edge can tell (from its join metadata)."""

    HUMAN = "human"
    AGENT = "agent"
    SIP = "sip"


class ConnectionState(enum.Enum):
    """Where a connection is in its life (README.md has the table, with ``idle_since()``).

    ``WAITING``: nobody but the agent has joined yet (``idle_since() == 0.0``);
    ``ACTIVE``: one or more participants connected (``0.0``); ``RECONNECTING``:
    nobody is connected, but a dropped participant is within its grace period
    (``0.0``); ``IDLE``: all have left (``idle_since() > 0``); ``CLOSED``: the
    connection is terminated.
    """

    WAITING = "waiting"
    ACTIVE = "active"
    RECONNECTING = "reconnecting"
    IDLE = "idle"
    CLOSED = "closed"


class User(msgspec.Struct, frozen=True):
    """A user account as an edge knows it: the agent's own, or a person's.

    ``custom`` holds whatever metadata the host wants to attach; it must be
    encodable by msgspec to go on the wire.
    """

    id: str
    name: str = ""
    image: str | None = None
    custom: dict[str, Any] = msgspec.field(default_factory=dict)


class Participant(msgspec.Struct, frozen=True):
    """One session of a user in a call.

    ``id`` is unique per session (``user123__session456``); ``user_id`` is not:
    the same user may join twice. ``original`` is the provider's own participant
    object (Stream's protobuf participant, a local peer record); it stays in the
    process and is sent as ``null`` by the wire codec. ``kind`` comes from the
    edge's metadata (a browser or SDK user is ``human``, a dial-in ``sip``).
    """

    original: Any
    user_id: str
    id: str
    kind: ParticipantKind = ParticipantKind.HUMAN


class TrackInfo(msgspec.Struct, frozen=True):
    """A published track, as presence snapshots list them."""

    track_id: str
    track_type: TrackType
    participant_id: str


class MediaHealth(msgspec.Struct, frozen=True):
    """The media an edge receives in one call, as counted now; ``EdgeTransport.media_health``.

    ``frames_received`` counts encoded frames that arrived and
    ``frames_decoded`` those decoded for a reader; ``frames_unread`` were
    dropped undecoded because nobody read their track. ``packets_lost`` is what
    the receivers' RTP statistics count as lost (or late past use), and
    ``decode_backlog`` the frames decoded or waiting to be that no reader has
    taken yet: a backlog that grows means readers (or the decoders) fall behind.
    """

    call_id: str
    tracks: int = 0
    tracks_decoding: int = 0
    frames_received: int = 0
    frames_decoded: int = 0
    frames_unread: int = 0
    packets_lost: int = 0
    decode_backlog: int = 0


class LifecycleEntry(msgspec.Struct, frozen=True):
    """One thing that happened to a connection's call, for ``inspect()``.

    ``what`` is ``joined``, ``left``, ``dropped``, ``reconnecting``,
    ``rejoined``, ``replaced``, ``refused``, ``call_ended``, ``closed`` or
    ``restarted``; ``reason`` is the edge's or the actor's own word.
    """

    at: float
    what: str
    participant_id: str = ""
    user_id: str = ""
    reason: str = ""
