"""Fixtures for the local edge: a real LocalEdge on loopback and an agent connection on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("aiortc")

from transport import Connection, EdgeEvent, User
from transport.local import LocalEdge


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with LocalEdge() as edge:
        yield edge


@pytest.fixture
async def connection(edge: LocalEdge) -> Connection:
    return await edge.join(User("agent"), await edge.create_call("room"))


@pytest.fixture
def events(edge: LocalEdge) -> list[Any]:
    seen: list[Any] = []

    @edge.events.subscribe
    async def record(event: EdgeEvent) -> None:
        seen.append(event)

    return seen
