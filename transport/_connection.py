"""``Connection``: the agent's handle on one joined call.

Every method runs on the edge's event loop. Nothing here holds presence: reads
come from the ``Presence`` snapshot the registry publishes after each change,
waits are futures the registry resolves, and ``close()`` goes through the
connection actor's mailbox like every other change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pykka

import actors
from actors import ConnectionClosedError, metrics
from actors.clock import Clock
from actors.connection import (
    ConnectionActor,
    ConnectionOptions,
    ConnectionReport,
    Inspect,
    WaitEnded,
)
from actors.predicates import Predicate, Someone, UserPresent, as_predicate
from actors.presence import ConnectionState, Presence, PresenceCell
from actors.registry import FLUSH, AddWaiter, ParticipantRegistry, Reattach, RemoveWaiter
from messages import Close, Participant, User

if TYPE_CHECKING:
    from transport._edge import Call, EdgeTransport

__all__ = ["Connection"]

logger = logging.getLogger("transport.connection")


class Connection:
    """An agent's connection to a call, made by ``EdgeTransport.join()``.

    Lifecycle (the seed's table, plus ``RECONNECTING``): ``WAITING`` until
    someone other than the agent joins, ``ACTIVE`` while anyone is connected,
    ``RECONNECTING`` while the only ones left are dropped participants within
    their grace period, ``IDLE`` once all have left, ``CLOSED`` after
    ``close()``, an idle timeout, or the end of the call.
    """

    __slots__ = (
        "_cell",
        "_clock",
        "_closing",
        "_loop",
        "_registry",
        "actor_ref",
        "agent_user",
        "call",
        "edge",
        "key",
        "options",
    )

    def __init__(
        self,
        *,
        edge: EdgeTransport,
        call: Call,
        agent_user: User,
        key: str,
        registry: pykka.ActorRef[ParticipantRegistry],
        clock: Clock,
        options: ConnectionOptions,
    ) -> None:
        self.edge = edge
        self.call = call
        self.agent_user = agent_user
        self.key = key
        self.options = options
        self._registry = registry
        self._clock = clock
        self._cell = PresenceCell()
        self._closing: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self.actor_ref = ConnectionActor.start(
            key=key,
            call_id=call.id,
            call=call,
            agent_user_id=agent_user.id,
            registry=registry,
            cell=self._cell,
            emit=edge._emit,
            owner=self,
            options=options,
            clock=clock,
        )

    actor_ref: pykka.ActorRef[ConnectionActor]
    """The connection actor: tell it protocol messages from your own actors."""

    def __repr__(self) -> str:
        return f"<Connection {self.key} {self.state.value}>"

    @property
    def presence(self) -> Presence:
        """The latest presence snapshot (participants, tracks, state, idle_since, version)."""
        return self._cell.presence

    @property
    def participants(self) -> tuple[Participant, ...]:
        """Who is in the call now, agent excluded, in join order (an immutable snapshot)."""
        return self._cell.presence.participants

    @property
    def state(self) -> ConnectionState:
        """``WAITING``, ``ACTIVE``, ``RECONNECTING``, ``IDLE`` or ``CLOSED``."""
        return self._cell.presence.state

    @property
    def closed(self) -> bool:
        """Whether the connection is closed or closing."""
        return self._closing is not None or self.state is ConnectionState.CLOSED

    def idle_since(self) -> float:
        """The ``time.time()`` at which the last participant left, or ``0.0``.

        ``0.0`` while waiting for the first participant and while anyone is
        present (or reconnecting); after a rejoin, ``0.0`` again.
        """
        return self._cell.presence.idle_since

    async def wait_for_participant(
        self, timeout: float | None = None, *, user_id: str | None = None
    ) -> None:
        """Return once a participant other than the agent (of ``user_id``, if given) is present.

        Returns at once if one is present now; otherwise waits for the next
        such join (a call that everyone has left waits for a new join). Raises
        ``asyncio.TimeoutError`` after ``timeout`` seconds (``None``: no limit)
        and ``ConnectionClosedError`` if the connection is or becomes closed.
        A timed-out or cancelled wait leaves nothing behind.
        """
        await self.wait_for(Someone() if user_id is None else UserPresent(user_id), timeout)

    async def wait_for(
        self,
        predicate: Predicate | Callable[[Presence], bool],
        timeout: float | None = None,
    ) -> None:
        """Return once ``predicate`` holds for the call's presence.

        The state at the moment of the call counts (a join that happened before
        is not missed); after that the registry checks every change, and the
        clock for time-based predicates such as ``EmptyFor``. See
        ``actors.predicates`` for the ready-made ones; a plain function of the
        ``Presence`` works too. ``timeout`` is measured on the edge's clock.
        Raises as ``wait_for_participant`` does.
        """
        condition = as_predicate(predicate)
        presence = self._cell.presence
        if presence.state is ConnectionState.CLOSED or self._closing is not None:
            msg = f"connection {self.key} is closed"
            raise ConnectionClosedError(msg)
        if condition.holds(presence, self._clock.time()):
            return
        future: asyncio.Future[None] = self._loop.create_future()
        try:
            self.actor_ref.tell(AddWaiter(self.key, future, condition, timeout))
        except pykka.ActorDeadError:
            msg = f"connection {self.key} is closed"
            raise ConnectionClosedError(msg) from None
        timer = None
        if timeout is not None:
            timer = self._clock.call_later(timeout, lambda: _time_out(future))
        started = time.perf_counter() if metrics._wait_histogram is not None else 0.0
        outcome = "met"
        try:
            await future
            if started:
                metrics.record_wait(time.perf_counter() - started)
        except TimeoutError:
            outcome = "timeout"
            raise
        except ConnectionClosedError:
            outcome = "closed"
            raise
        except BaseException:
            outcome = "cancelled"
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if outcome in ("timeout", "cancelled"):
                with contextlib.suppress(pykka.ActorDeadError):
                    self.actor_ref.tell(RemoveWaiter(self.key, future))
            if self.options.record is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    self.actor_ref.tell(WaitEnded(future, outcome))

    async def inspect(self) -> ConnectionReport:
        """Presence, tracks, mailbox depth, restarts and the recent lifecycle, from the actor."""
        if not self.actor_ref.is_alive():
            msg = f"connection {self.key} is closed"
            raise ConnectionClosedError(msg)
        report: ConnectionReport = await actors.ask(self.actor_ref, Inspect())
        return report

    async def flush(self) -> None:
        """Return once every message told to this connection before the call is fully handled.

        Handled means: the actor took it, the registry published the presence it
        implies, and the edge's handlers received its events.
        """
        if self.actor_ref.is_alive():
            await actors.ask(self.actor_ref, FLUSH)
        await self._flush_registry()
        await self.edge.events.drain()

    async def _flush_registry(self) -> None:
        # The shard may be replaced while we wait; then the new one is asked.
        while True:
            registry = self._registry
            try:
                await actors.ask(registry, FLUSH)
            except pykka.ActorDeadError:
                if registry is self._registry:
                    return
                continue
            if registry is self._registry:
                return

    async def close(self) -> None:
        """Close the connection: idempotent, and safe to call concurrently.

        Fails pending waits with ``ConnectionClosedError``, emits
        ``ConnectionClosedEvent`` (delivered before this returns), stops the
        connection actor, then lets the edge disconnect and stop its tracks.
        A caller cancelled while waiting does not interrupt the close.
        """
        if self._closing is None:
            self._closing = self._loop.create_task(self._close("closed"))
        closing = self._closing
        if closing is not _CLOSED:
            await asyncio.shield(closing)
            self._closing = _CLOSED  # let the finished task go: 100k of them add up

    def _reattach(
        self, registry: pykka.ActorRef[ParticipantRegistry], leftovers: tuple[Any, ...]
    ) -> None:
        # Called by the edge when this connection's registry shard was replaced.
        self._registry = registry
        with contextlib.suppress(pykka.ActorDeadError):
            self.actor_ref.tell(Reattach(registry, leftovers))

    def _actor_evicted(self, participant: Participant, reason: str) -> None:
        # Runs on the actor's loop: a duplicate-session policy turned a session away.
        self.edge._evict(self, participant, reason)

    def _actor_closed(self, reason: str) -> None:
        # Runs on the actor's loop when it handled a Close (the call ended, say).
        if self._closing is None:
            self._closing = self._loop.create_task(self._close(reason))

    async def _close(self, reason: str) -> None:
        self.edge._forget(self)
        try:
            if self.actor_ref.is_alive():
                # Close, then stop: the mailbox keeps them in this order.
                self.actor_ref.tell(Close(self.call.id, reason))
                await self.actor_ref.stop(block=False)
            await self._flush_registry()
            await self.edge._release(self)
        except Exception:
            logger.exception("closing %s did not finish cleanly", self.key)
        finally:
            await self.edge.events.drain()


_CLOSED: Any = object()  # stands for a finished close, instead of keeping its task


def _time_out(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
