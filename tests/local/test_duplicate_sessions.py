"""Duplicate sessions on the local edge: the session a policy turns away is really disconnected."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from transport import ConnectionOptions, NotReadyError, ParticipantLeftEvent, TrackType, User
from transport.local import LocalEdge

LIMIT = 20.0


async def _refused(person: Any) -> None:
    """Return once ``person``'s signaling socket has been closed by the edge."""
    while True:  # a request fails once the edge has closed the socket
        try:
            await person.publish(TrackType.AUDIO)
        except (ConnectionResetError, NotReadyError):
            return


def _departures(edge: LocalEdge) -> list[ParticipantLeftEvent]:
    """Every ``ParticipantLeftEvent`` of ``edge`` from now on, in order."""
    left: list[ParticipantLeftEvent] = []

    @edge.events.subscribe
    async def record(event: ParticipantLeftEvent) -> None:
        left.append(event)

    return left


async def test_oldest_wins_and_the_newcomer_is_disconnected() -> None:
    options = ConnectionOptions(duplicate_sessions="oldest")
    async with LocalEdge(options=options) as edge:
        left = _departures(edge)
        connection = await edge.join(User("agent"), await edge.create_call("dup"))
        older = await edge.participant("dup", "erin").join()
        newcomer = edge.participant("dup", "erin")
        async with asyncio.timeout(LIMIT):
            with contextlib.suppress(ConnectionResetError):  # it may be cut before Joined
                await newcomer.join()
            await _refused(newcomer)
        await connection.settled()
        assert [p.id for p in connection.participants] == [older.id]
        assert [e.reason for e in left] == ["duplicate"]
        assert left[0].participant.id != older.id
        assert [s.participant.id for s in edge.sessions("dup")] == [older.id]


async def test_newest_wins_and_the_older_session_is_disconnected() -> None:
    options = ConnectionOptions(duplicate_sessions="newest")
    async with LocalEdge(options=options) as edge:
        left = _departures(edge)
        connection = await edge.join(User("agent"), await edge.create_call("dup"))
        first = edge.participant("dup", "erin")
        older = await first.join()
        newer = await edge.participant("dup", "erin").join()
        async with asyncio.timeout(LIMIT):
            await _refused(first)
        await connection.settled()
        assert [p.id for p in connection.participants] == [newer.id]
        assert [(e.participant.id, e.reason) for e in left] == [(older.id, "replaced")]
        assert [s.participant.id for s in edge.sessions("dup")] == [newer.id]
