"""A fleet ``Host`` runs ``MinimalEdge``, an edge written from the hooks alone, unchanged."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

ray = pytest.importorskip("ray")

import tests.edges.minimal  # noqa: E402
from messages import Participant, ParticipantJoined  # noqa: E402
from transport.fleet import close_call, place  # noqa: E402

# The hosts' processes import the factory by value: tests/ is not on their path.
ray.cloudpickle.register_pickle_by_value(tests.edges.minimal)


@pytest.fixture(scope="module")
def host(fleet_of: Callable[..., dict[str, Any]]) -> Any:
    return fleet_of(("minimal-host",), max_sessions=2, edge=tests.edges.minimal.minimal_edge)[
        "minimal-host"
    ]


async def test_a_host_on_the_minimal_edge_serves_a_placed_call(host: Any) -> None:
    ref = await place("on-minimal", "agent")
    assert ref.host == "minimal-host"
    assert ref.url == ""  # the edge declares no JOIN_URLS
    dana = Participant(None, "dana", "dana__1")
    assert await ref.ask(ParticipantJoined("on-minimal", dana)) == "active"
    view = await ref.presence()
    assert view is not None
    assert view.participants == ("dana__1",)
    assert await asyncio.wait_for(close_call("on-minimal"), 20) is True
