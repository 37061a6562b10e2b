"""vision-agents' ``AgentLauncher`` runs its sessions on our local edge.

Real ``Agent``s and a real ``AgentLauncher`` on a real ``LocalEdge`` they share;
the LLM is the listening one of ``minimal_agent`` and the multi-speaker filter
lets audio through, so nothing is downloaded. The launcher's registry is its
own in-memory one, with one addition: it says when a session has been removed.
Waits are on the launcher's sessions, that registry, and the agent's own
``finish()``, never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("vision_agents.core")
pytest.importorskip("aiortc")

from minimal_agent import connection_of, make_agent, no_task_left
from vision_agents.core import Agent, AgentLauncher
from vision_agents.core.agents.exceptions import (
    MaxConcurrentSessionsExceeded,
    MaxSessionsPerCallExceeded,
)
from vision_agents.core.agents.session_registry import SessionRegistry

from transport import ConnectionOptions, ParticipantJoinedEvent
from transport.local import LocalEdge, LocalParticipant

LIMIT = 15.0


class WatchedRegistry(SessionRegistry):
    """The launcher's in-memory registry, which also tells when a session left it."""

    def __init__(self) -> None:
        super().__init__()
        self.removed: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)

    async def remove(self, call_id: str, session_id: str) -> None:
        await super().remove(call_id, session_id)
        self.removed[session_id].set()


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with LocalEdge(options=ConnectionOptions(idle_timeout=30.0)) as edge:
        yield edge


async def _join_call(agent: Agent, call_type: str, call_id: str) -> None:
    call = await agent.edge.create_call(call_id)
    async with agent.join(call, participant_wait_timeout=0):
        await agent.finish()


def _launcher(edge: LocalEdge, **options: Any) -> AgentLauncher:
    return AgentLauncher(
        create_agent=lambda: make_agent(edge),
        join_call=_join_call,
        agent_idle_timeout=options.pop("agent_idle_timeout", 0.3),
        maintenance_interval=0.05,
        **options,
    )


def _someone_joins(edge: LocalEdge, call_id: str) -> asyncio.Event:
    """Set once an agent's connection in ``call_id`` has a participant: the agent has joined."""
    seen = asyncio.Event()

    @edge.events.subscribe
    async def on_joined(event: ParticipantJoinedEvent) -> None:
        if event.call.id == call_id:
            seen.set()

    return seen


async def test_the_launcher_closes_an_agent_nobody_joins(edge: LocalEdge) -> None:
    async with _launcher(edge) as launcher:
        session = await launcher.start_session("lonely")
        await asyncio.wait({session.task}, timeout=LIMIT)  # the launcher cancels it when idle
        assert session.finished
        assert session.agent.closed
        assert edge.connections("lonely") == ()


async def test_the_launcher_closes_an_agent_once_its_visitor_left(edge: LocalEdge) -> None:
    async with _launcher(edge, agent_idle_timeout=0.3) as launcher:
        seen = _someone_joins(edge, "visited")
        person = edge.participant("visited", "dana")
        await person.join()
        session = await launcher.start_session("visited")
        async with asyncio.timeout(LIMIT):
            await seen.wait()
            assert not session.finished  # someone is here: not idle
            await person.leave()
            await asyncio.wait({session.task})  # the launcher cancels it once idle
        assert session.agent.closed


async def test_launcher_limits_refuse_sessions_past_them(edge: LocalEdge) -> None:
    async with _launcher(  # never idle-closed: the sessions must still be there when counted
        edge, agent_idle_timeout=0, max_concurrent_sessions=2, max_sessions_per_call=1
    ) as launcher:
        await launcher.start_session("one")
        with pytest.raises(MaxSessionsPerCallExceeded):
            await launcher.start_session("one")
        await launcher.start_session("two")
        with pytest.raises(MaxConcurrentSessionsExceeded):
            await launcher.start_session("three")


async def test_a_session_whose_call_ended_is_cleaned_up_and_frees_its_place(
    edge: LocalEdge,
) -> None:
    registry = WatchedRegistry()
    options: dict[str, Any] = {"agent_idle_timeout": 0, "max_concurrent_sessions": 1}
    async with _launcher(edge, registry=registry, **options) as launcher:
        before = asyncio.all_tasks()
        session = await launcher.start_session("ends")
        async with asyncio.timeout(LIMIT):
            guest = await _someone_joins_and_the_agent_is_in(edge, session.agent, "ends")
            await connection_of(session.agent).close()  # the call ends for the agent
            await session.wait()  # join_call returned: finish() did
            await registry.removed[session.id].wait()
            await guest.leave()
            await no_task_left(before)  # the agent's close, which finish() does not wait for
        assert session.agent.closed
        assert launcher.get_session(session.id) is None
        assert await registry.get_for_call("ends") == []
        assert edge.connections("ends") == ()
        await launcher.start_session("next")  # its place is free again


async def test_a_cancelled_session_is_cleaned_up(edge: LocalEdge) -> None:
    registry = WatchedRegistry()
    async with _launcher(edge, registry=registry, agent_idle_timeout=0) as launcher:
        session = await launcher.start_session("cancelled")
        async with asyncio.timeout(LIMIT):
            guest = await _someone_joins_and_the_agent_is_in(edge, session.agent, "cancelled")
            session.task.cancel()  # as a host would
            await asyncio.wait({session.task})
            await registry.removed[session.id].wait()
            await guest.leave()
        assert session.task.cancelled()
        assert session.agent.closed
        assert launcher.get_session(session.id) is None
        assert edge.connections("cancelled") == ()


async def test_closing_a_session_on_request_closes_its_agent_and_connection(
    edge: LocalEdge,
) -> None:
    async with _launcher(edge, agent_idle_timeout=0) as launcher:  # 0: never idle-closed
        seen = _someone_joins(edge, "asked")
        person = edge.participant("asked", "hal")
        await person.join()
        session = await launcher.start_session("asked")
        await asyncio.wait_for(seen.wait(), LIMIT)  # the agent is in the call
        assert await launcher.close_session(session.id, wait=True) is True
        assert session.agent.closed
        assert edge.connections("asked") == ()  # its connection is gone, the edge stays
        assert launcher.get_session(session.id) is None
        await person.leave()


async def test_a_close_requested_through_the_registry_closes_the_session(
    edge: LocalEdge,
) -> None:
    registry = WatchedRegistry()
    async with _launcher(edge, registry=registry, agent_idle_timeout=0) as launcher:
        session = await launcher.start_session("flagged")
        async with asyncio.timeout(LIMIT):
            await _someone_joins_and_the_agent_is_in(edge, session.agent, "flagged")
            await launcher.request_close_session("flagged", session.id)  # from any node
            await registry.removed[session.id].wait()  # the next maintenance closed it
            await asyncio.wait({session.task})
        assert session.agent.closed
        assert edge.connections("flagged") == ()


async def test_stopping_the_launcher_ends_every_session(edge: LocalEdge) -> None:
    before = asyncio.all_tasks()
    launcher = _launcher(edge, agent_idle_timeout=0)
    await launcher.start()
    sessions = [await launcher.start_session(call) for call in ("a", "b", "c")]
    async with asyncio.timeout(LIMIT):
        guests = [
            await _someone_joins_and_the_agent_is_in(edge, session.agent, session.call_id)
            for session in sessions
        ]
        await launcher.stop()
        assert all(session.agent.closed for session in sessions)
        assert edge.connections() == ()
        for guest in guests:
            await guest.leave()
        await no_task_left(before)


async def _someone_joins_and_the_agent_is_in(
    edge: LocalEdge, agent: Agent, call_id: str
) -> LocalParticipant:
    """A participant joins ``call_id``; returns them once ``agent``'s connection has them.

    Left alone, they stay until the edge closes.
    """
    seen = _someone_joins(edge, call_id)
    guest = edge.participant(call_id, f"{call_id}-guest")
    await guest.join()
    await seen.wait()
    assert connection_of(agent).participants
    return guest
