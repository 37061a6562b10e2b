"""A real vision-agents ``Agent`` runs on our local edge, with a minimal LLM written here."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("vision_agents.core")
pytest.importorskip("aiortc")

from minimal_agent import ListeningLLM, connection_of, make_agent, no_task_left
from vision_agents.core import Agent
from vision_agents.core import User as VisionUser
from vision_agents.core.edge import events as va_events

from transport import ConnectionOptions, MemoryEdge, TrackType
from transport.local import LocalEdge
from transport.vision import EdgeFeatureError, VisionAgentsEdge


async def test_a_vision_agents_agent_runs_on_the_local_edge() -> None:
    edge = VisionAgentsEdge(LocalEdge(options=ConnectionOptions(idle_timeout=0.5)))
    llm = ListeningLLM()
    agent = Agent(edge=edge, llm=llm, agent_user=VisionUser(id="va-agent", name="Agent"))
    seen: dict[str, list[Any]] = {"tracks": [], "audio": [], "joined": []}
    first_audio = asyncio.Event()

    @agent.edge.events.subscribe
    async def on_track(event: va_events.TrackAddedEvent) -> None:
        seen["tracks"].append(event.track_type)

    @agent.edge.events.subscribe
    async def on_audio(event: va_events.AudioReceivedEvent) -> None:
        seen["audio"].append(event.pcm_data)
        first_audio.set()

    @agent.edge.events.subscribe
    async def on_joined(event: va_events.ParticipantJoinedEvent) -> None:
        seen["joined"].append(event.participant.user_id)

    call = await edge.create_call("va-call")
    person = edge.edge.participant("va-call", "dana")  # type: ignore[attr-defined]

    async def visit() -> None:
        await person.join()
        await person.publish(TrackType.AUDIO)
        await person.publish(TrackType.VIDEO)
        await asyncio.wait_for(first_audio.wait(), timeout=20)
        await asyncio.wait_for(llm.heard_something.wait(), timeout=20)
        await person.leave()

    visitor = asyncio.ensure_future(visit())
    async with agent.join(call, participant_wait_timeout=20):  # returns once dana is there
        await visitor
        await asyncio.wait_for(agent.finish(), timeout=20)  # the call went idle: it ended
    assert seen["joined"] == ["dana"]
    assert sorted(seen["tracks"]) == [1, 2]
    assert seen["audio"]
    assert seen["audio"][0].sample_rate == 48_000
    assert llm.heard
    assert {who for who, _ in llm.heard} == {"dana"}
    await edge.close()


async def test_an_agent_runs_on_the_memory_edge_until_the_call_ends() -> None:
    edge = MemoryEdge()
    agent = make_agent(edge)
    ended: list[Any] = []

    @agent.events.subscribe
    async def on_ended(event: va_events.CallEndedEvent) -> None:
        ended.append(event.call)

    call = await agent.edge.create_call("memory")
    person = edge.participant("memory", "dana")
    await person.join()
    await person.publish(TrackType.VIDEO)  # no media here: the agent subscribes to nothing
    before = asyncio.all_tasks()
    async with asyncio.timeout(20):
        async with agent.join(call, participant_wait_timeout=20):  # publishes: goes nowhere
            assert [p.user_id for p in connection_of(agent).participants] == ["dana"]
            await agent.send_custom_event({"hello": "dana"})
            assert person.custom_events == [{"hello": "dana"}]
            await edge.end_call("memory")
            await agent.finish()
        await no_task_left(before)
    assert agent.closed
    assert ended == [call]  # the agent's own call object, not the adapter's copy
    with pytest.raises(EdgeFeatureError, match="MemoryEdge does not offer join_urls"):
        edge.join_url("memory", "dana")
    await edge.close()
