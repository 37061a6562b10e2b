"""``ParticipantRegistry``: the actor that owns presence for many connections.

For each connection it keeps who is in the call (by unique participant id; every
session of the agent's own user is left out), when the call went idle, and who
is waiting for someone to join. After each change it publishes a new
``Presence`` snapshot, resolves the waits that change satisfies, and only then
hands the change's events to the edge's bus, so a handler never sees an event
that the snapshot does not yet show.

Connection actors tell it ``OpenCall``, ``Change`` and ``CloseCall``; the
``Connection`` facade tells it ``AddWaiter``/``RemoveWaiter``. Everything here
runs on the registry's loop. ``RegistryShards`` spreads calls over several
registry actors by a stable hash of the call id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import pykka

from actors._actor import AsyncioActor
from actors._errors import ConnectionClosedError
from actors.presence import ConnectionState, Presence, PresenceCell
from messages import Participant

__all__ = [
    "AddWaiter",
    "Change",
    "CloseCall",
    "Flush",
    "OpenCall",
    "ParticipantRegistry",
    "RegistryShards",
    "RemoveWaiter",
]

logger = logging.getLogger("actors.registry")

Emit = Callable[[Any], None]


class OpenCall:
    """Start tracking the connection ``key`` to ``call_id`` for ``agent_user_id``."""

    __slots__ = ("agent_user_id", "call_id", "cell", "emit", "key")

    def __init__(
        self, key: str, call_id: str, agent_user_id: str, cell: PresenceCell, emit: Emit
    ) -> None:
        self.key = key
        self.call_id = call_id
        self.agent_user_id = agent_user_id
        self.cell = cell
        self.emit = emit


class Change:
    """A participant ``joined`` or ``left`` (or neither), and the events that tell of it."""

    __slots__ = ("events", "joined", "key", "left")

    def __init__(
        self,
        key: str,
        events: tuple[Any, ...],
        joined: Participant | None = None,
        left: Participant | None = None,
    ) -> None:
        self.key = key
        self.events = events
        self.joined = joined
        self.left = left


class CloseCall:
    """The connection closed: fail its waiters, publish ``CLOSED``, emit ``events``, forget it."""

    __slots__ = ("events", "key", "reason")

    def __init__(self, key: str, reason: str, events: tuple[Any, ...]) -> None:
        self.key = key
        self.reason = reason
        self.events = events


class AddWaiter:
    """Resolve ``future`` once a participant (of ``user_id``, if given) is present."""

    __slots__ = ("future", "key", "user_id")

    def __init__(self, key: str, future: asyncio.Future[None], user_id: str | None) -> None:
        self.key = key
        self.future = future
        self.user_id = user_id


class RemoveWaiter:
    """Forget ``future``: its caller timed out or was cancelled."""

    __slots__ = ("future", "key")

    def __init__(self, key: str, future: asyncio.Future[None]) -> None:
        self.key = key
        self.future = future


class Flush:
    """Answered once every message told to the registry before it has been handled."""

    __slots__ = ()


FLUSH = Flush()


class _Record:
    """The registry's own, mutable, state for one connection."""

    __slots__ = (
        "agent_user_id",
        "cell",
        "emit",
        "idle_since",
        "participants",
        "version",
        "waiters",
    )

    def __init__(self, agent_user_id: str, cell: PresenceCell, emit: Emit) -> None:
        self.agent_user_id = agent_user_id
        self.cell = cell
        self.emit = emit
        self.participants: dict[str, Participant] = {}
        self.idle_since = 0.0
        self.version = 0
        self.waiters: dict[asyncio.Future[None], str | None] = {}


def _settle(future: asyncio.Future[None], error: BaseException | None = None) -> None:
    """Resolve an asyncio future from the registry's loop, whichever loop it belongs to."""
    if future.done():
        return
    loop = future.get_loop()
    if asyncio._get_running_loop() is loop:
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
        return

    def settle_there() -> None:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)

    with contextlib.suppress(RuntimeError):  # a closed loop has nobody left to wake
        loop.call_soon_threadsafe(settle_there)


class ParticipantRegistry(AsyncioActor):
    """Owns presence, idle time and waiters for the connections told to it.

    Start it on the loop the connections run on; ``clock`` (default
    ``time.time``) stamps ``idle_since`` and can be replaced by a virtual clock.
    """

    mailbox_batch = 256

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._handlers: dict[type[Any], Callable[[Any], Any]] = {
            Change: self._change,
            OpenCall: self._open,
            CloseCall: self._close,
            AddWaiter: self._add_waiter,
            RemoveWaiter: self._remove_waiter,
            Flush: _nothing,
        }

    def on_receive(self, message: Any) -> Any:
        handler = self._handlers.get(type(message))
        if handler is None:
            return super().on_receive(message)
        return handler(message)

    def on_stop(self) -> None:
        error = ConnectionClosedError("the participant registry stopped")
        for record in self._records.values():
            for future in record.waiters:
                _settle(future, error)
        self._records.clear()

    def _open(self, message: OpenCall) -> None:
        self._records[message.key] = _Record(message.agent_user_id, message.cell, message.emit)

    def _change(self, message: Change) -> None:
        record = self._records.get(message.key)
        if record is None:
            logger.debug("dropping a change for %s, which is not open", message.key)
            return
        joined, left = message.joined, message.left
        if joined is not None or left is not None:
            if joined is not None and joined.user_id != record.agent_user_id:
                record.participants[joined.id] = joined
                record.idle_since = 0.0
            gone = left is not None and record.participants.pop(left.id, None) is not None
            if gone and not record.participants:
                record.idle_since = self._clock()
            self._publish(record)
            if joined is not None and record.waiters:
                self._wake(record)
        emit = record.emit
        for event in message.events:
            emit(event)

    def _publish(self, record: _Record, state: ConnectionState | None = None) -> None:
        if state is None:
            if record.participants:
                state = ConnectionState.ACTIVE
            elif record.idle_since:
                state = ConnectionState.IDLE
            else:
                state = ConnectionState.WAITING
        record.version += 1
        record.cell.presence = Presence(
            tuple(record.participants.values()), record.idle_since, state, record.version
        )

    def _wake(self, record: _Record) -> None:
        present_users = {p.user_id for p in record.participants.values()}
        satisfied = [
            future
            for future, user_id in record.waiters.items()
            if user_id is None or user_id in present_users
        ]
        for future in satisfied:
            del record.waiters[future]
            _settle(future)

    def _add_waiter(self, message: AddWaiter) -> None:
        record = self._records.get(message.key)
        if record is None:
            _settle(message.future, ConnectionClosedError(f"connection {message.key} is closed"))
            return
        if _present(record.participants.values(), message.user_id):
            _settle(message.future)
        elif not message.future.done():
            record.waiters[message.future] = message.user_id

    def _remove_waiter(self, message: RemoveWaiter) -> None:
        record = self._records.get(message.key)
        if record is not None:
            record.waiters.pop(message.future, None)

    def _close(self, message: CloseCall) -> None:
        record = self._records.pop(message.key, None)
        if record is None:
            return
        error = ConnectionClosedError(f"connection closed ({message.reason})")
        for future in record.waiters:
            _settle(future, error)
        record.waiters.clear()
        self._publish(record, ConnectionState.CLOSED)
        for event in message.events:
            record.emit(event)


def _present(participants: Iterable[Participant], user_id: str | None) -> bool:
    if user_id is None:
        return any(True for _ in participants)
    return any(p.user_id == user_id for p in participants)


def _nothing(_: Any) -> None:
    return None


class RegistryShards:
    """N ``ParticipantRegistry`` actors; a call always maps to the same one.

    Create it on the loop that will host the connections (``RegistryShards.start``);
    ``for_call(call_id)`` is a pure function of the call id (CRC-32 modulo N).
    """

    def __init__(self, refs: list[pykka.ActorRef[ParticipantRegistry]]) -> None:
        if not refs:
            msg = "RegistryShards needs at least one registry"
            raise ValueError(msg)
        self.refs = tuple(refs)

    @classmethod
    def start(cls, shards: int = 1, clock: Callable[[], float] = time.time) -> RegistryShards:
        """Start ``shards`` registry actors on the running loop."""
        if shards < 1:
            msg = f"shards must be at least 1, not {shards}"
            raise ValueError(msg)
        return cls([ParticipantRegistry.start(clock) for _ in range(shards)])

    def for_call(self, call_id: str) -> pykka.ActorRef[ParticipantRegistry]:
        """The registry that owns ``call_id``'s presence."""
        refs = self.refs
        if len(refs) == 1:
            return refs[0]
        return refs[zlib.crc32(call_id.encode()) % len(refs)]

    async def stop(self) -> None:
        """Stop every shard; pending waiters fail with ``ConnectionClosedError``."""
        for future in [ref.stop(block=False) for ref in self.refs]:
            await future
