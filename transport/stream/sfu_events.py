"""From Stream's SFU events (getstream's protobuf objects) to the mailbox protocol.

``SfuPresence`` turns each SFU event of one call into mailbox messages for its
connection actor, and a whole participant list (after a reconnect, when the SDK
replaces its list without joined/left events) into the messages that bring the
actor's published presence to it. It keeps no presence of its own: the
connection actor is the only owner, and its rule table makes a repeated or
out-of-order message harmless (a second join, a leave of someone unknown, a
known track added again are ignored), so a snapshot diffed against the
presence last published is exact even while earlier messages are still queued.
Someone missing from a new list has left (reason ``left``: the SFU gave them
its own reconnect deadline before dropping them from the call). Participant
ids are ``f"{user_id}__{session_id}"``; a track is
``f"{participant_id}:{track_type}"`` (the SFU allows one per type).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from actors.presence import Presence
from messages import (
    Message,
    Participant,
    ParticipantJoined,
    ParticipantKind,
    ParticipantLeft,
    TrackAdded,
    TrackRemoved,
    TrackType,
)

__all__ = ["SfuPresence", "participant_id", "track_id"]


def participant_id(sfu_participant: Any) -> str:
    """Our id for an SFU participant: ``user_id__session_id``."""
    return f"{sfu_participant.user_id}__{sfu_participant.session_id}"


def track_id(participant: str, kind: TrackType) -> str:
    """Our id for the track of ``kind`` that ``participant`` publishes."""
    return f"{participant}:{kind.name.lower()}"


def _kind(value: int) -> TrackType:
    try:
        return TrackType(value)
    except ValueError:
        return TrackType.UNSPECIFIED


class SfuPresence:
    """Translates one call's SFU events into mailbox messages; stateless, on the edge's loop."""

    def __init__(self, call_id: str, agent_user_id: str) -> None:
        self.call_id = call_id
        self.agent_user_id = agent_user_id

    def _participant(self, sfu_participant: Any) -> Participant:
        roles = set(getattr(sfu_participant, "roles", ()) or ())
        kind = ParticipantKind.SIP if "sip" in roles else ParticipantKind.HUMAN
        return Participant(
            sfu_participant, sfu_participant.user_id, participant_id(sfu_participant), kind
        )

    def _is_agent(self, sfu_participant: Any) -> bool:
        return bool(sfu_participant.user_id == self.agent_user_id)

    def joined(self, sfu_participant: Any) -> list[Message]:
        """A participant joined (with the tracks it already publishes)."""
        if self._is_agent(sfu_participant):
            return []
        participant = self._participant(sfu_participant)
        out: list[Message] = [ParticipantJoined(self.call_id, participant)]
        for value in getattr(sfu_participant, "published_tracks", ()):
            kind = _kind(int(value))
            out.append(TrackAdded(self.call_id, participant, track_id(participant.id, kind), kind))
        return out

    def left(self, sfu_participant: Any, reason: str = "left") -> list[Message]:
        """A participant left (the actor ignores one it does not know)."""
        if self._is_agent(sfu_participant):
            return []
        return [ParticipantLeft(self.call_id, self._participant(sfu_participant), reason)]

    def published(self, sfu_participant: Any, value: int) -> list[Message]:
        """A track of type ``value`` was published (the actor joins an unknown publisher first)."""
        if self._is_agent(sfu_participant):
            return []
        participant = self._participant(sfu_participant)
        kind = _kind(value)
        return [TrackAdded(self.call_id, participant, track_id(participant.id, kind), kind)]

    def unpublished(self, sfu_participant: Any, value: int) -> list[Message]:
        """A track of type ``value`` was unpublished (the actor ignores unknown tracks)."""
        if self._is_agent(sfu_participant):
            return []
        participant = self._participant(sfu_participant)
        kind = _kind(value)
        return [TrackRemoved(self.call_id, participant, track_id(participant.id, kind), kind)]

    def snapshot(self, sfu_participants: Iterable[Any], presence: Presence) -> list[Message]:
        """The messages that take ``presence`` (the actor's, as published) to this full list."""
        current = {participant_id(p): p for p in sfu_participants if not self._is_agent(p)}
        published: dict[str, set[TrackType]] = {p.id: set() for p in presence.participants}
        for track in presence.tracks:
            published.setdefault(track.participant_id, set()).add(track.track_type)
        out: list[Message] = []
        for known in presence.participants:
            if known.id not in current:
                for kind in sorted(published[known.id]):
                    out.append(TrackRemoved(self.call_id, known, track_id(known.id, kind), kind))
                out.append(ParticipantLeft(self.call_id, known, "left"))
        for pid, sfu_participant in current.items():
            if pid not in published:
                out.extend(self.joined(sfu_participant))
                continue
            wanted = {_kind(int(v)) for v in getattr(sfu_participant, "published_tracks", ())}
            for kind in sorted(published[pid] - wanted):
                out.extend(self.unpublished(sfu_participant, int(kind)))
            for kind in sorted(wanted - published[pid]):
                out.extend(self.published(sfu_participant, int(kind)))
        return out
