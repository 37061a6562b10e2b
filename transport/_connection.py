"""``Connection``: the agent's handle on one joined call.

Every method runs on the edge's event loop. Nothing here holds presence: reads
come from the ``Presence`` snapshot the connection actor publishes after each
change, waits are futures that actor resolves, and ``close()`` goes through its
mailbox like every other change.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec
import pykka

import actors
from actors import metrics
from actors.clock import Clock, check_seconds
from actors.connection import ConnectionActor
from actors.connection_interface import (
    CATCH_UP,
    ConnectionOptions,
    ConnectionReport,
    ReportRequest,
    WaitEnded,
)
from actors.predicates import Predicate, Someone, UserPresent, as_predicate
from actors.presence import ConnectionState, Presence, PresenceCell
from actors.recording import written
from actors.waits import AddWaiter, RemoveWaiter
from messages import Close, ConnectionClosedError, Participant, User

if TYPE_CHECKING:
    from transport._edge import Call, EdgeTransport

__all__ = ["Connection"]

logger = logging.getLogger(__name__)


class Connection(PresenceCell):
    """An agent's connection to a call, made by ``EdgeTransport.join()``.

    Lifecycle (README.md, "Where a connection is in its life"): ``WAITING`` until
    someone other than the agent joins, ``ACTIVE`` while anyone is connected,
    ``RECONNECTING`` while the only ones left are dropped participants within
    their grace period, ``IDLE`` once all have left, ``CLOSED`` after
    ``close()``, an idle timeout, or the end of the call.

    It is its actor's ``PresenceCell``: the snapshot the actor publishes lives
    on the connection itself.
    """

    __slots__ = (
        "_clock",
        "_closing",
        "_loop",
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
        clock: Clock,
        options: ConnectionOptions,
    ) -> None:
        self.edge = edge
        self.call = call
        self.agent_user = agent_user
        self.key = key
        self.options = options
        self._clock = clock
        super().__init__()  # the cell its actor publishes presence into
        self._closing: asyncio.Task[None] | None = None
        self._loop = asyncio.get_running_loop()
        self.actor_ref = ConnectionActor.start(
            key=key,
            call_id=call.id,
            call=call,
            agent_user_id=agent_user.id,
            cell=self,
            emit=edge._emit,  # noqa: SLF001  # the edge's partner: one bound method for all
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
        return self._presence

    @property
    def participants(self) -> tuple[Participant, ...]:
        """Who is in the call now, agent excluded, in join order (an immutable snapshot)."""
        return self._presence.participants

    @property
    def state(self) -> ConnectionState:
        """``WAITING``, ``ACTIVE``, ``RECONNECTING``, ``IDLE`` or ``CLOSED``."""
        return self._presence.state

    @property
    def closed(self) -> bool:
        """Whether the connection is closed or closing."""
        return self._closing is not None or self.state is ConnectionState.CLOSED

    def idle_since(self) -> float:
        """The ``time.time()`` at which the last participant left, or ``0.0``.

        ``0.0`` while waiting for the first participant and while anyone is
        present (or reconnecting); after a rejoin, ``0.0`` again.
        """
        return self._presence.idle_since

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
        is not missed); after that the connection actor checks every change, and the
        clock for time-based predicates such as ``EmptyFor``. See
        ``actors.predicates`` for the ready-made ones; a plain function of the
        ``Presence`` works too. ``timeout`` is measured on the edge's clock.
        Raises as ``wait_for_participant`` does.
        """
        if timeout is not None:
            check_seconds("timeout", timeout)
        condition = as_predicate(predicate)
        presence = self._presence
        if presence.state is ConnectionState.CLOSED or self._closing is not None:
            raise ConnectionClosedError.of(self.key)
        if condition.holds(presence, self._clock.time()):
            return
        if timeout == 0:  # "check now", and it does not hold
            raise TimeoutError
        future: asyncio.Future[None] = self._loop.create_future()
        try:
            self.actor_ref.tell(AddWaiter(self.key, future, condition, timeout))
        except pykka.ActorDeadError:
            raise ConnectionClosedError.of(self.key) from None
        timer = None
        if timeout is not None:
            timer = self._clock.call_later(timeout, lambda: _time_out(future))
        started = time.perf_counter() if metrics.recording() else 0.0
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

    async def report(self) -> ConnectionReport:
        """Presence, tracks, mailbox depth, restarts and the recent lifecycle, from the actor.

        With the call's media as the edge receives it, where the edge counts it
        (``media``: ``EdgeTransport.media_health``).
        """
        if not self.actor_ref.is_alive():
            raise ConnectionClosedError.of(self.key)
        report: ConnectionReport = await actors.ask(self.actor_ref, ReportRequest())
        media = self.edge.media_health(self.call.id)
        return msgspec.structs.replace(report, media=media[0]) if media else report

    async def caught_up(self) -> None:
        """Return once the actor has handled every message told to it before the call.

        Presence is then published and waits are settled; events may still be on
        their way to the handlers (``settled()`` waits for those too). It never
        waits on a handler, so edges may use it on their I/O paths.
        """
        if self.actor_ref.is_alive():
            with contextlib.suppress(pykka.ActorDeadError):
                await actors.ask(self.actor_ref, CATCH_UP)

    async def settled(self, timeout: float | None = None) -> None:
        """Return once everything told to this connection so far has reached its handlers.

        That is ``caught_up()``, then every event of this connection emitted so
        far handled by every subscribed handler. Events of other connections
        are not waited for, so a busy handler elsewhere does not delay it. For
        tests and hosts that need "everything so far was handled"; edges never
        call it on their I/O paths. Raises ``asyncio.TimeoutError`` after
        ``timeout`` seconds (``None``: no limit).
        """
        if timeout is not None:
            check_seconds("timeout", timeout)
        async with asyncio.timeout(timeout):
            await self.caught_up()
            await self.edge.events.settled(self.key)

    def begin_close(self) -> None:
        """Start closing, as ``close()`` does, without waiting for it (on the edge's loop).

        Idempotent. ``close()`` then waits for the close begun here.
        """
        self._begin_close("closed")

    async def close(self) -> None:
        """Close the connection: idempotent, and safe to call concurrently.

        Fails pending waits with ``ConnectionClosedError``, emits
        ``ConnectionClosedEvent``, stops the connection actor, lets the edge
        disconnect and stop its tracks, then waits (up to the edge's
        ``handler_grace``) until this connection's handlers have had its events.
        A caller cancelled while waiting does not interrupt the close.
        """
        closing = self._begin_close("closed")
        if closing is not _CLOSED:
            await asyncio.shield(closing)
            self._closing = _CLOSED  # let the finished task go: 100k of them add up

    def actor_evicted(self, participant: Participant, reason: str) -> None:
        """Called by the actor, on its loop: a duplicate-session policy turned a session away."""
        self.edge.on_evict(self, participant, reason)

    def actor_closed(self, reason: str) -> None:
        """Called by the actor, on its loop, when it handled a ``Close`` (the call ended, say)."""
        self._begin_close(reason)

    def _begin_close(self, reason: str) -> asyncio.Task[None]:
        """The close under way (or ``_CLOSED``, once it finished); started if none is."""
        if self._closing is None:
            self._closing = self._loop.create_task(self._close(reason))
        return self._closing

    async def _close(self, reason: str) -> None:
        self.edge.detach(self)
        try:
            if self.actor_ref.is_alive():
                # Close, then stop: the mailbox keeps them in this order.
                self.actor_ref.tell(Close(self.call.id, reason))
                await self.actor_ref.stop(block=False)
            await self.edge.on_release(self)
        except Exception:
            logger.exception("closing %s did not finish cleanly", self.key)
        finally:
            try:
                if self.options.record is not None:
                    await written()  # the recording is complete once close() returns
                await self.edge.events.settled(self.key, timeout=self.edge.handler_grace)
            finally:
                self.edge.release_done(self)


_CLOSED: Any = object()  # stands for a finished close, instead of keeping its task


def _time_out(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())
