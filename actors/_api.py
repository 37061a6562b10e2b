"""The runtime's functions: ``ask`` any pykka actor from asyncio, ``send`` with back-pressure,
``teller`` for timers, and ``stop_all`` for a loop's shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pykka
from pykka import ActorDeadError, ActorRef

from actors._compat import ActorStop, Envelope, OptExcInfo
from actors._directory import directory
from actors._future import AsyncioFuture
from actors._mailbox import REF_TYPES, BoundedActorRef

__all__ = ["ask", "send", "stop_all", "stop_every_actor", "teller"]


def stop_every_actor() -> None:
    """Ask every ``AsyncioActor`` (any loop) and every actor in pykka's registry to stop."""
    for actor in directory.actors():
        with contextlib.suppress(ActorDeadError):
            actor.actor_ref.stop(block=False)
    pykka.ActorRegistry.stop_all(block=False)


def ask(ref: ActorRef[Any], message: Any) -> AsyncioFuture[Any]:
    """Ask any pykka actor and get an ``AsyncioFuture`` for the answer.

    For an ``AsyncioActor`` this is ``ref.ask(message, block=False)``. For a
    ``ThreadingActor`` the answer, set in the actor's thread, wakes the awaiting
    task through ``call_soon_threadsafe``: no thread blocks and none is borrowed.
    Call it from any thread.
    """
    if type(ref) in REF_TYPES:
        return ref.ask_future(message)  # type: ignore[attr-defined, no-any-return]  # ours
    future: AsyncioFuture[Any] = AsyncioFuture()
    if not ref.is_alive():
        future.set_exception((ActorDeadError, ActorDeadError(f"{ref} not found"), None))
        return future
    ref.actor_inbox.put(Envelope(message, future))
    return future


def teller(ref: ActorRef[Any], message: Any) -> Callable[[], None]:
    """A callback that tells ``message`` to ``ref``; for timers. A dead actor is ignored."""

    def tell() -> None:
        with contextlib.suppress(ActorDeadError):
            ref.tell(message)

    return tell


async def send(ref: ActorRef[Any], message: Any) -> None:
    """Tell ``message`` to an ``AsyncioActor``, first waiting for room in a bounded mailbox.

    The way to send presence messages that must not be dropped: where ``tell``
    would raise ``MailboxFullError``, this waits. Call it on the actor's loop.
    Raises ``ActorDeadError`` if the actor stops.
    """
    mailbox = ref.actor_inbox
    if isinstance(mailbox, BoundedActorRef):
        await mailbox.room()
    if not ref.is_alive():
        msg = f"{ref} not found"
        raise ActorDeadError(msg)
    mailbox.put(message)


async def stop_all() -> int:
    """Stop every live ``AsyncioActor`` of this loop and wait until all have stopped.

    Call it on the loop before it closes (the end of ``main()``, a test's
    teardown). Returns how many actors it stopped.
    """
    loop = asyncio.get_running_loop()
    mine = [actor for actor in directory.actors() if actor._mailbox._loop is loop]
    if not mine:
        return 0
    all_stopped = _Countdown(len(mine))
    stop = Envelope(ActorStop(), reply_to=all_stopped)  # one for all: nothing changes an item
    for actor in mine:
        actor._mailbox.put(stop)
    await all_stopped
    return len(mine)


class _Countdown(AsyncioFuture[None]):
    """The one reply of many stops (``stop_all``): done when each has answered.

    Every answer comes on the loop's thread, so counting needs no lock.
    """

    def __init__(self, count: int) -> None:
        super().__init__()
        self._left = count

    def set(self, value: Any | None = None) -> None:
        self._left -= 1
        if self._left == 0:
            super().set(None)

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        self.set(None)  # an actor that failed while stopping has stopped too
