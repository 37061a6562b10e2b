"""Faults on the memory edge: presence converges and nothing is lost."""

from __future__ import annotations

import asyncio
import logging

import pykka
import pytest

import actors
from messages import Participant, ParticipantJoined, ParticipantLeft
from transport import (
    ConnectionClosedError,
    ConnectionState,
    MemoryEdge,
    ParticipantJoinedEvent,
    User,
)


def _participant(n: int) -> Participant:
    return Participant(None, f"user{n}", f"user{n}__s")


async def test_handlers_that_raise_do_not_stop_delivery_or_corrupt_presence(
    caplog: pytest.LogCaptureFixture,
) -> None:
    edge = MemoryEdge()
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    delivered: list[str] = []

    @edge.events.subscribe
    async def faulty(event: ParticipantJoinedEvent) -> None:
        if event.participant.user_id.endswith(("3", "7")):
            raise RuntimeError(f"handler bug on {event.participant.user_id}")

    @edge.events.subscribe
    async def sound(event: ParticipantJoinedEvent) -> None:
        delivered.append(event.participant.user_id)

    with caplog.at_level(logging.ERROR, logger="transport.bus"):
        for n in range(10):
            edge.deliver(ParticipantJoined("c", _participant(n)))
        await connection.settled()
    assert delivered == [f"user{n}" for n in range(10)]
    assert len(connection.participants) == 10
    failures = [r for r in caplog.records if r.exc_info and "handler bug" in str(r.exc_info[1])]
    assert [str(r.exc_info[1]) for r in failures] == [
        "handler bug on user3",
        "handler bug on user7",
    ]
    await edge.close()


async def test_close_racing_with_joins_ends_closed_with_no_waiter_or_actor_left() -> None:
    edge = MemoryEdge()
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    waits = [
        asyncio.ensure_future(connection.wait_for_participant(user_id="late")) for _ in range(5)
    ]
    for n in range(50):
        edge.deliver(ParticipantJoined("c", _participant(n)))
        if n == 25:
            closing = asyncio.ensure_future(connection.close())
    await closing
    for n in range(50, 60):
        edge.deliver(ParticipantJoined("c", _participant(n)))  # after close: not routed
    results = await asyncio.gather(*waits, return_exceptions=True)
    assert all(isinstance(r, ConnectionClosedError) for r in results)
    assert connection.state is ConnectionState.CLOSED
    assert connection.participants == ()
    await edge.close()
    assert len(actors.directory) == 0


async def test_presence_converges_under_interleaved_joins_and_leaves_from_threads() -> None:
    edge = MemoryEdge()
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    ref = connection.actor_ref

    def churn(offset: int) -> None:
        for n in range(offset, offset + 200):
            ref.tell(ParticipantJoined("c", _participant(n)))
            if n % 2:
                ref.tell(ParticipantLeft("c", _participant(n)))

    await asyncio.gather(*(asyncio.to_thread(churn, k * 1000) for k in range(4)))
    await connection.settled()
    expected = {f"user{k * 1000 + n}" for k in range(4) for n in range(0, 200, 2)}
    assert {p.user_id for p in connection.participants} == expected
    await edge.close()


async def test_a_tell_to_a_dead_connection_says_so() -> None:
    edge = MemoryEdge()
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    await connection.close()
    with pytest.raises(pykka.ActorDeadError, match="not found"):
        connection.actor_ref.tell(ParticipantJoined("c", _participant(1)))
    with pytest.raises(ConnectionClosedError):
        await connection.wait_for_participant(timeout=1)
    await edge.close()
