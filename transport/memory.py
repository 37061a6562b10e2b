"""``MemoryEdge``: an in-process edge driven by code, for tests and benchmarks.

Participants are ``MemoryParticipant`` objects whose methods send exactly the
mailbox messages a real edge sends, so an agent tested here behaves the same on
the local or Stream edge. No media flows. Everything runs on the edge's loop.
"""

from __future__ import annotations

import itertools
from typing import Any

import msgspec

from messages import (
    Close,
    NotReadyError,
    Participant,
    ParticipantJoined,
    ParticipantLeft,
    TrackAdded,
    TrackRemoved,
    TrackType,
    User,
    check_call_id,
)
from transport._connection import Connection
from transport._edge import EdgeTransport
from transport.custom_events import check_custom_event
from transport.features import EdgeFeature

__all__ = ["MemoryCall", "MemoryEdge", "MemoryParticipant"]

MAX_CUSTOM_EVENT = 16 * 1024
"""Bytes of JSON a custom event may take, as on the local edge."""


class MemoryCall(msgspec.Struct, frozen=True):
    """A call on a ``MemoryEdge``."""

    id: str


class MemoryParticipant:
    """A scripted participant of a ``MemoryEdge`` call; made by ``edge.participant()``.

    Each action returns once every connection of the call has handled it:
    presence published, waits settled. It does not wait for event handlers
    (a slow handler delays nobody's participants); ``connection.settled()``
    does, for a test that checks what its handlers saw.
    """

    def __init__(self, edge: MemoryEdge, call_id: str, user_id: str) -> None:
        self.edge = edge
        self.call_id = call_id
        self.user_id = user_id
        self.participant: Participant | None = None
        self.tracks: dict[str, TrackType] = {}
        self.custom_events: list[dict[str, Any]] = []
        """The custom events the agent sent to the call while this participant was in it."""

    def __repr__(self) -> str:
        who = self.participant.id if self.participant else f"{self.user_id} (not joined)"
        return f"<MemoryParticipant {who} in {self.call_id}>"

    def _require_joined(self) -> Participant:
        if self.participant is None:
            msg = f"{self.user_id} has not joined {self.call_id}: call join() first"
            raise NotReadyError(msg)
        return self.participant

    async def join(self) -> Participant:
        """Join the call as a new session; returns the participant."""
        if self.participant is not None:
            msg = f"{self.participant.id} is already in {self.call_id}"
            raise NotReadyError(msg)
        session = self.edge.next_session()
        self.participant = Participant(self, self.user_id, f"{self.user_id}__s{session}")
        self.edge.present(self.call_id)[self.participant.id] = self
        await self.edge.apply(ParticipantJoined(self.call_id, self.participant))
        return self.participant

    async def publish(self, track_type: TrackType) -> str:
        """Publish a track of ``track_type``; returns its track id."""
        participant = self._require_joined()
        track_id = f"{participant.id}:t{self.edge.next_track()}"
        self.tracks[track_id] = track_type
        await self.edge.apply(TrackAdded(self.call_id, participant, track_id, track_type))
        return track_id

    async def unpublish(self, track_id: str) -> None:
        """Unpublish one of this participant's tracks."""
        participant = self._require_joined()
        track_type = self.tracks.pop(track_id, TrackType.UNSPECIFIED)
        await self.edge.apply(TrackRemoved(self.call_id, participant, track_id, track_type))

    async def leave(self) -> None:
        """Leave the call (``ParticipantLeft`` with reason ``left``)."""
        await self._go("left")

    async def drop(self) -> None:
        """Vanish as a lost transport would (``ParticipantLeft`` with reason ``dropped``)."""
        await self._go("dropped")

    async def _go(self, reason: str) -> None:
        participant = self._require_joined()
        self.edge.present(self.call_id).pop(participant.id, None)
        self.participant = None
        self.tracks.clear()
        await self.edge.apply(ParticipantLeft(self.call_id, participant, reason))


class MemoryEdge(EdgeTransport):
    """An edge whose calls live in this process and are driven by ``MemoryParticipant``s.

    A connection that joins a call late is told who is already there and what
    they publish, as a real edge would. It carries no media.
    """

    features = frozenset((EdgeFeature.PEOPLE, EdgeFeature.CUSTOM_EVENTS))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.users: dict[str, User] = {}
        self._calls: dict[str, dict[str, MemoryParticipant]] = {}
        self._sessions = itertools.count(1)
        self._tracks = itertools.count(1)

    async def authenticate(self, user: User) -> None:
        """Remember the agent's user."""
        self.users[user.id] = user

    async def create_call(self, call_id: str, **kwargs: Any) -> MemoryCall:
        """Get or create the call ``call_id`` (it exists once someone is in it)."""
        return MemoryCall(check_call_id(call_id))

    def participant(self, call_id: str, user_id: str) -> MemoryParticipant:
        """A new participant for ``call_id`` (not joined yet)."""
        return MemoryParticipant(self, call_id, user_id)

    async def send_custom_event(self, call_id: str, data: dict[str, Any]) -> int:
        """Give ``data`` (a JSON object) to every participant in ``call_id``; how many.

        Each finds it in ``custom_events``. ``CustomEventError`` if ``data`` is
        not a JSON object of at most ``MAX_CUSTOM_EVENT`` bytes.
        """
        event = msgspec.json.decode(check_custom_event(data, MAX_CUSTOM_EVENT))  # a copy
        present = self._calls.get(call_id, {})
        for person in present.values():
            person.custom_events.append(event)
        return len(present)

    async def end_call(self, call_id: str) -> None:
        """End the call: every connection to it receives ``Close(reason="call_ended")``."""
        self._calls.pop(call_id, None)
        connections = self.connections(call_id)
        self.deliver(Close(call_id, "call_ended"))
        for connection in connections:
            await connection.close()

    # -- what MemoryParticipants call ---------------------------------------------------

    def next_session(self) -> int:
        """A new session number, for a participant's id (``user__s<n>``)."""
        return next(self._sessions)

    def next_track(self) -> int:
        """A new track number, for a track id (``<participant>:t<n>``)."""
        return next(self._tracks)

    def present(self, call_id: str) -> dict[str, MemoryParticipant]:
        """The participants in ``call_id`` now, by participant id (the edge's own table)."""
        return self._calls.setdefault(call_id, {})

    async def on_join(self, connection: Connection, **kwargs: Any) -> None:
        members = list(self._calls.get(connection.call.id, {}).values())
        await self.tell_present(
            connection,
            [(m.participant, list(m.tracks.items())) for m in members if m.participant],
        )
