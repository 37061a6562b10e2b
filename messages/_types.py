"""Public value types shared by every edge: ``TrackType``, ``User``, ``Participant``."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

import msgspec

__all__ = ["Participant", "TrackType", "User"]


class TrackType(IntEnum):
    """The kind of a media track, numbered as Stream's SFU and vision-agents number them."""

    UNSPECIFIED = 0
    AUDIO = 1
    VIDEO = 2
    SCREEN_SHARE = 3
    SCREEN_SHARE_AUDIO = 4


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
    process and is sent as ``null`` by the wire codec.
    """

    original: Any
    user_id: str
    id: str
