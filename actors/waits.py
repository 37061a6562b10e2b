"""Waits on a connection's presence: one future per wait, settled by the presence owner.

``Connection.wait_for`` checks the published snapshot itself first; only a wait
that does not hold yet becomes an ``AddWaiter`` in the connection actor's
mailbox. The actor keeps it in its ``Waits``, checks it against every snapshot
it publishes (and at the times a time-based predicate names), and settles the
future once it holds, or fails it when the connection closes. A caller that
times out or is cancelled sends ``RemoveWaiter``; nothing is left behind.

Everything here runs on the connection actor's loop; the futures may belong to
another loop, and are then settled through that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import msgspec

from actors._compat import running_loop
from actors.clock import Clock, Timer
from actors.predicates import Predicate
from actors.presence import Presence

__all__ = ["AddWaiter", "RemoveWaiter", "Waits", "settle"]


class AddWaiter(msgspec.Struct, frozen=True):
    """Resolve ``future`` once ``predicate`` holds for the connection ``key``.

    ``timeout`` is the caller's own limit, carried for recordings only.
    """

    key: str
    future: asyncio.Future[None]
    predicate: Predicate
    timeout: float | None = None


class RemoveWaiter(msgspec.Struct, frozen=True):
    """Forget ``future``: its caller timed out or was cancelled."""

    key: str
    future: asyncio.Future[None]


def settle(future: asyncio.Future[None], error: BaseException | None = None) -> None:
    """Resolve ``future`` (or fail it with ``error``) from any thread, on its own loop."""
    if future.done():
        return
    loop = future.get_loop()
    if running_loop() is loop:  # the usual case: set it now
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
        return
    with contextlib.suppress(RuntimeError):  # a closed loop has nobody left to wake
        loop.call_soon_threadsafe(_set, future, error)


def _set(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class Waits:
    """The pending waits of one connection, checked against each published snapshot.

    ``wake`` is called (on the owner's loop, from a ``clock`` timer) when a
    time-based predicate may have come true with no change to presence.
    """

    __slots__ = ("_clock", "_loop", "_pending", "_timer", "_wake")

    def __init__(self, clock: Clock, wake: Callable[[], None]) -> None:
        """Made by the connection actor on its loop, the one every method runs on."""
        self._loop = asyncio.get_running_loop()
        self._clock = clock
        self._wake = wake
        self._pending: dict[asyncio.Future[None], Predicate] = {}
        self._timer: Timer | None = None

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, future: asyncio.Future[None], predicate: Predicate, presence: Presence) -> None:
        """Settle ``future`` now if ``predicate`` holds, else keep it until it does."""
        if future.done():
            return
        self._pending[future] = predicate
        self.check(presence, self._clock.time())

    def remove(self, future: asyncio.Future[None]) -> None:
        """Forget ``future`` (its caller gave up)."""
        if self._pending.pop(future, None) is not None and not self._pending:
            self._cancel_timer()

    def check(self, presence: Presence, now: float) -> None:
        """Settle every wait that holds for ``presence`` at clock reading ``now``.

        Then set a timer for the next time-based one due, if any.
        """
        pending = self._pending
        if not pending:
            return  # and no timer is set: remove() and the last check cancelled it
        loop = self._loop
        wake_at: float | None = None
        for future, predicate in list(pending.items()):
            if future.done():
                del pending[future]
                continue
            try:
                holds = predicate.holds(presence, now)
            except Exception as exc:  # a caller's predicate failed: the caller hears why
                del pending[future]
                settle(future, exc)
                continue
            if holds:
                del pending[future]
                if future.get_loop() is loop:
                    future.set_result(None)  # settle(future), inlined: the usual case
                else:
                    settle(future)
                continue
            due = predicate.due(presence)
            if due is not None and (wake_at is None or due < wake_at):
                wake_at = due
        if self._timer is not None:
            self._cancel_timer()
        if wake_at is not None:
            self._timer = self._clock.call_later(max(wake_at - now, 0.0), self._wake)

    def fail_all(self, error: BaseException) -> None:
        """Fail every pending wait with ``error`` (the connection closed)."""
        self._cancel_timer()
        pending, self._pending = self._pending, {}
        for future in pending:
            settle(future, error)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
