"""Load shared by the scenarios: warming the code paths, and one round of presence churn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["churn_round", "warm_up"]


async def warm_up() -> None:
    """Open and close one connection, so one-off allocations are not counted later."""
    from transport import MemoryEdge, User

    warm = MemoryEdge()
    await (await warm.join(User("agent"), await warm.create_call("warm"))).close()
    await warm.close()


def churn_round(connections: Sequence[Any], round_no: int, kind: Any = None) -> None:
    """Tell each connection: someone joins, publishes a track, unpublishes it, leaves."""
    from messages import (
        Participant,
        ParticipantJoined,
        ParticipantLeft,
        TrackAdded,
        TrackRemoved,
        TrackType,
    )

    track_type = kind if kind is not None else TrackType.AUDIO
    for i, connection in enumerate(connections):
        person = Participant(None, f"u{i}", f"u{i}__{round_no}")
        call_id, ref = connection.call.id, connection.actor_ref
        ref.tell(ParticipantJoined(call_id, person))
        ref.tell(TrackAdded(call_id, person, f"t{round_no}", track_type))
        ref.tell(TrackRemoved(call_id, person, f"t{round_no}", track_type))
        ref.tell(ParticipantLeft(call_id, person))
