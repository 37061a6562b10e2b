"""People on real edges for the fleet tests: aiortc peers joining at a placed call's URL."""

from __future__ import annotations

from typing import Any

from transport import TrackType
from transport.fleet import RemoteConnectionRef
from transport.local import LocalParticipant


async def arrive(ref: RemoteConnectionRef, user_id: str) -> tuple[LocalParticipant, Any]:
    """``user_id`` joins at the call's URL, publishing nothing; (participant, joined)."""
    person = LocalParticipant(ref.url, ref.call_id, await ref.token(user_id))
    return person, await person.join()


async def visit(ref: RemoteConnectionRef, user_id: str) -> tuple[LocalParticipant, Any, str]:
    """``user_id`` joins at the call's URL and publishes video; (participant, joined, track)."""
    person, joined = await arrive(ref, user_id)
    track = await person.publish(TrackType.VIDEO)
    return person, joined, track
