"""The smallest edge worth the name, written only against ``EdgeTransport``'s hooks.

It proves that an edge plugs in through the contract: the contract suite,
``VisionAgentsEdge`` and a fleet ``Host`` run it unchanged. Its "network" is a
queue: people put what they do on it, and the edge's own reader task (started
by ``on_start``, stopped by ``on_shutdown``) turns each into a protocol message
for the call's connections, as a real edge's socket reader would. It declares
one feature, ``PEOPLE``; everything else raises ``EdgeFeatureError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from typing import Any

from messages import (
    Message,
    Participant,
    ParticipantJoined,
    ParticipantLeft,
    TrackAdded,
    TrackRemoved,
    TrackType,
    User,
    check_call_id,
)
from transport import Connection, EdgeFeature, EdgeTransport


@dataclasses.dataclass(frozen=True)
class MinimalCall:
    id: str


class MinimalPerson:
    """Someone in a call of a ``MinimalEdge``; each step returns once the connections have it."""

    def __init__(self, edge: MinimalEdge, call_id: str, user_id: str) -> None:
        self.edge, self.call_id, self.user_id = edge, call_id, user_id
        self.me: Participant | None = None
        self.tracks: dict[str, TrackType] = {}

    async def join(self) -> Participant:
        self.me = Participant(None, self.user_id, f"{self.user_id}__{next(self.edge.numbers)}")
        await self.edge.receive(self, ParticipantJoined(self.call_id, self.me))
        return self.me

    async def publish(self, track_type: TrackType) -> str:
        assert self.me is not None
        track_id = f"{self.me.id}:{next(self.edge.numbers)}"
        self.tracks[track_id] = track_type
        await self.edge.receive(self, TrackAdded(self.call_id, self.me, track_id, track_type))
        return track_id

    async def unpublish(self, track_id: str) -> None:
        assert self.me is not None
        track_type = self.tracks.pop(track_id)
        await self.edge.receive(self, TrackRemoved(self.call_id, self.me, track_id, track_type))

    async def leave(self, reason: str = "left") -> None:
        assert self.me is not None
        await self.edge.receive(self, ParticipantLeft(self.call_id, self.me, reason))
        self.me = None

    async def drop(self) -> None:
        await self.leave("dropped")


class MinimalEdge(EdgeTransport):
    """People in the process, one reader task: the hooks a new edge writes, and nothing more."""

    features = frozenset((EdgeFeature.PEOPLE,))

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.numbers = itertools.count(1)
        self._calls: dict[str, dict[str, MinimalPerson]] = {}
        self._wire: asyncio.Queue[tuple[MinimalPerson, Message, asyncio.Future[None]]] = (
            asyncio.Queue()
        )
        self._reader: asyncio.Task[None] | None = None

    async def on_start(self) -> None:
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def authenticate(self, user: User) -> None:
        pass

    async def create_call(self, call_id: str, **kwargs: Any) -> MinimalCall:
        return MinimalCall(check_call_id(call_id))

    def participant(self, call_id: str, user_id: str) -> MinimalPerson:
        return MinimalPerson(self, call_id, user_id)

    async def receive(self, person: MinimalPerson, message: Message) -> None:
        """What a person's client sends; returns once the call's connections handled it."""
        await self.start()  # people may come before the agent: the edge starts once either way
        done = asyncio.get_running_loop().create_future()
        self._wire.put_nowait((person, message, done))
        await done

    async def _read(self) -> None:
        while True:
            person, message, done = await self._wire.get()
            present = self._calls.setdefault(message.call_id, {})
            if isinstance(message, ParticipantJoined):
                present[message.participant.id] = person
            elif isinstance(message, ParticipantLeft):
                present.pop(message.participant.id, None)
            await self.apply(message)
            done.set_result(None)

    async def on_join(self, connection: Connection, **kwargs: Any) -> None:
        people = self._calls.get(connection.call.id, {}).values()
        await self.tell_present(
            connection,
            [(p.me, list(p.tracks.items())) for p in people if p.me is not None],
        )

    async def on_shutdown(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None


def minimal_edge() -> MinimalEdge:
    """A fleet ``Host``'s edge factory (a module-level function Ray can pickle)."""
    return MinimalEdge()
