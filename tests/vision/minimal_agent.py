"""What the vision-agents tests share: a minimal LLM, an audio filter, and agents on our edges.

``ListeningLLM`` is a speech-to-speech model written here that only listens;
``PassThrough`` lets all audio through, so no VAD model is needed (the default
filter would download one); ``make_agent`` builds a real ``Agent`` on a shared
edge, as an ``AgentLauncher``'s factory would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from vision_agents.core import Agent
from vision_agents.core import User as VisionUser
from vision_agents.core.llm.llm import LLMResponseFinal
from vision_agents.core.llm.realtime import Realtime
from vision_agents.core.utils.audio_filter import AudioFilter

from transport import EdgeTransport
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


class PassThrough(AudioFilter):
    """Lets all audio through: the default filter would need a VAD model file."""

    async def process_audio(self, pcm: Any, participant: Any) -> Any:
        return pcm

    def clear(self, participant: Any = None) -> None:
        return None


def make_agent(edge: EdgeTransport, user_id: str = "va-agent") -> Agent:
    """A real ``Agent`` on ``edge``, which it shares (closing the agent leaves the edge up)."""
    return Agent(
        edge=VisionAgentsEdge(edge, owns_edge=False),
        llm=ListeningLLM(),
        agent_user=VisionUser(id=user_id, name="Agent"),
        multi_speaker_filter=PassThrough(),
    )


def connection_of(agent: Agent) -> Any:
    """Our ``Connection`` under ``agent`` (it has joined)."""
    adapter = agent.edge
    assert isinstance(adapter, VisionAgentsEdge)
    assert adapter.connection is not None
    return adapter.connection


def _consent_of_a_closed_ice_connection(task: asyncio.Task[Any]) -> bool:
    """aioice's race, not ours: an ICE connect whose checks complete as its connection
    closes still starts consent checks (``Connection.query_consent``) on the closed
    connection; they end by themselves once consent fails, later than a test waits."""
    coro: Any = task.get_coro()
    if getattr(coro, "__qualname__", "") != "Connection.query_consent":
        return False
    frame = getattr(coro, "cr_frame", None)
    ice = frame.f_locals.get("self") if frame is not None else None
    return bool(getattr(ice, "_closing", False))


async def no_task_left(before: set[asyncio.Task[Any]]) -> None:
    """Return once every task started since ``before`` has ended by itself (put a timeout on it)."""
    left = {
        task
        for task in asyncio.all_tasks() - before - {asyncio.current_task()}
        if not _consent_of_a_closed_ice_connection(task)
    }
    if left:
        await asyncio.wait(left)
