"""The lifecycle as an explicit state machine, on a virtual clock: no sleeping."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from transport import (
    Connection,
    ConnectionOptions,
    ConnectionState,
    MemoryEdge,
    TrackType,
    User,
    VirtualClock,
)

Names = Callable[[], list[str]]


async def _join(edge: MemoryEdge, options: ConnectionOptions | None = None) -> Any:
    return await edge.join(User("agent"), await edge.create_call("c"), options=options)


async def test_each_transition_is_an_event(edge: MemoryEdge, names: Names) -> None:
    connection = await _join(edge)
    alice = edge.participant("c", "alice")
    await alice.join()
    await alice.leave()
    await connection.close()
    await edge.events.drain()  # every event so far has reached the handler
    assert names() == [
        "ParticipantJoined",
        "State:active",
        "ParticipantLeft:left",
        "State:idle",
        "State:closed",
        "ConnectionClosed:closed",
    ]


async def test_idle_since_is_the_clock_reading_of_the_last_departure(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    connection = await _join(edge)
    alice = edge.participant("c", "alice")
    await alice.join()
    clock.advance(7.5)
    await alice.leave()
    assert connection.state is ConnectionState.IDLE
    assert connection.idle_since() == 1_007.5
    await alice.join()
    assert connection.idle_since() == 0.0


async def test_dropped_participant_keeps_its_place_during_the_grace_period(
    edge: MemoryEdge, clock: VirtualClock, names: Names
) -> None:
    connection = await _join(edge, ConnectionOptions(reconnect_grace=10))
    alice = edge.participant("c", "alice")
    await alice.join()
    await alice.publish(TrackType.AUDIO)
    await alice.drop()
    assert connection.state is ConnectionState.RECONNECTING
    assert [p.user_id for p in connection.participants] == ["alice"]
    assert connection.presence.tracks == ()
    assert connection.idle_since() == 0.0
    clock.advance(9)
    await connection.settled()
    comeback = edge.participant("c", "alice")
    await comeback.join()
    assert connection.state is ConnectionState.ACTIVE
    assert [p.id for p in connection.participants] == [comeback.participant.id]  # type: ignore[union-attr]
    await connection.settled()
    assert "ParticipantLeft:dropped" not in names()
    assert names()[-3:] == ["State:reconnecting", "ParticipantRejoined", "State:active"]


async def test_grace_running_out_makes_the_dropped_participant_leave(
    edge: MemoryEdge, clock: VirtualClock, names: Names
) -> None:
    connection = await _join(edge, ConnectionOptions(reconnect_grace=10))
    alice = edge.participant("c", "alice")
    await alice.join()
    await alice.drop()
    clock.advance(10)
    await connection.settled()
    assert connection.state is ConnectionState.IDLE
    assert connection.participants == ()
    assert connection.idle_since() == 1_010.0
    assert names() == [
        "ParticipantJoined",
        "State:active",
        "ParticipantReconnecting",
        "State:reconnecting",
        "ParticipantLeft:dropped",
        "State:idle",
    ]


async def test_without_grace_a_drop_is_a_departure(edge: MemoryEdge, names: Names) -> None:
    connection = await _join(edge)
    alice = edge.participant("c", "alice")
    await alice.join()
    await alice.drop()
    assert connection.state is ConnectionState.IDLE
    await connection.settled()
    assert names()[-2:] == ["ParticipantLeft:dropped", "State:idle"]


async def test_idle_timeout_closes_the_connection(
    edge: MemoryEdge, clock: VirtualClock, names: Names
) -> None:
    connection = await _join(edge, ConnectionOptions(idle_timeout=30))
    alice = edge.participant("c", "alice")
    await alice.join()
    await alice.leave()
    clock.advance(29.9)
    await connection.settled()
    assert connection.state is ConnectionState.IDLE
    clock.advance(0.1)
    await connection.settled()
    await edge.events.drain()
    assert connection.state is ConnectionState.CLOSED
    assert names()[-1] == "ConnectionClosed:idle_timeout"


async def test_a_rejoin_cancels_the_idle_timeout(edge: MemoryEdge, clock: VirtualClock) -> None:
    connection = await _join(edge, ConnectionOptions(idle_timeout=30))
    alice = edge.participant("c", "alice")
    await alice.join()
    await alice.leave()
    await connection.caught_up()
    assert clock.pending() == 1  # the idle timer
    clock.advance(20)
    await alice.join()
    await connection.caught_up()
    assert clock.pending() == 0  # cancelled by the rejoin, not left to find ACTIVE later
    clock.advance(60)
    await connection.settled()
    assert connection.state is ConnectionState.ACTIVE


async def test_a_second_departure_arms_the_full_idle_timeout_again(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    connection = await _join(edge, ConnectionOptions(idle_timeout=30))
    alice = edge.participant("c", "alice")
    await alice.join()
    await alice.leave()
    clock.advance(20)
    await alice.join()
    await alice.leave()  # idle again at t=20: the timeout counts from here
    clock.advance(29.9)
    await connection.caught_up()
    assert connection.state is ConnectionState.IDLE
    clock.advance(0.1)
    await connection.caught_up()
    assert connection.state is ConnectionState.CLOSED


async def test_ending_a_memory_call_closes_its_connections_as_call_ended() -> None:
    from transport import CallEndedEvent, ConnectionState, MemoryEdge, User

    edge = MemoryEdge()
    connection = await edge.join(User("agent"), await edge.create_call("ended"))
    ended: list[str] = []

    @edge.events.subscribe
    async def on_ended(event: CallEndedEvent) -> None:
        ended.append(event.call.id)

    await edge.participant("ended", "ivy").join()
    await edge.end_call("ended")
    assert connection.state is ConnectionState.CLOSED
    assert ended == ["ended"]
    assert edge.connections("ended") == ()
    await edge.close()


class _SlowRelease(MemoryEdge):
    """Releasing a connection takes until the test lets it go (as an SDK's leave may)."""

    def __init__(self) -> None:
        super().__init__()
        self.releasing = asyncio.Event()
        self.let_go = asyncio.Event()
        self.released: list[str] = []

    async def on_release(self, connection: Connection) -> None:
        self.releasing.set()
        await self.let_go.wait()
        await super().on_release(connection)
        self.released.append(connection.key)


async def test_closing_the_edge_waits_for_a_close_the_call_began() -> None:
    from messages import Close

    edge = _SlowRelease()
    connection = await edge.join(User("agent"), await edge.create_call("ending"))
    edge.deliver(Close("ending", "call_ended"))  # the actor begins the close on its own
    await edge.releasing.wait()
    closing = asyncio.ensure_future(edge.close())
    released_by_then: list[list[str]] = []
    closing.add_done_callback(lambda _: released_by_then.append(list(edge.released)))
    for _ in range(100):  # loop turns, not time: a close that does not wait ends within these
        await asyncio.sleep(0)
    assert not closing.done(), "edge.close() returned while a connection was still releasing"
    edge.let_go.set()
    await closing
    assert released_by_then == [[connection.key]]  # close() returned after the release, not before


async def test_begin_close_starts_the_close_and_close_waits_for_that_one() -> None:
    edge = _SlowRelease()
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    connection.begin_close()
    connection.begin_close()  # a second call starts nothing more
    assert connection.closed
    await edge.releasing.wait()  # the close runs with nobody awaiting it
    edge.let_go.set()
    await connection.close()
    assert edge.released == [connection.key]
    assert connection.state is ConnectionState.CLOSED
    assert not connection.actor_ref.is_alive()
    await edge.close()
