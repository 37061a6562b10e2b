"""The connection contract, written once and run on every edge that can run here.

As pykka runs one suite over every runtime, these scenarios run over an
``edge`` fixture: ``MemoryEdge`` (driven by code) and ``LocalEdge`` (real aiortc
participants and websockets on loopback). Participants come from
``edge.participant(call_id, user_id)`` on both, with the same methods. The
Stream edge runs the same scenarios once a local Stream emulator exists
(issue #15); its SDK cannot reach Stream's servers from here.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from actors.predicates import EmptyFor
from transport import (
    ConnectionClosedError,
    ConnectionClosedEvent,
    ConnectionOptions,
    ConnectionState,
    EdgeTransport,
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


def _local() -> EdgeTransport:
    pytest.importorskip("aiortc")
    from transport.local import LocalEdge

    return LocalEdge()


_EDGES = {"memory": MemoryEdge, "local": _local}


@pytest.fixture(params=list(_EDGES))
async def edge(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    made = _EDGES[request.param]()
    start = getattr(made, "start", None)
    if start is not None:
        await start()
    try:
        async with asyncio.timeout(LIMIT):
            yield made
    finally:
        await made.close()


def _of(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


async def test_a_participants_life_follows_the_contract(edge: Any, events: list[Any]) -> None:
    connection = await edge.join(User("agent"), await edge.create_call("life"))
    assert connection.idle_since() == 0.0  # waiting
    waiting = asyncio.ensure_future(connection.wait_for_participant(timeout=LIMIT))
    alice = edge.participant("life", "alice")
    joined = await alice.join()
    await waiting
    assert [p.id for p in connection.participants] == [joined.id]
    audio = await alice.publish(TrackType.AUDIO)
    video = await alice.publish(TrackType.VIDEO)
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
    assert connection.idle_since() == 0.0  # active again
    await back.leave()


async def test_a_late_agent_is_told_who_is_there(edge: Any) -> None:
    alice = edge.participant("late", "alice")
    await alice.join()
    await alice.publish(TrackType.VIDEO)
    late = await edge.join(User("agent"), await edge.create_call("late"))
    assert [p.user_id for p in late.participants] == ["alice"]
    assert [t.track_type for t in late.presence.tracks] == [TrackType.VIDEO]
    await alice.leave()


async def test_newest_session_wins_and_inspect_says_why(edge: Any, events: list[Any]) -> None:
    options = ConnectionOptions(duplicate_sessions="newest")
    connection = await edge.join(User("agent"), await edge.create_call("dup"), options=options)
    first = edge.participant("dup", "erin")
    older = await first.join()
    second = edge.participant("dup", "erin")
    newer = await second.join()
    assert [p.id for p in connection.participants] == [newer.id]
    await connection.settled()
    left = _of(events, ParticipantLeftEvent)
    assert [(e.participant.id, e.reason) for e in left] == [(older.id, "replaced")]
    report = await connection.inspect()
    assert [(e.what, e.participant_id) for e in report.lifecycle] == [
        ("joined", older.id),
        ("replaced", older.id),
        ("joined", newer.id),
    ]
    await second.leave()


async def test_a_dropped_participant_back_within_grace_has_not_left(
    edge: Any, events: list[Any]
) -> None:
    options = ConnectionOptions(reconnect_grace=30)
    connection = await edge.join(User("agent"), await edge.create_call("grace"), options=options)
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
    connection = await edge.join(User("agent"), await edge.create_call("closing"))
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
