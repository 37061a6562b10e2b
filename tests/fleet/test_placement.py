"""Placement within limits: three hosts of max_sessions=50 on a local Ray cluster."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from messages import Participant, ParticipantJoined, ParticipantLeft  # noqa: E402
from transport.fleet import (  # noqa: E402
    FleetFullError,
    close_call,
    lookup,
    place,
    seats_taken,
)

MAX_SESSIONS = 50
HOSTS = ("place-a", "place-b", "place-c")


@pytest.fixture(scope="module")
def hosts(fleet_of: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return fleet_of(HOSTS, lost_after=10.0, max_sessions=MAX_SESSIONS)


async def test_concurrent_places_never_exceed_any_hosts_limit(hosts: dict[str, Any]) -> None:
    outcomes = await asyncio.gather(
        *(place(f"call-{i}", "agent") for i in range(200)), return_exceptions=True
    )
    placed = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(placed) == 150
    assert len(refused) == 50
    assert all(isinstance(error, FleetFullError) for error in refused)
    assert Counter(ref.host for ref in placed) == {name: MAX_SESSIONS for name in HOSTS}
    loads = await asyncio.gather(*(handle.load.remote() for handle in hosts.values()))
    assert loads == [MAX_SESSIONS] * len(HOSTS)
    assert await seats_taken() == {name: MAX_SESSIONS for name in HOSTS}

    # A call closed from this process frees its seat for the next placement.
    closed = placed[0]
    assert await close_call(closed.call_id, "closed from the driver") is True
    assert await lookup(closed.call_id) is None
    assert (await seats_taken())[closed.host] == MAX_SESSIONS - 1
    assert await close_call(closed.call_id) is False
    again = await place("call-after-close", "agent")
    assert again.host == closed.host
    with pytest.raises(FleetFullError, match="max_sessions"):
        await place("call-one-too-many", "agent")
    closing = [ref.call_id for ref in placed[1:]] + [again.call_id]
    assert all(await asyncio.gather(*(close_call(call) for call in closing)))
    assert await seats_taken() == {name: 0 for name in HOSTS}  # the next test starts empty


async def test_tells_and_an_ask_of_one_loop_turn_travel_in_one_ray_call_in_order(
    hosts: dict[str, Any],
) -> None:
    ref = await place("ordered", "agent")
    host = hosts[ref.host]
    calls_before = await host.ray_calls.remote()
    people = [Participant(None, f"u{n}", f"u{n}__1") for n in range(100)]
    for person in people:  # one loop turn: one batch, joins before their leaves
        ref.tell(ParticipantJoined(ref.call_id, person))
        ref.tell(ParticipantLeft(ref.call_id, person))
    ref.tell(ParticipantJoined(ref.call_id, people[-1]))
    await ref.ask(ParticipantJoined(ref.call_id, people[0]))  # handled after the batch
    view = await ref.presence()
    assert view is not None
    assert set(view.participants) == {people[0].id, people[-1].id}
    assert await host.ray_calls.remote() == calls_before + 1  # 202 messages, one Ray call
    assert await close_call("ordered")
