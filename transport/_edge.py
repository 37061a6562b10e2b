"""``EdgeTransport``: the contract every edge implements, and the part they share.

An edge authenticates the agent, creates calls, and joins them. ``join()`` is
the same for every edge: it starts a connection actor, wraps it in a
``Connection`` and lets the edge attach its transport (``on_join``). The edge then
turns what happens in the call into protocol messages and ``deliver()``s them
to the connections of that call. All of it runs on one event loop, the edge's.
"""

from __future__ import annotations

import abc
import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import pykka

from actors import metrics
from actors.clock import Clock, as_clock
from actors.connection_interface import ConnectionOptions
from messages import (
    EdgeClosedError,
    MediaHealth,
    Message,
    Participant,
    ParticipantJoined,
    TrackAdded,
    TrackType,
    User,
    check_call_id,
)
from transport._connection import Connection
from transport.bus import EventBus
from transport.features import EdgeFeature, EdgeFeatureError

__all__ = ["Call", "EdgeTransport"]

logger = logging.getLogger(__name__)

_CLOSE_BATCH = 256  # connections closed concurrently by EdgeTransport.close()


@runtime_checkable
class Call(Protocol):
    """A call an edge can join; edges return their own type with at least ``id``."""

    @property
    def id(self) -> str: ...


class EdgeTransport(abc.ABC):
    """Base of every edge (``MemoryEdge``, ``LocalEdge``, ``StreamEdge``).

    One edge holds any number of connections to any number of calls, each
    backed by its own connection actor on the loop that called ``join()``;
    ``close()`` closes them all. ``clock`` stamps ``idle_since`` and runs the
    timers (idle timeout, reconnect grace, wait timeouts); ``options`` are the
    connections' default policies; ``max_pending_events`` bounds each event
    handler's queue per connection (``events`` replaces the bus altogether);
    ``handler_grace`` is how long closing waits for handlers still busy with a
    connection's events before it goes on without them.
    """

    events: EventBus
    """The edge's bus: ``@edge.events.subscribe`` an ``async def`` handler."""

    features: ClassVar[frozenset[EdgeFeature]] = frozenset()
    """What this edge offers beyond the contract (see "Capabilities" below)."""

    def __init__(
        self,
        *,
        clock: Clock | Callable[[], float] | None = None,
        options: ConnectionOptions | None = None,
        max_pending_events: int = 10_000,
        events: EventBus | None = None,
        handler_grace: float = 10.0,
    ) -> None:
        if not 0 <= handler_grace < float("inf"):
            msg = (
                f"handler_grace must be a finite number of seconds, 0 or more, not {handler_grace}"
            )
            raise ValueError(msg)
        self.events = events if events is not None else EventBus(max_pending=max_pending_events)
        self._emit = self.events.send  # bound once: every connection actor shares it
        self.handler_grace = handler_grace
        """Seconds ``close()`` waits for handlers still busy with a closing connection's events."""
        self.clock = as_clock(clock)
        """Where connections read the time and set timers (``VirtualClock`` in tests)."""
        self.options = options if options is not None else ConnectionOptions()
        """Default policies of the connections this edge makes; ``join()`` can override."""
        # The open connections by call: usually one, kept bare; two or more as a
        # tuple (see _members). Replaced, never changed, so deliver() needs no copy.
        self._by_call: dict[str, Connection | tuple[Connection, ...]] = {}
        self._releasing: set[Connection] = set()  # detached, their close still running
        self._keys = itertools.count(1)
        # The one start and the one close, as tasks: a caller cancelled while it waits
        # does not cut them short (a half-bound server would be nobody's to close).
        self._starting: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        metrics.watch_media(self)  # read only if metrics are enabled

    @abc.abstractmethod
    async def authenticate(self, user: User) -> None:
        """Make ``user`` (the agent's account) known to the edge before joining."""

    @abc.abstractmethod
    async def create_call(self, call_id: str, **kwargs: Any) -> Call:
        """Get or create the call ``call_id``.

        Edges check the id with ``messages.check_call_id`` first: an invalid one
        is an ``InvalidCallIdError`` here, before anything is created.
        """

    @property
    def closing(self) -> bool:
        """Whether ``close()`` has begun (it stays true once the edge is closed)."""
        return self._closing is not None

    async def start(self) -> Self:
        """Start what the edge serves (``LocalEdge``: its server), on the running loop.

        Returns the edge. Idempotent and safe to call concurrently: every caller
        waits for the one start (``on_start``), which a cancelled caller does not
        cut short. ``EdgeClosedError`` once ``close()`` has begun, also for a
        start that a ``close()`` overtook: that close releases whatever the start
        had made, and nothing is left listening.
        """
        if self._closing is not None:
            raise EdgeClosedError(_CLOSED_EDGE)
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self.on_start())
            self._starting.add_done_callback(_retrieve)  # each caller gets the failure
        await asyncio.shield(self._starting)
        if self._closing is not None:
            msg = f"the edge was closed while it started: {_CLOSED_EDGE}"
            raise EdgeClosedError(msg)
        return self

    async def join(
        self, agent: Any, call: Call, *, options: ConnectionOptions | None = None, **kwargs: Any
    ) -> Connection:
        """Join ``call`` as ``agent`` and return the ``Connection``.

        ``agent`` is a ``User`` or an object with an ``agent_user`` attribute
        (a vision-agents ``Agent``). ``options`` replace the edge's defaults for
        this connection. Extra keyword arguments go to the edge.
        ``EdgeClosedError`` once the edge's ``close()`` has begun, also for a
        join that a ``close()`` overtook (its connection is closed).
        """
        agent_user = _agent_user(agent)
        check_call_id(call.id)
        if self._closing is not None:
            raise EdgeClosedError(_CLOSED_EDGE)
        key = f"{call.id}#{next(self._keys)}"
        connection = Connection(
            edge=self,
            call=call,
            agent_user=agent_user,
            key=key,
            clock=self.clock,
            options=options if options is not None else self.options,
        )
        present = self._by_call.get(call.id)
        self._by_call[call.id] = connection if present is None else (*_members(present), connection)
        try:
            await self.on_join(connection, **kwargs)
        except BaseException as exc:
            await connection.close()
            if self._closing is not None and isinstance(exc, Exception):
                # the edge shut down under the join (an SDK client closed, say): say that
                msg = f"the edge was closed while the agent joined: {_CLOSED_EDGE}"
                raise EdgeClosedError(msg) from exc
            raise
        if self._closing is not None:  # close() began meanwhile: it closes this connection too
            await connection.close()
            msg = f"the edge was closed while the agent joined: {_CLOSED_EDGE}"
            raise EdgeClosedError(msg)
        return connection

    def connections(self, call_id: str | None = None) -> tuple[Connection, ...]:
        """The open connections (of ``call_id``, if given)."""
        if call_id is not None:
            return _members(self._by_call.get(call_id))
        return tuple(c for entry in self._by_call.values() for c in _members(entry))

    def deliver(self, message: Message) -> None:
        """Tell ``message`` to every open connection of ``message.call_id``.

        Edges call it on their loop as things happen in the call; the actors do
        the rest. A connection closing at the same moment simply misses it.
        """
        entry = self._by_call.get(message.call_id)
        if entry is None:
            return
        if not isinstance(entry, tuple):
            entry = (entry,)  # a call's only connection (_members, inlined: every message)
        for connection in entry:
            try:
                connection.actor_ref.tell(message)
            except pykka.ActorDeadError:
                logger.debug("%s closed before %r reached it", connection.key, message)

    async def apply(self, message: Message) -> None:
        """``deliver()`` ``message``, then return once the call's connection actors handled it.

        Presence then shows it; event handlers are never waited for, so an edge
        may await this on a peer's I/O path. Call it on the edge's loop.
        """
        connections = self.connections(message.call_id)
        self.deliver(message)
        for connection in connections:
            await connection.caught_up()

    async def tell_present(
        self,
        connection: Connection,
        present: Iterable[tuple[Participant, Iterable[tuple[str, TrackType]]]],
    ) -> None:
        """Tell a connection that joins late who is in its call and what each publishes.

        ``present`` is (participant, [(track id, track type), ...]) per
        participant; returns once the connection's actor has it all (presence
        shows them). For ``on_join`` hooks, on the edge's loop.
        """
        call_id = connection.call.id
        tell = connection.actor_ref.tell
        for participant, tracks in present:
            tell(ParticipantJoined(call_id, participant))
            for track_id, track_type in tracks:
                tell(TrackAdded(call_id, participant, track_id, track_type))
        await connection.caught_up()

    async def close(self) -> None:
        """Close every connection, shut the edge down, then let the handlers finish.

        Idempotent and safe to call concurrently, and in any order with
        ``start()``: every caller waits for the one close, which a cancelled
        caller does not cut short. A start under way is waited for first, so
        ``on_shutdown`` releases what it made. Closes that began elsewhere (an
        idle timeout, the call's end) are waited for too, so nothing of a
        connection outlives the edge.

        Handlers get ``handler_grace`` seconds to handle what is queued for
        them; deliveries still running then are cancelled (and logged).
        """
        if self._closing is None:
            self._closing = asyncio.get_running_loop().create_task(self._close())
        await asyncio.shield(self._closing)

    async def _close(self) -> None:
        if self._starting is not None:
            await asyncio.wait([self._starting])  # its outcome is start()'s to report
        connections = (*self.connections(), *self._releasing)  # closes already under way too
        for start in range(0, len(connections), _CLOSE_BATCH):
            batch = connections[start : start + _CLOSE_BATCH]
            # Not gather(): that is a task per connection, and on CPython 3.11 each
            # gather() leaves a string in the type cache, pinning a page of heap.
            for connection in batch:
                connection.begin_close()  # the whole batch closes at once
            for connection in batch:
                await connection.close()  # at once if its close is done already
        await self.on_shutdown()
        if not await self.events.drain(timeout=self.handler_grace):
            cancelled = self.events.cancel_all()
            logger.warning(
                "%d event deliveries were still running %.1f s after the edge closed; cancelled",
                cancelled,
                self.handler_grace,
            )

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- capabilities: an edge declares each in `features` and overrides its hooks ----
    #
    # They run on the edge's loop. The defaults raise EdgeFeatureError.

    def participant(self, call_id: str, user_id: str) -> Any:
        """A person for ``call_id`` driven by code (``await person.join()``); ``PEOPLE``."""
        raise EdgeFeatureError.lacking(self, EdgeFeature.PEOPLE)

    async def publish_tracks(
        self, connection: Connection, *, audio: Any = None, video: Any = None
    ) -> tuple[str, ...]:
        """Send the agent's tracks (aiortc ``MediaStreamTrack``s) into its call; ``PUBLISH``.

        Returns the ids to give ``unpublish_tracks`` (empty where the edge takes
        them back itself when the connection closes).
        """
        raise EdgeFeatureError.lacking(self, EdgeFeature.PUBLISH)

    async def unpublish_tracks(self, connection: Connection, track_ids: Iterable[str]) -> None:
        """Stop sending the agent's tracks ``track_ids`` (unknown ids: nothing); ``PUBLISH``."""
        raise EdgeFeatureError.lacking(self, EdgeFeature.PUBLISH)

    def add_track_subscriber(self, track_id: str) -> Any:
        """A new track of the frames of the received track ``track_id``; ``SUBSCRIBE``."""
        raise EdgeFeatureError.lacking(self, EdgeFeature.SUBSCRIBE)

    async def send_custom_event(self, call_id: str, data: dict[str, Any]) -> int | None:
        """Send a JSON object to everyone in ``call_id``; ``CUSTOM_EVENTS``.

        Returns how many participants it reached where the edge knows
        (``None`` where the provider's servers fan it out).
        """
        raise EdgeFeatureError.lacking(self, EdgeFeature.CUSTOM_EVENTS)

    @property
    def url(self) -> str:
        """Where people join this edge's calls (an ``http://`` URL); ``JOIN_URLS``."""
        raise EdgeFeatureError.lacking(self, EdgeFeature.JOIN_URLS)

    def token(self, call_id: str, user_id: str) -> str:
        """A single-use token that lets ``user_id`` join ``call_id`` at ``url``; ``JOIN_URLS``."""
        raise EdgeFeatureError.lacking(self, EdgeFeature.JOIN_URLS)

    def join_url(self, call_id: str, user_id: str) -> str:
        """A page a person opens to join ``call_id`` as ``user_id``; ``JOIN_URLS``."""
        raise EdgeFeatureError.lacking(self, EdgeFeature.JOIN_URLS)

    def media_health(self, call_id: str | None = None) -> tuple[MediaHealth, ...]:
        """How the media this edge receives fares, per call (``call_id``'s alone if given).

        Frames received, decoded and dropped unread, packets lost and the
        decode backlog (see ``MediaHealth``); empty on edges that count no
        media. Read by ``Connection.report()`` and the OpenTelemetry metrics
        (``actors.metrics``): a snapshot, on any thread.
        """
        return ()

    def sdk_call(self, connection: Connection) -> Any:
        """The provider SDK's call object behind ``connection``; ``SDK_CALL``."""
        raise EdgeFeatureError.lacking(self, EdgeFeature.SDK_CALL)

    # -- for implementors of new edges ------------------------------------------
    #
    # An edge subclasses EdgeTransport and overrides these hooks; everything else
    # (join, deliver, close, the connections) is shared. They run on the edge's
    # loop. A Connection calls on_release, on_evict, detach and release_done; start(), join() and
    # close() call on_start, on_join and on_shutdown.

    async def on_start(self) -> None:  # noqa: B027
        """Start serving (a server, a client), on the edge's loop; called once by ``start()``.

        ``close()`` may begin while this runs (it waits for it): check
        ``closing`` after each step and stop early; keep on ``self`` whatever
        is made as soon as it is made, so ``on_shutdown`` releases it. The
        default does nothing.
        """

    async def on_join(self, connection: Connection, **kwargs: Any) -> None:  # noqa: B027
        """Attach the transport for a new connection (on the edge's loop).

        Tell the connection about participants and tracks already in the call
        (``connection.actor_ref.tell(message)``). The default does nothing.
        """

    async def on_release(self, connection: Connection) -> None:  # noqa: B027
        """Disconnect a closing connection and stop its tracks; called once per connection."""

    async def on_shutdown(self) -> None:  # noqa: B027
        """Release what the edge itself holds (servers, clients); called by ``close()``."""

    def on_evict(self, connection: Connection, participant: Participant, reason: str) -> None:  # noqa: B027
        """Disconnect a session a duplicate-session policy turned away (on the edge's loop).

        The connection has already left it out of presence; the default does
        nothing more.
        """

    def detach(self, connection: Connection) -> None:
        """Stop delivering to ``connection``: it is closing (called by ``Connection`` once)."""
        call_id = connection.call.id
        members = _members(self._by_call.get(call_id))
        if connection in members:
            rest = tuple(member for member in members if member is not connection)
            if not rest:
                del self._by_call[call_id]
            else:
                self._by_call[call_id] = rest[0] if len(rest) == 1 else rest
        self._releasing.add(connection)

    def release_done(self, connection: Connection) -> None:
        """``connection`` has closed and released everything (called by ``Connection`` once)."""
        self._releasing.discard(connection)


_CLOSED_EDGE = "this edge is closed; make a new edge to start or join again"


def _retrieve(task: asyncio.Task[None]) -> None:
    """Mark a start's failure as seen: ``start()`` raises it to each of its callers."""
    if not task.cancelled():
        task.exception()


def _members(entry: Connection | tuple[Connection, ...] | None) -> tuple[Connection, ...]:
    """The connections of one ``_by_call`` entry: a call's only one is kept bare.

    One connection per call is the rule, and the bare reference costs nothing,
    where a 1-tuple costs 48 B and its free list pins pages after a mass close.
    """
    if entry is None:
        return ()
    return entry if isinstance(entry, tuple) else (entry,)


def _agent_user(agent: Any) -> User:
    if isinstance(agent, User):
        return agent
    user = getattr(agent, "agent_user", None)
    if isinstance(user, User):
        return user
    if user is not None and isinstance(getattr(user, "id", None), str):
        return User(
            id=user.id,
            name=getattr(user, "name", "") or "",
            image=getattr(user, "image", None),
            custom=dict(getattr(user, "custom", None) or {}),
        )
    msg = (
        f"join() needs the agent as a User or an object with an `agent_user`; "
        f"got {type(agent).__name__}"
    )
    raise TypeError(msg)
