"""A lost host on real edges: its call is placed again and the participant rejoins there.

A module of its own: it kills one of its two hosts, which no other test may find.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("aiortc")

from real_people import visit  # noqa: E402

from transport.fleet import RemoteConnectionRef, close_call, next_lost, place, place_again  # noqa: E402
from transport.fleet.agents import greeter  # noqa: E402

LOST_AFTER = 2.0
WAIT = 20.0  # seconds any one step may take on a loaded 2-core machine


@pytest.fixture(scope="module")
def fleet(fleet_of: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return fleet_of(("lost-a", "lost-b"), lost_after=LOST_AFTER, max_sessions=10, agent=greeter)


async def test_a_lost_hosts_call_is_placed_again_and_the_participant_rejoins_there(
    fleet: dict[str, Any],
) -> None:
    ref = await place("moving", "agent-m")
    bob, _, _ = await visit(ref, "bob")
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
    bob_again, joined, track = await visit(again, "bob")
    async with asyncio.timeout(WAIT):
        after = await bob_again.custom_event()
    assert after["host_pid"] != before["host_pid"]
    assert (after["participants"], after["tracks"]) == ([joined.id], [track])
    await bob_again.leave()
    assert await close_call("moving")
