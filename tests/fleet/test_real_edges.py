"""Hosts on real edges: two ``LocalEdge`` hosts on a local Ray cluster, running the user's agent.

Participants are real aiortc peers joining at the URL placement returns; the
agent (``transport.fleet.agents.greeter``) answers each one with a custom
event saying what it saw, which is how these tests see the agent's view.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("aiortc")

from messages import TrackType  # noqa: E402
from transport.fleet import (  # noqa: E402
    RemoteConnectionRef,
    close_call,
    next_lost,
    place,
    place_again,
    seats_taken,
)
from transport.fleet.agents import greeter  # noqa: E402
from transport.local import LocalParticipant  # noqa: E402

LOST_AFTER = 2.0
WAIT = 20.0  # seconds any one step may take on a loaded 2-core machine


@pytest.fixture(scope="module")
def fleet(fleet_of: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return fleet_of(("real-a", "real-b"), lost_after=LOST_AFTER, max_sessions=10, agent=greeter)


async def _visit(ref: RemoteConnectionRef, user_id: str) -> tuple[LocalParticipant, Any, str]:
    """``user_id`` joins at the call's URL and publishes video; (participant, joined, track)."""
    person = LocalParticipant(ref.url, ref.call_id, await ref.token(user_id))
    joined = await person.join()
    track = await person.publish(TrackType.VIDEO)
    return person, joined, track


async def test_a_participant_joins_where_the_call_was_placed_and_its_agent_sees_the_tracks(
    fleet: dict[str, Any],
) -> None:
    first = await place("real-1", "agent")
    second = await place("real-2", "agent")
    assert first.host != second.host
    assert first.url.startswith("http://127.0.0.1:")
    assert first.url != second.url
    assert first.url == await fleet[first.host].url.remote()

    alice, joined, track = await _visit(first, "alice")
    async with asyncio.timeout(WAIT):
        greeting = await alice.custom_event()
    assert greeting["participants"] == [joined.id]
    assert greeting["tracks"] == [track]
    await alice.leave()

    assert await close_call("real-1")
    assert await close_call("real-2")
    assert await seats_taken() == {"real-a": 0, "real-b": 0}


async def test_a_lost_hosts_call_is_placed_again_and_the_participant_rejoins_there(
    fleet: dict[str, Any],
) -> None:
    ref = await place("moving", "agent-m")
    bob, _, _ = await _visit(ref, "bob")
    async with asyncio.timeout(WAIT):
        before = await bob.custom_event()

    ray.kill(fleet[ref.host])
    async with asyncio.timeout(WAIT):
        lost = await next_lost()
    assert (lost.host, lost.call_ids, lost.agent_ids) == (ref.host, ("moving",), ("agent-m",))
    with contextlib.suppress(Exception):  # his host is gone: nothing to say goodbye to
        await bob.leave()

    again = (await place_again(lost))["moving"]
    assert isinstance(again, RemoteConnectionRef)
    assert again.host != ref.host
    assert again.url != ref.url
    bob_again, joined, track = await _visit(again, "bob")
    async with asyncio.timeout(WAIT):
        after = await bob_again.custom_event()
    assert after["host_pid"] != before["host_pid"]
    assert (after["participants"], after["tracks"]) == ([joined.id], [track])
    await bob_again.leave()
    assert await close_call("moving")
