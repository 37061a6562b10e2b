"""The user's agent on a host, and a host declared lost while alive (two ``LocalEdge`` hosts).

The agent below is pickled by value into the hosts' processes (this test
module is not importable there). What it does depends on the call's name:
``fails-*`` raises once someone joins, ``busy-*`` never looks at its
connection (an agent waiting on an LLM), any other waits until its call closes.
People are real aiortc peers joining at the URL placement returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("aiortc")

from ray import cloudpickle  # noqa: E402
from real_people import arrive  # noqa: E402

from transport import Connection  # noqa: E402
from transport.fleet import (  # noqa: E402
    AlreadyPlacedError,
    CallsLostEvent,
    RemoteConnectionRef,
    close_call,
    directory_presence,
    lookup,
    losses,
    place,
    seats_taken,
)

LOST_AFTER = 2.0
WAIT = 20.0  # seconds any one step may take on a loaded 2-core machine
HOSTS = ("agents-a", "agents-b")


async def agent(connection: Connection) -> None:
    """The agent every host of this module runs (see the module docstring)."""
    kind = connection.call.id.split("-")[0]
    if kind == "fails":
        await connection.wait_for_participant(timeout=WAIT)
        raise ValueError("the agent broke")
    if kind == "busy":
        await asyncio.Event().wait()  # never looks at its connection again
    await connection.wait_for(lambda _: False)  # until the call closes


@pytest.fixture(scope="module")
def fleet(fleet_of: Callable[..., dict[str, Any]]) -> Iterator[dict[str, Any]]:
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        yield fleet_of(HOSTS, lost_after=LOST_AFTER, max_sessions=10, agent=agent)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


async def test_an_agent_that_fails_is_logged_and_its_call_closed_with_its_seat_back(
    fleet: dict[str, Any],
) -> None:
    ref = await place("fails-1", "agent")
    host = fleet[ref.host]
    alice, _ = await arrive(ref, "alice")
    await ref.wait_closed(timeout=WAIT)
    await alice.leave()
    assert await host.agent_failures.remote() == [("fails-1", "ValueError: the agent broke")]
    assert await lookup("fails-1") is None
    assert (await seats_taken())[ref.host] == 0
    assert await host.agents.remote() == []


async def test_an_agent_busy_elsewhere_is_cancelled_when_its_call_is_closed_remotely(
    fleet: dict[str, Any],
) -> None:
    ref = await place("busy-1", "agent")
    host = fleet[ref.host]
    assert await host.agents.remote() == ["busy-1"]
    assert await close_call("busy-1", "closed from the driver")  # returns once the seat is back
    assert await host.agents.remote() == []
    assert (await seats_taken())[ref.host] == 0
    assert "busy-1" not in dict(await host.agent_failures.remote())  # cancelled, not failed


async def test_a_call_is_placed_on_one_host_at_a_time(fleet: dict[str, Any]) -> None:
    outcomes = await asyncio.gather(
        *(place("once-1", "agent") for _ in range(5)), return_exceptions=True
    )
    [ref] = [o for o in outcomes if isinstance(o, RemoteConnectionRef)]
    refused = [o for o in outcomes if not isinstance(o, RemoteConnectionRef)]
    assert len(refused) == 4
    assert all(isinstance(e, AlreadyPlacedError) and e.host == ref.host for e in refused)
    assert sum((await seats_taken()).values()) == 1
    assert await close_call("once-1")
    again = await place("once-1", "agent")  # closed: it may be placed again
    assert await close_call("once-1")
    assert again.call_id == ref.call_id


async def _first_loss(
    replace_lost: bool,
) -> tuple[CallsLostEvent, dict[str, RemoteConnectionRef | Exception]]:
    async with contextlib.aclosing(losses(replace_lost=replace_lost)) as watching:
        async for lost, placed in watching:
            return lost, dict(placed)
    raise AssertionError("losses() ended")


async def test_a_host_declared_lost_while_alive_closes_its_calls_and_serves_again_empty(
    fleet: dict[str, Any],
) -> None:
    ref = await place("stalled-1", "agent-s")
    stalled, other = fleet[ref.host], fleet[next(h for h in HOSTS if h != ref.host)]
    # No heartbeat and no answer until the call is placed on the other host.
    stall = stalled.stall_until_placed_elsewhere.remote("stalled-1", WAIT)

    async with asyncio.timeout(WAIT):  # two watchers place its call again: only one does
        (lost, placed), (_, placed_too) = await asyncio.gather(
            _first_loss(replace_lost=True), _first_loss(replace_lost=True)
        )
    assert (lost.host, lost.call_ids, lost.agent_ids) == (ref.host, ("stalled-1",), ("agent-s",))
    [again] = [
        o
        for o in (placed["stalled-1"], placed_too["stalled-1"])
        if isinstance(o, RemoteConnectionRef)
    ]
    [refused] = [o for o in (placed["stalled-1"], placed_too["stalled-1"]) if o is not again]
    assert isinstance(refused, AlreadyPlacedError)
    assert again.host != ref.host  # the stalled host is not live for placement meanwhile

    # It wakes up, learns from its next heartbeat that it was declared lost, and fences.
    assert await stalled.fences.remote(1, WAIT) == [["stalled-1"]]
    assert await stall  # it woke up only once the call was served elsewhere
    assert await stalled.agents.remote() == []
    assert await stalled.load.remote() == 0
    found = await lookup("stalled-1")
    assert found is not None
    assert found.host == again.host  # its late goodbyes did not unregister the new placement
    bob, bob_joined = await arrive(again, "bob")  # at the call's new URL
    await other.settled.remote("stalled-1", WAIT)
    view = await directory_presence("stalled-1")
    assert view is not None
    assert view.participants == (bob_joined.id,)
    await bob.leave()
    assert await seats_taken() == {ref.host: 0, again.host: 1}

    back = await place("after-fence", "agent")  # the fenced host takes calls again
    assert back.host == ref.host
    assert await close_call("after-fence")
    assert await close_call("stalled-1")
