"""Fixtures of the Stream edge's tests: the emulator, an edge on it, and an event log to await.

Everything runs through the unmodified getstream SDK against
``transport.stream.emulator.StreamEmulator`` on 127.0.0.1; nothing reaches
Stream's servers (the live test, marked ``live``, is the exception).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("getstream.video.rtc")

from transport import EdgeEvent, User
from transport.stream import StreamEdge, StreamParticipant
from transport.stream.emulator import StreamEmulator

LIMIT = 10.0
"""Seconds a wait in these tests may take (none needs more than a few)."""

AGENT = User("agent-7", name="Agent Seven")


class EventLog:
    """Every event of an edge, in order, and a way to wait for one that matches."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self._changed = asyncio.Condition()

    async def record(self, event: EdgeEvent) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of(self, kind: type) -> list[Any]:
        """The events of type ``kind``, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    async def until(self, match: Callable[[Any], bool]) -> Any:
        """The first event that ``match`` accepts, once there is one."""
        async with asyncio.timeout(LIMIT), self._changed:
            await self._changed.wait_for(lambda: any(match(e) for e in self.events))
            return next(e for e in self.events if match(e))


@pytest.fixture
async def emulator() -> AsyncIterator[StreamEmulator]:
    async with StreamEmulator() as running:
        yield running


@pytest.fixture
async def edge(emulator: StreamEmulator) -> AsyncIterator[StreamEdge]:
    made = emulator.edge()
    try:
        yield made
    finally:
        await made.close()


@pytest.fixture
def log(edge: StreamEdge) -> EventLog:
    recorded = EventLog()

    @edge.events.subscribe
    async def record(event: EdgeEvent) -> None:
        await recorded.record(event)

    return recorded


Person = Callable[[str, str], Awaitable[StreamParticipant]]


@pytest.fixture
async def person(emulator: StreamEmulator) -> AsyncIterator[Person]:
    """Joins a human participant: a real SDK client of the emulator (gone when the test ends)."""
    made: list[StreamParticipant] = []
    client = emulator.client()

    async def join(call_id: str, user_id: str) -> StreamParticipant:
        participant = StreamParticipant(client, call_id, user_id)
        made.append(participant)
        await participant.join()
        return participant

    yield join
    for participant in made:
        await participant.leave()
    await client.aclose()
