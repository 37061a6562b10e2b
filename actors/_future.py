"""``AsyncioFuture``: a pykka ``Future`` that asyncio can await without blocking.

pykka's own ``Future.__await__`` yields once and then calls the blocking ``get()``,
which freezes the event loop until the answer arrives. This future keeps its
result behind a lock shared by all futures, runs done-callbacks in the thread
that sets it, and hands its outcome to the tasks awaiting it through an asyncio
future of their loop (set directly when set on that loop's thread, with
``call_soon_threadsafe`` otherwise), so ``await`` runs no Python code of ours
once the task resumes. ``get()`` blocks only on threads that run no event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import queue
import sys
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Any, TypeVar, cast

import pykka

from actors._compat import (
    NOWHERE,
    UNSET_HOOK_RESULT,
    LoopThread,
    OptExcInfo,
    loop_thread,
    running_loop,
)
from actors._errors import BlockingOnLoopError

__all__ = ["AskFuture", "AsyncioFuture", "awaitable"]

T = TypeVar("T")
M = TypeVar("M")
R = TypeVar("R")
J = TypeVar("J")

_PENDING, _VALUE, _ERROR = 0, 1, 2
_lock = threading.Lock()
_lock_acquire, _lock_release = _lock.acquire, _lock.release
_get_running_loop = running_loop
_get_ident = threading.get_ident


class AsyncioFuture(pykka.Future[T]):
    """The future returned by ``ask()`` on an ``AsyncioActor`` (and by ``actors.ask``).

    - ``await future`` from any event loop suspends only the awaiting task;
    - ``future.get(timeout=...)`` works from threads that run no event loop, such
      as a pykka ``ThreadingActor`` or a plain thread; on a loop thread it raises
      ``BlockingOnLoopError`` unless the result is already there;
    - ``set()`` and ``set_exception()`` may be called from any thread, once.
    """

    __slots__ = (
        "_callbacks",
        "_exc_info",
        "_get_hook",
        "_get_hook_result",
        "_state",
        "_value",
        "_waiter",
        "_waiter_thread",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop | None = None, thread: LoopThread = NOWHERE
    ) -> None:
        """A pending future; with ``loop`` (and its ``thread``), awaitable there at no lookup.

        Given the loop its tasks will await it on, the waiter they await is made
        now, so neither ``await`` nor the answer has to find the running loop.
        ``thread`` is ``loop_thread(loop)``. Any thread.
        """
        # pykka's Future.__init__ allocates a sentinel per future; share one.
        self._get_hook: Callable[[float | None], T] | None = None
        self._state = _PENDING
        self._value: Any = None
        self._exc_info: OptExcInfo | None = None
        self._callbacks: list[Callable[[AsyncioFuture[T]], None]] | None = None
        # Tasks of one loop await the waiter; _waiter_thread is loop_thread() of its loop.
        self._waiter: asyncio.Future[Any] | None = None if loop is None else loop.create_future()
        self._waiter_thread: LoopThread = NOWHERE if loop is None else thread

    def __repr__(self) -> str:
        state = ("pending", "done", "failed")[self._state]
        return f"<actors.AsyncioFuture {state}>"

    def done(self) -> bool:
        """Whether a value or an exception has been set. Any thread."""
        return self._state != _PENDING or self._get_hook is not None

    def set_get_hook(self, func: Callable[[float | None], T]) -> None:
        """Make ``get()`` (and ``await``) return ``func(timeout)``; before a result is set only.

        As in pykka since 4.3, a future that already has a value or an
        exception refuses a hook with ``queue.Full``. Any thread.
        """
        with _lock:
            if self._state != _PENDING:
                raise queue.Full
            self._get_hook_result: Any = UNSET_HOOK_RESULT  # pykka's get() reads it
            self._get_hook = func

    def set(self, value: Any | None = None) -> None:
        """Set the value and wake every waiter. Any thread; ``queue.Full`` if already set."""
        _lock_acquire()  # not `with _lock`: every answer takes this path
        try:
            if self._state != _PENDING or self._get_hook is not None:
                raise queue.Full
            self._value = value
            self._state = _VALUE
            callbacks, self._callbacks = self._callbacks, None
            waiter = self._waiter
        finally:
            _lock_release()
        here = self._waiter_thread._thread_id == _get_ident()  # NOWHERE: no waiter
        if here and not callbacks:
            try:  # noqa: SIM105  # not contextlib.suppress: every answer takes this path
                waiter.set_result(value)  # type: ignore[union-attr]  # on its loop: the hot path
            except asyncio.InvalidStateError:  # its awaiter was cancelled, and it with it
                pass
        elif waiter is not None or callbacks:
            self._notify(waiter, callbacks)

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        """Set an exception (default: the one being handled). Any thread, once."""
        if exc_info is None:
            exc_info = sys.exc_info()
        with _lock:
            if self._state != _PENDING or self._get_hook is not None:
                raise queue.Full
            self._exc_info = exc_info
            self._state = _ERROR
            callbacks, self._callbacks = self._callbacks, None
            waiter = self._waiter
        self._notify(waiter, callbacks)

    def _notify(
        self,
        waiter: asyncio.Future[Any] | None,
        callbacks: list[Callable[[AsyncioFuture[T]], None]] | None,
    ) -> None:
        """Now that the outcome is set: hand it to the awaiting tasks, run the callbacks."""
        if waiter is not None:
            self._hand_over(waiter)
        if callbacks:
            for callback in callbacks:
                callback(self)

    def _hand_over(self, waiter: asyncio.Future[Any]) -> None:
        """Give the outcome to ``waiter``, on its loop (from any thread)."""
        if self._waiter_thread._thread_id == _get_ident():  # on the waiter's loop
            _settle(waiter, self)
            return
        loop = waiter.get_loop()
        with contextlib.suppress(RuntimeError):  # a closed loop has nobody left to wake
            loop.call_soon_threadsafe(_settle, waiter, self)

    def add_done_callback(self, callback: Callable[[AsyncioFuture[T]], None]) -> None:
        """Call ``callback(self)`` once the future is done.

        It runs in the thread that sets the future, or at once in the calling
        thread if the future is already done. Keep it short and non-blocking.
        """
        with _lock:
            if self._state == _PENDING:
                if self._callbacks is None:
                    self._callbacks = [callback]
                else:
                    self._callbacks.append(callback)
                return
        callback(self)

    def _result(self) -> T:
        if self._state == _ERROR:
            assert self._exc_info is not None
            exc_type, exc_value, exc_traceback = self._exc_info
            if exc_value is None:
                assert exc_type is not None
                exc_value = exc_type()
            raise exc_value.with_traceback(exc_traceback)
        return cast("T", self._value)

    def get(self, *, timeout: float | None = None) -> T:
        """Return the value, or raise the exception, waiting up to ``timeout`` seconds.

        Raises ``pykka.Timeout`` when the time runs out, and ``BlockingOnLoopError``
        when called on an event loop thread before the result is there.
        """
        if self._get_hook is not None:
            return super().get(timeout=timeout)
        if self._state == _PENDING:
            if _get_running_loop() is not None:
                msg = (
                    "Future.get() would block the event loop that runs this thread; "
                    "`await` the future instead"
                )
                raise BlockingOnLoopError(msg)
            event = threading.Event()
            self.add_done_callback(lambda _: event.set())
            if not event.wait(timeout):
                msg = f"{timeout} seconds"
                raise pykka.Timeout(msg)
        return self._result()

    def __await__(self) -> Generator[Any, None, T]:
        waiter = self._waiter
        if (
            self._waiter_thread._thread_id == _get_ident()  # NOWHERE: no waiter
            and not waiter.cancelled()  # type: ignore[union-attr]  # (cancelled with an earlier awaiter)
            and self._get_hook is None
        ):
            return waiter.__await__()  # type: ignore[union-attr]  # the outcome comes in it: no code of ours runs
        if self._state == _PENDING and self._get_hook is None:
            loop = asyncio.get_running_loop()
            if waiter is None or waiter.done():  # none yet, or its awaiter was cancelled
                waiter = self._waiter = loop.create_future()
                self._waiter_thread = loop_thread(loop)
                if self._state != _PENDING:  # set meanwhile, by a thread that saw no waiter
                    _settle(waiter, self)
            if waiter.get_loop() is loop:
                return waiter.__await__()  # the outcome comes in it: no code of ours runs
        return self._await_elsewhere()

    __iter__ = __await__

    def _await_elsewhere(self) -> Generator[Any, None, T]:
        """Await from a second loop (or with a get hook, or done): slower, as general."""
        if self._get_hook is not None:
            # A generic get hook can only be evaluated by blocking: do it off the loop.
            return (yield from asyncio.to_thread(self.get).__await__())
        if self._state == _PENDING:
            loop = asyncio.get_running_loop()
            waiter = loop.create_future()
            self.add_done_callback(functools.partial(_wake, loop, waiter))
            yield from waiter.__await__()
        return self._result()

    def _chain(self, func: Callable[[T], M]) -> AsyncioFuture[M]:
        """A new future holding ``func(value)``, or this future's exception."""
        chained: AsyncioFuture[M] = AsyncioFuture()

        def forward(source: AsyncioFuture[T]) -> None:
            try:
                result = func(source._result())
            except BaseException:
                chained.set_exception()
            else:
                chained.set(result)

        self.add_done_callback(forward)
        return chained

    def map(self, func: Callable[[T], M]) -> pykka.Future[M]:
        """As pykka's ``map()``, without blocking: the new future is awaitable too."""
        return self._chain(func)

    def filter(
        self: pykka.Future[Iterable[J]], func: Callable[[J], bool]
    ) -> pykka.Future[Iterable[J]]:
        """As pykka's ``filter()``, without blocking."""
        source = cast("AsyncioFuture[Iterable[J]]", self)
        return source._chain(lambda items: list(filter(func, items)))

    def reduce(
        self: pykka.Future[Iterable[J]], func: Callable[[R, J], R], *args: R
    ) -> pykka.Future[R]:
        """As pykka's ``reduce()``, without blocking."""
        source = cast("AsyncioFuture[Iterable[J]]", self)
        return source._chain(lambda items: functools.reduce(func, items, *args))

    def join(self: pykka.Future[Any], *futures: pykka.Future[Any]) -> pykka.Future[Iterable[Any]]:
        """As pykka's ``join()``: a future of all results, in order, without blocking."""
        members = [self, *futures]
        joined: AsyncioFuture[Iterable[Any]] = AsyncioFuture()
        if not all(isinstance(f, AsyncioFuture) for f in members):
            joined.set_get_hook(lambda timeout: [f.get(timeout=timeout) for f in members])
            return joined
        remaining = [len(members)]

        def arrived(_: AsyncioFuture[Any]) -> None:
            with _lock:
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                try:
                    values = [cast("AsyncioFuture[Any]", f)._result() for f in members]
                except BaseException:
                    joined.set_exception()
                else:
                    joined.set(values)

        for member in members:
            cast("AsyncioFuture[Any]", member).add_done_callback(arrived)
        return joined


class AskFuture(AsyncioFuture[Any]):
    """An ask as it waits in an ``AsyncioActor``'s mailbox: the answer's future, with the question.

    One object where pykka queues two (an ``Envelope`` holding the message and
    its future); the asker gets it as its ``AsyncioFuture``. The actor's turn
    reads ``message`` and drops it, so an answered future keeps no question
    alive, then sets the answer on the actor's loop.
    """

    __slots__ = ("message",)

    def __init__(
        self, message: Any, loop: asyncio.AbstractEventLoop | None, thread: LoopThread
    ) -> None:
        """An ask of ``message``, to be awaited on ``loop`` if one is given.

        Give ``loop`` when asking on the actor's own loop, the usual case (see
        ``AsyncioFuture.__init__``).
        """
        AsyncioFuture.__init__(self, loop, thread)
        self.message = message


def _settle(waiter: asyncio.Future[Any], future: AsyncioFuture[Any]) -> None:
    """Put ``future``'s outcome into ``waiter`` (on the waiter's loop), unless it is done."""
    if waiter.done():  # cancelled with its awaiter, or settled already
        return
    if future._state == _VALUE:  # its partner
        waiter.set_result(future._value)
        return
    try:
        future._result()  # raises the exception, as await would
    except StopIteration as stop:  # asyncio refuses it; a coroutine would turn it into this
        error = RuntimeError("the handler raised StopIteration")
        error.__cause__ = stop
        waiter.set_exception(error)
    except BaseException as exc:  # handed on to the awaiting task
        waiter.set_exception(exc)
    # asyncio would log the exception as never retrieved if no task awaits the
    # waiter (``ask`` makes it before anyone awaits); the future's reader gets it.
    waiter.exception()


def _wake(loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[None], _: object) -> None:
    if _get_running_loop() is loop:
        if not waiter.done():
            waiter.set_result(None)
        return
    with contextlib.suppress(RuntimeError):  # a closed loop has nobody left to wake
        loop.call_soon_threadsafe(_set_if_pending, waiter)


def _set_if_pending(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def awaitable(future: pykka.Future[T]) -> Any:
    """Return something the running loop can await for ``future``'s value.

    An ``AsyncioFuture`` is returned as it is. Any other pykka future (a
    ``ThreadingFuture`` from a ``ThreadingActor``'s proxy, say) is waited for in
    a worker thread, so the loop never blocks; prefer ``actors.ask()``, which
    needs no thread.
    """
    if isinstance(future, AsyncioFuture):
        return future
    return asyncio.to_thread(future.get)
