"""Clocks: where the actors read the time and set timers, so tests can run on virtual time.

``SystemClock`` is the real one: ``time()`` is ``time.time()`` (what
``idle_since()`` reports) and timers are ``loop.call_later`` on the running loop.
``VirtualClock`` is moved by hand with ``advance()``: timers fire in due order,
on the caller's thread, with no sleeping, so idle timeouts, reconnect grace
periods and replays are deterministic.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["Clock", "SystemClock", "Timer", "VirtualClock", "as_clock", "check_seconds"]


def check_seconds(name: str, seconds: float) -> float:
    """``seconds`` if it is a finite number, 0 or more; else ``ValueError`` naming ``name``.

    Every timeout and delay goes through it: ``nan`` would never fire (and stall a
    virtual clock), a negative one is a mistake. ``0`` means "now".
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        msg = f"{name} must be a number of seconds, not {type(seconds).__name__}"
        raise TypeError(msg)
    if not (math.isfinite(seconds) and seconds >= 0):
        msg = f"{name} must be a finite number of seconds, 0 or more, not {seconds!r}"
        raise ValueError(msg)
    return seconds


class Timer(Protocol):
    """A pending callback; ``cancel()`` is idempotent."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the actors need of time: a wall-clock reading and timers."""

    def time(self) -> float:
        """Seconds since the epoch (``time.time()`` semantics)."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback()`` once, ``delay`` seconds from now, on the caller's loop."""
        ...


class SystemClock:
    """Real time: ``time.time()`` (or ``wall``) and the running loop's ``call_later``."""

    def __init__(self, wall: Callable[[], float] = time.time) -> None:
        self._wall = wall

    def time(self) -> float:
        return self._wall()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return asyncio.get_running_loop().call_later(check_seconds("delay", delay), callback)


class _VirtualTimer:
    __slots__ = ("callback", "cancelled", "due")

    def __init__(self, due: float, callback: Callable[[], None]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Time that moves only when told: ``advance(seconds)`` or ``set(t)``.

    Use one per test. ``advance`` runs every timer that falls due, in order of
    due time (ties in the order they were set); a timer set by a callback for
    a time already reached runs in the same ``advance``.
    """

    def __init__(self, start: float = 1_000_000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _VirtualTimer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        timer = _VirtualTimer(self._now + check_seconds("delay", delay), callback)
        heapq.heappush(self._timers, (timer.due, next(self._order), timer))
        return timer

    def pending(self) -> int:
        """Timers set and not yet run or cancelled."""
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running the timers that fall due."""
        self.set(self._now + check_seconds("seconds", seconds))

    def set(self, when: float) -> None:
        """Move time forward to ``when``, running the timers that fall due."""
        if not math.isfinite(when):
            msg = f"a virtual clock moves to finite times only, not {when!r}"
            raise ValueError(msg)
        if when < self._now:
            msg = "a virtual clock does not go back"
            raise ValueError(msg)
        timers = self._timers
        while timers and timers[0][0] <= when:
            due, _, timer = heapq.heappop(timers)
            self._now = due
            if not timer.cancelled:
                timer.callback()
        self._now = when


def as_clock(clock: Clock | Callable[[], float] | None) -> Clock:
    """A ``Clock`` from a clock, a bare time function (real timers), or ``None`` (system)."""
    if clock is None:
        return SystemClock()
    if callable(clock) and not hasattr(clock, "call_later"):
        return SystemClock(clock)
    return clock  # type: ignore[return-value]
