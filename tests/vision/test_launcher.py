"""vision-agents' ``AgentLauncher`` and ``Agent`` lifecycle on our local edge.

Real ``Agent``s and a real ``AgentLauncher`` on a real ``LocalEdge``; the LLM is
the listening one of ``test_vision_agents`` and the multi-speaker filter passes
audio through, so nothing is downloaded. Waits are on the agent's own
``finish()`` and the launcher's session tasks, never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("vision_agents.core")
pytest.importorskip("aiortc")

from test_vision_agents import ListeningLLM
from vision_agents.core import Agent, AgentLauncher
from vision_agents.core import User as VisionUser
from vision_agents.core.agents.exceptions import (
    MaxConcurrentSessionsExceeded,
    MaxSessionsPerCallExceeded,
)
from vision_agents.core.utils.audio_filter import AudioFilter

from transport import ConnectionOptions, ParticipantJoinedEvent
from transport.local import LocalEdge
from transport.vision import VisionAgentsEdge

LIMIT = 15.0


class PassThrough(AudioFilter):
    """Lets all audio through: the default filter would need a VAD model file."""

    async def process_audio(self, pcm: Any, participant: Any) -> Any:
        return pcm

    def clear(self, participant: Any = None) -> None:
        return None


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with LocalEdge(options=ConnectionOptions(idle_timeout=30.0)) as edge:
        yield edge


def _agent(edge: LocalEdge) -> Agent:
    return Agent(
        edge=VisionAgentsEdge(edge, owns_edge=False),
        llm=ListeningLLM(),
        agent_user=VisionUser(id="va-agent", name="Agent"),
        multi_speaker_filter=PassThrough(),
    )


async def _join_call(agent: Agent, call_type: str, call_id: str) -> None:
    call = await agent.edge.create_call(call_id)
    async with agent.join(call, participant_wait_timeout=0):
        await agent.finish()


def _launcher(edge: LocalEdge, **limits: Any) -> AgentLauncher:
    return AgentLauncher(
        create_agent=lambda: _agent(edge),
        join_call=_join_call,
        agent_idle_timeout=limits.pop("agent_idle_timeout", 0.3),
        maintenance_interval=0.05,
        **limits,
    )


async def test_the_launcher_closes_an_agent_nobody_joins(edge: LocalEdge) -> None:
    async with _launcher(edge) as launcher:
        session = await launcher.start_session("lonely")
        await asyncio.wait({session.task}, timeout=LIMIT)  # the launcher cancels it when idle
        assert session.finished
        assert session.agent.closed
        assert edge.connections("lonely") == ()


async def test_the_launcher_closes_an_agent_once_its_visitor_left(edge: LocalEdge) -> None:
    async with _launcher(edge, agent_idle_timeout=0.3) as launcher:
        seen = asyncio.Event()

        @edge.events.subscribe
        async def on_joined(event: ParticipantJoinedEvent) -> None:
            if event.call.id == "visited":
                seen.set()  # the agent's connection has her: it has joined the call

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
    async with _launcher(edge, max_concurrent_sessions=2, max_sessions_per_call=1) as launcher:
        await launcher.start_session("one")
        with pytest.raises(MaxSessionsPerCallExceeded):
            await launcher.start_session("one")
        await launcher.start_session("two")
        with pytest.raises(MaxConcurrentSessionsExceeded):
            await launcher.start_session("three")


@pytest.mark.parametrize("ending", ["close", "idle_timeout", "edge_shutdown"])
async def test_whatever_ends_our_connection_ends_the_agent(ending: str) -> None:
    before = asyncio.all_tasks()
    edge = await LocalEdge(options=ConnectionOptions(idle_timeout=0.2)).start()
    agent = _agent(edge)
    call = await agent.edge.create_call("ending")
    async with asyncio.timeout(LIMIT):
        async with agent.join(call, participant_wait_timeout=0):
            connection = edge.connections("ending")[0]
            if ending == "close":
                await connection.close()
            elif ending == "idle_timeout":
                person = edge.participant("ending", "erin")
                await person.join()
                await person.leave()  # idle from here; the timeout closes the call
            else:
                await edge.close()
            await agent.finish()  # the call ended for the agent
        # Its close goes on a moment after finish() returns (vision-agents sets the
        # call-ended event first); every task then ends by itself, and it is closed.
        left = asyncio.all_tasks() - before - {asyncio.current_task()}
        if left:
            await asyncio.wait(left)
        assert agent.closed
    await edge.close()


async def test_a_custom_event_reaches_the_participants(edge: LocalEdge) -> None:
    agent = _agent(edge)
    call = await agent.edge.create_call("custom")
    person = edge.participant("custom", "fay")
    await person.join()
    async with agent.join(call, participant_wait_timeout=LIMIT):
        await agent.edge.send_custom_event({"kind": "note", "text": "hello"})
        assert await asyncio.wait_for(person.custom_event(), LIMIT) == {
            "kind": "note",
            "text": "hello",
        }
        with pytest.raises(ValueError, match="at most"):
            await agent.edge.send_custom_event({"big": "x" * 20_000})
        await person.leave()
        await agent.close()


async def test_closing_a_session_on_request_closes_its_agent_and_connection(
    edge: LocalEdge,
) -> None:
    async with _launcher(edge, agent_idle_timeout=0) as launcher:  # 0: never idle-closed
        seen = asyncio.Event()

        @edge.events.subscribe
        async def on_joined(event: ParticipantJoinedEvent) -> None:
            if event.call.id == "asked":
                seen.set()

        person = edge.participant("asked", "hal")
        await person.join()
        session = await launcher.start_session("asked")
        await asyncio.wait_for(seen.wait(), LIMIT)  # the agent is in the call
        assert await launcher.close_session(session.id, wait=True) is True
        assert session.agent.closed
        assert edge.connections("asked") == ()  # its connection is gone, the edge stays
        assert launcher.get_session(session.id) is None
        await person.leave()
