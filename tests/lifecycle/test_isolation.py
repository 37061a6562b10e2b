"""Isolation: a handler that never returns on one call delays nothing on any other call.

The handler blocks on an ``asyncio.Event`` that is only set at teardown, so the
tests are deterministic: if anything on call B waited for it, the test would
hang (and time out), not pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from actors.clock import VirtualClock
from actors.predicates import EmptyFor
from transport import (
    ConnectionClosedEvent,
    ConnectionOptions,
    ConnectionState,
    EdgeEvent,
    MemoryEdge,
    TrackType,
    User,
)

LIMIT = 10.0  # seconds before a test that would otherwise hang is failed


class Stuck:
    """An event handler that blocks forever on every event of ``call_id``."""

    def __init__(self, edge: Any, call_id: str) -> None:
        self.call_id = call_id
        self.release = asyncio.Event()
        self.entered = asyncio.Event()
        self.seen: list[Any] = []
        self.others: list[Any] = []

        @edge.events.subscribe
        async def on_event(event: EdgeEvent) -> None:
            call = getattr(event, "call", None)
            if call is not None and call.id == self.call_id:
                self.seen.append(event)
                self.entered.set()
                await self.release.wait()
            else:
                self.others.append(event)

        self.handler = on_event


@pytest.fixture
async def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
async def edge(clock: VirtualClock) -> AsyncIterator[MemoryEdge]:
    edge = MemoryEdge(clock=clock, options=ConnectionOptions(idle_timeout=30.0))
    yield edge
    await edge.close()


async def test_a_stuck_handler_on_one_call_delays_nothing_on_another(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    a = await edge.join(User("agent"), await edge.create_call("a"))
    b = await edge.join(User("agent"), await edge.create_call("b"))
    stuck = Stuck(edge, "a")
    await edge.participant("a", "alice").join()
    await asyncio.wait_for(stuck.entered.wait(), LIMIT)  # the handler now never returns

    async with asyncio.timeout(LIMIT):
        waiting = asyncio.ensure_future(b.wait_for_participant())
        bob = edge.participant("b", "bob")
        await bob.join()
        await waiting
        track = await bob.publish(TrackType.AUDIO)
        assert [t.track_id for t in b.presence.tracks] == [track]
        await bob.leave()
        assert b.state is ConnectionState.IDLE
        await b.settled()  # call B's events reached the stuck handler too
        clock.advance(30)  # call B's idle timeout fires; call A's handler is still stuck
        await b.caught_up()
        assert b.state is ConnectionState.CLOSED
        await b.close()

    kinds = [type(event).__name__ for event in stuck.others]
    assert kinds[:2] == ["ParticipantJoinedEvent", "ConnectionStateEvent"]
    assert kinds[-1] == "ConnectionClosedEvent"
    assert [e.reason for e in stuck.others if isinstance(e, ConnectionClosedEvent)] == [
        "idle_timeout"
    ]
    assert len(stuck.seen) == 1  # call A: still on its first event
    assert a.state is ConnectionState.ACTIVE
    stuck.release.set()
    await a.settled()


async def test_participants_of_the_stuck_call_are_not_held_back_either(
    edge: MemoryEdge,
) -> None:
    a = await edge.join(User("agent"), await edge.create_call("a"))
    stuck = Stuck(edge, "a")
    alice = edge.participant("a", "alice")
    async with asyncio.timeout(LIMIT):
        await alice.join()
        await stuck.entered.wait()
        await alice.publish(TrackType.VIDEO)
        await alice.leave()
        await a.wait_for(EmptyFor(0))
        assert a.state is ConnectionState.IDLE
    assert edge.events.pending(stuck.handler) >= 3  # queued behind the stuck one, not lost
    stuck.release.set()
    await a.settled()
    assert [type(e).__name__ for e in stuck.seen][:3] == [
        "ParticipantJoinedEvent",
        "ConnectionStateEvent",
        "TrackAddedEvent",
    ]


async def test_settled_waits_for_its_own_connection_only(edge: MemoryEdge) -> None:
    a = await edge.join(User("agent"), await edge.create_call("a"))
    b = await edge.join(User("agent"), await edge.create_call("b"))
    stuck = Stuck(edge, "a")
    await edge.participant("a", "alice").join()
    await edge.participant("b", "bob").join()
    await asyncio.wait_for(b.settled(), LIMIT)
    with pytest.raises(TimeoutError):
        await a.settled(timeout=0.05)  # its handler is stuck: settled() says so
    stuck.release.set()
    await asyncio.wait_for(a.settled(), LIMIT)


async def test_closing_the_edge_does_not_hang_on_a_stuck_handler(clock: VirtualClock) -> None:
    edge = MemoryEdge(clock=clock, handler_grace=0.05)
    await edge.join(User("agent"), await edge.create_call("a"))
    stuck = Stuck(edge, "a")
    await edge.participant("a", "alice").join()
    await asyncio.wait_for(stuck.entered.wait(), LIMIT)
    await asyncio.wait_for(edge.close(), LIMIT)
    assert edge.events.pending(stuck.handler) == 0  # its delivery was cancelled
