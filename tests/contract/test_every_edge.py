"""The connection contract, written once and run on every edge that can run here.

As pykka runs one suite over every runtime, these scenarios run over an
``edge`` fixture: ``MemoryEdge`` (driven by code), ``MinimalEdge`` (the smallest
edge written against the hooks alone, ``tests/edges/minimal.py``), ``LocalEdge`` (real aiortc
participants and websockets on loopback) and ``StreamEdge`` (the getstream SDK
against ``transport.stream.emulator``, with people as real SDK clients).
Participants come from ``edge.participant(call_id, user_id)`` on each, with the
same methods. What an edge cannot do is skipped with the reason (``CANNOT``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from actors.predicates import EmptyFor
from transport import (
    ConnectionClosedError,
    ConnectionClosedEvent,
    ConnectionOptions,
    ConnectionState,
    EdgeClosedError,
    EdgeTransport,
    InvalidCallIdError,
    MemoryEdge,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    ParticipantRejoinedEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
    TrackType,
    User,
)

LIMIT = 20.0
AGENT = User("agent")


@contextlib.asynccontextmanager
async def _memory() -> AsyncIterator[EdgeTransport]:
    async with MemoryEdge() as edge:
        yield edge


@contextlib.asynccontextmanager
async def _local() -> AsyncIterator[EdgeTransport]:
    pytest.importorskip("aiortc")
    from transport.local import LocalEdge

    async with LocalEdge() as edge:
        yield edge


@contextlib.asynccontextmanager
async def _stream() -> AsyncIterator[EdgeTransport]:
    pytest.importorskip("getstream.video.rtc")
    from transport.stream.emulator import StreamEmulator

    async with StreamEmulator() as emulator, emulator.edge() as edge:
        await edge.authenticate(AGENT)  # Stream's calls are created by a known user
        yield edge


@contextlib.asynccontextmanager
async def _minimal() -> AsyncIterator[EdgeTransport]:
    from tests.edges.minimal import MinimalEdge

    async with MinimalEdge() as edge:
        yield edge


_EDGES: dict[str, Callable[[], contextlib.AbstractAsyncContextManager[EdgeTransport]]] = {
    "memory": _memory,
    "minimal": _minimal,
    "local": _local,
    "stream": _stream,
}

CANNOT = {
    ("stream", "drop"): (
        "Stream's SFU holds a dropped session's place itself (its reconnect deadline) and "
        "then reports only that it left: the edge never sees a drop to give grace to"
    ),
}
"""(edge, what): why that edge cannot run scenarios that need it."""


@pytest.fixture(params=list(_EDGES))
def edge_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def edge(edge_kind: str) -> AsyncIterator[Any]:
    async with _EDGES[edge_kind]() as made:
        yield made


def needs(edge_kind: str, what: str) -> None:
    """Skip, saying why, when ``edge_kind`` cannot do ``what``."""
    reason = CANNOT.get((edge_kind, what))
    if reason is not None:
        pytest.skip(reason)


def _of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


async def test_a_participants_life_follows_the_contract(edge: Any, events: list[Any]) -> None:
    connection = await edge.join(AGENT, await edge.create_call("life"))
    assert connection.idle_since() == 0.0  # waiting
    waiting = asyncio.ensure_future(connection.wait_for_participant(timeout=LIMIT))
    alice = edge.participant("life", "alice")
    joined = await alice.join()
    await waiting
    assert [p.id for p in connection.participants] == [joined.id]
    audio = await alice.publish(TrackType.AUDIO)
    video = await alice.publish(TrackType.VIDEO)
    await connection.wait_for(lambda p: len(p.tracks) == 2, timeout=LIMIT)  # a remote SFU's pace
    assert {t.track_id: t.track_type for t in connection.presence.tracks} == {
        audio: TrackType.AUDIO,
        video: TrackType.VIDEO,
    }
    await alice.unpublish(audio)
    await alice.leave()
    await connection.wait_for(EmptyFor(0))
    assert connection.idle_since() > 0.0  # idle
    await connection.settled()
    assert [e.participant.id for e in _of(events, ParticipantJoinedEvent)] == [joined.id]
    assert sorted(e.track_type for e in _of(events, TrackAddedEvent)) == [
        TrackType.AUDIO,
        TrackType.VIDEO,
    ]
    assert [e.track_id for e in _of(events, TrackRemovedEvent)] == [audio, video]
    assert [(e.participant.id, e.reason) for e in _of(events, ParticipantLeftEvent)] == [
        (joined.id, "left")
    ]
    back = edge.participant("life", "alice")
    await back.join()
    await connection.wait_for_participant(timeout=LIMIT)
    assert connection.idle_since() == 0.0  # active again
    await back.leave()


async def test_a_late_agent_is_told_who_is_there(edge: Any) -> None:
    alice = edge.participant("late", "alice")
    await alice.join()
    await alice.publish(TrackType.VIDEO)
    late = await edge.join(AGENT, await edge.create_call("late"))
    assert [p.user_id for p in late.participants] == ["alice"]
    assert [t.track_type for t in late.presence.tracks] == [TrackType.VIDEO]
    await alice.leave()


async def test_newest_session_wins_and_inspect_says_why(edge: Any, events: list[Any]) -> None:
    options = ConnectionOptions(duplicate_sessions="newest")
    connection = await edge.join(AGENT, await edge.create_call("dup"), options=options)
    first = edge.participant("dup", "erin")
    older = await first.join()
    second = edge.participant("dup", "erin")
    newer = await second.join()
    await connection.wait_for(lambda p: [x.id for x in p.participants] == [newer.id], timeout=LIMIT)
    await connection.settled()
    left = _of(events, ParticipantLeftEvent)
    assert [(e.participant.id, e.reason) for e in left] == [(older.id, "replaced")]
    report = await connection.report()
    assert [(e.what, e.participant_id) for e in report.lifecycle] == [
        ("joined", older.id),
        ("replaced", older.id),
        ("joined", newer.id),
    ]
    await second.leave()


async def test_a_dropped_participant_back_within_grace_has_not_left(
    edge: Any, edge_kind: str, events: list[Any]
) -> None:
    needs(edge_kind, "drop")
    options = ConnectionOptions(reconnect_grace=30)
    connection = await edge.join(AGENT, await edge.create_call("grace"), options=options)
    first = edge.participant("grace", "dave")
    await first.join()
    await first.drop()
    await connection.wait_for(lambda p: p.state is ConnectionState.RECONNECTING)
    again = edge.participant("grace", "dave")
    rejoined = await again.join()
    assert [p.id for p in connection.participants] == [rejoined.id]
    assert connection.state is ConnectionState.ACTIVE
    await connection.settled()
    assert _of(events, ParticipantLeftEvent) == []
    assert [e.participant.id for e in _of(events, ParticipantRejoinedEvent)] == [rejoined.id]
    await again.leave()


async def test_close_fails_waits_says_so_once_and_is_idempotent(
    edge: Any, events: list[Any]
) -> None:
    connection = await edge.join(AGENT, await edge.create_call("closing"))
    waiting = asyncio.ensure_future(connection.wait_for_participant())
    await connection.caught_up()
    await asyncio.gather(connection.close(), connection.close())
    with pytest.raises(ConnectionClosedError):
        await waiting
    await connection.close()
    assert connection.state is ConnectionState.CLOSED
    assert [e.reason for e in _of(events, ConnectionClosedEvent)] == ["closed"]
    with pytest.raises(ConnectionClosedError):
        await connection.wait_for_participant(timeout=1)


async def test_an_invalid_call_id_is_refused_before_anything_is_made(edge: Any) -> None:
    for bad in ("", ".hidden", "a/b", "x" * 129, "spaces are not allowed"):
        with pytest.raises(InvalidCallIdError):
            await edge.create_call(bad)
    assert edge.connections() == ()


async def test_a_second_start_is_a_no_op(edge: Any) -> None:
    assert await asyncio.gather(edge.start(), edge.start()) == [edge, edge]
    connection = await edge.join(AGENT, await edge.create_call("twice"))
    assert await edge.start() is edge
    assert connection.state is ConnectionState.WAITING


async def test_start_and_join_after_close_are_refused_saying_what_to_do(edge: Any) -> None:
    call = await edge.create_call("after")
    await asyncio.gather(edge.close(), edge.close())  # concurrent closes share one
    await edge.close()
    with pytest.raises(EdgeClosedError, match="make a new edge"):
        await edge.start()
    with pytest.raises(EdgeClosedError, match="make a new edge"):
        await edge.join(AGENT, call)
    assert edge.connections() == ()


async def test_a_close_during_a_join_closes_that_connection(edge: Any) -> None:
    call = await edge.create_call("overtaken")
    before = asyncio.all_tasks()
    joining = asyncio.ensure_future(edge.join(AGENT, call))
    # join() runs to its first wait (the edge's on_join) before close() begins
    await asyncio.sleep(0)  # one turn of the loop, whose ready queue is FIFO
    assert edge.connections("overtaken") != ()
    await asyncio.wait_for(edge.close(), LIMIT)
    with pytest.raises(EdgeClosedError, match="closed while the agent joined"):
        await asyncio.wait_for(joining, LIMIT)
    assert edge.connections() == ()
    # nothing of the join is left running: what it started ends by itself (an SDK's
    # cancelled tasks take their last turn), and does not keep running
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    if left:
        _, running = await asyncio.wait(left, timeout=LIMIT)
        assert not running, f"still running {LIMIT} s after the close: {running}"
