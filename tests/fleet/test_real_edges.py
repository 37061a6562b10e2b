"""Hosts on real edges: two ``LocalEdge`` hosts on a local Ray cluster, running the user's agent.

(A lost host has its own module, ``test_real_edges_lost_host.py``: it kills one.)

Participants are real aiortc peers joining at the URL placement returns; the
agent (``transport.fleet.agents.greeter``) answers each one with a custom
event saying what it saw, which is how these tests see the agent's view.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("aiortc")

from real_people import visit  # noqa: E402

from transport.fleet import (  # noqa: E402
    close_call,
    place,
    seats_taken,
)
from transport.fleet.agents import greeter  # noqa: E402

LOST_AFTER = 2.0
WAIT = 20.0  # seconds any one step may take on a loaded 2-core machine


@pytest.fixture(scope="module")
def fleet(fleet_of: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return fleet_of(("real-a", "real-b"), lost_after=LOST_AFTER, max_sessions=10, agent=greeter)


async def test_a_participant_joins_where_the_call_was_placed_and_its_agent_sees_the_tracks(
    fleet: dict[str, Any],
) -> None:
    first = await place("real-1", "agent")
    second = await place("real-2", "agent")
    assert first.host != second.host
    assert first.url.startswith("http://127.0.0.1:")
    assert first.url != second.url
    assert first.url == await fleet[first.host].url.remote()

    alice, joined, track = await visit(first, "alice")
    async with asyncio.timeout(WAIT):
        greeting = await alice.custom_event()
    assert greeting["participants"] == [joined.id]
    assert greeting["tracks"] == [track]
    await alice.leave()

    assert await close_call("real-1")
    assert await close_call("real-2")
    assert await seats_taken() == {"real-a": 0, "real-b": 0}
