"""Run inside vision-agents (extra ``vision-agents``): our edges as its ``EdgeTransport``.

``VisionAgentsEdge(edge)`` wraps a ``LocalEdge``, ``StreamEdge`` or
``MemoryEdge`` so that ``vision_agents.core.Agent(edge=VisionAgentsEdge(...),
llm=..., agent_user=...)`` runs on it, alone or under an ``AgentLauncher``.
Our events are re-sent as vision-agents' own (``TrackAddedEvent``,
``TrackRemovedEvent``, ``ParticipantJoinedEvent``, ``ParticipantLeftEvent``,
``CallEndedEvent``) with its ``Participant`` and ``TrackType``; every received
audio track is read and sent as ``AudioReceivedEvent`` with the SDK's
``PcmData``. Everything runs on the agent's loop, which is the edge's.

One adapter serves one agent in one call. Several agents may share one edge
(``VisionAgentsEdge(edge, owns_edge=False)`` for each, as an ``AgentLauncher``'s
factory would): each adapter joins with its own copy of the call object, so the
events of its connection are told apart from another agent's in the same call,
and one handler per shared edge routes them (an event costs the same with one
agent on the edge or a thousand). Closing an adapter closes its connection and
takes back the tracks its agent published; the edge stays up unless the
adapter owns it.

The end of the call ends the agent. Whatever closes our connection (``close()``
by the host, an idle timeout, the call ending on Stream, the edge shutting
down) closes the agent from a task of ours, so ``agent.finish()`` returns,
``agent.closed`` becomes true and no task is left. vision-agents' own handler
of ``CallEndedEvent`` closes the agent from inside that handler, and the
agent's close waits for its handlers, so it would wait on itself: ours starts
the agent's close before it sends ``CallEndedEvent``, and the handler then
finds the agent closing and returns. A connection that closes while the agent
is still joining (publishing its tracks, waiting for a participant) ends the
join quietly: the agent is closed first, so its ``join()`` goes on to a
``finish()`` that returns at once.

**The one place where this adapter's connection differs from ours:** its
``idle_since()`` counts from the join while nobody but the agent has been in
the call. Our ``Connection.idle_since()`` follows the contract's state table
(``0.0`` while ``WAITING``); vision-agents' ``AgentLauncher`` closes a session
once ``agent.idle_for()`` reaches ``agent_idle_timeout``, and the agent reads
that from ``idle_since()``, so with the table's ``0.0`` an agent that nobody
joins would be kept forever. vision-agents' own Stream edge counts from the
join too.

An edge without media (``MemoryEdge``) runs agents as well: what the agent
publishes goes nowhere, as in a call nobody listens to, and it subscribes to
no track (``add_track_subscriber`` returns ``None``).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from getstream.video.rtc import AudioStreamTrack
from getstream.video.rtc.track_util import PcmData
from vision_agents.core.agents.conversation import InMemoryConversation
from vision_agents.core.edge import EdgeTransport as VisionEdgeTransport
from vision_agents.core.edge import events as va_events
from vision_agents.core.edge import types as va_types

from actors.presence import ConnectionState
from messages import (
    ConnectionClosedError,
    EdgeClosedError,
    NotReadyError,
    Participant,
    TrackType,
    User,
)
from transport._connection import Connection
from transport._edge import EdgeTransport
from transport.bus import (
    ConnectionClosedEvent,
    EventBus,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
)
from transport.features import EdgeFeature, EdgeFeatureError

__all__ = ["EdgeFeatureError", "VisionAgentsConnection", "VisionAgentsEdge"]

logger = logging.getLogger(__name__)

_Forwarded = (
    TrackAddedEvent
    | TrackRemovedEvent
    | ParticipantJoinedEvent
    | ParticipantLeftEvent
    | ConnectionClosedEvent
)


class VisionAgentsConnection(va_types.Connection):
    """vision-agents' ``Connection`` over ours, for one agent (made by ``VisionAgentsEdge.join``).

    Waits and close go straight through; ``idle_since()`` also counts while
    nobody came yet (see the module's docstring). Called on the edge's loop.
    """

    def __init__(self, connection: Connection, close_agent: Callable[[], Awaitable[None]]) -> None:
        self.connection = connection
        """Our ``Connection`` underneath: presence, state, ``settled()``."""
        self._close_agent = close_agent

    async def wait_for_participant(self, timeout: float | None = None) -> None:
        """Return once someone other than the agent is in the call (as ours does).

        If the connection is or becomes closed, the agent is closed first, then
        ``ConnectionClosedError`` is raised (the agent's ``join()`` ends quietly on it).
        """
        try:
            await self.connection.wait_for_participant(timeout)
        except ConnectionClosedError:
            await self._close_agent()
            raise

    def idle_since(self) -> float:
        """``time.time()`` since nobody but the agent is here, also before anyone came; else 0.0."""
        presence = self.connection.presence
        if presence.state is ConnectionState.WAITING:
            return presence.since
        return presence.idle_since

    async def close(self) -> None:
        """Close our connection (idempotent); the agent then closes too, if it is not closing."""
        await self.connection.close()

    @property
    def participants(self) -> list[va_types.Participant]:
        """Who is in the call now, agent excluded, as vision-agents participants."""
        return [_participant(p) for p in self.connection.participants]


class VisionAgentsEdge(VisionEdgeTransport[Any]):
    """One of our edges, presented as a vision-agents ``EdgeTransport`` for one agent.

    ``owns_edge``: whether closing this adapter (the agent closes it) closes
    the wrapped edge too, or only this agent's connection. Create it and use it
    on the edge's loop.
    """

    def __init__(self, edge: EdgeTransport, *, owns_edge: bool = True) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.edge = edge
        self.owns_edge = owns_edge
        """Whether ``close()`` closes the wrapped edge too (else only this agent's connection)."""
        self._send: Callable[..., None] = self.events.send
        self._router = _Router.of(edge)
        self._call: Any = None  # the call the agent joins, as it gave it
        self._own_call: Any = None  # our copy of it, which our connection's events carry
        self._connection: Connection | None = None
        self._agent: Any = None
        self._listeners: dict[str, asyncio.Task[None]] = {}
        self._ending: asyncio.Task[None] | None = None
        self._closing = False
        self._published: list[str] = []

    @property
    def connection(self) -> Connection | None:
        """Our connection once the agent has joined (``None`` before)."""
        return self._connection

    @property
    def published(self) -> tuple[str, ...]:
        """The ids of the agent's tracks this adapter published on a media edge, until it closes."""
        return tuple(self._published)

    # -- Component ------------------------------------------------------------------

    async def start(self) -> None:
        """Start the wrapped edge (the local edge's server) if this adapter owns the edge.

        The agent calls it as it joins; ``create_call`` calls it too, as the
        agent's host calls that first. A shared edge is its host's to start.
        Idempotent and safe to call concurrently. ``EdgeClosedError`` once
        ``close()`` has begun, also for a start that a close overtook: the
        agent's join then ends quietly, and nothing is left listening.
        """
        if self._closing:
            raise EdgeClosedError(_CLOSED_BEFORE_START)
        if self.owns_edge:
            await self.edge.start()

    async def close(self) -> None:
        """Stop reading audio, take back the agent's tracks, close its connection.

        Closes the wrapped edge too if the adapter owns it. The agent calls it
        while it closes; idempotent.
        """
        self._closing = True
        listeners = list(self._listeners.values())
        self._listeners.clear()
        for task in listeners:
            task.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)
        await self._unpublish()
        if self.owns_edge:
            await self.edge.close()
        elif self._connection is not None:
            await self._connection.close()
        if self._own_call is not None:
            self._router.remove(self._own_call)

    # -- EdgeTransport ------------------------------------------------------------

    async def authenticate(self, user: va_types.User) -> None:
        await self.edge.authenticate(_user(user))

    async def create_call(self, call_id: str, **kwargs: Any) -> Any:
        """Get or create the call ``call_id`` on the wrapped edge (started first if owned)."""
        await self.start()
        return await self.edge.create_call(call_id, **kwargs)

    async def join(self, agent: Any, call: Any, **kwargs: Any) -> VisionAgentsConnection:
        """Join ``call`` for ``agent`` (once per adapter); the agent's ``join()`` calls it."""
        if self._call is not None:
            msg = "this VisionAgentsEdge has joined a call already: give each agent its own"
            raise NotReadyError(msg)
        if self._closing:
            raise NotReadyError(_CLOSED_BEFORE_JOIN)
        self._agent = agent
        self._call = call
        self._own_call = _own_copy(call)
        # Routed before joining: the first events may come while join() runs.
        self._router.add(self._own_call, self._on_event)
        try:
            connection = await self.edge.join(_user(agent.agent_user), self._own_call, **kwargs)
        except BaseException:
            self._router.remove(self._own_call)
            raise
        self._connection = connection
        if self._closing:  # the agent closed while we joined: leave nothing behind
            await connection.close()
            self._router.remove(self._own_call)
            raise NotReadyError(_CLOSED_BEFORE_JOIN)
        # Tracks that were published before we joined: start their audio now.
        for track in connection.presence.tracks:
            owner = next((p for p in connection.participants if p.id == track.participant_id), None)
            self._listen(track.track_id, track.track_type, owner)
        return VisionAgentsConnection(connection, self._close_agent)

    def create_audio_track(self) -> AudioStreamTrack:
        return AudioStreamTrack(sample_rate=48_000, channels=2)

    async def publish_tracks(
        self, audio_track: MediaStreamTrack | None, video_track: MediaStreamTrack | None
    ) -> None:
        """Publish the agent's tracks into its call (on an edge without media: nowhere).

        If the connection closes meanwhile, what was published is taken back,
        the agent is closed and ``ConnectionClosedError`` raised.
        """
        connection = self._joined()
        try:
            await self._publish(connection, audio_track, video_track)
        except Exception:
            if not connection.closed:
                raise
        if connection.closed:
            await self._unpublish()
            await self._end_join(connection)

    async def _publish(
        self,
        connection: Connection,
        audio_track: MediaStreamTrack | None,
        video_track: MediaStreamTrack | None,
    ) -> None:
        if EdgeFeature.PUBLISH not in self.edge.features:
            logger.debug("%s carries no media: the agent's tracks go nowhere", self.edge)
            return
        published = await self.edge.publish_tracks(connection, audio=audio_track, video=video_track)
        self._published.extend(published)

    async def _unpublish(self) -> None:
        published, self._published = self._published, []
        if published and self._connection is not None:
            await self.edge.unpublish_tracks(self._connection, published)

    def add_track_subscriber(self, track_id: str) -> Any:
        """A new track of the frames of ``track_id``, read on the agent's loop.

        ``None`` for a track nobody publishes now (unknown, or unpublished
        before the agent subscribed: the agent logs it and goes on), and on an
        edge without media (no ``EdgeFeature.SUBSCRIBE``).
        """
        if EdgeFeature.SUBSCRIBE not in self.edge.features:
            return None
        return self.edge.add_track_subscriber(track_id)

    async def create_conversation(self, call: Any, user: va_types.User, instructions: str) -> Any:
        """An in-memory conversation: our edges keep no chat history of their own.

        The agent asks for it while it joins; if the connection has closed by
        then, the agent is closed and ``ConnectionClosedError`` raised.
        """
        if self._connection is not None and self._connection.closed:
            await self._end_join(self._connection)
        return InMemoryConversation(messages=[], instructions=instructions)

    async def send_custom_event(self, data: dict[str, Any]) -> None:
        """Send ``data`` (a JSON object) to the call's participants.

        On Stream as a custom call event; on the local edge as a ``Custom``
        frame (``transport.local.CustomEventError`` if it is not a JSON object
        or is too large). ``EdgeFeatureError`` on an edge without custom events.
        """
        await self.edge.send_custom_event(self._joined().call.id, data)

    def open_demo(self, *args: Any, **kwargs: Any) -> str:
        """The browser join URL of the call (the local edge); print it for a person."""
        url = self.edge.join_url(self._joined().call.id, kwargs.get("user_id", "guest"))
        logger.info("join the call at %s", url)
        return url

    # -- the end of the call ends the agent ------------------------------------------

    def _joined(self) -> Connection:
        if self._connection is None:
            msg = "the agent has not joined a call through this edge yet: join() first"
            raise NotReadyError(msg)
        return self._connection

    def _end_agent(self) -> None:
        """Our connection closed: start closing the agent from a task of ours."""
        agent = self._agent
        if agent is None or self._closing or self._ending is not None or agent.closed:
            return  # nobody to close, or the agent is closing us
        # The task's first step takes the agent's close lock, before any handler
        # of the CallEndedEvent sent after this runs: those find it closing.
        self._ending = asyncio.get_running_loop().create_task(agent.close())
        self._ending.add_done_callback(_log_failure)

    async def _close_agent(self) -> None:
        """Close the agent and return once that close is done (at once if it is closing us)."""
        self._end_agent()
        if self._ending is not None:
            await asyncio.shield(self._ending)

    async def _end_join(self, connection: Connection) -> NoReturn:
        """The connection closed while the agent was joining: close the agent, then say so."""
        await self._close_agent()
        raise ConnectionClosedError.of(connection.key, "the call ended while the agent joined")

    # -- our events to theirs ---------------------------------------------------------

    def _on_event(self, event: _Forwarded) -> None:
        if isinstance(event, TrackAddedEvent):
            self._send(
                va_events.TrackAddedEvent(
                    track_id=event.track_id,
                    track_type=va_types.TrackType(int(event.track_type)),
                    participant=_maybe_participant(event.participant),
                )
            )
            self._listen(event.track_id, event.track_type, event.participant)
        elif isinstance(event, TrackRemovedEvent):
            task = self._listeners.pop(event.track_id, None)
            if task is not None:
                task.cancel()
            self._send(
                va_events.TrackRemovedEvent(
                    track_id=event.track_id,
                    track_type=va_types.TrackType(int(event.track_type)),
                    participant=_maybe_participant(event.participant),
                )
            )
        elif isinstance(event, ParticipantJoinedEvent):
            participant = _participant(event.participant)
            self._send(va_events.ParticipantJoinedEvent(participant=participant, call=self._call))
        elif isinstance(event, ParticipantLeftEvent):
            participant = _participant(event.participant)
            self._send(va_events.ParticipantLeftEvent(participant=participant, call=self._call))
        else:
            self._end_agent()  # first: see _end_agent
            if event.reason != "closed":  # ended by the call or the lifecycle, not by a close()
                self._send(va_events.CallEndedEvent(call=self._call))

    def _listen(self, track_id: str, kind: TrackType, owner: Participant | None) -> None:
        if (
            kind not in (TrackType.AUDIO, TrackType.SCREEN_SHARE_AUDIO)
            or track_id in self._listeners
            or self._closing
        ):
            return
        track = self.add_track_subscriber(track_id)
        if track is not None:  # None: unpublished meanwhile
            task = asyncio.get_running_loop().create_task(self._read_audio(track, owner))
            self._listeners[track_id] = task

    async def _read_audio(self, track: MediaStreamTrack, owner: Participant | None) -> None:
        participant = _maybe_participant(owner)
        try:
            while True:
                frame = await track.recv()
                pcm = PcmData.from_av_frame(frame)
                self._send(va_events.AudioReceivedEvent(pcm_data=pcm, participant=participant))
        except (MediaStreamError, asyncio.CancelledError):
            pass
        finally:
            track.stop()


class _Router:
    """The one handler a shared edge has for all its adapters: events go to their call's adapter."""

    def __init__(self, events: EventBus) -> None:
        self.events = events  # the edge's bus, not the edge: _ROUTERS must not keep the edge
        self.adapters: dict[int, Callable[[_Forwarded], None]] = {}  # by id of their own call

    @classmethod
    def of(cls, edge: EdgeTransport) -> _Router:
        router = _ROUTERS.get(edge)
        if router is None:
            router = _ROUTERS[edge] = cls(edge.events)
        return router

    def add(self, call: Any, adapter: Callable[[_Forwarded], None]) -> None:
        if id(call) in self.adapters:
            msg = (
                f"another agent on this edge joined with the same call object ({call.id!r}) "
                "and it cannot be copied: give each agent its own (edge.create_call)"
            )
            raise NotReadyError(msg)
        if not self.adapters:
            self.events.subscribe(self.forward)
        self.adapters[id(call)] = adapter

    def remove(self, call: Any) -> None:
        if self.adapters.pop(id(call), None) is not None and not self.adapters:
            self.events.unsubscribe(self.forward)

    async def forward(self, event: _Forwarded) -> None:
        adapter = self.adapters.get(id(event.call))
        if adapter is not None:
            adapter(event)


_CLOSED_BEFORE_JOIN = "the agent was closed before it joined the call: create a new agent"
_CLOSED_BEFORE_START = "this VisionAgentsEdge is closed: create a new agent with a new edge"

_ROUTERS: weakref.WeakKeyDictionary[EdgeTransport, _Router] = weakref.WeakKeyDictionary()


def _own_copy(call: Any) -> Any:
    """A copy of ``call`` of the same type, whose identity tells this agent's events apart."""
    try:
        return copy.copy(call)
    except Exception:  # an object that cannot be copied: the router refuses a second user
        return call


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("closing the agent failed", exc_info=task.exception())


def _participant(participant: Participant) -> va_types.Participant:
    return va_types.Participant(
        original=participant.original, user_id=participant.user_id, id=participant.id
    )


def _maybe_participant(participant: Participant | None) -> va_types.Participant | None:
    return None if participant is None else _participant(participant)


def _user(user: Any) -> User:
    return User(
        id=str(user.id),
        name=getattr(user, "name", "") or "",
        image=getattr(user, "image", None) or None,
        custom=dict(getattr(user, "custom", None) or {}),
    )
