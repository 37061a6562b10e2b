"""``AsyncioActor``: a pykka actor whose mailbox is drained by an asyncio event loop.

An actor with no mail costs no task and no thread: it is an object with a
mailbox (``actors._mailbox``). When mail arrives, the mailbox puts the actor in
its loop's run queue (``actors._dispatcher``), which gives it a turn of at most
``mailbox_batch`` messages. A handler that returns a coroutine (an ``async def``
``on_receive`` or proxied method) is awaited in a task before the next message:
one message at a time, in arrival order. Every failure of a handler goes
through ``_failed``, which applies pykka's rules and the restart policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import sys
import threading
from collections.abc import Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, ClassVar, Self, cast

import pykka
from pykka import ActorDeadError, ActorRef, messages

from actors._api import stop_every_actor
from actors._compat import ActorStop, Envelope
from actors._directory import directory
from actors._dispatcher import loop_here
from actors._errors import NoEventLoopError
from actors._future import AskFuture, AsyncioFuture
from actors._mailbox import (
    ONE,
    AsyncioActorRef,
    BoundedActorRef,
    Retry,
    forget,
)
from actors._stopping import WRAPPERS, Stopping
from actors._supervision import RestartBudget, RestartPolicy

if TYPE_CHECKING:
    from collections.abc import Coroutine


__all__ = ["AsyncioActor"]

logger = logging.getLogger(__name__)

_get_ident = threading.get_ident

_RETRY, _SKIP, _FAIL = object(), object(), object()  # outcomes of AsyncioActor._restart
_STARTING, _ASYNC = object(), object()  # what failed, for _failed: on_start, a coroutine
_COMPACT_AFTER = 1024  # handled items a long mailbox drops from its front at once
_PYKKA_MESSAGES = frozenset((messages.ProxyCall, messages.ProxyGetAttr, messages.ProxySetAttr))
_CONTROL_MESSAGES = frozenset((ActorStop, *_PYKKA_MESSAGES))  # not for on_receive
# What a turn hands to _handle_item instead of on_receive (set lookups by type).
_RUNTIME_ITEMS = frozenset((AskFuture, Envelope, Retry, *_CONTROL_MESSAGES))
_start_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "actors_start_loop", default=None
)


class AsyncioActor(Stopping, pykka.Actor):
    """A pykka actor hosted on an asyncio event loop; use it like ``ThreadingActor``.

    ``start()`` must run on the thread of a running loop (the actor lives on that
    loop for its whole life) or go through ``start_on(loop, ...)`` from another
    thread; anywhere else it raises ``NoEventLoopError``. ``tell``, ``ask`` and
    ``proxy`` work from any thread. ``on_start``, ``on_receive``, proxied methods
    and ``on_stop`` run on the loop's thread and may be ``async def``. ``ask()``
    returns an ``AsyncioFuture``: await it on a loop, ``get()`` it elsewhere.

    Started actors are kept in ``actors.directory``, not in pykka's
    ``ActorRegistry``, unless ``register_with_pykka`` is true.
    """

    # Slots keep the runtime's own fields out of the instance dict: a started
    # actor costs a few hundred bytes. Subclasses may use __slots__ too.
    __slots__ = ("_actor_ref", "_busy", "_mailbox", "_restarts")
    _actor_ref: AsyncioActorRef

    mailbox_batch: ClassVar[int] = 64
    """Messages handled per turn before the actor yields the loop to others."""

    restart_policy: ClassVar[RestartPolicy | None] = None
    """If set, a failing tell restarts the actor (``on_restart``) instead of stopping it."""

    mailbox_capacity: ClassVar[int | None] = None
    """Bound on queued messages; past it ``tell`` raises ``MailboxFullError`` (``None``: none)."""

    register_with_pykka: ClassVar[bool] = False
    """Also register in ``pykka.ActorRegistry`` (O(n) to unregister: keep it for few actors)."""

    def __init__(self, *_args: Any, **_kwargs: Any) -> None:
        """Create the actor, bound to the running loop or the one given to ``start_on``.

        Gives what pykka's ``Actor.__init__`` sets (``actor_urn``, ``actor_inbox``,
        ``actor_stopped``, ``actor_ref``), more cheaply: the URN is made when
        first read. Subclasses call it first. Made where no loop runs (and not
        through ``start_on``), the actor has no loop: it can be inspected, but
        only ``start()`` on a loop makes a live one.
        """
        loop = _start_loop.get()
        if loop is None:
            loop = loop_here()
        bounded = self.mailbox_capacity is not None
        # The ref is the mailbox too; two fields for the one object: pykka reads
        # _actor_ref, the runtime _mailbox.
        self._mailbox = self._actor_ref = (BoundedActorRef if bounded else AsyncioActorRef)(
            self, loop
        )
        self._busy: asyncio.Task[None] | None = None  # the task awaiting an async handler
        self._restarts: RestartBudget | None = None

    @property
    def actor_urn(self) -> str:  # type: ignore[override]  # read-only, made on first read
        """The actor's URN (a uuid4 URN), made the first time anyone reads it."""
        return self._actor_ref.actor_urn

    @property
    def actor_inbox(self) -> AsyncioActorRef:  # type: ignore[override]  # read-only
        """The actor's mailbox (pykka's ``ActorInbox`` protocol), which is its ref."""
        return self._mailbox

    @property
    def actor_stopped(self) -> AsyncioActorRef:  # type: ignore[override]  # read-only
        """Set once the actor has stopped: ``is_set()``, and ``wait()`` off the loop."""
        return self._mailbox

    @property
    def actor_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the actor lives on (``AttributeError`` if it was made off any loop)."""
        loop = self._mailbox._loop
        if loop is None:
            msg = f"{self} was made off any event loop and has none"
            raise AttributeError(msg)
        return loop

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> ActorRef[Self]:
        """Create, register and start the actor; ``on_start`` runs on its loop next.

        The arguments go to the constructor. Call on the loop's thread (or use
        ``start_on``). Returns the actor's ref at once.
        """
        actor = cls(*args, **kwargs)
        ref = actor._mailbox
        if ref._dispatcher is None:
            msg = (
                f"{cls.__name__}.start() needs a running asyncio event loop: "
                "call it from async code, or use start_on(loop, ...) from another thread"
            )
            raise NoEventLoopError(msg)
        directory.register(actor)
        if cls.register_with_pykka:
            pykka.ActorRegistry.register(ref)
        if cls.on_start is not AsyncioActor.on_start:  # else the first mail starts it
            actor._start_actor_loop()
        return ref

    @classmethod
    def start_on(cls, loop: asyncio.AbstractEventLoop, *args: Any, **kwargs: Any) -> ActorRef[Self]:
        """Start the actor on ``loop`` from any thread, even one with no loop of its own.

        The constructor runs in the calling thread; ``on_start`` and every
        message run on ``loop``.
        """
        token = _start_loop.set(loop)
        try:
            return cls.start(*args, **kwargs)
        finally:
            _start_loop.reset(token)

    def on_start(self) -> Any:
        """Run first, before any message: on the actor's loop, and it may be ``async def``.

        Mail that arrives meanwhile waits until it returns (or its coroutine
        finishes). If it raises, the actor fails: ``on_failure`` is not called,
        the error is logged and the actor stops. The default does nothing.
        """

    def on_stop(self) -> Any:
        """Run once when the actor stops on request: on its loop, and it may be ``async def``.

        Also runs when a handler raised a ``BaseException`` (every actor then
        stops, as in pykka), but not after ``on_failure``. The default does nothing.
        """

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """Run when a told message's handler raised and the actor stops: on its loop, not async.

        A ``restart_policy`` restarts the actor instead while its budget lasts.
        The default does nothing.
        """

    @staticmethod
    def _create_actor_inbox() -> Any:
        msg = "AsyncioActor creates its mailbox in __init__"
        raise NotImplementedError(msg)

    @staticmethod
    def _create_future() -> pykka.Future[Any]:
        return AsyncioFuture()

    def _start_actor_loop(self) -> None:
        """Run ``on_start`` first: hold mail back, and have the loop call it soon."""
        mailbox = self._mailbox
        mailbox.hold()
        loop = self.actor_loop
        if mailbox._thread._thread_id == _get_ident():  # on its loop
            loop.call_soon(self._begin)
        else:
            loop.call_soon_threadsafe(self._begin)

    # -- the turn: everything below runs on the actor's loop ---------------------

    def _begin(self) -> None:
        if self._mailbox._stopped:
            return  # stopped before it began: the loop ended under it
        try:
            on_start: Callable[[], Any] = self.on_start  # may be `async def`
            result = on_start()
        except BaseException:
            self._failed(_STARTING, None)
            return
        if type(result) is CoroutineType:
            self._busy = self.actor_loop.create_task(self._finish_start(result))
            return
        self._started()

    async def _finish_start(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        try:
            await coroutine
        except asyncio.CancelledError:
            self._cancelled(None)
            raise
        except BaseException:
            self._failed(_STARTING, None)
            return
        finally:
            self._busy = None
        self._started()

    def _started(self) -> None:
        """``on_start`` is done: handle the mail held back, or wait for the first."""
        if self._mailbox.release():
            self._run_turn()

    def _run_turn(self) -> None:
        """Handle the lone item, or up to ``mailbox_batch`` of a list; called by the dispatcher.

        Mail that arrives during the turn waits for the next one. Plain tells
        are handled here; every other item goes through ``_handle_item``. The
        lone item is handled inline: it is the turn of an actor told one
        message at a time, and a method call would add a fifth to it.
        """
        mailbox = self._mailbox
        queue = mailbox._queue
        if queue is ONE:
            if not mailbox._head:  # else an async handler had it, and nothing came since
                item = mailbox._one
                mailbox._one = None
                mailbox._head = 1  # len(mailbox) stays exact while the handler runs
                if type(item) in _RUNTIME_ITEMS:
                    if not self._handle_item(item):
                        return
                else:
                    try:
                        result = self.on_receive(item)
                    except BaseException:
                        if not self._failed(item, None):
                            return
                    else:
                        if result is not None and type(result) is CoroutineType:
                            self._busy = self.actor_loop.create_task(
                                self._finish_async(None, result)
                            )
                            return
            queue = mailbox._queue
            if queue is ONE and mailbox._head:  # all handled: idle
                mailbox._queue = None
                mailbox._head = 0
                mailbox._dropped_handled += 1
            elif queue is not None:  # more came meanwhile, or a retry waits (None: stopped)
                mailbox._dispatcher.schedule(self)  # type: ignore[union-attr]  # started
            if mailbox._room is not None:
                cast("BoundedActorRef", mailbox)._wake_senders()
        elif queue is not None:  # else a stop drained it
            self._run_list(mailbox, queue)

    def _run_list(self, mailbox: AsyncioActorRef, queue: list[Any]) -> None:
        """The turn of a mailbox whose items are in a list: up to ``mailbox_batch`` of them."""
        head = first = mailbox._head
        end = len(queue)
        if end - head > mailbox.batch:
            end = head + mailbox.batch
        while head < end:
            item = queue[head]
            head += 1
            mailbox._head = head  # len(mailbox) stays exact while the handler runs
            if type(item) in _RUNTIME_ITEMS:
                if not self._handle_item(item):
                    forget(queue, first, head)
                    return
                head = mailbox._head  # a retry steps back
                continue
            try:
                result = self.on_receive(item)
            except BaseException:
                if not self._failed(item, None):
                    return
                head = mailbox._head  # a retry steps back
                continue
            if result is not None and type(result) is CoroutineType:
                forget(queue, first, head)
                self._busy = self.actor_loop.create_task(self._finish_async(None, result))
                return
            if mailbox._stopped:  # the handler stopped the actor itself
                self._teardown()
                return
        if head == len(queue):
            mailbox._queue = None  # an idle actor keeps no list (nor the items handled)
            mailbox._head = 0
            mailbox._dropped_handled += head
        else:
            if head > _COMPACT_AFTER and head * 2 > len(queue):
                del queue[:head]  # amortised O(1): at least as many handled as waiting
                mailbox._head = 0
                mailbox._dropped_handled += head
            else:
                forget(queue, first, head)
            mailbox._dispatcher.schedule(self)  # type: ignore[union-attr]  # a started actor has one
        if mailbox._room is not None:
            cast("BoundedActorRef", mailbox)._wake_senders()

    def _handle_item(self, item: Any) -> bool:
        """Handle a mailbox item other than a plain tell; return whether the turn goes on.

        That is an ask (an ``AskFuture``), an ``Envelope`` (a stop, or an ask
        put in by pykka's code), a tell to be retried, a stop or one of pykka's
        proxy messages.
        """
        reply_to: pykka.Future[Any] | None
        if type(item) is AskFuture:
            message, reply_to = item.message, item
            item.message = None
        elif type(item) is Envelope:
            message, reply_to = item.message, item.reply_to
        elif type(item) is Retry:
            message, reply_to = item.message, None
        else:
            message, reply_to = item, None
        try:
            if type(message) not in _CONTROL_MESSAGES:
                result = self.on_receive(message)
            elif type(message) is ActorStop:
                self._begin_stop(reply_to)
                return False
            else:
                result = self._handle_receive(message)
        except BaseException:
            return self._failed(item, reply_to)
        else:
            if type(result) is CoroutineType:
                self._busy = self.actor_loop.create_task(self._finish_async(reply_to, result))
                return False
            if reply_to is not None:
                reply_to.set(result)
        if self._mailbox._stopped:
            self._teardown()
            return False
        return True

    def _failed(self, item: Any, reply_to: pykka.Future[Any] | None) -> bool:
        """A handler raised: the one place its failure is handled. Call it in the ``except`` block.

        ``item`` is what was being handled (``_STARTING`` for ``on_start``,
        ``_ASYNC`` for a handler's coroutine, else the mailbox item) and
        ``reply_to`` the ask's future, if any. The rules, pykka's and ours:

        - a ``BaseException`` that is not an ``Exception`` stops this actor,
          then every actor (``_handle_fatal``); ``KeyboardInterrupt`` and
          ``SystemExit`` are raised on from here;
        - ``on_start`` failing: the error is logged and the actor stops;
        - an ask: the asker gets the exception, and the actor goes on;
        - a tell: with a ``restart_policy``, the actor restarts and handles the
          message once more (a second failure drops it); otherwise, or with no
          restarts left, ``on_failure`` runs and the actor stops.

        Returns whether the turn goes on.
        """
        self._busy = None  # a coroutine's task is ending: nothing left to cancel
        error = sys.exc_info()[1]
        if not isinstance(error, Exception):
            if self._handle_fatal(reply_to):
                raise  # the exception being handled: Ctrl-C and sys.exit() end the program
            return False
        if item is _STARTING:
            self._handle_failure(*sys.exc_info())
            self._teardown()
            return False
        if reply_to is None and item is not _ASYNC and self.restart_policy is not None:
            message = item.message if type(item) in WRAPPERS else item
            outcome = self._restart(message, item)
            if outcome is _RETRY:
                self._mailbox.retry_current(Retry(message))
                return True
            if outcome is _SKIP:
                return True
        self._handle_error(reply_to)
        if self._mailbox._stopped:
            self._teardown()
            return False
        return True

    def _cancelled(self, reply_to: pykka.Future[Any] | None) -> None:
        """A handler's task was cancelled: the loop is ending under the actor, which stops."""
        self._busy = None
        if reply_to is not None:
            error = ActorDeadError(f"{self} was cancelled while handling the message")
            reply_to.set_exception((ActorDeadError, error, None))
        self._finish_stop()
        self._teardown()

    async def _finish_async(
        self, reply_to: pykka.Future[Any] | None, coroutine: Coroutine[Any, Any, Any]
    ) -> None:
        try:
            result = await coroutine
        except asyncio.CancelledError:
            self._cancelled(reply_to)
            raise
        except BaseException:
            if not self._failed(_ASYNC, reply_to):
                return
        else:
            if reply_to is not None:
                reply_to.set(result)
        finally:
            self._busy = None
        if self._mailbox._stopped:
            self._teardown()
        else:
            dispatcher = self._mailbox._dispatcher
            assert dispatcher is not None  # a started actor's mailbox has one
            dispatcher.schedule(self)

    def _restart(self, message: Any, item: Any) -> object:
        """After a tell's handler raised: restart if the policy allows.

        Returns ``_RETRY`` (handle the message once more), ``_SKIP`` (it already
        failed after a restart: drop it) or ``_FAIL`` (no restarts left).
        """
        error = sys.exc_info()[1]
        assert error is not None
        assert self.restart_policy is not None
        if self._restarts is None:
            self._restarts = RestartBudget(self.restart_policy)
        if not self._restarts.take():
            return _FAIL
        retried = type(item) is Retry
        if retried:
            logger.error("%s dropped %r: it failed again after a restart", self, message)
        logger.warning("%s restarts after %r on %r", self, error, message, exc_info=error)
        try:
            on_restart: Callable[[BaseException, Any], Any] = self.on_restart
            on_restart(error, message)
        except Exception:
            logger.exception("%s.on_restart failed", self)
            return _FAIL
        return _SKIP if retried else _RETRY

    @property
    def mailbox_depth(self) -> int:
        """Messages queued and not yet handled (a snapshot; any thread)."""
        return len(self._mailbox)

    @property
    def messages_handled(self) -> int:
        """Messages this actor has taken and handled so far (a retry counts twice)."""
        return self._mailbox.handled

    @property
    def messages_refused(self) -> int:
        """Tells refused because its bounded mailbox was full."""
        return self._mailbox.refused

    def on_restart(self, error: BaseException, message: Any) -> None:
        """Rebuild state after a failed tell; runs on the actor's loop, before the retry.

        Called only for actors with a ``restart_policy``. The default does nothing.
        """

    def _handle_error(self, reply_to: pykka.Future[Any] | None) -> None:
        """pykka's rule: an ask gets the exception; a tell's exception stops the actor."""
        if reply_to is not None:
            logger.info("Exception returned from %s to caller:", self, exc_info=True)
            reply_to.set_exception()
            return
        exc_info = sys.exc_info()
        self._handle_failure(*exc_info)
        try:
            on_failure: Callable[..., Any] = self.on_failure
            result = on_failure(*exc_info)
            if type(result) is CoroutineType:
                result.close()
                logger.error("%s.on_failure must not be async; it was not awaited", self)
        except Exception:
            self._handle_failure(*sys.exc_info())

    def _handle_fatal(self, reply_to: pykka.Future[Any] | None) -> bool:
        """A handler raised a ``BaseException``: stop this actor, then every actor, as pykka does.

        This actor's ``on_stop`` runs (``on_failure`` does not: that is for
        ``Exception``s); the caller of the ask gets ``ActorDeadError``; every
        other ``AsyncioActor`` (on any loop) and every actor in pykka's registry
        is asked to stop, so none is left alive and deaf. Returns whether the
        exception must go on up: ``KeyboardInterrupt`` and ``SystemExit`` do, so
        Ctrl-C and ``sys.exit()`` still end the program. They end this loop too,
        so its actors are stopped at once, before it goes on up (queued mail is
        refused, an ``async`` ``on_stop`` cannot run); any other exception is not
        raised into the loop.
        """
        error = sys.exc_info()[1]
        logger.debug("%r in %s. Stopping all actors.", error, self)
        if reply_to is not None:
            dead = ActorDeadError(f"{self} stopped: its handler raised {error!r}")
            with contextlib.suppress(queue.Full):
                reply_to.set_exception((ActorDeadError, dead, None))
        ends_loop = isinstance(error, (KeyboardInterrupt, SystemExit))
        if ends_loop:
            self._stop_now()
            for actor in directory.actors():
                if actor.actor_loop is self.actor_loop:
                    actor._stop_now()
        elif not self._mailbox._stopped:
            self._begin_stop(None)
        stop_every_actor()
        return ends_loop

    def on_dropped(self, message: Any) -> None:
        """A told ``message`` was still queued when the actor stopped; it will not be handled.

        Runs on the actor's loop, once per such message, after ``on_stop`` or
        ``on_failure``. The default does nothing (asks are answered with
        ``ActorDeadError`` instead).
        """
