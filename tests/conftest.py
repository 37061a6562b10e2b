"""Suite-wide fixtures: an edge's event log, and the check that no actor is left running."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from actors import directory
from messages import EdgeEvent


@pytest.fixture
def events(edge: Any) -> list[Any]:
    """Every event of the test's ``edge`` fixture, in the order its handler got them."""
    seen: list[Any] = []

    @edge.events.subscribe
    async def record(event: EdgeEvent) -> None:
        seen.append(event)

    return seen


@pytest.fixture(autouse=True)
def no_actor_left_behind() -> Iterator[None]:
    """Fail a test that leaves actors registered; unregister them so the next test starts clean."""
    before = {id(ref) for ref in directory.get_all()}
    yield
    leaked = [ref for ref in directory.get_all() if id(ref) not in before]
    for ref in leaked:
        actor = ref._actor_weakref()  # type: ignore[attr-defined]
        if actor is not None:
            directory.unregister(actor)
    assert not leaked, f"{len(leaked)} actors left running, e.g. {leaked[:3]}"
