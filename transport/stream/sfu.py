"""From Stream's SFU events (getstream's protobuf objects) to the mailbox protocol.

``SfuPresence`` keeps what one connection has been told about the call (who is
in it, which track types each publishes) and turns each SFU event, or a whole
participant-list snapshot after a reconnect, into the messages that bring the
connection actor up to date: duplicated and out-of-order events produce
nothing twice, and a snapshot yields exactly the joins, leaves and track
changes since what was known. Participant ids are ``f"{user_id}__{session_id}"``;
a track is ``f"{participant_id}:{track_type}"`` (the SFU allows one per type).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

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
    """One connection's view of a Stream call, kept by the edge on its loop."""

    def __init__(self, call_id: str, agent_user_id: str) -> None:
        self.call_id = call_id
        self.agent_user_id = agent_user_id
        self.known: dict[str, tuple[Participant, set[TrackType]]] = {}

    def _participant(self, sfu_participant: Any) -> Participant:
        roles = set(getattr(sfu_participant, "roles", ()) or ())
        kind = ParticipantKind.SIP if "sip" in roles else ParticipantKind.HUMAN
        return Participant(
            sfu_participant, sfu_participant.user_id, participant_id(sfu_participant), kind
        )

    def joined(self, sfu_participant: Any) -> list[Message]:
        """A participant joined (with the tracks it already publishes)."""
        pid = participant_id(sfu_participant)
        if sfu_participant.user_id == self.agent_user_id or pid in self.known:
            return []
        participant = self._participant(sfu_participant)
        self.known[pid] = (participant, set())
        out: list[Message] = [ParticipantJoined(self.call_id, participant)]
        for value in getattr(sfu_participant, "published_tracks", ()):
            out.extend(self.published(sfu_participant, int(value)))
        return out

    def left(self, sfu_participant: Any, reason: str = "left") -> list[Message]:
        """A participant left; unknown ones are ignored."""
        entry = self.known.pop(participant_id(sfu_participant), None)
        if entry is None:
            return []
        return [ParticipantLeft(self.call_id, entry[0], reason)]

    def published(self, sfu_participant: Any, value: int) -> list[Message]:
        """A track of type ``value`` was published (a join comes first if it was missed)."""
        if sfu_participant.user_id == self.agent_user_id:
            return []
        out = (
            self.joined(sfu_participant)
            if participant_id(sfu_participant) not in self.known
            else []
        )
        participant, kinds = self.known[participant_id(sfu_participant)]
        kind = _kind(value)
        if kind in kinds:
            return out
        kinds.add(kind)
        out.append(TrackAdded(self.call_id, participant, track_id(participant.id, kind), kind))
        return out

    def unpublished(self, sfu_participant: Any, value: int) -> list[Message]:
        """A track of type ``value`` was unpublished; unknown tracks are ignored."""
        entry = self.known.get(participant_id(sfu_participant))
        kind = _kind(value)
        if entry is None or kind not in entry[1]:
            return []
        entry[1].discard(kind)
        return [TrackRemoved(self.call_id, entry[0], track_id(entry[0].id, kind), kind)]

    def snapshot(self, sfu_participants: Iterable[Any]) -> list[Message]:
        """Bring the view to a full participant list (after a reconnect): only the differences."""
        current = {
            participant_id(p): p for p in sfu_participants if p.user_id != self.agent_user_id
        }
        out: list[Message] = []
        for pid in [pid for pid in self.known if pid not in current]:
            participant, kinds = self.known[pid]
            for kind in sorted(kinds):
                out.append(TrackRemoved(self.call_id, participant, track_id(pid, kind), kind))
            out.append(ParticipantLeft(self.call_id, participant, "dropped"))
            del self.known[pid]
        for pid, sfu_participant in current.items():
            if pid not in self.known:
                out.extend(self.joined(sfu_participant))
                continue
            wanted = {_kind(int(v)) for v in getattr(sfu_participant, "published_tracks", ())}
            _, kinds = self.known[pid]
            for kind in sorted(kinds - wanted):
                out.extend(self.unpublished(sfu_participant, int(kind)))
            for kind in sorted(wanted - kinds):
                out.extend(self.published(sfu_participant, int(kind)))
        return out
