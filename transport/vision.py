"""Run inside vision-agents (extra ``vision-agents``): our edges as its ``EdgeTransport``.

``VisionAgentsEdge(edge)`` wraps a ``LocalEdge``, ``StreamEdge`` or
``MemoryEdge`` so that ``vision_agents.core.Agent(edge=VisionAgentsEdge(...),
llm=..., agent_user=...)`` runs on it. Our events are re-sent as vision-agents'
own (``TrackAddedEvent``, ``TrackRemovedEvent``, ``ParticipantJoinedEvent``,
``ParticipantLeftEvent``, ``CallEndedEvent``) with its ``Participant`` and
``TrackType``; every received audio track is read and sent as
``AudioReceivedEvent`` with the SDK's ``PcmData``. Everything runs on the
agent's loop.

Whatever ends our connection (``close()`` by the host, an idle timeout, the call
ending on Stream, the edge shutting down) ends the agent: the adapter closes it
from a task of its own, so ``agent.finish()`` returns, ``agent.closed`` becomes
true and no task is left (vision-agents' own close on ``CallEndedEvent`` runs
inside its event handler and waits for that handler; ours does not).

One difference from our own ``Connection``, for vision-agents' sake: the
adapter's ``idle_since()`` counts from the join while nobody but the agent has
been in the call (ours reads ``0.0`` then, as the contract's table says).
vision-agents' ``AgentLauncher`` closes a session once ``agent.idle_for()``
reaches its ``agent_idle_timeout``, and reads it from ``idle_since()``, so an
agent that nobody joins is closed too, as with vision-agents' own edge.

Several agents may share one edge (``VisionAgentsEdge(edge, owns_edge=False)``
for each, as an ``AgentLauncher``'s factory would): each adapter forwards only
its own connection's events, and closing it closes only that connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from getstream.video.rtc import AudioStreamTrack
from getstream.video.rtc.track_util import PcmData
from vision_agents.core.agents.conversation import InMemoryConversation
from vision_agents.core.edge import EdgeTransport as VisionEdgeTransport
from vision_agents.core.edge import events as va_events
from vision_agents.core.edge import types as va_types

from actors.presence import ConnectionState
from messages import NotReadyError, Participant, TrackType, User
from transport._connection import Connection
from transport._edge import EdgeTransport
from transport.events import (
    ConnectionClosedEvent,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
)
from transport.media import MediaEdge

__all__ = ["VisionAgentsConnection", "VisionAgentsEdge"]

logger = logging.getLogger(__name__)


def _participant(participant: Participant | None) -> va_types.Participant | None:
    if participant is None:
        return None
    return va_types.Participant(
        original=participant.original, user_id=participant.user_id, id=participant.id
    )


class VisionAgentsConnection(va_types.Connection):
    """vision-agents' ``Connection`` over ours: waits, idle time and close go straight through."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    async def wait_for_participant(self, timeout: float | None = None) -> None:
        await self.connection.wait_for_participant(timeout)

    def idle_since(self) -> float:
        """``time.time()`` since nobody but the agent is here: also while nobody came yet.

        Unlike ``Connection.idle_since()`` (``0.0`` while waiting for the first
        participant), this counts from the join then, so vision-agents'
        ``AgentLauncher`` closes an agent that nobody joins.
        """
        presence = self.connection.presence
        if presence.state is ConnectionState.WAITING:
            return presence.since
        return presence.idle_since

    async def close(self) -> None:
        await self.connection.close()

    @property
    def participants(self) -> list[va_types.Participant]:
        """Who is in the call now, as vision-agents participants."""
        return [p for p in map(_participant, self.connection.participants) if p is not None]


class VisionAgentsEdge(VisionEdgeTransport[Any]):
    """One of our edges, presented as a vision-agents ``EdgeTransport``."""

    def __init__(self, edge: EdgeTransport, *, owns_edge: bool = True) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.edge = edge
        self.owns_edge = owns_edge
        """Whether ``close()`` closes the wrapped edge too (else only this agent's connection)."""
        self._send: Callable[..., None] = self.events.send
        self._connection: Connection | None = None
        self._agent: Any = None
        self._listeners: dict[str, asyncio.Task[None]] = {}
        self._ending: set[asyncio.Task[None]] = set()
        self._published: list[str] = []
        edge.events.subscribe(self._forward)

    # -- Component ------------------------------------------------------------------

    async def start(self) -> None:
        """Start the wrapped edge if it has a server (the local edge)."""
        start = getattr(self.edge, "start", None)
        if start is not None:
            await start()

    async def close(self) -> None:
        """Stop listening, close this agent's connection, and the wrapped edge if it owns it."""
        for task in self._listeners.values():
            task.cancel()
        await asyncio.gather(*self._listeners.values(), return_exceptions=True)
        self._listeners.clear()
        if self.owns_edge:
            await self.edge.close()
        elif self._connection is not None:
            await self._connection.close()
        self.edge.events.unsubscribe(self._forward)

    # -- EdgeTransport ------------------------------------------------------------

    async def authenticate(self, user: va_types.User) -> None:
        await self.edge.authenticate(_user(user))

    async def create_call(self, call_id: str, **kwargs: Any) -> Any:
        return await self.edge.create_call(call_id, **kwargs)

    async def join(self, agent: Any, call: Any, **kwargs: Any) -> VisionAgentsConnection:
        self._agent = agent
        self._connection = await self.edge.join(_user(agent.agent_user), call, **kwargs)
        # Tracks that were published before we joined: start their audio now.
        for track in self._connection.presence.tracks:
            owner = next(
                (p for p in self._connection.participants if p.id == track.participant_id), None
            )
            self._listen(track.track_id, track.track_type, owner)
        return VisionAgentsConnection(self._connection)

    def create_audio_track(self) -> AudioStreamTrack:
        return AudioStreamTrack(sample_rate=48_000, channels=2)

    async def publish_tracks(
        self, audio_track: MediaStreamTrack | None, video_track: MediaStreamTrack | None
    ) -> None:
        if self._connection is None:
            msg = "publish_tracks() before join()"
            raise NotReadyError(msg)
        if isinstance(self.edge, MediaEdge):  # the local edge
            for track in (audio_track, video_track):
                if track is not None:
                    call_id = self._connection.call.id
                    self._published.append(await self.edge.publish_track(call_id, track))
            return
        manager = getattr(self.edge, "manager", None)
        if manager is not None:  # Stream's edge: the SDK publishes
            await manager(self._connection).add_tracks(audio=audio_track, video=video_track)
            return
        msg = f"{type(self.edge).__name__} carries no media to publish"
        raise NotImplementedError(msg)

    def add_track_subscriber(self, track_id: str) -> Any:
        if not isinstance(self.edge, MediaEdge):
            msg = f"{type(self.edge).__name__} carries no media to subscribe to"
            raise NotImplementedError(msg)
        return self.edge.add_track_subscriber(track_id)

    async def create_conversation(self, call: Any, user: va_types.User, instructions: str) -> Any:
        """An in-memory conversation: our edges keep no chat history of their own."""
        return InMemoryConversation(messages=[], instructions=instructions)

    async def send_custom_event(self, data: dict[str, Any]) -> None:
        send = getattr(getattr(self._connection, "call", None), "sdk_call", None)
        if send is not None:  # Stream's edge
            await send.send_call_event(custom=data)
            return
        if isinstance(self.edge, MediaEdge) and self._connection is not None:  # the local edge
            await self.edge.send_custom_event(self._connection.call.id, data)
            return
        msg = f"{type(self.edge).__name__} has no custom events; it sends presence and media only"
        raise NotImplementedError(msg)

    def open_demo(self, *args: Any, **kwargs: Any) -> str:
        """The browser join URL of the call (the local edge); print it for a person."""
        join_url = getattr(self.edge, "join_url", None)
        if join_url is None or self._connection is None:
            msg = f"{type(self.edge).__name__} has no demo page"
            raise NotImplementedError(msg)
        url: str = join_url(self._connection.call.id, kwargs.get("user_id", "guest"))
        logger.info("join the call at %s", url)
        return url

    # -- our events to theirs ---------------------------------------------------------

    async def _forward(
        self,
        event: TrackAddedEvent
        | TrackRemovedEvent
        | ParticipantJoinedEvent
        | ParticipantLeftEvent
        | ConnectionClosedEvent,
    ) -> None:
        connection = self._connection
        if connection is None or event.call is not connection.call:
            return  # another agent's connection on a shared edge
        participant = _participant(getattr(event, "participant", None))
        if isinstance(event, TrackAddedEvent):
            kind = va_types.TrackType(int(event.track_type))
            self._send(
                va_events.TrackAddedEvent(
                    track_id=event.track_id, track_type=kind, participant=participant
                )
            )
            self._listen(event.track_id, event.track_type, event.participant)
        elif isinstance(event, TrackRemovedEvent):
            task = self._listeners.pop(event.track_id, None)
            if task is not None:
                task.cancel()
            kind = va_types.TrackType(int(event.track_type))
            self._send(
                va_events.TrackRemovedEvent(
                    track_id=event.track_id, track_type=kind, participant=participant
                )
            )
        elif isinstance(event, ParticipantJoinedEvent):
            assert participant is not None
            self._send(va_events.ParticipantJoinedEvent(participant=participant, call=event.call))
        elif isinstance(event, ParticipantLeftEvent):
            assert participant is not None
            self._send(va_events.ParticipantLeftEvent(participant=participant, call=event.call))
        else:
            self._end_agent()
            if event.reason != "closed":  # ended by the call or the lifecycle, not by a close()
                self._send(va_events.CallEndedEvent(call=event.call))

    def _end_agent(self) -> None:
        """Our connection closed: close the agent from a task of ours (idempotent for it)."""
        agent = self._agent
        if agent is None or getattr(agent, "closed", False):
            return
        ending = asyncio.get_running_loop().create_task(agent.close())
        self._ending.add(ending)  # keep it alive until it is done
        ending.add_done_callback(self._ending.discard)

    def _listen(self, track_id: str, kind: TrackType, owner: Participant | None) -> None:
        if (
            kind not in (TrackType.AUDIO, TrackType.SCREEN_SHARE_AUDIO)
            or track_id in self._listeners
        ):
            return
        with contextlib.suppress(KeyError, NotImplementedError):
            track = self.add_track_subscriber(track_id)
            task = asyncio.get_running_loop().create_task(self._read_audio(track, owner))
            self._listeners[track_id] = task

    async def _read_audio(self, track: MediaStreamTrack, owner: Participant | None) -> None:
        participant = _participant(owner)
        try:
            while True:
                frame = await track.recv()
                pcm = PcmData.from_av_frame(frame)
                self._send(va_events.AudioReceivedEvent(pcm_data=pcm, participant=participant))
        except (MediaStreamError, asyncio.CancelledError):
            pass
        finally:
            track.stop()


def _user(user: Any) -> User:
    return User(
        id=str(user.id),
        name=getattr(user, "name", "") or "",
        image=getattr(user, "image", None) or None,
        custom=dict(getattr(user, "custom", None) or {}),
    )
