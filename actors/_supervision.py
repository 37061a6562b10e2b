"""``RestartPolicy``: how often an actor may restart after a failing tell before it gives up."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

import msgspec

__all__ = ["RestartPolicy"]


class RestartPolicy(msgspec.Struct, frozen=True):
    """Allow up to ``max_restarts`` restarts within any ``within`` seconds.

    Set it as an ``AsyncioActor`` subclass's ``restart_policy``. When a handler
    raises for a tell, the actor calls its ``on_restart(error, message)`` hook
    (rebuild state there) and handles the same message once more; a message
    that fails again is dropped and logged. Past the budget the actor fails as
    pykka actors do: ``on_failure`` runs and the actor stops.
    """

    max_restarts: int = 3
    within: float = 60.0

    def __post_init__(self) -> None:
        if self.max_restarts < 0 or self.within <= 0:
            msg = "RestartPolicy needs max_restarts >= 0 and within > 0"
            raise ValueError(msg)


class RestartBudget:
    """The restarts one actor has used, on a monotonic clock; touched on its loop only."""

    __slots__ = ("_clock", "_policy", "_times", "total")

    def __init__(self, policy: RestartPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._times: deque[float] = deque()
        self.total = 0

    def take(self) -> bool:
        """Use one restart if the policy allows it now; ``False`` once exhausted."""
        now = self._clock()
        times = self._times
        while times and now - times[0] > self._policy.within:
            times.popleft()
        if len(times) >= self._policy.max_restarts:
            return False
        times.append(now)
        self.total += 1
        return True
