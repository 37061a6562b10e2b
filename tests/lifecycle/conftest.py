"""Fixtures for the lifecycle tests: a MemoryEdge on a virtual clock, and its event log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from transport import MemoryEdge, VirtualClock


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1_000.0)


@pytest.fixture
async def edge(clock: VirtualClock) -> AsyncIterator[MemoryEdge]:
    edge = MemoryEdge(clock=clock)
    yield edge
    await edge.close()


@pytest.fixture
def log(events: list[Any]) -> list[Any]:
    """The edge's event log (the suite's ``events`` fixture, by this folder's name)."""
    return events


@pytest.fixture
def names(log: list[Any]) -> Callable[[], list[str]]:
    """The event log so far as compact names: ``State:idle``, ``ParticipantLeft:dropped``."""
    return lambda: event_names(log)


def event_names(events: list[Any]) -> list[str]:
    """Event class names, with the state for state changes: compact and exact."""
    out = []
    for event in events:
        name = type(event).__name__.removesuffix("Event")
        if name == "ConnectionState":
            name = f"State:{event.state.value}"
        elif hasattr(event, "reason"):
            name = f"{name}:{event.reason}"
        out.append(name)
    return out
