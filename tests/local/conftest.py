"""Fixtures for the local edge: a real LocalEdge on loopback and an agent connection on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

pytest.importorskip("aiortc")

from transport import Connection, User
from transport.local import LocalEdge


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with LocalEdge() as edge:
        yield edge


@pytest.fixture
async def connection(edge: LocalEdge) -> Connection:
    return await edge.join(User("agent"), await edge.create_call("room"))
