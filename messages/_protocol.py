"""The five mailbox messages a connection actor receives.

Each message names its call, so a connection actor can refuse a misrouted one and an
edge can route by call id. The structs are tagged (``"type": "ParticipantJoined"``
on the wire), so ``Message`` is a union that msgspec decodes in one pass.
"""

from __future__ import annotations

import msgspec

from messages._types import Participant, TrackType

__all__ = [
    "Close",
    "Message",
    "ParticipantJoined",
    "ParticipantLeft",
    "TrackAdded",
    "TrackRemoved",
]


class _Tagged(msgspec.Struct, frozen=True, tag=True, tag_field="type"):
    """Base of the protocol: frozen, tagged by class name."""


class ParticipantJoined(_Tagged, frozen=True):
    """A participant session entered the call."""

    call_id: str
    participant: Participant


class ParticipantLeft(_Tagged, frozen=True):
    """A participant session left the call.

    ``reason`` says why: ``"left"`` (it said goodbye), ``"dropped"`` (its
    transport went away), ``"replaced"``, ``"call_ended"``, or an edge's own word.
    """

    call_id: str
    participant: Participant
    reason: str = "left"


class TrackAdded(_Tagged, frozen=True):
    """A participant published a track; ``track_type`` comes from the signaling."""

    call_id: str
    participant: Participant
    track_id: str
    track_type: TrackType


class TrackRemoved(_Tagged, frozen=True):
    """A participant unpublished a track (or it ended with its participant)."""

    call_id: str
    participant: Participant
    track_id: str
    track_type: TrackType = TrackType.UNSPECIFIED


class Close(_Tagged, frozen=True):
    """Close the connection to the call; the last message a connection handles."""

    call_id: str
    reason: str = "closed"


Message = ParticipantJoined | ParticipantLeft | TrackAdded | TrackRemoved | Close
"""Any message of the mailbox protocol."""
