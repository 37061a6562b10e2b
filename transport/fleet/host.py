"""``Host``: a Ray actor process that runs an edge, its connections and the user's agent.

A host builds its edge from the ``edge`` factory it is given (``LocalEdge`` by
default: each host then serves its own URL on its own port, which placement
hands back, so people join a call where it lives) and, for each call placed on
it, starts the user's ``agent(connection)`` coroutine as a task it owns: the
agent ends when its connection closes (its waits fail with
``ConnectionClosedError``; an agent still running once the call is closed is
cancelled and awaited), and a connection whose agent returns is closed. An
agent that fails is logged and kept in ``agent_failures()``. A connection that
closes by itself (an idle timeout, the call's end) gives its seat back.

A host the directory declared lost (it missed heartbeats: killed, cut off, or
its loop blocked) that turns out to be alive is told so by its next heartbeat:
it closes every call it held, without touching the directory (they may be
served elsewhere already, after ``replace``), and starts again empty. So a
call is never served by two agents for longer than the lost host's stall.

The hot path stays inside the host: what happens in a call reaches its
connection actor by local ``tell``s, never through Ray. Ray carries only what
crosses hosts: directory updates (a heartbeat, a registration, a call's
presence as msgspec bytes: a burst of changes is coalesced into one update)
and messages sent to a connection from another host (``deliver`` and ``ask``,
msgspec-encoded protocol messages).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import ray

from messages import (
    ConnectionClosedError,
    NotReadyError,
    decode,
)
from transport import Connection, ConnectionClosedEvent, ConnectionState, EdgeEvent, User
from transport._edge import EdgeTransport
from transport.features import EdgeFeature
from transport.fleet.call_directory import all_shards, placement_shard, shard_for

__all__ = ["Agent", "EdgeFactory", "Host", "PresenceView"]

logger = logging.getLogger(__name__)

HEARTBEAT_S = 0.5
PUBLISH_AFTER_S = 0.02
"""How long a host gathers presence changes before it sends them to the directory."""
DEFAULT_MAX_SESSIONS = 100
AGENT_GRACE_S = 1.0
"""How long an agent may go on after its call closed (to finish up) before it is cancelled."""
AGENT_STOP_S = 5.0
"""How long a host waits for a cancelled agent to end before it logs it and goes on."""
AGENT_FAILURES_KEPT = 100

EdgeFactory = Callable[[], EdgeTransport]
"""Makes a host's edge, in the host's process (``LocalEdge``, ``StreamEdge``, ``MemoryEdge``)."""
Agent = Callable[[Connection], Awaitable[None]]
"""The user's agent: ``async def agent(connection)``, run on the host for each call placed there."""


def local_edge() -> EdgeTransport:
    """The default edge of a host: a ``LocalEdge`` on 127.0.0.1, a free port."""
    from transport.local import LocalEdge

    return LocalEdge()


class PresenceView(msgspec.Struct, frozen=True):
    """A call's presence as the directory carries it across hosts."""

    call_id: str
    state: str
    participants: tuple[str, ...]
    idle_since: float
    tracks: tuple[str, ...] = ()


def _view(connection: Connection) -> PresenceView:
    presence = connection.presence
    return PresenceView(
        connection.call.id,
        presence.state.value,
        tuple(p.id for p in presence.participants),
        connection.idle_since(),
        tuple(t.track_id for t in presence.tracks),
    )


class HostProcess:
    """One host of the fleet; ``host_id`` names it in the directory.

    ``max_sessions`` caps the calls placement may put on this host (the
    directory enforces it, atomically across every driver). ``edge`` makes
    the host's edge (``local_edge`` by default) and ``agent`` is run for each
    call placed here; both are pickled to the host's process, so they are
    module-level functions or picklable objects. Every method runs on the
    host's own event loop.
    """

    def __init__(
        self,
        host_id: str,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        *,
        edge: EdgeFactory = local_edge,
        agent: Agent | None = None,
    ) -> None:
        self.host_id = host_id
        self.max_sessions = max_sessions
        self.edge: EdgeTransport | None = None
        self.connections: dict[str, Connection] = {}
        self._edge_factory = edge
        self._agent = agent
        self._agents: dict[str, asyncio.Task[None]] = {}
        self._known_agents: set[str] = set()  # agent users this host's edge authenticated
        self._forgetting: dict[str, asyncio.Task[None]] = {}  # call id -> its seat going back
        self._beat: asyncio.Task[None] | None = None
        self._me: Any = None
        self._dirty: set[str] = set()
        self._publishing: asyncio.Task[None] | None = None
        self._failures: deque[tuple[str, str]] = deque(maxlen=AGENT_FAILURES_KEPT)
        self._gone: dict[str, asyncio.Event] = {}  # call id -> set once it closed and left here

    async def start(self, me: Any) -> str:
        """Start the edge and the heartbeat; ``me`` is this actor's own handle."""
        self._me = me
        self.edge = await self._edge_factory().__aenter__()

        @self.edge.events.subscribe
        async def changed(event: EdgeEvent) -> None:
            call = getattr(event, "call", None)
            if call is not None and call.id in self.connections:
                self._changed(call.id)

        @self.edge.events.subscribe
        async def closed(event: ConnectionClosedEvent) -> None:
            if event.call.id in self.connections:
                self._forget_soon(event.call.id)

        await self._heartbeat_once()
        self._beat = asyncio.get_running_loop().create_task(self._heartbeats())
        return f"{self.host_id} (pid {os.getpid()})"

    async def stop(self) -> None:
        """Close every connection and the edge, end the agents and the heartbeat."""
        if self._beat is not None:
            self._beat.cancel()
            await asyncio.gather(self._beat, return_exceptions=True)
        if self.edge is not None:
            await self.edge.close()
        await self._end_agents(list(self._agents))
        await asyncio.gather(*self._forgetting.values(), return_exceptions=True)

    async def pid(self) -> int:
        """The host's process id."""
        return os.getpid()

    async def url(self) -> str:
        """Where people join this host's calls (its edge's ``url``; empty if it has none)."""
        return self._url()

    def _url(self) -> str:
        edge = self._started_edge()
        return edge.url if EdgeFeature.JOIN_URLS in edge.features else ""

    def _started_edge(self) -> EdgeTransport:
        if self.edge is None:
            msg = f"host {self.host_id} has not started: call start() first"
            raise NotReadyError(msg)
        return self.edge

    async def token(self, call_id: str, user_id: str) -> str:
        """A single-use join token for ``user_id`` in ``call_id`` on this host's edge.

        ``EdgeFeatureError`` if the host's edge has no join URLs.
        """
        return self._started_edge().token(call_id, user_id)

    async def join_url(self, call_id: str, user_id: str) -> str:
        """The browser join page for ``user_id`` in ``call_id`` on this host's edge."""
        return self._started_edge().join_url(call_id, user_id)

    async def _heartbeat_once(self) -> None:
        """Tell every shard this host is alive; if one had declared it lost, fence first."""
        welcome = True
        load = len(self.connections)
        for shard in all_shards():
            known = await shard.heartbeat.remote(self.host_id, load, self._me, self.max_sessions)
            welcome = welcome and known is not False
        if not welcome:
            await self._fence()
            for shard in all_shards():  # back as a new, empty host
                await shard.heartbeat.remote(self.host_id, 0, self._me, self.max_sessions)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)  # the heartbeat period the failure detector expects
            try:
                await self._heartbeat_once()
            except Exception:  # a directory shard restarting: the next beat tries again
                logger.warning("host %s: a heartbeat failed", self.host_id, exc_info=True)

    async def _fence(self) -> None:
        """The directory declared this host lost: close its calls, leaving the directory alone.

        Its calls and seats were dropped there with the loss and may be placed
        on other hosts by now, so nothing here may unregister, publish or
        release them. Runs on the host's loop, from a heartbeat.
        """
        fenced, self.connections = self.connections, {}
        self._dirty.clear()
        logger.warning(
            "host %s was declared lost while alive; closing its %d calls (they may be served "
            "elsewhere now)",
            self.host_id,
            len(fenced),
        )
        await asyncio.gather(*(c.close() for c in fenced.values()), return_exceptions=True)
        await self._end_agents(list(fenced))
        for call_id in fenced:
            self._left(call_id)
        await self.on_fenced(sorted(fenced))

    async def on_fenced(self, calls: list[str]) -> None:
        """Called after a fence closed ``calls`` (on the host's loop); the default does nothing.

        A subclass that watches fences (``transport.fleet.testing``) overrides it.
        """

    def _changed(self, call_id: str) -> None:
        # Coalesce: the changes to a call within PUBLISH_AFTER_S cost one directory update,
        # sent after the answers to the asks that made them.
        self._dirty.add(call_id)
        if self._publishing is None:
            self._publishing = asyncio.get_running_loop().create_task(self._publish_dirty())

    async def _publish_dirty(self) -> None:
        try:
            await asyncio.sleep(PUBLISH_AFTER_S)  # the coalescing window, not a wait for state
            while self._dirty:
                calls, self._dirty = self._dirty, set()
                for call_id in calls:
                    if call_id in self.connections:
                        await self._publish(call_id)
        finally:
            self._publishing = None

    async def _publish(self, call_id: str) -> None:
        view = _view(self.connections[call_id])
        await shard_for(call_id).publish.remote(call_id, msgspec.msgpack.encode(view), self.host_id)

    async def open_call(self, call_id: str, agent_id: str) -> tuple[str, str]:
        """Join the agent to ``call_id`` here, start the user's agent, register the call.

        Returns the connection's key and the URL people join at (empty when
        the edge has none).
        """
        if self.edge is None:
            raise NotReadyError(f"host {self.host_id} is not started: call start() first")
        forgetting = self._forgetting.get(call_id)
        if forgetting is not None:  # the call closed here a moment ago: let that finish
            await forgetting
        agent = User(agent_id)
        if agent_id not in self._known_agents:  # Stream's calls need a known creator
            await self.edge.authenticate(agent)
            self._known_agents.add(agent_id)
        connection = await self.edge.join(agent, await self.edge.create_call(call_id))
        self.connections[call_id] = connection
        self._gone[call_id] = asyncio.Event()
        url = self._url()
        await shard_for(call_id).add_call.remote(
            call_id, self.host_id, connection.key, agent_id, url
        )
        await self._publish(call_id)
        await self._heartbeat_once()  # the new load counts for the next placement at once
        if self._agent is not None:
            self._agents[call_id] = asyncio.get_running_loop().create_task(
                self._run_agent(self._agent, connection), name=f"agent {connection.key}"
            )
        return connection.key, url

    async def _run_agent(self, agent: Agent, connection: Connection) -> None:
        """The agent of one call, as this host's task; the call closes when it returns."""
        call_id = connection.call.id
        try:
            await agent(connection)
        except ConnectionClosedError:
            pass  # the call ended under the agent: the normal way for it to end
        except Exception as exc:
            logger.exception("the agent of %s failed", connection.key)
            self._failures.append((call_id, f"{type(exc).__name__}: {exc}"))
        finally:
            if self._agents.get(call_id) is asyncio.current_task():
                del self._agents[call_id]
        await connection.close()  # an agent that is done is done with its call

    async def _end_agents(self, call_ids: list[str], grace: float = 0.0) -> None:
        """End the agents of these calls that still run: ``grace`` seconds, then cancelled.

        Awaits them (up to ``AGENT_STOP_S`` after the cancellation; one that
        ignores it is logged and left).
        """
        tasks = {task for c in call_ids if (task := self._agents.get(c)) is not None}
        if tasks and grace > 0:
            _, tasks = await asyncio.wait(tasks, timeout=grace)
        if not tasks:
            return
        for task in tasks:
            task.cancel()
        _, pending = await asyncio.wait(tasks, timeout=AGENT_STOP_S)
        for task in pending:
            logger.error("%s ignored its cancellation for %.0f s", task.get_name(), AGENT_STOP_S)

    async def agent_failures(self) -> list[tuple[str, str]]:
        """The latest agents that raised here: (call id, the error), oldest first."""
        return list(self._failures)

    async def agents(self) -> list[str]:
        """The calls whose agent is running on this host now."""
        return sorted(self._agents)

    def _forget_soon(self, call_id: str) -> asyncio.Task[None]:
        """The connection to ``call_id`` closed: its seat and directory entry go (once)."""
        task = self._forgetting.get(call_id)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._forget(call_id))
            self._forgetting[call_id] = task
            task.add_done_callback(lambda _: self._forgetting.pop(call_id, None))
        return task

    async def _forget(self, call_id: str) -> None:
        connection = self.connections[call_id]
        await connection.close()  # returns once its close has finished
        # Its agent had its waits fail; one busy elsewhere is cancelled after a grace. The
        # seat goes back once the agent ended, so max_sessions bounds the agents too.
        await self._end_agents([call_id], grace=AGENT_GRACE_S)
        if self.connections.get(call_id) is not connection:
            return  # fenced meanwhile: the directory forgot this call with the host
        del self.connections[call_id]
        await shard_for(call_id).remove_call.remote(call_id, self.host_id)
        await placement_shard().release.remote(self.host_id, call_id)
        self._left(call_id)
        await self._heartbeat_once()

    def _left(self, call_id: str) -> None:
        gone = self._gone.pop(call_id, None)
        if gone is not None:
            gone.set()

    async def wait_closed(self, call_id: str, timeout: float | None) -> None:
        """Return once ``call_id`` is closed here, its agent ended and its seat given back.

        Returns at once when the call is not open on this host. Raises
        ``TimeoutError`` after ``timeout`` seconds.
        """
        gone = self._gone.get(call_id)
        if gone is not None:
            async with asyncio.timeout(timeout):
                await gone.wait()

    async def deliver(self, call_id: str, message: bytes) -> None:
        """A protocol message from another host, for the connection to ``call_id``."""
        self._tell_all([(call_id, message)])

    async def deliver_batch(self, batch: list[tuple[str, bytes]]) -> None:
        """Protocol messages from one sender's loop turn, in the order it told them."""
        self._tell_all(batch)

    def _tell_all(self, batch: list[tuple[str, bytes]]) -> None:
        for call_id, message in batch:
            connection = self.connections.get(call_id)
            if connection is not None:  # a call closed meanwhile misses it
                connection.actor_ref.tell(decode(message))

    async def handle_and_report_state(self, call_id: str, message: bytes) -> str:
        """Deliver and wait until handled; returns the connection's state after it."""
        [state] = await self.exchange([(call_id, message)], [0])
        return state

    async def exchange(self, batch: list[tuple[str, bytes]], asked: list[int]) -> list[str]:
        """One sender's loop turn: tells and asks in the order made; the asks' answers.

        ``asked`` are the positions in ``batch`` that wait for an answer: the
        state of their connection once it handled everything in the batch. The
        call's new presence reaches the directory within ``PUBLISH_AFTER_S``,
        not waited for (``RemoteConnectionRef.presence()`` reads the host
        itself). No handler is waited for.
        """
        self._tell_all(batch)
        calls = {batch[index][0] for index in asked}
        waiting = [self.connections[c] for c in calls if c in self.connections]
        await asyncio.gather(*(connection.caught_up() for connection in waiting))
        for connection in waiting:
            self._changed(connection.call.id)
        ended = [c.call.id for c in waiting if c.state is ConnectionState.CLOSED]
        await asyncio.gather(*(self._forget_soon(call_id) for call_id in ended))
        return [self._state(batch[index][0]) for index in asked]

    def _state(self, call_id: str) -> str:
        connection = self.connections.get(call_id)
        return ConnectionState.CLOSED.value if connection is None else connection.state.value

    async def wait_for_participant(
        self, call_id: str, timeout: float | None, user_id: str | None
    ) -> list[str]:
        """The call's ``wait_for_participant``, run here; the participant ids present then.

        Raises what the connection raises (``TimeoutError``, ``ConnectionClosedError``),
        and ``ConnectionClosedError`` if the call is not on this host.
        """
        connection = self.connections.get(call_id)
        if connection is None:
            raise ConnectionClosedError(f"call {call_id} is not open on host {self.host_id}")
        await connection.wait_for_participant(timeout, user_id=user_id)
        return [p.id for p in connection.participants]

    async def published(self) -> None:
        """Return once every presence change so far has reached the directory."""
        while self._publishing is not None:
            await asyncio.shield(self._publishing)

    async def local_presence(self, call_id: str) -> bytes | None:
        connection = self.connections.get(call_id)
        return None if connection is None else msgspec.msgpack.encode(_view(connection))

    async def load(self) -> int:
        return len(self.connections)


Host: Any = ray.remote(num_cpus=0)(HostProcess)
"""``HostProcess`` as a Ray actor class: ``Host.options(name=...).remote(host_id, ...)``."""
