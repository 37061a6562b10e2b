"""``ParticipantRegistry``: the actor that owns presence for many connections.

For each connection it keeps who is in the call (by unique participant id; the
connection actor leaves out every session of the agent's own user), what they
publish, the lifecycle state (``WAITING``, ``ACTIVE``, ``RECONNECTING``,
``IDLE``, ``CLOSED``) with the time it began, and the waits pending on it.
After each change it publishes a new ``Presence`` snapshot, resolves the waits
that now hold, and only then hands the change's events (and a
``ConnectionStateEvent`` for a transition) to the edge's bus, so a handler never
sees an event that the snapshot does not yet show.

Connection actors tell it ``OpenCall``, ``Change`` and ``CloseCall``, and pass
on the ``AddWaiter``/``RemoveWaiter`` of their ``Connection``. Timers (the idle
timeout, time-based predicates) come from the registry's ``Clock``. Everything
here runs on the registry's loop. ``RegistryShards`` spreads calls over several
registry actors by a stable hash of the call id and replaces one that fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections.abc import Callable
from typing import Any

import pykka
from pykka._envelope import Envelope

from actors._actor import AsyncioActor, teller
from actors._errors import ConnectionClosedError
from actors.clock import Clock, SystemClock, Timer
from actors.predicates import Predicate
from actors.presence import Presence, PresenceCell
from messages import (
    ConnectionClosedEvent,
    ConnectionState,
    ConnectionStateEvent,
    Participant,
    TrackInfo,
)

__all__ = [
    "FLUSH",
    "AddWaiter",
    "Change",
    "CloseCall",
    "Flush",
    "IdleTimedOut",
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
    """Start tracking the connection ``key`` (its actor is ``owner``) to ``call``."""

    __slots__ = ("call", "cell", "emit", "idle_timeout", "key", "owner")

    def __init__(
        self,
        key: str,
        call: Any,
        cell: PresenceCell,
        emit: Emit,
        owner: pykka.ActorRef[Any] | None = None,
        idle_timeout: float | None = None,
    ) -> None:
        self.key = key
        self.call = call
        self.cell = cell
        self.emit = emit
        self.owner = owner
        self.idle_timeout = idle_timeout


class Change:
    """The events of one mailbox message, and the presence after it.

    ``participants`` (agent excluded), ``reconnecting`` and ``tracks`` are whole
    sets, or ``None`` where nothing changed. Whole sets make a change
    idempotent, so a replacement registry can be brought up to date by replay.
    ``at`` is the clock reading at which the connection actor took the message
    (a state that begins with this change begins then); ``None``: now.
    """

    __slots__ = ("at", "events", "key", "participants", "reconnecting", "tracks")

    def __init__(
        self,
        key: str,
        events: tuple[Any, ...],
        participants: tuple[Participant, ...] | None = None,
        reconnecting: tuple[str, ...] | None = None,
        tracks: tuple[TrackInfo, ...] | None = None,
        at: float | None = None,
    ) -> None:
        self.key = key
        self.events = events
        self.participants = participants
        self.reconnecting = reconnecting
        self.tracks = tracks
        self.at = at


class CloseCall:
    """The connection closed: fail its waits, publish ``CLOSED``, emit ``events``, forget it."""

    __slots__ = ("events", "key", "reason")

    def __init__(self, key: str, reason: str, events: tuple[Any, ...]) -> None:
        self.key = key
        self.reason = reason
        self.events = events


class AddWaiter:
    """Resolve ``future`` once ``predicate`` holds for the connection ``key``.

    ``timeout`` is the caller's own limit, carried for recordings only.
    """

    __slots__ = ("future", "key", "predicate", "timeout")

    def __init__(
        self,
        key: str,
        future: asyncio.Future[None],
        predicate: Predicate,
        timeout: float | None = None,
    ) -> None:
        self.key = key
        self.future = future
        self.predicate = predicate
        self.timeout = timeout


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


class IdleTimedOut:
    """To a connection actor: its call has been idle for its ``idle_timeout``; close."""

    __slots__ = ()


class _Tick:
    """A registry timer fired for ``key``: check the idle timeout and time-based waits."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key


_NO_WAITERS: dict[Any, Any] = {}  # shared by records with no wait; replaced before any insert


class _Record:
    """The registry's own, mutable, state for one connection."""

    __slots__ = (
        "call",
        "cell",
        "emit",
        "idle_timeout",
        "idle_timer",
        "key",
        "owner",
        "participants",
        "presence",
        "reconnecting",
        "tracks",
        "waiters",
        "wake_timer",
    )

    def __init__(self, message: OpenCall) -> None:
        self.key = message.key
        self.call = message.call
        self.cell = message.cell
        self.emit = message.emit
        self.owner = message.owner
        self.idle_timeout = message.idle_timeout
        # A replacement registry carries on from what its predecessor published.
        self.presence: Presence = message.cell.presence
        self.participants = self.presence.participants
        self.reconnecting = self.presence.reconnecting
        self.tracks = self.presence.tracks
        self.waiters: dict[asyncio.Future[None], Predicate] = _NO_WAITERS
        self.idle_timer: Timer | None = None
        self.wake_timer: Timer | None = None


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
    """Owns presence, lifecycle state and waits for the connections told to it.

    Start it on the loop the connections run on. ``clock`` stamps states and
    runs timers (default: real time); ``on_lost`` is how ``RegistryShards``
    learns that this registry failed or was stopped by someone else.
    """

    __slots__ = ("_clock", "_handlers", "_on_lost", "_records", "_retiring")

    mailbox_batch = 256

    def __init__(
        self,
        clock: Clock | None = None,
        on_lost: Callable[[ParticipantRegistry, dict[str, list[Any]]], None] | None = None,
    ) -> None:
        super().__init__()
        self._clock = clock if clock is not None else SystemClock()
        self._on_lost = on_lost
        self._retiring = False
        self._records: dict[str, _Record] = {}
        self._handlers: dict[type[Any], Callable[[Any], Any]] = {
            Change: self._change,
            OpenCall: self._open,
            CloseCall: self._close,
            AddWaiter: self._add_waiter,
            RemoveWaiter: self._remove_waiter,
            _Tick: self._tick,
            Flush: _nothing,
        }

    def on_receive(self, message: Any) -> Any:
        handler = self._handlers.get(type(message))
        if handler is None:
            return super().on_receive(message)
        return handler(message)

    def waiter_count(self, key: str) -> int:
        """Waits pending for the connection ``key`` (ask it through a proxy)."""
        record = self._records.get(key)
        return len(record.waiters) if record is not None else 0

    # -- lifecycle of the registry itself --------------------------------------

    def retire(self) -> None:
        """Mark this registry as being stopped on purpose: its waits fail, nothing is rebuilt."""
        self._retiring = True

    def on_stop(self) -> None:
        """Stopped on purpose: fail waits. Stopped by anyone else: hand over to be rebuilt."""
        if self._on_lost is not None and not self._retiring:
            self._hand_over()
            return
        error = ConnectionClosedError("the participant registry stopped")
        for record in self._records.values():
            self._cancel_timers(record)
            for future in record.waiters:
                _settle(future, error)
        self._records.clear()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """A handler raised: hand the waits over so a replacement rebuilds presence."""
        self._hand_over()

    def _hand_over(self) -> None:
        """Give each connection back what this registry still held for it, in order.

        For every key: the waits it had pending, then the messages still in
        this registry's mailbox. A replacement receives them through the
        connection actors (``Reattach``), after their ``OpenCall``.
        """
        leftovers: dict[str, list[Any]] = {}
        for key, record in self._records.items():
            self._cancel_timers(record)
            leftovers[key] = [
                AddWaiter(key, future, predicate) for future, predicate in record.waiters.items()
            ]
        self._records.clear()
        for item in self._mailbox._take_all():
            message = item.message if isinstance(item, Envelope) else item
            owner: str | None = getattr(message, "key", None)
            if owner is not None and not isinstance(message, (OpenCall, _Tick)):
                leftovers.setdefault(owner, []).append(message)
            elif isinstance(item, Envelope) and item.reply_to is not None:
                item.reply_to.set(None)  # a flush: nothing is left here to wait for
        if self._on_lost is not None:
            self._on_lost(self, leftovers)

    # -- connections -------------------------------------------------------------

    def _open(self, message: OpenCall) -> None:
        record = _Record(message)
        self._records[message.key] = record
        if record.presence.version == 0:  # a new connection: waiting since now
            record.presence = Presence(since=self._clock.time(), version=1)
            record.cell.presence = record.presence

    def _change(self, message: Change) -> None:
        record = self._records.get(message.key)
        if record is None:
            logger.debug("dropping a change for %s, which is not open", message.key)
            return
        changed = False
        if message.participants is not None:
            record.participants = message.participants
            changed = True
        if message.reconnecting is not None:
            record.reconnecting = message.reconnecting
            changed = True
        if message.tracks is not None:
            record.tracks = message.tracks
            changed = True
        transition = self._publish(record, at=message.at) if changed else None
        emit = record.emit
        for event in message.events:
            emit(event)
        if transition is not None:
            emit(transition)

    def _publish(
        self, record: _Record, state: ConnectionState | None = None, at: float | None = None
    ) -> Any:
        """Publish the record's presence; return a ``ConnectionStateEvent`` on a transition."""
        before = record.presence
        if state is None:
            if len(record.participants) > len(record.reconnecting):
                state = ConnectionState.ACTIVE
            elif record.reconnecting:
                state = ConnectionState.RECONNECTING
            elif before.state is ConnectionState.WAITING:
                state = ConnectionState.WAITING
            else:
                state = ConnectionState.IDLE
        moved = state is not before.state
        since = before.since
        if moved:
            since = at if at is not None else self._clock.time()
        record.presence = presence = Presence(
            record.participants,
            record.tracks,
            record.reconnecting,
            state,
            since,
            since if state is ConnectionState.IDLE else 0.0,
            before.version + 1,
        )
        record.cell.presence = presence
        if record.waiters:
            self._check_waiters(record)
        if not moved:
            return None
        self._arm_idle_timer(record)
        return ConnectionStateEvent(state, before.state, presence.idle_since, record.call)

    def _arm_idle_timer(self, record: _Record) -> None:
        if record.idle_timer is not None:
            record.idle_timer.cancel()
            record.idle_timer = None
        if record.idle_timeout is not None and record.presence.state is ConnectionState.IDLE:
            record.idle_timer = self._clock.call_later(
                record.idle_timeout, teller(self.actor_ref, _Tick(record.key))
            )

    def _tick(self, message: _Tick) -> None:
        record = self._records.get(message.key)
        if record is None:
            return
        presence = record.presence
        if (
            record.idle_timeout is not None
            and presence.state is ConnectionState.IDLE
            and self._clock.time() - presence.since >= record.idle_timeout
            and record.owner is not None
        ):
            record.idle_timer = None
            with contextlib.suppress(pykka.ActorDeadError):
                record.owner.tell(IdleTimedOut())
        if record.waiters:
            self._check_waiters(record)

    def _check_waiters(self, record: _Record) -> None:
        presence = record.presence
        now = self._clock.time()
        wake_at: float | None = None
        for future, predicate in list(record.waiters.items()):
            if future.done():
                del record.waiters[future]
                continue
            try:
                holds = predicate.holds(presence, now)
            except Exception as exc:
                del record.waiters[future]
                _settle(future, exc)
                continue
            if holds:
                del record.waiters[future]
                _settle(future)
                continue
            due = predicate.due(presence)
            if due is not None and (wake_at is None or due < wake_at):
                wake_at = due
        if record.wake_timer is not None:
            record.wake_timer.cancel()
            record.wake_timer = None
        if wake_at is not None:
            record.wake_timer = self._clock.call_later(
                max(wake_at - now, 0.0), teller(self.actor_ref, _Tick(record.key))
            )

    def _add_waiter(self, message: AddWaiter) -> None:
        record = self._records.get(message.key)
        if record is None:
            _settle(message.future, ConnectionClosedError(f"connection {message.key} is closed"))
            return
        if not message.future.done():
            if record.waiters is _NO_WAITERS:
                record.waiters = {}
            record.waiters[message.future] = message.predicate
            self._check_waiters(record)

    def _remove_waiter(self, message: RemoveWaiter) -> None:
        record = self._records.get(message.key)
        if record is not None:
            record.waiters.pop(message.future, None)

    def _close(self, message: CloseCall) -> None:
        record = self._records.pop(message.key, None)
        if record is None:
            return
        self._cancel_timers(record)
        error = ConnectionClosedError(f"connection closed ({message.reason})")
        waiters, record.waiters = record.waiters, _NO_WAITERS
        for future in waiters:
            _settle(future, error)
        record.participants = record.tracks = ()
        record.reconnecting = ()
        transition = self._publish(record, ConnectionState.CLOSED)
        events = list(message.events)
        if transition is not None:
            # The state change goes just before ConnectionClosedEvent, the last word.
            last = (
                len(events) - 1
                if events and type(events[-1]) is ConnectionClosedEvent
                else len(events)
            )
            events.insert(last, transition)
        for event in events:
            record.emit(event)

    def _cancel_timers(self, record: _Record) -> None:
        for timer in (record.idle_timer, record.wake_timer):
            if timer is not None:
                timer.cancel()
        record.idle_timer = record.wake_timer = None


def _nothing(_: Any) -> None:
    return None


class RegistryShards:
    """N ``ParticipantRegistry`` actors that replace each other when one fails.

    A call always maps to the same shard (CRC-32 of the call id modulo N). When
    a shard's actor fails, or is stopped by anyone but ``stop()``, a new actor
    takes its place and ``on_replaced(index, new_ref, leftovers_by_key)`` is
    called, on the shards' loop, so the owner can tell each affected connection
    actor to ``Reattach``. Create it on the loop that hosts the connections.
    """

    def __init__(
        self,
        shards: int = 1,
        clock: Clock | None = None,
        on_replaced: OnReplaced | None = None,
    ) -> None:
        if shards < 1:
            msg = f"shards must be at least 1, not {shards}"
            raise ValueError(msg)
        self._clock = clock
        self.on_replaced = on_replaced
        self.replacements = 0
        self._refs = [self._start_one() for _ in range(shards)]

    @classmethod
    def start(cls, shards: int = 1, clock: Clock | None = None) -> RegistryShards:
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
        """Stop every shard for good; pending waits fail with ``ConnectionClosedError``."""
        refs = list(self._refs)
        for ref in refs:
            if ref.is_alive():
                await ref.proxy().retire()
        for future in [ref.stop(block=False) for ref in refs]:
            await future
