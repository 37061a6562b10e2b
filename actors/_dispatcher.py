"""The dispatcher: one per event loop, it gives each actor with mail a turn.

Actors with mail wait in one FIFO run queue; one ``call_soon`` callback runs
their turns, a bounded number per loop iteration, so 100,000 actors share a
loop fairly and the loop's other callbacks still run. An idle actor is in no
queue and costs the dispatcher nothing.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections import deque
from typing import TYPE_CHECKING, cast

from actors._compat import LoopThread, loop_thread, running_loop

if TYPE_CHECKING:
    from actors._actor import AsyncioActor

__all__ = ["Dispatcher", "dispatcher_for", "loop_here"]


class Dispatcher:
    """Runs the actors of one event loop that have mail, like a dispatcher in Akka.

    Actors with mail wait in one FIFO run queue; a single ``call_soon`` callback
    gives each of them one turn (at most ``mailbox_batch`` messages), at most
    ``actors_per_turn`` actors per loop iteration, then yields to the loop's
    other callbacks. Touched only on its loop's thread. It refers to its loop
    weakly, so that a loop nothing else keeps (closed, its actors gone) is freed
    together with its dispatcher.
    """

    __slots__ = ("__weakref__", "_loop", "_probe", "_ready", "_scheduled")

    actors_per_turn = 1024

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)
        self._ready: deque[AsyncioActor] = deque()
        self._scheduled = False
        # loop_thread(loop) for a loop that does not keep _thread_id (uvloop);
        # None for asyncio's loops, which are their own (and held weakly here).
        thread = loop_thread(loop)
        self._probe = None if thread is cast("object", loop) else thread

    def thread(self, loop: asyncio.AbstractEventLoop) -> LoopThread:
        """``loop_thread(loop)`` for this dispatcher's ``loop``, without asking again."""
        probe = self._probe
        return cast("LoopThread", loop) if probe is None else probe

    def schedule(self, actor: AsyncioActor) -> None:
        """Put ``actor`` at the end of the run queue (on the loop's thread)."""
        self._ready.append(actor)
        if not self._scheduled:
            self.start()

    def start(self) -> None:
        """Have the loop run the queued actors soon (on the loop's thread)."""
        loop = self._loop()
        if loop is not None:  # else: the loop is gone, and its actors with it
            self._scheduled = True
            loop.call_soon(self._run)

    def _run(self) -> None:
        ready = self._ready
        turns = len(ready)
        if turns > self.actors_per_turn:
            turns = self.actors_per_turn
        take = ready.popleft
        try:
            for _ in range(turns):
                take()._run_turn()
        finally:
            self._scheduled = False
            if ready:
                self.start()


_dispatchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dispatcher] = (
    weakref.WeakKeyDictionary()
)
_dispatchers_lock = threading.Lock()


_last: Dispatcher | None = None  # the one asked for last: usually the one wanted


def dispatcher_for(loop: asyncio.AbstractEventLoop) -> Dispatcher:
    """The dispatcher of ``loop``, made on first use; any thread."""
    global _last  # a cache: one reference, swapped at once
    dispatcher = _last
    if dispatcher is not None and dispatcher._loop() is loop:
        return dispatcher
    dispatcher = _dispatchers.get(loop)
    if dispatcher is None:
        with _dispatchers_lock:
            dispatcher = _dispatchers.get(loop)
            if dispatcher is None:
                dispatcher = _dispatchers[loop] = Dispatcher(loop)
    _last = dispatcher
    return dispatcher


def loop_here() -> asyncio.AbstractEventLoop | None:
    """The event loop running in the calling thread, or ``None``; any thread.

    It is usually the last dispatcher's, and for asyncio's loops (which keep
    the thread they run on) that is an exact test that needs no system call.
    """
    last = _last
    if last is not None and last._probe is None:
        loop = last._loop()
        if loop is not None and loop._thread_id == threading.get_ident():  # type: ignore[attr-defined]
            return loop
    return running_loop()
