"""``AsyncioActor``: a pykka actor whose mailbox is drained by an asyncio event loop.

An actor with no mail costs no task and no thread: it is an object with a
mailbox. When mail arrives, the mailbox puts the actor in its loop's run queue;
the loop's dispatcher gives each queued actor one turn of at most
``mailbox_batch`` messages and puts it back at the end if more are waiting, so
100,000 actors share one loop fairly and the loop's other callbacks still run.
A handler that returns a coroutine (an ``async def`` ``on_receive`` or proxied
method) is awaited in a task before the next message: one message at a time, in
arrival order.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import enum
import itertools
import logging
import queue
import sys
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self, cast

import pykka
from pykka import ActorDeadError, ActorRef, messages

from actors._compat import (
    NOWHERE,
    ActorStop,
    Envelope,
    LoopThread,
    OptExcInfo,
    loop_thread,
    running_loop,
)
from actors._directory import directory
from actors._errors import MailboxFullError, NoEventLoopError
from actors._future import AskFuture, AsyncioFuture
from actors._supervision import RestartBudget, RestartPolicy

if TYPE_CHECKING:
    from collections.abc import Coroutine


__all__ = ["AsyncioActor", "ask", "send", "stop_all", "teller"]

logger = logging.getLogger(__name__)

_get_running_loop = running_loop
_get_ident = threading.get_ident
_RETRY, _SKIP, _FAIL = object(), object(), object()  # outcomes of AsyncioActor._restart
_COMPACT_AFTER = 1024  # handled items a long mailbox drops from its front at once
_PYKKA_MESSAGES = frozenset((messages.ProxyCall, messages.ProxyGetAttr, messages.ProxySetAttr))
_CONTROL_MESSAGES = frozenset((ActorStop, *_PYKKA_MESSAGES))  # not for on_receive
_start_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "actors_start_loop", default=None
)

# URNs: one random UUID per process, with a counter in its last 48 bits. Unique
# like uuid4().urn, at a fraction of the cost; made when first read (most actors
# never are), see _AsyncioActorRef.actor_urn.
_urn_prefix = uuid.uuid4().urn[:-12]
_urn_counter = itertools.count(1)


class _Retired:
    """Counters of actors that have stopped, so totals survive their actors."""

    __slots__ = ("handled", "refused", "restarts")

    def __init__(self) -> None:
        self.handled = 0
        self.refused = 0
        self.restarts = 0


retired = _Retired()


class _Dispatcher:
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


_dispatchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Dispatcher] = (
    weakref.WeakKeyDictionary()
)
_dispatchers_lock = threading.Lock()


_last_dispatcher: _Dispatcher | None = None  # the one asked for last: usually the one wanted


def _dispatcher_for(loop: asyncio.AbstractEventLoop) -> _Dispatcher:
    global _last_dispatcher  # a cache: one reference, swapped at once
    dispatcher = _last_dispatcher
    if dispatcher is not None and dispatcher._loop() is loop:
        return dispatcher
    dispatcher = _dispatchers.get(loop)
    if dispatcher is None:
        with _dispatchers_lock:
            dispatcher = _dispatchers.get(loop)
            if dispatcher is None:
                dispatcher = _dispatchers[loop] = _Dispatcher(loop)
    _last_dispatcher = dispatcher
    return dispatcher


# Threads in ActorRef.actor_stopped.wait(): an event per mailbox waited on, made
# only then (waiting on an actor from a thread is rare; a field per actor is not).
_stop_events: dict[_AsyncioActorRef, threading.Event] = {}
_stop_events_lock = threading.Lock()


def _forget(queue: list[Any], start: int, stop: int) -> None:
    """Let go of the items a turn handled in a list that stays (so none is kept alive)."""
    queue[start:stop] = itertools.repeat(None, stop - start)


class _Retry:
    """A told message whose handler raised, put back for one more try after a restart."""

    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message


# What a turn hands to _handle_item instead of on_receive (set lookups by type).
_RUNTIME_ITEMS = frozenset((AskFuture, Envelope, _Retry, *_CONTROL_MESSAGES))


class _Single(enum.Enum):
    """The inbox of a mailbox with a single item: the item is in ``_one``, not in a list."""

    ONE = "one"


_ONE: Final = _Single.ONE  # read as a global: a member off the class costs a lookup


def _refuse(item: Any, why: str) -> None:
    """Answer a queued ask that will never be handled: ``ActorDeadError`` (stop: ``None``)."""
    if type(item) is AskFuture:
        item.message = None
        item.set_exception((ActorDeadError, ActorDeadError(why), None))
        return
    if type(item) is not Envelope or item.reply_to is None:
        return
    if isinstance(item.message, ActorStop):
        item.reply_to.set(None)
        return
    error = ActorDeadError(why)
    item.reply_to.set_exception((ActorDeadError, error, None))


class _StopReply(AsyncioFuture[bool]):
    """The future of ``stop()``: ``True`` once the actor stops, ``False`` if it was dead."""

    def set(self, value: Any | None = None) -> None:
        super().set(True)

    def set_exception(self, exc_info: OptExcInfo | None = None) -> None:
        if exc_info is None:
            exc_info = sys.exc_info()
        if exc_info[0] is not None and issubclass(exc_info[0], ActorDeadError):
            super().set(False)
        else:
            super().set_exception(exc_info)


class _AsyncioActorRef(ActorRef[Any]):
    """The ref of an ``AsyncioActor``, which is also its mailbox and its stopped flag.

    pykka's ``ActorRef`` (``tell``, ``ask``, ``proxy``, a non-blocking ``stop``),
    and one object per actor for what pykka keeps in three: the ref is the
    actor's ``actor_inbox`` and its ``actor_stopped``. It refers to the actor
    only until the actor stops: a ref kept afterwards keeps none of the
    actor's state alive (pykka keeps a weak reference).

    The inbox exists only while mail waits or a turn runs (``_queue is None``:
    idle, and not in the run queue). It holds tells as bare messages and
    everything else (asks, stops, retries) as items the turn recognises by
    type. Items before ``_head`` are handled; a turn moves ``_head`` forward
    and drops the inbox once it is all handled. The first item goes in the
    ``_one`` field (``_queue is _ONE``: a one-item list without the list);
    only a second one, while the first waits or is being handled, makes a
    list. So an actor told one message at a time allocates nothing per
    message, and a burst of tells to thousands of idle actors sets off no
    garbage collection (a list is a collected object: some 700 made in a row
    start a collection). ``put()`` is safe from any thread; the inbox itself is
    touched only on the actor's loop.

    As ``actor_stopped``, pykka reads ``is_set()``; threads may ``wait()``.
    """

    __slots__ = (
        "_actor",
        "_dispatcher",
        "_dropped_handled",
        "_fast",
        "_head",
        "_loop",
        "_one",
        "_queue",
        "_stopped",
        "_thread",
        "_urn",
        "actor_class",
        "batch",
    )

    # What only a bounded mailbox (_BoundedActorRef) has; read-only defaults here.
    capacity: int | None = None
    """Bound on queued messages (``None``: none)."""
    refused = 0
    """Tells refused because the mailbox was full."""
    _room: list[asyncio.Future[None]] | None = None  # senders waiting for room in it

    _one: Any  # the lone item while _queue is _ONE (None once taken); no default, set first

    def __init__(self, actor: AsyncioActor, loop: asyncio.AbstractEventLoop | None) -> None:
        # Not pykka's __init__: what it stores is derived here, on demand.
        self.actor_class = type(actor)
        self._urn: str | None = None
        self._actor: AsyncioActor | None = actor
        if loop is None:
            self._dispatcher: _Dispatcher | None = None
            self._thread: LoopThread = NOWHERE
        else:
            dispatcher = _last_dispatcher  # _dispatcher_for(loop), inlined: once per actor
            if dispatcher is None or dispatcher._loop() is not loop:
                dispatcher = _dispatcher_for(loop)
            self._dispatcher = dispatcher
            # loop_thread(loop): the loop itself if it keeps _thread_id (asyncio's
            # loops), else the dispatcher's stand-in. (No cast(): it is a call.)
            probe = dispatcher._probe
            self._thread = loop if probe is None else probe  # type: ignore[assignment]
        # Where a tell may take its short path: on the loop's thread while the
        # actor is alive (NOWHERE once it has stopped).
        self._fast = self._thread
        self._loop = loop  # None for an actor made off any loop and never started
        self._queue: list[Any] | _Single | None = None
        self._stopped = False
        self._head = 0
        self._dropped_handled = 0  # items handled in the inboxes dropped so far
        self.batch = actor.mailbox_batch  # items per turn, read by every turn

    def __bool__(self) -> bool:
        return True  # a ref is true, even with an empty mailbox (``__len__``)

    @property
    def actor_inbox(self) -> Self:  # type: ignore[override]  # read-only: itself
        """The actor's mailbox (pykka's ``ActorInbox`` protocol): this object."""
        return self

    @property
    def actor_stopped(self) -> Self:  # type: ignore[override]  # read-only: itself
        """Set once the actor has stopped (``is_set()``, and ``wait()`` off the loop): this."""
        return self

    # -- the stopped flag: what threading.Event offers pykka ---------------------------

    def is_set(self) -> bool:
        """Whether the actor has stopped (any thread)."""
        return self._stopped

    def wait(self, timeout: float | None = None) -> bool:
        """Block this thread until the actor stops (not on its loop); ``False`` on timeout."""
        with _stop_events_lock:
            if self._stopped:
                return True
            event = _stop_events.setdefault(self, threading.Event())
        return event.wait(timeout)

    def _mark_stopped(self) -> None:
        self._stopped = True
        self._fast = NOWHERE
        if _stop_events:  # someone waits on some actor: maybe on this one
            with _stop_events_lock:
                event = _stop_events.pop(self, None)
            if event is not None:
                event.set()

    # -- the inbox ---------------------------------------------------------------

    def put(self, item: Any, /) -> None:
        """Queue an item (an ``AskFuture``, an ``Envelope``, a bare told message). Any thread.

        On the actor's loop it appends at once; from another thread it hands
        the item to the loop, which appends it in order.
        """
        if self._thread._thread_id == _get_ident():  # on its loop
            self._put_here(item)
        else:
            self._put_from_elsewhere(item)

    def _put_here(self, item: Any) -> None:
        """``put()`` on the actor's loop (the caller knows it is there)."""
        queue = self._queue
        if queue is _ONE:
            self._add_second(item)
            return
        if queue is not None:  # mail waits, or a turn runs: it will get to this
            queue.append(item)
            return
        actor, dispatcher = self._actor, self._dispatcher
        if actor is None or dispatcher is None:
            self._refuse_put(item)
            return
        self._one = item
        self._queue = _ONE
        dispatcher._ready.append(actor)  # dispatcher.schedule(actor), inlined
        if not dispatcher._scheduled:
            dispatcher.start()

    def _add_second(self, item: Any) -> None:
        """Turn the single item's inbox into a list, ``item`` second (on the loop).

        The first may already be handled (``_head`` is then 1): its place holds ``None``.
        """
        self._queue = [self._one, item]
        self._one = None

    def _put_from_elsewhere(self, item: Any) -> None:
        loop = self._loop
        if loop is None:
            self._refuse_put(item)
            return
        try:
            loop.call_soon_threadsafe(self.put, item)
        except RuntimeError:  # the loop is closed
            _refuse(item, f"the event loop of {self._actor} is closed")
            raise ActorDeadError(f"the event loop hosting {self._actor} is closed") from None

    def _refuse_put(self, item: Any) -> None:
        if self._loop is None:
            _refuse(item, f"{self._actor} was never started")
            raise ActorDeadError(f"{self._actor} was never started: it has no event loop")
        _refuse(item, "the actor stopped before handling the message")

    @property
    def handled(self) -> int:
        """Items taken out and handled so far (a retry counts twice). A snapshot; any thread."""
        return self._dropped_handled + self._head

    def _take_all(self) -> list[Any]:
        """Remove and return every unhandled item (used when the actor stops)."""
        queue, head = self._queue, self._head
        if queue is None:
            return []
        self._dropped_handled += head
        self._queue, self._head = None, 0
        if queue is _ONE:
            one, self._one = self._one, None
            return [] if head else [one]
        return queue[head:]

    # pykka's ActorInbox protocol; the runtime itself drains the inbox in _run_turn.
    def get(self) -> Envelope[Any]:
        """Take the next item, as an ``Envelope`` (pykka's inbox protocol; on the loop)."""
        if not len(self):
            msg = "the mailbox is empty"
            raise IndexError(msg)
        queue = self._queue
        if queue is _ONE:
            item, self._one = self._one, None
        else:
            assert queue is not None  # it holds an item
            item = queue[self._head]
            queue[self._head] = None
        self._head += 1
        if type(item) is _Retry:
            item = item.message
        elif type(item) is AskFuture:
            item = Envelope(item.message, item)
        return item if type(item) is Envelope else Envelope(item)

    def empty(self) -> bool:
        """Whether no item waits (pykka's inbox protocol; a snapshot from any thread)."""
        return len(self) == 0

    def __len__(self) -> int:
        queue = self._queue
        if queue is None:
            return 0
        return (1 if queue is _ONE else len(queue)) - self._head

    # -- pykka's ActorRef -------------------------------------------------------------

    @property
    def actor_urn(self) -> str:  # type: ignore[override]  # read-only, made on first read
        """The actor's URN (a uuid4 URN), made the first time anyone reads it."""
        urn = self._urn
        if urn is None:
            urn = self._urn = f"{_urn_prefix}{next(_urn_counter):012x}"
            actor = self._actor
            if actor is not None:
                directory.named(actor, urn)  # findable by it from now on
        return urn

    def _actor_weakref(self) -> AsyncioActor | None:  # type: ignore[override]  # called alike
        """The actor until it has stopped, then ``None``, as pykka's weak reference."""
        return self._actor

    def is_alive(self) -> bool:
        """Whether the actor has not stopped (any thread; a snapshot)."""
        return not self._stopped

    def tell(self, message: Any) -> None:
        """Send ``message`` without waiting (any thread); ``ActorDeadError`` if it stopped."""
        if self._fast._thread_id == _get_ident():
            # The hot path of every tell: put(message), inlined, for an actor
            # that is alive and lives on this thread's running loop (else _fast
            # is NOWHERE).
            queue = self._queue
            if queue is not None:
                if queue is _ONE:
                    self._add_second(message)
                else:
                    queue.append(message)
                return
            self._one = message
            self._queue = _ONE
            dispatcher = self._dispatcher
            dispatcher._ready.append(self._actor)  # type: ignore[union-attr,arg-type]  # alive
            if not dispatcher._scheduled:  # type: ignore[union-attr]
                dispatcher.start()  # type: ignore[union-attr]
            return
        if self._stopped:
            msg = f"{self} not found"
            raise ActorDeadError(msg)
        self.put(message)

    def ask(self, message: Any, *, block: bool = True, timeout: float | None = None) -> Any:
        """Send ``message`` and get the answer: pykka's ``ask``, with an ``AsyncioFuture``.

        With ``block=False`` (the form to use on an event loop; or
        ``actors.ask(ref, message)``) it returns the future at once. ``block=True``
        waits up to ``timeout`` seconds as pykka does; on a loop thread it raises
        ``BlockingOnLoopError``. Any thread.
        """
        future = ask(self, message)
        if block:
            return future.get(timeout=timeout)
        return future

    def stop(self, *, block: bool = True, timeout: float | None = None) -> Any:
        """Ask the actor to stop after the messages already queued.

        With ``block=False`` (the form to use on an event loop) it returns an
        ``AsyncioFuture`` of ``True``, or ``False`` if the actor was already dead.
        ``block=True`` waits as pykka does; on a loop thread it raises
        ``BlockingOnLoopError``, so write ``await ref.stop(block=False)`` there.
        """
        reply = _StopReply()
        if self._stopped:
            reply.set_exception((ActorDeadError, ActorDeadError(f"{self} not found"), None))
        else:
            self.put(Envelope(ActorStop(), reply_to=reply))
        if block:
            return reply.get(timeout=timeout)
        return reply


class _BoundedActorRef(_AsyncioActorRef):
    """The ref of an actor with a ``mailbox_capacity``: a tell past it is refused."""

    __slots__ = ("_room", "capacity", "refused")

    def __init__(self, actor: AsyncioActor, loop: asyncio.AbstractEventLoop | None) -> None:
        super().__init__(actor, loop)
        self.capacity: int | None = actor.mailbox_capacity
        self.refused = 0
        self._room = None

    def full(self) -> bool:
        """Whether the mailbox has no room (any thread; a snapshot)."""
        return self.capacity is not None and len(self) >= self.capacity

    async def room(self) -> None:
        """Wait on the actor's loop until the mailbox has room."""
        while self.full() and self._actor is not None and self._loop is not None:
            waiter = self._loop.create_future()
            if self._room is None:
                self._room = []
            self._room.append(waiter)
            await waiter

    def _wake_senders(self, *, all_of_them: bool = False) -> None:
        room = self._room
        if room is None or (self.full() and not all_of_them):
            return
        self._room = None
        for waiter in room:
            if not waiter.done():
                waiter.set_result(None)

    def tell(self, message: Any) -> None:
        """Send ``message`` without waiting (any thread): ``MailboxFullError`` if full."""
        if not self._stopped and self.full():
            self.refused += 1
            msg = f"the mailbox of {self} is full ({self.capacity} messages)"
            raise MailboxFullError(msg)
        super().tell(message)


_REF_TYPES = frozenset((_AsyncioActorRef, _BoundedActorRef))


class AsyncioActor(pykka.Actor):
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
    _actor_ref: _AsyncioActorRef

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
            # This thread's running loop is usually the last dispatcher's, and for
            # asyncio's loops (no _probe: they keep _thread_id) that is a cheap,
            # exact test; _get_running_loop() makes a getpid() system call on
            # 3.11, a twentieth of a start.
            last = _last_dispatcher
            loop = last._loop() if last is not None and last._probe is None else None
            if loop is None or loop._thread_id != _get_ident():  # type: ignore[attr-defined]
                loop = _get_running_loop()
        bounded = self.mailbox_capacity is not None
        # The ref is the mailbox too; two fields for the one object: pykka reads
        # _actor_ref, the runtime _mailbox.
        self._mailbox = self._actor_ref = (_BoundedActorRef if bounded else _AsyncioActorRef)(
            self, loop
        )
        self._busy: asyncio.Task[None] | None = None  # the task awaiting an async handler
        self._restarts: RestartBudget | None = None

    @property
    def actor_urn(self) -> str:  # type: ignore[override]  # read-only, made on first read
        """The actor's URN (a uuid4 URN), made the first time anyone reads it."""
        return self._actor_ref.actor_urn

    @property
    def actor_inbox(self) -> _AsyncioActorRef:  # type: ignore[override]  # read-only
        """The actor's mailbox (pykka's ``ActorInbox`` protocol), which is its ref."""
        return self._mailbox

    @property
    def actor_stopped(self) -> _AsyncioActorRef:  # type: ignore[override]  # read-only
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
        mailbox._queue = []  # hold mail back until on_start is done
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
        except Exception:
            self._fail_start()
            return
        except BaseException:
            if self._handle_fatal(None):
                raise
            return
        if type(result) is CoroutineType:
            self._busy = self.actor_loop.create_task(self._finish_start(result))
            return
        self._started()

    async def _finish_start(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        try:
            await coroutine
        except Exception:
            self._fail_start()
            return
        except asyncio.CancelledError:
            self._busy = None
            self._finish_stop()
            self._teardown()
            raise
        except BaseException:
            self._busy = None
            if self._handle_fatal(None):
                raise
            return
        finally:
            self._busy = None
        self._started()

    def _started(self) -> None:
        """``on_start`` is done: handle the mail held back, or wait for the first."""
        mailbox = self._mailbox
        if mailbox._queue:
            self._run_turn()
        elif mailbox._queue is not None:
            mailbox._queue = None  # idle: the next put schedules the first turn

    def _fail_start(self) -> None:
        self._handle_failure(*sys.exc_info())
        self._teardown()

    def _run_turn(self) -> None:
        """Handle the lone item, or up to ``mailbox_batch`` of a list; called by the dispatcher.

        Mail that arrives during the turn waits for the next one. Plain tells
        are handled here; every other item goes through ``_handle_item``. The
        lone item is handled inline: it is the turn of an actor told one
        message at a time, and a method call would add a fifth to it.
        """
        mailbox = self._mailbox
        queue = mailbox._queue
        if queue is _ONE:
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
                    except Exception:
                        if not self._tell_failed(item, item):
                            return
                    except BaseException:
                        if self._handle_fatal(None):
                            raise
                        return
                    else:
                        if result is not None and type(result) is CoroutineType:
                            self._busy = self.actor_loop.create_task(
                                self._finish_async(None, result)
                            )
                            return
            queue = mailbox._queue
            if queue is _ONE and mailbox._head:  # all handled: idle
                mailbox._queue = None
                mailbox._head = 0
                mailbox._dropped_handled += 1
            elif queue is not None:  # more came meanwhile, or a retry waits (None: stopped)
                mailbox._dispatcher.schedule(self)  # type: ignore[union-attr]  # started
            if mailbox._room is not None:
                cast("_BoundedActorRef", mailbox)._wake_senders()
        elif queue is not None:  # else a stop drained it
            self._run_list(mailbox, queue)

    def _run_list(self, mailbox: _AsyncioActorRef, queue: list[Any]) -> None:
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
                    _forget(queue, first, head)
                    return
                head = mailbox._head  # a retry steps back
                continue
            try:
                result = self.on_receive(item)
            except Exception:
                if not self._tell_failed(item, item):
                    return
                head = mailbox._head
                continue
            except BaseException:
                if self._handle_fatal(None):
                    raise
                return
            if result is not None and type(result) is CoroutineType:
                _forget(queue, first, head)
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
                _forget(queue, first, head)
            mailbox._dispatcher.schedule(self)  # type: ignore[union-attr]  # a started actor has one
        if mailbox._room is not None:
            cast("_BoundedActorRef", mailbox)._wake_senders()

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
        elif type(item) is _Retry:
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
        except Exception:
            if reply_to is None:
                return self._tell_failed(message, item)
            self._handle_error(reply_to)
        except BaseException:
            if self._handle_fatal(reply_to):
                raise
            return False
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

    def _tell_failed(self, message: Any, item: Any) -> bool:
        """A tell's handler raised: restart and retry, or fail. Returns whether the turn goes on.

        Call it while the exception is being handled.
        """
        if self.restart_policy is not None:
            outcome = self._restart(message, item)
            if outcome is _RETRY:
                mailbox = self._mailbox
                mailbox._head -= 1  # handle the same message once more, first
                if mailbox._queue is _ONE:
                    mailbox._one = _Retry(message)
                else:
                    mailbox._queue[mailbox._head] = _Retry(message)  # type: ignore[index]  # in a turn
                mailbox._dropped_handled += 1  # a retry counts twice
                return True
            if outcome is _SKIP:
                return True
        self._handle_error(None)
        if self._mailbox._stopped:
            self._teardown()
            return False
        return True

    async def _finish_async(
        self, reply_to: pykka.Future[Any] | None, coroutine: Coroutine[Any, Any, Any]
    ) -> None:
        try:
            result = await coroutine
        except Exception:
            self._handle_error(reply_to)
        except asyncio.CancelledError:
            # The loop is shutting down under us: this actor cannot go on.
            if reply_to is not None:
                error = ActorDeadError(f"{self} was cancelled while handling the message")
                reply_to.set_exception((ActorDeadError, error, None))
            self._finish_stop()
            self._teardown()
            raise
        except BaseException:
            self._busy = None
            if self._handle_fatal(reply_to):
                raise
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
        retried = type(item) is _Retry
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

    @property
    def restart_count(self) -> int:
        """How many times this actor has restarted (read on its loop)."""
        return 0 if self._restarts is None else self._restarts.total

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
        _stop_every_actor()
        return ends_loop

    def _stop_now(self) -> None:
        """Stop at once, skipping queued mail: this actor's loop is about to end.

        Runs ``on_stop`` unless the actor already stopped (an ``async`` one is
        closed unrun: nothing would drive it), cancels a handler in progress and
        answers every queued ask with ``ActorDeadError``.
        """
        if self._busy is not None:
            self._busy.cancel()  # its ask is answered if the loop ever runs again
        if not self._mailbox._stopped:
            self._finish_stop()
            try:
                on_stop: Callable[[], Any] = self.on_stop
                result = on_stop()
            except Exception:
                self._handle_failure(*sys.exc_info())
            else:
                if type(result) is CoroutineType:
                    result.close()
                    logger.warning("%s: async on_stop not run, the event loop is ending", self)
        self._teardown()

    def _begin_stop(self, reply_to: pykka.Future[Any] | None) -> None:
        self._finish_stop()
        try:
            on_stop: Callable[[], Any] = self.on_stop  # may be `async def`
            result = on_stop()
        except Exception:
            self._handle_failure(*sys.exc_info())
            result = None
        if type(result) is CoroutineType:
            self._busy = self.actor_loop.create_task(self._finish_on_stop(reply_to, result))
            return
        if reply_to is not None:
            reply_to.set(None)
        self._teardown()

    async def _finish_on_stop(
        self, reply_to: pykka.Future[Any] | None, coroutine: Coroutine[Any, Any, Any]
    ) -> None:
        try:
            await coroutine
        except Exception:
            self._handle_failure(*sys.exc_info())
        finally:
            self._busy = None
            if reply_to is not None:
                reply_to.set(None)
            self._teardown()

    def _finish_stop(self) -> None:
        self._unregister()
        self._mailbox._mark_stopped()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Stopped %s", self)

    def _unregister(self) -> None:
        directory.unregister(self)
        if self.register_with_pykka:
            pykka.ActorRegistry.unregister(self.actor_ref)

    def _stop(self) -> None:
        # pykka's path (used only if someone calls it directly): stop now.
        self._finish_stop()
        try:
            self.on_stop()
        except Exception:
            self._handle_failure(*sys.exc_info())
        self._teardown()

    def _handle_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        logger.error(
            "Unhandled exception in %s:",
            self,
            exc_info=(exception_type, exception_value, traceback),
        )
        self._unregister()
        self._mailbox._mark_stopped()

    def _teardown(self) -> None:
        """Fail what is still queued with ``ActorDeadError`` and drop the mailbox."""
        mailbox = self._mailbox
        queue = mailbox._take_all()
        retired.handled += mailbox._dropped_handled
        retired.restarts += self.restart_count
        mailbox._dropped_handled = 0
        self._restarts = None
        if isinstance(mailbox, _BoundedActorRef):
            retired.refused += mailbox.refused
            mailbox.refused = 0
            mailbox._wake_senders(all_of_them=True)  # to find the actor gone
        mailbox._actor = None  # later puts are refused; breaks the actor <-> mailbox cycle
        for item in queue:
            if type(item) is AskFuture or (type(item) is Envelope and item.reply_to is not None):
                _refuse(item, f"{self.actor_ref} stopped before handling the message")
                continue
            try:
                self.on_dropped(item.message if type(item) in (Envelope, _Retry) else item)
            except Exception:
                logger.exception("%s.on_dropped failed", self)

    def on_dropped(self, message: Any) -> None:
        """A told ``message`` was still queued when the actor stopped; it will not be handled.

        Runs on the actor's loop, once per such message, after ``on_stop`` or
        ``on_failure``. The default does nothing (asks are answered with
        ``ActorDeadError`` instead).
        """


def _stop_every_actor() -> None:
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
    if type(ref) in _REF_TYPES:
        mailbox: _AsyncioActorRef = ref  # type: ignore[assignment]  # (cast() is a call)
        thread = mailbox._thread
        here = thread._thread_id == _get_ident()  # on the actor's loop: the usual case
        asked = AskFuture(message, mailbox._loop if here else None, thread)
        if mailbox._stopped:
            _refuse(asked, f"{ref} not found")
        elif here:
            mailbox._put_here(asked)
        else:
            mailbox._put_from_elsewhere(asked)
        return asked
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
    if isinstance(mailbox, _BoundedActorRef):
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
