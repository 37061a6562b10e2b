"""A vision-agents ``Agent`` runs unchanged on ``MinimalEdge``, written from the hooks alone."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("vision_agents.core")

from minimal_agent import connection_of, make_agent, no_task_left
from vision_agents.core.edge import events as va_events

from tests.edges.minimal import MinimalEdge
from transport import EdgeFeatureError, TrackType

LIMIT = 20.0


async def test_an_agent_joins_sees_people_and_closes_on_the_minimal_edge() -> None:
    async with MinimalEdge() as edge:
        agent = make_agent(edge)
        joined: list[str] = []

        @agent.events.subscribe
        async def on_joined(event: va_events.ParticipantJoinedEvent) -> None:
            joined.append(event.participant.user_id)

        call = await agent.edge.create_call("minimal")
        person = edge.participant("minimal", "dana")
        await person.join()
        await person.publish(TrackType.AUDIO)  # no media on this edge: nobody subscribes
        before = asyncio.all_tasks()
        async with asyncio.timeout(LIMIT):
            async with agent.join(call, participant_wait_timeout=LIMIT):
                connection = connection_of(agent)
                assert [p.user_id for p in connection.participants] == ["dana"]
                with pytest.raises(EdgeFeatureError, match="MinimalEdge does not offer"):
                    await agent.send_custom_event({"not": "here"})
                await person.leave()
                await connection.settled()
            await agent.close()
            await no_task_left(before)
        assert agent.closed
        assert joined == ["dana"]
