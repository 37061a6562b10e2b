"""A real vision-agents ``Agent`` runs on our local edge, with a minimal LLM written here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

pytest.importorskip("vision_agents.core")
pytest.importorskip("aiortc")

from vision_agents.core import Agent
from vision_agents.core import User as VisionUser
from vision_agents.core.edge import events as va_events
from vision_agents.core.llm.llm import LLMResponseFinal
from vision_agents.core.llm.realtime import Realtime

from transport import ConnectionOptions, TrackType
from transport.local import LocalEdge
from transport.vision import VisionAgentsEdge


class ListeningLLM(Realtime):
    """A speech-to-speech model that only listens: it keeps the audio it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.heard: list[tuple[str, int]] = []  # (participant user id, samples)
        self.heard_something = asyncio.Event()
        self.watched: list[str] = []

    async def connect(self) -> None:
        return None

    async def simple_audio_response(self, pcm: Any, participant: Any) -> None:
        self.heard.append((getattr(participant, "user_id", ""), len(pcm.samples)))
        self.heard_something.set()

    async def close(self) -> None:
        return None

    async def watch_video_track(self, track: Any, shared_forwarder: Any = None) -> None:
        self.watched.append(track.kind)

    async def stop_watching_video_track(self) -> None:
        return None

    async def simple_response(  # type: ignore[override]
        self, text: str, participant: Any = None
    ) -> AsyncIterator[Any]:
        yield LLMResponseFinal(original=None, text="Noted.")  # type: ignore[call-arg]


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

    await edge.start()
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
