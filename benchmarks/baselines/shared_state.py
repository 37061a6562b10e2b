"""A plain shared-state asyncio implementation of the Connection contract: the baseline.

Written in the style of vision-agents' ``StreamConnection``: the connection
object holds a dict of participants, a track table, an ``asyncio.Event`` set
when someone joins and an idle timestamp; the edge calls its handlers directly
as things happen in the call (``SharedStateEdge.deliver`` takes the same
``messages`` an edge-actors edge delivers, so the scenarios feed both the same
script); every event goes to every subscribed handler through a new task, as
the reference's event manager does. No actors, no snapshots, no mailbox, no
order between events of one handler: what edge-actors is measured against.

The event flow matches the rule table of ``actors/connection.py``:

- ``ParticipantJoined`` -> ``ParticipantJoinedEvent`` (the agent's own user and
  a duplicate session are ignored), wakes ``wait_for_participant``;
- ``TrackAdded`` / ``TrackRemoved`` -> ``TrackAddedEvent`` / ``TrackRemovedEvent``
  (an unknown track is ignored);
- ``ParticipantLeft`` -> ``TrackRemovedEvent`` for each track it still had, then
  ``ParticipantLeftEvent``; the last departure stamps ``idle_since``;
- ``Close`` -> ``CallEndedEvent`` (reason ``call_ended``), ``ConnectionClosedEvent``;
  nothing after it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from messages import (
    CallEndedEvent,
    Close,
    ConnectionClosedEvent,
    Message,
    Participant,
    ParticipantJoined,
    ParticipantJoinedEvent,
    ParticipantLeft,
    ParticipantLeftEvent,
    TrackAdded,
    TrackAddedEvent,
    TrackRemoved,
    TrackRemovedEvent,
    TrackType,
)

__all__ = ["Handler", "SharedBus", "SharedStateConnection", "SharedStateEdge"]

Handler = Callable[[Any], Awaitable[None]]
"""An ``async def`` event handler."""


class SharedBus:
    """Handlers by event type; ``send`` starts one task per handler per event."""

    def __init__(self) -> None:
        self.handlers: dict[type[Any], list[Handler]] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    def subscribe(self, event_type: type[Any], handler: Handler) -> None:
        """Call ``handler`` for every event of exactly ``event_type``."""
        self.handlers.setdefault(event_type, []).append(handler)

    def send(self, event: Any) -> None:
        """Start a task per subscribed handler (on the running loop)."""
        for handler in self.handlers.get(type(event), ()):
            task: asyncio.Task[None] = asyncio.ensure_future(handler(event))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Return once every handler task started so far (and by them) has finished."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


class SharedStateConnection:
    """One agent's connection to one call, as mutable state updated in place."""

    def __init__(self, call: Any, agent_user_id: str, bus: SharedBus) -> None:
        self.call = call
        self.agent_user_id = agent_user_id
        self.bus = bus
        self._participants: dict[str, Participant] = {}
        self._tracks: dict[str, tuple[Participant, TrackType]] = {}
        self._joined = asyncio.Event()
        self._idle_since = 0.0
        self.closed = False
        self._handlers: dict[type[Any], Callable[[Any], None]] = {
            ParticipantJoined: self._on_joined,
            ParticipantLeft: self._on_left,
            TrackAdded: self._on_track_added,
            TrackRemoved: self._on_track_removed,
            Close: self._on_close,
        }

    @property
    def participants(self) -> tuple[Participant, ...]:
        """Who is in the call now, agent excluded (a copy of the dict's values)."""
        return tuple(self._participants.values())

    def idle_since(self) -> float:
        """``time.time()`` of the last departure once all have left, else 0.0."""
        return self._idle_since

    async def wait_for_participant(
        self, timeout: float | None = None, *, user_id: str | None = None
    ) -> None:
        """Return once someone other than the agent (of ``user_id``) is present."""
        async with asyncio.timeout(timeout):
            while True:
                if any(user_id in (None, p.user_id) for p in self._participants.values()):
                    return
                await self._joined.wait()
                self._joined.clear()

    def handle(self, message: Message) -> None:
        """Apply one protocol message to the state and emit its events."""
        if self.closed:
            return
        self._handlers[type(message)](message)

    def _on_joined(self, message: ParticipantJoined) -> None:
        participant = message.participant
        if participant.user_id == self.agent_user_id or participant.id in self._participants:
            return
        self._participants[participant.id] = participant
        self._idle_since = 0.0
        self._joined.set()
        self.bus.send(ParticipantJoinedEvent(participant, self.call))

    def _on_track_added(self, message: TrackAdded) -> None:
        self._tracks[message.track_id] = (message.participant, message.track_type)
        self.bus.send(
            TrackAddedEvent(message.track_id, message.track_type, message.participant, self.call)
        )

    def _on_track_removed(self, message: TrackRemoved) -> None:
        entry = self._tracks.pop(message.track_id, None)
        if entry is not None:
            self.bus.send(TrackRemovedEvent(message.track_id, entry[1], entry[0], self.call))

    def _on_left(self, message: ParticipantLeft) -> None:
        participant = message.participant
        if self._participants.pop(participant.id, None) is None:
            return
        for track_id, (owner, kind) in list(self._tracks.items()):
            if owner.id == participant.id:
                del self._tracks[track_id]
                self.bus.send(TrackRemovedEvent(track_id, kind, owner, self.call))
        if not self._participants:
            self._idle_since = time.time()
        self.bus.send(ParticipantLeftEvent(participant, self.call, message.reason))

    def _on_close(self, message: Close) -> None:
        self.closed = True
        self._participants.clear()
        self._tracks.clear()
        if message.reason == "call_ended":
            self.bus.send(CallEndedEvent(self.call))
        self.bus.send(ConnectionClosedEvent(self.call, message.reason))

    async def close(self) -> None:
        """Idempotent: mark closed and emit ``ConnectionClosedEvent`` once."""
        if not self.closed:
            self._on_close(Close(str(self.call)))


class SharedStateEdge:
    """Connections by call id; ``deliver`` calls their handlers directly, in this task."""

    def __init__(self) -> None:
        self.events = SharedBus()
        self._by_call: dict[str, list[SharedStateConnection]] = {}

    def join(self, agent_user_id: str, call_id: str) -> SharedStateConnection:
        """Make a connection to ``call_id`` (synchronous: there is nothing to start)."""
        connection = SharedStateConnection(call_id, agent_user_id, self.events)
        self._by_call.setdefault(call_id, []).append(connection)
        return connection

    def connections(self, call_id: str) -> tuple[SharedStateConnection, ...]:
        """The connections of ``call_id``."""
        return tuple(self._by_call.get(call_id, ()))

    def deliver(self, message: Message) -> None:
        """Apply ``message`` to every connection of its call, now."""
        for connection in self._by_call.get(message.call_id, ()):
            connection.handle(message)

    async def close(self) -> None:
        """Close every connection and wait for their handlers."""
        for members in self._by_call.values():
            for connection in members:
                await connection.close()
        self._by_call.clear()
        await self.events.drain()
