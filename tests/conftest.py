"""Suite-wide fixtures and checks: an edge's event log, no actor left running, a deadline per test.

Every ``async`` test runs under a deadline (``DEADLINE`` seconds, or the
``deadline(seconds)`` marker's): a test that hangs fails with a
``TimeoutError`` at the await it hung on, instead of holding CI until its
own limit. The deadline is a guard against hangs, not a speed target; no
test comes near it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

from actors import directory
from messages import EdgeEvent

DEADLINE = 60.0
"""Seconds an ``async`` test may run before it fails as hung."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deadline(seconds): the test fails as hung after this many seconds"
    )


def _bounded(
    test: Callable[..., Coroutine[Any, Any, Any]], seconds: float
) -> Callable[..., Coroutine[Any, Any, Any]]:
    @functools.wraps(test)
    async def run(*args: Any, **kwargs: Any) -> Any:
        async with asyncio.timeout(seconds):
            return await test(*args, **kwargs)

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put each ``async`` test under its deadline (hypothesis tests keep their own)."""
    for item in items:
        test = getattr(item, "obj", None)
        if not inspect.iscoroutinefunction(test) or getattr(test, "is_hypothesis_test", False):
            continue
        marker = item.get_closest_marker("deadline")
        seconds = float(marker.args[0]) if marker is not None else DEADLINE
        item.obj = _bounded(test, seconds)  # type: ignore[attr-defined]


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
        actor = ref._actor_weakref()  # type: ignore[attr-defined]  # noqa: SLF001
        if actor is not None:
            directory.unregister(actor)
    assert not leaked, f"{len(leaked)} actors left running, e.g. {leaked[:3]}"
