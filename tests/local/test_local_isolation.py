"""Isolation on the local edge: a stuck handler on call A delays no signaling, on any call.

Real aiortc participants on loopback. The handler blocks on an ``asyncio.Event``
set only at the end, so anything that waited for it would hang and fail.
"""

from __future__ import annotations

import asyncio
from typing import Any

from actors.predicates import EmptyFor
from transport import ConnectionState, EdgeEvent, TrackType, User
from transport.local import LocalEdge

LIMIT = 20.0  # seconds before a test that would otherwise hang is failed


async def test_a_stuck_handler_on_one_call_delays_no_signaling(edge: LocalEdge) -> None:
    a = await edge.join(User("agent"), await edge.create_call("a"))
    b = await edge.join(User("agent"), await edge.create_call("b"))
    release, entered = asyncio.Event(), asyncio.Event()
    others: list[Any] = []

    @edge.events.subscribe
    async def on_event(event: EdgeEvent) -> None:
        if event.call.id == "a":  # type: ignore[attr-defined]
            entered.set()
            await release.wait()
        else:
            others.append(event)

    alice = edge.participant("a", "alice")
    bob = edge.participant("b", "bob")
    try:
        async with asyncio.timeout(LIMIT):
            await alice.join()
            await entered.wait()  # from here on, call A's handler never returns
            await alice.publish(TrackType.AUDIO)  # call A still gets its SDP answer
            waiting = asyncio.ensure_future(b.wait_for_participant())
            await bob.join()
            await waiting
            track = await bob.publish(TrackType.VIDEO)
            assert [t.track_id for t in b.presence.tracks] == [track]
            await bob.leave()
            await b.wait_for(EmptyFor(0))
            await b.settled()
            assert [p.user_id for p in a.participants] == ["alice"]  # her socket is still up
            assert a.state is ConnectionState.ACTIVE
            assert len(a.presence.tracks) == 1
        names = [type(e).__name__ for e in others]
        assert names.count("ParticipantJoinedEvent") == 1
        assert names.count("ParticipantLeftEvent") == 1
    finally:
        release.set()
    await alice.leave()
    await a.wait_for(EmptyFor(0), timeout=LIMIT)
