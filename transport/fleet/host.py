"""``Host``: a Ray actor process that runs an edge and its connections on its own loop.

The hot path stays inside the host: what happens in a call reaches its
connection actor by local ``tell``s, never through Ray. Ray carries only what
crosses hosts: directory updates (a heartbeat, a registration, a call's
presence as msgspec bytes: a burst of changes is coalesced into one update)
and messages sent to a connection from another host (``deliver`` and ``ask``,
msgspec-encoded protocol messages).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

import msgspec
import ray

from messages import Close, Participant, ParticipantJoined, ParticipantLeft, decode
from transport import Connection, ConnectionState, EdgeEvent, MemoryEdge, User
from transport.fleet.presence_directory import all_shards, placement_shard, shard_for

__all__ = ["Host", "PresenceView"]

HEARTBEAT_S = 0.5
DEFAULT_MAX_SESSIONS = 100


class PresenceView(msgspec.Struct, frozen=True):
    """A call's presence as the directory carries it across hosts."""

    call_id: str
    state: str
    participants: tuple[str, ...]
    idle_since: float


@ray.remote(num_cpus=0)
class Host:
    """One host of the fleet; ``host_id`` names it in the directory.

    ``max_sessions`` caps the calls placement may put on this host (the
    directory enforces it, atomically across every driver).
    """

    def __init__(self, host_id: str, max_sessions: int = DEFAULT_MAX_SESSIONS) -> None:
        self.host_id = host_id
        self.max_sessions = max_sessions
        self.edge: MemoryEdge | None = None
        self.connections: dict[str, Connection] = {}
        self._beat: asyncio.Task[None] | None = None
        self._me: Any = None
        self._dirty: set[str] = set()
        self._publishing: asyncio.Task[None] | None = None

    async def start(self, me: Any) -> str:
        """Start the edge and the heartbeat; ``me`` is this actor's own handle."""
        self._me = me
        self.edge = MemoryEdge()

        @self.edge.events.subscribe
        async def changed(event: EdgeEvent) -> None:
            call = getattr(event, "call", None)
            if call is not None and call.id in self.connections:
                self._changed(call.id)

        await self._heartbeat_once()
        self._beat = asyncio.get_running_loop().create_task(self._heartbeats())
        return f"{self.host_id} (pid {os.getpid()})"

    async def _heartbeat_once(self) -> None:
        load = len(self.connections)
        for shard in all_shards():
            await shard.heartbeat.remote(self.host_id, load, self._me, self.max_sessions)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)  # the heartbeat period the failure detector expects
            with contextlib.suppress(Exception):
                await self._heartbeat_once()

    def _changed(self, call_id: str) -> None:
        # Coalesce: a burst of changes to a call costs one directory update.
        self._dirty.add(call_id)
        if self._publishing is None:
            self._publishing = asyncio.get_running_loop().create_task(self._publish_dirty())

    async def _publish_dirty(self) -> None:
        try:
            while self._dirty:
                calls, self._dirty = self._dirty, set()
                for call_id in calls:
                    if call_id in self.connections:
                        await self._publish(call_id)
        finally:
            self._publishing = None

    async def _publish(self, call_id: str) -> None:
        connection = self.connections[call_id]
        view = PresenceView(
            call_id,
            connection.state.value,
            tuple(p.id for p in connection.participants),
            connection.idle_since(),
        )
        await shard_for(call_id).publish.remote(call_id, msgspec.msgpack.encode(view))

    async def open_call(self, call_id: str, agent_id: str) -> str:
        """Join the agent to ``call_id`` here and register it in the directory."""
        assert self.edge is not None
        connection = await self.edge.join(User(agent_id), await self.edge.create_call(call_id))
        self.connections[call_id] = connection
        await shard_for(call_id).register.remote(call_id, self.host_id, connection.key)
        await self._publish(call_id)
        await self.published()
        await self._heartbeat_once()  # the new load counts for the next placement at once
        return connection.key

    async def deliver(self, call_id: str, message: bytes) -> None:
        """A protocol message from another host, for the connection to ``call_id``."""
        connection = self.connections.get(call_id)
        if connection is not None:
            connection.actor_ref.tell(decode(message))

    async def deliver_batch(self, batch: list[tuple[str, bytes]]) -> None:
        """Protocol messages from one sender's loop turn, in the order it told them."""
        for call_id, message in batch:
            connection = self.connections.get(call_id)
            if connection is not None:
                connection.actor_ref.tell(decode(message))

    async def ask(self, call_id: str, message: bytes) -> str:
        """Deliver and wait until handled; returns the connection's state after it."""
        connection = self.connections.get(call_id)
        if connection is None:
            return ConnectionState.CLOSED.value
        connection.actor_ref.tell(decode(message))
        await connection.caught_up()  # its presence shows it; no handler is waited for
        self._changed(call_id)
        await self.published()
        if connection.state is ConnectionState.CLOSED:
            await connection.close()
            self.connections.pop(call_id, None)
            await shard_for(call_id).unregister.remote(call_id)
            await placement_shard().release.remote(self.host_id)
            await self._heartbeat_once()
        return connection.state.value

    async def participant_joins(self, call_id: str, user_id: str) -> None:
        """Test driver: a participant joins ``call_id`` through this host's edge."""
        await self._locally(call_id, ParticipantJoined(call_id, _person(user_id)))

    async def participant_leaves(self, call_id: str, user_id: str) -> None:
        """Test driver: that participant leaves."""
        await self._locally(call_id, ParticipantLeft(call_id, _person(user_id)))

    async def _locally(self, call_id: str, message: Any) -> None:
        connection = self.connections[call_id]
        connection.actor_ref.tell(message)  # the local path: no Ray involved
        await connection.caught_up()
        self._changed(call_id)
        await self.published()

    async def published(self) -> None:
        """Return once every presence change so far has reached the directory."""
        while self._publishing is not None:
            await asyncio.shield(self._publishing)

    async def local_presence(self, call_id: str) -> bytes | None:
        connection = self.connections.get(call_id)
        if connection is None:
            return None
        view = PresenceView(
            call_id,
            connection.state.value,
            tuple(p.id for p in connection.participants),
            connection.idle_since(),
        )
        return msgspec.msgpack.encode(view)

    async def load(self) -> int:
        return len(self.connections)

    async def close_remote(self, call_id: str, reason: str) -> str:
        """From this host, close the connection to ``call_id`` wherever it lives."""
        from transport.fleet.refs import lookup

        ref = await lookup(call_id)
        if ref is None:
            return "unknown"
        state: str = await ref.ask(Close(call_id, reason))
        return state

    async def presence_seen_here(self, call_id: str) -> bytes | None:
        """The presence of ``call_id`` as this host reads it from the directory."""
        from transport.fleet.refs import presence

        view = await presence(call_id)
        return None if view is None else msgspec.msgpack.encode(view)

    async def local_tells(self, call_id: str, count: int) -> float:
        """Benchmark helper: ``count`` local joins/leaves; seconds taken (the local path)."""
        import time

        connection = self.connections[call_id]
        started = time.perf_counter()
        for n in range(count):
            person = _person(f"bench{n}")
            connection.actor_ref.tell(ParticipantJoined(call_id, person))
            connection.actor_ref.tell(ParticipantLeft(call_id, person))
        await connection.caught_up()
        return time.perf_counter() - started


def _person(user_id: str) -> Participant:
    return Participant(None, user_id, f"{user_id}__1")
