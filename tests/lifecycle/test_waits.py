"""Waits on live state: predicates over the presence, checked from the moment they start."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from actors.waits import RemoveWaiter, settle
from messages import Close, Participant, ParticipantJoined
from transport import (
    AtLeast,
    ConnectionClosedError,
    EmptyFor,
    KindPresent,
    MemoryEdge,
    ParticipantKind,
    Presence,
    Someone,
    TrackPublished,
    TrackType,
    User,
    UserPresent,
    VirtualClock,
)


async def _connection(edge: MemoryEdge) -> Any:
    return await edge.join(User("agent"), await edge.create_call("c"))


async def _pending(connection: Any, predicate: Any, timeout: float | None = None) -> Any:
    task = asyncio.ensure_future(connection.wait_for(predicate, timeout))
    await connection.settled()
    assert not task.done()
    return task


async def test_a_join_before_the_wait_is_not_missed(edge: MemoryEdge) -> None:
    connection = await _connection(edge)
    await edge.participant("c", "alice").join()
    await asyncio.wait_for(connection.wait_for(Someone()), timeout=1)


async def test_user_present_waits_for_that_user(edge: MemoryEdge) -> None:
    connection = await _connection(edge)
    task = await _pending(connection, UserPresent("bob"))
    await edge.participant("c", "alice").join()
    await connection.settled()
    assert not task.done()
    await edge.participant("c", "bob").join()
    await task


async def test_kind_present_reads_the_participant_kind(edge: MemoryEdge) -> None:
    connection = await _connection(edge)
    task = await _pending(connection, KindPresent(ParticipantKind.SIP))
    await edge.participant("c", "alice").join()
    await connection.settled()
    assert not task.done()
    phone = Participant(None, "+15550100", "+15550100__s1", ParticipantKind.SIP)
    edge.deliver(ParticipantJoined("c", phone))
    await task


async def test_track_published_waits_for_that_track_type(edge: MemoryEdge) -> None:
    connection = await _connection(edge)
    alice = edge.participant("c", "alice")
    await alice.join()
    task = await _pending(connection, TrackPublished(TrackType.VIDEO, user_id="alice"))
    await alice.publish(TrackType.AUDIO)
    assert not task.done()
    await alice.publish(TrackType.VIDEO)
    await task


async def test_at_least_counts_sessions(edge: MemoryEdge) -> None:
    connection = await _connection(edge)
    task = await _pending(connection, AtLeast(2))
    await edge.participant("c", "alice").join()
    await connection.settled()
    assert not task.done()
    await edge.participant("c", "alice").join()  # a second session of the same user
    await task


async def test_empty_for_fires_on_the_clock(edge: MemoryEdge, clock: VirtualClock) -> None:
    connection = await _connection(edge)
    alice = edge.participant("c", "alice")
    await alice.join()
    task = await _pending(connection, EmptyFor(5))
    await alice.leave()
    clock.advance(4.9)
    await connection.settled()
    assert not task.done()
    clock.advance(0.1)
    await connection.settled()
    await task


async def test_empty_for_restarts_when_someone_comes_and_goes(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    connection = await _connection(edge)
    task = await _pending(connection, EmptyFor(5))
    clock.advance(3)
    alice = edge.participant("c", "alice")
    await alice.join()
    await alice.leave()
    clock.advance(3)
    await connection.settled()
    assert not task.done()
    clock.advance(2)
    await connection.settled()
    await task


async def test_a_plain_function_of_the_presence_is_a_predicate(edge: MemoryEdge) -> None:
    connection = await _connection(edge)

    def two_users(presence: Presence) -> bool:
        return len({p.user_id for p in presence.participants}) >= 2

    task = await _pending(connection, two_users)
    await edge.participant("c", "alice").join()
    await edge.participant("c", "alice").join()
    await connection.settled()
    assert not task.done()
    await edge.participant("c", "bob").join()
    await task


async def test_timeout_runs_on_the_edge_clock_and_leaves_no_waiter(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    connection = await _connection(edge)
    task = await _pending(connection, Someone(), timeout=10)
    clock.advance(10)
    with pytest.raises(TimeoutError):
        await task
    await connection.settled()
    assert (await connection.report()).waits == 0


async def test_a_cancelled_wait_leaves_no_waiter_and_no_timer(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    connection = await _connection(edge)
    task = await _pending(connection, Someone(), timeout=10)
    assert (await connection.report()).waits == 1
    assert clock.pending() == 1  # its timeout
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await connection.settled()
    assert (await connection.report()).waits == 0
    assert clock.pending() == 0
    await edge.participant("c", "late").join()  # a join after it wakes nobody, breaks nothing
    assert [p.user_id for p in connection.participants] == ["late"]


async def test_a_predicate_that_raises_fails_only_its_wait(edge: MemoryEdge) -> None:
    connection = await _connection(edge)

    def broken(presence: Presence) -> bool:
        if presence.participants:
            raise ValueError("bad predicate")
        return False

    task = await _pending(connection, broken)
    other = await _pending(connection, Someone())
    await edge.participant("c", "alice").join()
    with pytest.raises(ValueError, match="bad predicate"):
        await task
    await other


async def test_close_fails_every_pending_wait(edge: MemoryEdge) -> None:
    connection = await _connection(edge)
    tasks = [await _pending(connection, p) for p in (Someone(), AtLeast(3), EmptyFor(60))]
    await connection.close()
    for task in tasks:
        with pytest.raises(ConnectionClosedError):
            await task


async def test_a_wait_settled_from_another_thread_is_resolved_on_its_own_loop() -> None:
    loop = asyncio.get_running_loop()
    met, closed = loop.create_future(), loop.create_future()
    error = ConnectionClosedError.of("c1")
    await asyncio.to_thread(settle, met)  # as an actor on another loop settles a wait
    await asyncio.to_thread(settle, closed, error)
    assert await asyncio.wait_for(met, 5) is None
    with pytest.raises(ConnectionClosedError) as raised:
        await asyncio.wait_for(closed, 5)
    assert raised.value is error


async def test_a_wait_that_reaches_the_actor_after_its_close_fails_naming_the_connection(
    edge: MemoryEdge,
) -> None:
    connection = await _connection(edge)
    connection.actor_ref.tell(Close("c", "call_ended"))  # queued; the Connection has not seen it
    with pytest.raises(ConnectionClosedError, match=f"connection {connection.key} is closed"):
        await asyncio.wait_for(connection.wait_for_participant(), 5)


async def test_a_cancelled_wait_still_listed_does_not_hold_up_the_waits_after_it(
    edge: MemoryEdge,
) -> None:
    connection = await _connection(edge)
    first = await _pending(connection, Someone())
    second = await _pending(connection, UserPresent("ann"))
    connection.actor_ref.tell(ParticipantJoined("c", Participant(None, "ann", "ann__1")))
    first.cancel()  # its future is done before the join is handled; its removal comes after
    await asyncio.wait_for(second, 5)
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_time_based_and_presence_waits_mixed_each_come_true_on_time(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    connection = await _connection(edge)
    alice = edge.participant("c", "alice")
    await alice.join()
    await alice.leave()
    soon = await _pending(connection, EmptyFor(0.5))  # due in half a second
    later = await _pending(connection, EmptyFor(10))
    someone = await _pending(connection, Someone())  # due never: no timer of its own
    later.cancel()  # its removal leaves the half-second timer running
    await connection.settled()
    clock.advance(0.5)
    await asyncio.wait_for(soon, 5)
    assert not someone.done()
    await alice.join()
    await asyncio.wait_for(someone, 5)
    with pytest.raises(asyncio.CancelledError):
        await later


async def test_removing_a_wait_it_does_not_have_changes_nothing(edge: MemoryEdge) -> None:
    connection = await _connection(edge)
    waiting = await _pending(connection, Someone())
    stranger: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    connection.actor_ref.tell(RemoveWaiter(connection.key, stranger))
    await edge.participant("c", "alice").join()
    await asyncio.wait_for(waiting, 5)
    assert (await connection.report()).restarts == 0


def test_settling_a_wait_whose_loop_has_closed_is_a_no_op() -> None:
    loop = asyncio.new_event_loop()
    future: asyncio.Future[None] = loop.create_future()
    loop.close()
    settle(future)  # from a thread with no loop: nobody is left to wake, and nothing raises
    assert not future.done()
