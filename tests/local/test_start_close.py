"""``LocalEdge.start()`` and ``close()`` in any order and concurrency.

Each race is driven on purpose: an ``asyncio.Event`` holds ``start()`` at one of
its steps (aiohttp's runner setup, the bind), ``close()`` runs meanwhile, then
the step is let go. Afterwards nothing listens and no task is left.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("aiortc")

from aiohttp import web

from transport import EdgeClosedError
from transport.local import LocalEdge

LIMIT = 20.0


class Hold:
    """Holds a step until ``release``; ``reached`` is set once the step waits."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def wait(self) -> None:
        self.reached.set()
        await self.release.wait()


def _hold_runner_setup(monkeypatch: pytest.MonkeyPatch, hold: Hold) -> None:
    real = web.AppRunner.setup

    async def held(runner: web.AppRunner) -> None:
        await hold.wait()
        await real(runner)

    monkeypatch.setattr(web.AppRunner, "setup", held)


def _record_binds(
    monkeypatch: pytest.MonkeyPatch, hold: Hold | None = None
) -> list[tuple[asyncio.Server, int]]:
    """Every server the loop binds from now on, with its port; ``hold`` holds each bind."""
    loop = asyncio.get_running_loop()
    real: Callable[..., Awaitable[asyncio.Server]] = loop.create_server
    servers: list[tuple[asyncio.Server, int]] = []

    async def create_server(*args: Any, **kwargs: Any) -> asyncio.Server:
        if hold is not None:
            await hold.wait()
        server = await real(*args, **kwargs)
        servers.append((server, server.sockets[0].getsockname()[1]))
        return server

    monkeypatch.setattr(loop, "create_server", create_server)
    return servers


async def _refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return True
    writer.close()
    await writer.wait_closed()
    return False


def _other_tasks() -> set[asyncio.Task[Any]]:
    return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]


async def _close_while_starting(hold: Hold) -> tuple[asyncio.Future[Any], asyncio.Future[Any]]:
    """A new edge's start held at ``hold``, and its close begun meanwhile: both, running."""
    edge = LocalEdge()
    starting = asyncio.ensure_future(edge.start())
    await asyncio.wait_for(hold.reached.wait(), LIMIT)
    closing = asyncio.ensure_future(edge.close())
    await asyncio.sleep(0)  # one turn of the loop, whose ready queue is FIFO: close() begins
    assert edge.closing
    return starting, closing


async def test_close_before_the_bind_leaves_nothing_listening(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hold = Hold()
    _hold_runner_setup(monkeypatch, hold)
    binds = _record_binds(monkeypatch)
    before = _other_tasks()
    starting, closing = await _close_while_starting(hold)
    assert not closing.done()  # it waits for the start
    hold.release.set()
    await asyncio.wait_for(closing, LIMIT)
    with pytest.raises(EdgeClosedError, match="closed while it started"):
        await starting
    assert binds == []
    assert _other_tasks() <= before


async def test_close_during_the_bind_closes_the_listener(monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold()
    binds = _record_binds(monkeypatch, hold)
    before = _other_tasks()
    starting, closing = await _close_while_starting(hold)
    hold.release.set()  # the bind happens now, after the close began
    await asyncio.wait_for(closing, LIMIT)
    with pytest.raises(EdgeClosedError, match="closed while it started"):
        await starting
    [(server, port)] = binds
    assert not server.is_serving()
    assert await _refused(port), f"something still listens on {port}"
    assert _other_tasks() <= before


async def test_concurrent_starts_share_one_server(monkeypatch: pytest.MonkeyPatch) -> None:
    hold = Hold()
    binds = _record_binds(monkeypatch, hold)
    edge = LocalEdge()
    first = asyncio.ensure_future(edge.start())
    second = asyncio.ensure_future(edge.start())
    await asyncio.wait_for(hold.reached.wait(), LIMIT)
    hold.release.set()
    assert await asyncio.wait_for(first, LIMIT) is edge
    assert await asyncio.wait_for(second, LIMIT) is edge
    assert await edge.start() is edge  # and a later one is a no-op
    assert len(binds) == 1
    await edge.close()


async def test_a_cancelled_start_still_leaves_nothing_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hold = Hold()
    binds = _record_binds(monkeypatch, hold)
    edge = LocalEdge()
    starting = asyncio.ensure_future(edge.start())
    await asyncio.wait_for(hold.reached.wait(), LIMIT)
    starting.cancel()  # the caller gives up; the start goes on, for close() to undo
    with pytest.raises(asyncio.CancelledError):
        await starting
    hold.release.set()
    await asyncio.wait_for(edge.close(), LIMIT)
    [(server, port)] = binds
    assert not server.is_serving()
    assert await _refused(port)


async def test_start_after_close_is_refused_saying_what_to_do() -> None:
    edge = LocalEdge()
    await edge.start()
    await edge.close()
    with pytest.raises(EdgeClosedError, match="make a new edge"):
        await edge.start()
    never = LocalEdge()
    await never.close()
    with pytest.raises(EdgeClosedError, match="make a new edge"):
        await never.start()


async def test_concurrent_closes_all_return_once_closed() -> None:
    edge = LocalEdge()
    await edge.start()
    port = int(edge.url.rsplit(":", 1)[1])
    await asyncio.wait_for(asyncio.gather(edge.close(), edge.close(), edge.close()), LIMIT)
    assert await _refused(port)
