"""``ParticipantRegistry``: the actor that owns presence for many connections.

For each connection it keeps who is in the call (by unique participant id; every
session of the agent's own user is left out), when the call went idle, and who
is waiting for someone to join. After each change it publishes a new
``Presence`` snapshot, resolves the waits that change satisfies, and only then
hands the change's events to the edge's bus, so a handler never sees an event
that the snapshot does not yet show.

Connection actors tell it ``OpenCall``, ``Change`` and ``CloseCall``, and pass
on the ``AddWaiter``/``RemoveWaiter`` of their ``Connection``. Everything here
runs on the registry's loop. ``RegistryShards`` spreads calls over several
registry actors by a stable hash of the call id and replaces one that fails.
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
from pykka._envelope import Envelope

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
    "Reattach",
    "RegistryShards",
    "RemoveWaiter",
]

logger = logging.getLogger("actors.registry")

Emit = Callable[[Any], None]
OnReplaced = Callable[[int, "pykka.ActorRef[ParticipantRegistry]", dict[str, list[Any]]], None]


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
    """The events of one mailbox message, and who is present after it.

    ``participants`` is the whole presence after the change (agent excluded),
    or ``None`` when presence did not change (a track came or went). Carrying
    the whole set makes a change idempotent, so a replacement registry can be
    brought up to date by replaying changes.
    """

    __slots__ = ("events", "key", "participants")

    def __init__(
        self,
        key: str,
        events: tuple[Any, ...],
        participants: tuple[Participant, ...] | None = None,
    ) -> None:
        self.key = key
        self.events = events
        self.participants = participants


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


class Reattach:
    """To a connection actor: ``registry`` replaces a failed one.

    ``leftovers`` are what the failed one still held for this connection (its
    pending waits, then its unhandled messages), to be sent again in order.
    """

    __slots__ = ("leftovers", "registry")

    def __init__(
        self, registry: pykka.ActorRef[ParticipantRegistry], leftovers: tuple[Any, ...]
    ) -> None:
        self.registry = registry
        self.leftovers = leftovers


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
        # A replacement registry carries on from what its predecessor published.
        published = cell.presence
        self.participants = {p.id: p for p in published.participants}
        self.idle_since = published.idle_since
        self.version = published.version
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

    def __init__(
        self,
        clock: Callable[[], float] = time.time,
        on_lost: Callable[[ParticipantRegistry, dict[str, list[Any]]], None] | None = None,
    ) -> None:
        super().__init__()
        self._clock = clock
        self._on_lost = on_lost
        self._retiring = False
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

    def retire(self) -> None:
        """Mark this registry as being stopped on purpose: its waiters fail, nothing is rebuilt."""
        self._retiring = True

    def on_stop(self) -> None:
        """Stopped on purpose: fail waiters. Stopped by anyone else: hand over to be rebuilt."""
        if self._on_lost is not None and not self._retiring:
            self._hand_over()
            return
        error = ConnectionClosedError("the participant registry stopped")
        for record in self._records.values():
            for future in record.waiters:
                _settle(future, error)
        self._records.clear()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """A handler raised: hand the waiters over so a replacement rebuilds presence."""
        self._hand_over()

    def _hand_over(self) -> None:
        """Give each connection back what this registry still held for it, in order.

        For every key: the waits it had pending, then the messages still in
        this registry's mailbox. A replacement receives them through the
        connection actors (``Reattach``), after their ``OpenCall``.
        """
        leftovers: dict[str, list[Any]] = {}
        for key, record in self._records.items():
            leftovers[key] = [
                AddWaiter(key, future, user_id) for future, user_id in record.waiters.items()
            ]
        self._records.clear()
        for item in self._mailbox._take_all():
            message = item.message if isinstance(item, Envelope) else item
            owner: str | None = getattr(message, "key", None)
            if owner is not None and not isinstance(message, OpenCall):
                leftovers.setdefault(owner, []).append(message)
            elif isinstance(item, Envelope) and item.reply_to is not None:
                item.reply_to.set(None)  # a flush: nothing is left here to wait for
        if self._on_lost is not None:
            self._on_lost(self, leftovers)

    def _open(self, message: OpenCall) -> None:
        self._records[message.key] = _Record(message.agent_user_id, message.cell, message.emit)

    def _change(self, message: Change) -> None:
        record = self._records.get(message.key)
        if record is None:
            logger.debug("dropping a change for %s, which is not open", message.key)
            return
        participants = message.participants
        if participants is not None:
            had_anyone = bool(record.participants)
            record.participants = {p.id: p for p in participants}
            if participants:
                record.idle_since = 0.0
            elif had_anyone:
                record.idle_since = self._clock()
            self._publish(record)
            if participants and record.waiters:
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
    """N ``ParticipantRegistry`` actors that replace each other when one fails.

    A call always maps to the same shard (CRC-32 of the call id modulo N). When
    a shard's actor fails, or is stopped by anyone but ``stop()``, a new actor
    takes its place and ``on_replaced(index, new_ref, leftovers_by_key)`` is
    called, on the shards' loop, so the owner can tell each affected connection
    actor to ``Reattach``. Create it with ``start`` on the loop that hosts the
    connections.
    """

    def __init__(
        self,
        shards: int = 1,
        clock: Callable[[], float] = time.time,
        on_replaced: Callable[
            [int, pykka.ActorRef[ParticipantRegistry], dict[str, list[Any]]], None
        ]
        | None = None,
    ) -> None:
        if shards < 1:
            msg = f"shards must be at least 1, not {shards}"
            raise ValueError(msg)
        self._clock = clock
        self.on_replaced = on_replaced
        self.replacements = 0
        self._refs = [self._start_one() for _ in range(shards)]

    @classmethod
    def start(cls, shards: int = 1, clock: Callable[[], float] = time.time) -> RegistryShards:
        """Start ``shards`` registry actors on the running loop."""
        return cls(shards, clock)

    @property
    def refs(self) -> tuple[pykka.ActorRef[ParticipantRegistry], ...]:
        """The current registry actors, one per shard."""
        return tuple(self._refs)

    def _start_one(self) -> pykka.ActorRef[ParticipantRegistry]:
        return ParticipantRegistry.start(self._clock, self._lost)

    def _lost(self, registry: ParticipantRegistry, leftovers: dict[str, list[Any]]) -> None:
        try:
            index = self._refs.index(registry.actor_ref)
        except ValueError:
            return  # already replaced
        replacement = self._start_one()
        self._refs[index] = replacement
        self.replacements += 1
        logger.warning("registry shard %d was lost; %s replaces it", index, replacement)
        if self.on_replaced is not None:
            self.on_replaced(index, replacement, leftovers)

    def index_for(self, call_id: str) -> int:
        """The shard number that owns ``call_id``."""
        if len(self._refs) == 1:
            return 0
        return zlib.crc32(call_id.encode()) % len(self._refs)

    def for_call(self, call_id: str) -> pykka.ActorRef[ParticipantRegistry]:
        """The registry that owns ``call_id``'s presence."""
        return self._refs[self.index_for(call_id)]

    async def stop(self) -> None:
        """Stop every shard for good; pending waiters fail with ``ConnectionClosedError``."""
        refs = list(self._refs)
        for ref in refs:
            if ref.is_alive():
                await ref.proxy().retire()
        for future in [ref.stop(block=False) for ref in refs]:
            await future
