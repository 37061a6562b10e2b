"""vision-agents' own scenarios that failed on our edges, written here as tests.

An agent closed while it joins (and its edge starts), a track unpublished before
the agent subscribes to it, and an agent that starts its edge under the
blocking-call detector (every async test of tests/vision runs under it; see
``tests/conftest.py``). Races are held at a chosen step with events; none sleeps.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

pytest.importorskip("vision_agents.core")
pytest.importorskip("aiortc")

import aiohttp
from blockbuster import BlockingError
from minimal_agent import ListeningLLM, PassThrough, no_task_left
from vision_agents.core import Agent
from vision_agents.core import User as VisionUser

from transport import EdgeClosedError, EventBus, TrackAddedEvent, TrackRemovedEvent, TrackType
from transport.local import LocalCall, LocalEdge
from transport.vision import VisionAgentsEdge

LIMIT = 20.0


def _agent(adapter: VisionAgentsEdge, llm: ListeningLLM | None = None) -> Agent:
    return Agent(
        edge=adapter,
        llm=llm if llm is not None else ListeningLLM(),
        agent_user=VisionUser(id="va-agent", name="Agent"),
        multi_speaker_filter=PassThrough(),
    )


class ClosedWatch(LocalEdge):
    """A ``LocalEdge`` that says when its ``close()`` is called."""

    def __init__(self) -> None:
        super().__init__()
        self.close_called = asyncio.Event()

    async def close(self) -> None:
        self.close_called.set()  # close() has begun by the time any waiter runs
        await super().close()


async def test_an_agent_closed_while_its_edge_starts_leaves_nothing_listening(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = asyncio.all_tasks()
    loop = asyncio.get_running_loop()
    bind: Callable[..., Awaitable[asyncio.Server]] = loop.create_server
    held = asyncio.Event()
    bound: list[tuple[asyncio.Server, int]] = []
    edge = ClosedWatch()

    async def create_server(*args: Any, **kwargs: Any) -> asyncio.Server:
        held.set()
        await edge.close_called.wait()  # the agent's close reaches the edge mid-start
        server = await bind(*args, **kwargs)
        bound.append((server, server.sockets[0].getsockname()[1]))
        return server

    monkeypatch.setattr(loop, "create_server", create_server)
    agent = _agent(VisionAgentsEdge(edge))  # the adapter owns the edge: the agent starts it

    async def close_once_starting() -> None:
        await held.wait()
        await agent.close()

    async with asyncio.timeout(LIMIT):
        # upstream's test_join_suppress_exception_if_closing, with the edge mid-start
        await asyncio.gather(
            agent.join(LocalCall("raced", ""), participant_wait_timeout=0).__aenter__(),
            close_once_starting(),
        )
        await no_task_left(before)
    assert agent.closed
    assert edge.connections() == ()
    [(server, port)] = bound
    assert not server.is_serving()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


class HoldingBus(EventBus):
    """An event bus that holds every event from the first video track's on, until released."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = True
        self.held: list[tuple[Any, str | None]] = []
        self.removed = asyncio.Event()  # a TrackRemovedEvent came (and is held)

    def send(self, event: Any, lane: str | None = None) -> None:
        video = isinstance(event, TrackAddedEvent) and event.track_type is TrackType.VIDEO
        if self.holding and (video or self.held):
            self.held.append((event, lane))
            if isinstance(event, TrackRemovedEvent):
                self.removed.set()
            return
        super().send(event, lane)

    def release(self) -> None:
        self.holding = False
        held, self.held = self.held, []
        for event, lane in held:
            super().send(event, lane)


class WatchingLLM(ListeningLLM):
    """Says when the agent hands it a video track to watch."""

    def __init__(self) -> None:
        super().__init__()
        self.watching = asyncio.Event()

    async def watch_video_track(self, track: Any, shared_forwarder: Any = None) -> None:
        await super().watch_video_track(track, shared_forwarder)
        self.watching.set()


async def test_a_track_unpublished_before_the_agent_subscribes_is_none_and_the_agent_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = HoldingBus()
    llm = WatchingLLM()
    async with LocalEdge(events=bus) as edge:
        adapter = VisionAgentsEdge(edge, owns_edge=False)
        agent = _agent(adapter, llm)
        call = await adapter.create_call("unpublished")
        person = edge.participant("unpublished", "vic")
        await person.join()
        async with asyncio.timeout(LIMIT), agent.join(call, participant_wait_timeout=0):
            gone = await person.publish(TrackType.VIDEO)
            await person.unpublish(gone)
            await bus.removed.wait()  # the edge has let the track go: the agent hears of it now
            assert adapter.add_track_subscriber(gone) is None
            assert adapter.add_track_subscriber("never-published") is None
            caplog.set_level(logging.ERROR)
            bus.release()  # TrackAddedEvent(gone), then TrackRemovedEvent(gone)
            await person.publish(TrackType.VIDEO)
            await llm.watching.wait()  # the agent went on to the next track
            assert f"Failed to subscribe to {gone}" in caplog.text
            await person.leave()
        await agent.close()


async def test_an_agent_starts_its_own_edge_and_serves_the_page_without_blocking_the_loop() -> None:
    with pytest.raises(BlockingError):
        os.path.abspath(".")  # noqa: ASYNC240 - the detector is on for this test
    before = asyncio.all_tasks()
    edge = LocalEdge()
    agent = _agent(VisionAgentsEdge(edge))
    async with asyncio.timeout(LIMIT):
        call = await agent.edge.create_call("unblocked")  # starts the edge: routes, bind
        async with (
            agent.join(call, participant_wait_timeout=0),
            aiohttp.ClientSession() as http,
        ):
            for path in ("/call/unblocked", "/static/call.js", "/static/call.css"):
                async with http.get(edge.url + path) as reply:
                    assert reply.status == 200, path
            async with http.get(edge.url + "/static/../edge.py") as reply:
                assert reply.status == 404
        await agent.close()
        await no_task_left(before)


async def test_an_adapter_that_owns_its_edge_starts_it_once_and_not_after_close() -> None:
    edge = LocalEdge()
    adapter = VisionAgentsEdge(edge)
    await asyncio.gather(adapter.start(), adapter.start())  # one server for both
    url = edge.url
    await adapter.start()
    assert edge.url == url
    await adapter.close()
    with pytest.raises(EdgeClosedError, match="create a new agent with a new edge"):
        await adapter.start()
    assert edge.closing
