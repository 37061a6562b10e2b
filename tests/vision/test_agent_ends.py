"""Whatever ends our connection ends the vision-agents ``Agent`` on it.

Real ``Agent``s on a real ``LocalEdge`` they share (as under an
``AgentLauncher``). Each test awaits the agent's own ``finish()`` and then
every task it started, bounded by a timeout; none sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

pytest.importorskip("vision_agents.core")
pytest.importorskip("aiortc")

from minimal_agent import ListeningLLM, PassThrough, connection_of, make_agent, no_task_left
from vision_agents.core import Agent
from vision_agents.core import User as VisionUser
from vision_agents.core.agents.events import AgentJoinedCallEvent
from vision_agents.core.edge import events as va_events

from transport import ConnectionOptions, ConnectionState
from transport.local import LocalEdge
from transport.vision import VisionAgentsEdge

LIMIT = 15.0


@pytest.mark.parametrize("ending", ["close", "idle_timeout", "edge_shutdown"])
async def test_whatever_ends_our_connection_ends_the_agent(ending: str) -> None:
    before = asyncio.all_tasks()
    edge = await LocalEdge(options=ConnectionOptions(idle_timeout=0.2)).start()
    agent = make_agent(edge)
    call = await agent.edge.create_call("ending")
    async with asyncio.timeout(LIMIT):
        async with agent.join(call, participant_wait_timeout=0):
            if ending == "close":
                await connection_of(agent).close()
            elif ending == "idle_timeout":
                person = edge.participant("ending", "erin")
                await person.join()
                await person.leave()  # idle from here; the timeout closes the call
            else:
                await edge.close()
            await agent.finish()  # the call ended for the agent
        # The agent's close may go on a moment after finish() returns (it sets
        # the call-ended event first); every task then ends by itself.
        await no_task_left(before)
        assert agent.closed
    await edge.close()


async def test_a_call_ended_on_stream_ends_the_agent() -> None:
    pytest.importorskip("getstream.video.rtc")
    from transport.stream.emulator import StreamEmulator

    async with StreamEmulator() as emulator, emulator.edge() as edge:
        before = asyncio.all_tasks()
        agent = make_agent(edge)
        await agent.edge.authenticate(agent.agent_user)  # Stream's calls have a creator
        call = await agent.edge.create_call("ending")
        async with asyncio.timeout(LIMIT):
            async with agent.join(call, participant_wait_timeout=0):
                await emulator.end_call("ending")  # Stream's CallEnded, through the SDK
                await agent.finish()
            await no_task_left(before)
        assert agent.closed
        assert connection_of(agent).state is ConnectionState.CLOSED


async def test_a_call_that_ends_while_the_agent_waits_for_someone_ends_its_join_quietly() -> None:
    before = asyncio.all_tasks()
    async with LocalEdge() as edge:
        agent = make_agent(edge)
        joined = asyncio.Event()

        @agent.events.subscribe
        async def on_joined(event: AgentJoinedCallEvent) -> None:
            joined.set()  # edge.join() returned; the agent goes on joining

        call = await agent.edge.create_call("early")

        async def session() -> None:
            async with agent.join(call, participant_wait_timeout=LIMIT):
                await agent.finish()

        async with asyncio.timeout(LIMIT):
            running = asyncio.create_task(session())
            await joined.wait()
            await connection_of(agent).close()
            await running  # no error: the join ended quietly, finish() returned
            assert agent.closed
    async with asyncio.timeout(LIMIT):
        await no_task_left(before)


async def test_agents_sharing_a_call_object_get_only_their_own_events() -> None:
    async with LocalEdge() as edge:
        first, second = make_agent(edge, "first-agent"), make_agent(edge, "second-agent")
        joined: dict[str, list[str]] = {"first": [], "second": []}
        first.events.subscribe(_note_joins(joined["first"]))
        second.events.subscribe(_note_joins(joined["second"]))

        call = await edge.create_call("shared")  # one call object for both
        person = edge.participant("shared", "dana")
        await person.join()
        async with asyncio.timeout(LIMIT):
            async with first.join(call, participant_wait_timeout=0):
                async with second.join(call, participant_wait_timeout=0):
                    for agent in (first, second):
                        await connection_of(agent).settled()  # our events reached the adapter
                        await agent.events.wait()  # and its handlers ran
                    assert joined == {"first": ["dana"], "second": ["dana"]}

                    await connection_of(first).close()
                    await first.finish()
                    assert connection_of(second).state is ConnectionState.ACTIVE
                    assert not second.closed
                await second.finish()
        assert first.closed
        assert second.closed
        assert edge.connections("shared") == ()
        await person.leave()


async def test_a_closed_agent_takes_back_the_tracks_it_published() -> None:
    async with LocalEdge() as edge:
        agent = make_agent(edge)
        adapter = agent.edge
        assert isinstance(adapter, VisionAgentsEdge)
        call = await adapter.create_call("tracks")
        published: tuple[str, ...] = ()
        async with asyncio.timeout(LIMIT):
            async with agent.join(call, participant_wait_timeout=0):
                published = adapter.published
                assert len(published) == 1  # its voice (the listening LLM shows no video)
                await agent.close()
        assert [edge.agent_track_source("tracks", track) for track in published] == [None]


def _note_joins(seen: list[str]) -> Callable[[va_events.ParticipantJoinedEvent], Awaitable[None]]:
    async def on_joined(event: va_events.ParticipantJoinedEvent) -> None:
        seen.append(event.participant.user_id)

    return on_joined


async def test_an_agent_closed_while_it_joins_leaves_no_connection() -> None:
    async with LocalEdge() as edge:
        agent = make_agent(edge)
        call = await agent.edge.create_call("raced")
        async with asyncio.timeout(LIMIT):
            # vision-agents' own rule: a join that the agent's close overtakes does not fail.
            await asyncio.gather(agent.join(call).__aenter__(), agent.close())
        assert agent.closed
        assert edge.connections("raced") == ()


async def test_an_agent_on_an_edge_of_its_own_starts_it_and_ends_when_it_shuts_down() -> None:
    before = asyncio.all_tasks()
    local = LocalEdge()  # not started
    agent = Agent(
        edge=VisionAgentsEdge(local),  # owns it
        llm=ListeningLLM(),
        agent_user=VisionUser(id="owner"),
        multi_speaker_filter=PassThrough(),
    )
    async with asyncio.timeout(LIMIT):
        call = await agent.edge.create_call("own")  # starts the edge, as hosts call this first
        async with agent.join(call, participant_wait_timeout=0):
            await local.close()
            await agent.finish()
        await no_task_left(before)
    assert agent.closed
