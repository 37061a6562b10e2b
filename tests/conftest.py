"""Suite-wide fixtures and checks: an edge's event log, no actor left running, a deadline per
test, no task error left unseen, no blocking call on the loop.

Every ``async`` test runs under a deadline (``DEADLINE`` seconds, or the
``deadline(seconds)`` marker's): a test that hangs fails with a
``TimeoutError`` at the await it hung on, instead of holding CI until its
own limit. The deadline is a guard against hangs, not a speed target; no
test comes near it.

A test fails if it leaves behind what asyncio reports to a loop's exception
handler ("Task exception was never retrieved", an exception in a callback) or
an unraisable exception (``sys.unraisablehook``). The async tests of the
folders in ``DETECTED`` run under blockbuster, the blocking-call detector
vision-agents' suite uses: a blocking call on the loop raises
``BlockingError`` where it is made. ``ALLOWED_TO_BLOCK`` names the few calls
of other libraries that block and that we cannot avoid, each with its reason.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import inspect
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
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


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move what exists once the tests are collected (modules, their data) out of the
    collector's sight: each test's own collection then scans only what tests made."""
    gc.collect()
    gc.freeze()


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


ALLOWED_TASK_ERRORS: set[tuple[str, str]] = {
    # (the task's coroutine, the repr of its error), each with its reason.
    # aiortc starts RTCPeerConnection.__connect as a task it never awaits nor keeps
    # (setRemoteDescription); a peer connection closed while it connects fails that
    # task, which aiortc then leaves unretrieved. Nothing outside aiortc can reach it.
    ("RTCPeerConnection.__connect", "InvalidStateError('RTCIceTransport is closed')"),
}


def _allowed_task_error(task: object, error: BaseException | None) -> bool:
    if not isinstance(task, asyncio.Task) or error is None:
        return False
    return (task.get_coro().__qualname__, repr(error)) in ALLOWED_TASK_ERRORS


@pytest.fixture(autouse=True)
def no_task_error_left_unseen(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fail a test that leaves an error nobody saw: a task's, a callback's, an unraisable one.

    asyncio hands those to the loop's exception handler, whose last resort is
    ``default_exception_handler`` (a handler an edge installs passes on what is
    not its own); a task's is reported when the task is collected, so the
    collector runs before the check.
    """
    reports: list[str] = []
    report = asyncio.BaseEventLoop.default_exception_handler

    def record(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        error = context.get("exception")
        if not _allowed_task_error(context.get("future"), error):
            reports.append(f"{context.get('message')}: {error!r}")
        report(loop, context)  # type: ignore[arg-type]

    def unraisable(info: Any) -> None:
        reports.append(f"unraisable {info.exc_value!r} in {info.object!r}")
        sys.__unraisablehook__(info)

    monkeypatch.setattr(asyncio.BaseEventLoop, "default_exception_handler", record)
    monkeypatch.setattr(sys, "unraisablehook", unraisable)
    yield
    gc.collect()
    assert not reports, f"errors nobody retrieved: {reports}"


DETECTED = ("local", "vision", "stream", "contract")
"""The folders of ``tests/`` whose ``async`` tests run under the blocking-call detector."""

ALLOWED_TO_BLOCK: list[tuple[tuple[str, ...], str, str]] = [
    # (blocked functions, file, the function there that may call them), each with its reason
    (
        # aiortc stops a received track's decoder by joining the decoder's thread on the
        # loop (on an RTCP BYE, or as the receiver stops); it has no other way to stop
        # it, and the thread ends as soon as it takes the sentinel aiortc queues first.
        ("threading.Lock.acquire",),
        "aiortc/rtcrtpreceiver.py",
        "__stop_decoder",
    ),
    (
        # vision-agents' Agent() resolves the folder its instructions may cite files from
        # as it is made (Instructions.__init__), once per agent, wherever it is made.
        ("os.path.abspath", "os.stat"),
        "vision_agents/core/instructions.py",
        "__init__",
    ),
]


def _detected(item: pytest.Item) -> bool:
    folder = Path(str(item.path)).relative_to(Path(__file__).parent).parts[0]
    return folder in DETECTED and inspect.iscoroutinefunction(getattr(item, "obj", None))


@pytest.fixture(autouse=True)
def no_blocking_call(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run a test of ``DETECTED`` under blockbuster: a blocking call on the loop fails it."""
    if not _detected(request.node):
        yield
        return
    from blockbuster import blockbuster_ctx

    with blockbuster_ctx() as detector:
        for names, file, function in ALLOWED_TO_BLOCK:
            for name in names:
                detector.functions[name].can_block_in(file, function)
        for blocked in detector.functions.values():
            # A module's first import reads files (and a few run a command): once per
            # process, wherever it happens first, which depends on the tests selected.
            blocked.can_block_in("<frozen importlib._bootstrap>", "_find_and_load")
        yield
