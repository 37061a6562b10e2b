"""A plain shared-state asyncio implementation of the Connection contract.

This is the style of vision-agents' ``StreamConnection``: a dict of
participants and an ``asyncio.Event`` on the connection object itself, updated
by direct method calls, with one task started per handler per event. It has no
actors, no snapshots and no ordering between events: the baseline edge-actors
is measured against.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from messages import (
    Participant,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
    TrackType,
)

Handler = Callable[[Any], Awaitable[None]]


class SharedBus:
    """Handlers by event type; ``send`` starts a task per handler, as the reference does."""

    def __init__(self) -> None:
        self.handlers: dict[type[Any], list[Handler]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, event_type: type[Any], handler: Handler) -> None:
        self.handlers.setdefault(event_type, []).append(handler)

    def send(self, event: Any) -> None:
        for handler in self.handlers.get(type(event), ()):
            task = asyncio.ensure_future(handler(event))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))


class SharedStateConnection:
    """The contract on shared state: the edge calls these methods directly."""

    def __init__(self, call: Any, agent_user_id: str, bus: SharedBus) -> None:
        self.call = call
        self.agent_user_id = agent_user_id
        self.bus = bus
        self.participants: dict[str, Participant] = {}
        self.tracks: dict[str, tuple[Participant, TrackType]] = {}
        self._joined = asyncio.Event()
        self._idle_since = 0.0

    def idle_since(self) -> float:
        return self._idle_since

    async def wait_for_participant(self, timeout: float | None = None) -> None:
        await asyncio.wait_for(self._joined.wait(), timeout)

    def on_joined(self, participant: Participant) -> None:
        if participant.user_id == self.agent_user_id or participant.id in self.participants:
            return
        self.participants[participant.id] = participant
        self._idle_since = 0.0
        self._joined.set()
        self.bus.send(ParticipantJoinedEvent(participant, self.call))

    def on_track_added(self, participant: Participant, track_id: str, kind: TrackType) -> None:
        self.tracks[track_id] = (participant, kind)
        self.bus.send(TrackAddedEvent(track_id, kind, participant, self.call))

    def on_track_removed(self, track_id: str) -> None:
        entry = self.tracks.pop(track_id, None)
        if entry is not None:
            self.bus.send(TrackRemovedEvent(track_id, entry[1], entry[0], self.call))

    def on_left(self, participant: Participant) -> None:
        if self.participants.pop(participant.id, None) is None:
            return
        if not self.participants:
            self._idle_since = time.time()
        self.bus.send(ParticipantLeftEvent(participant, self.call))
