"""The ref of an ``AsyncioActor``, which is also its mailbox and its stopped flag.

The mailbox has three states: idle (no inbox), one item (held in a field, so
an actor told one message at a time allocates nothing per message), and a list
(from the second item on, until a turn has handled them all). This module
reads and changes the states: ``put_here`` is the one way an item goes in
(``tell`` writes it out once more, tested to match), and ``hold``/``release``
and ``retry_current`` serve the actor. The one reader outside is the actor's
turn (``_actor.AsyncioActor._run_turn``), which takes the items out where it
handles them.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import sys
import threading
import uuid
from typing import TYPE_CHECKING, Any, Final, Self

from pykka import ActorDeadError, ActorRef

from actors._compat import NOWHERE, ActorStop, Envelope, LoopThread, OptExcInfo
from actors._directory import directory
from actors._dispatcher import Dispatcher, dispatcher_for
from actors._errors import MailboxFullError
from actors._future import AskFuture, AsyncioFuture

if TYPE_CHECKING:
    from actors._actor import AsyncioActor

__all__ = ["ONE", "AsyncioActorRef", "BoundedActorRef", "Retry", "StopReply", "refuse"]

_get_ident = threading.get_ident

# URNs: one random UUID per process, with a counter in its last 48 bits. Unique
# like uuid4().urn, at a fraction of the cost; made when first read (most actors
# never are), see AsyncioActorRef.actor_urn.
_urn_prefix = uuid.uuid4().urn[:-12]
_urn_counter = itertools.count(1)


# Threads in ActorRef.actor_stopped.wait(): an event per mailbox waited on, made
# only then (waiting on an actor from a thread is rare; a field per actor is not).
_stop_events: dict[AsyncioActorRef, threading.Event] = {}
_stop_events_lock = threading.Lock()


def forget(queue: list[Any], start: int, stop: int) -> None:
    """Let go of the items a turn handled in a list that stays (so none is kept alive)."""
    queue[start:stop] = itertools.repeat(None, stop - start)


class Retry:
    """A told message whose handler raised, put back for one more try after a restart."""

    __slots__ = ("message",)

    def __init__(self, message: Any) -> None:
        self.message = message


class Single(enum.Enum):
    """The inbox of a mailbox with a single item: the item is in ``_one``, not in a list."""

    ONE = "one"


ONE: Final = Single.ONE  # read as a global: a member off the class costs a lookup


def refuse(item: Any, why: str) -> None:
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


class StopReply(AsyncioFuture[bool]):
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


class AsyncioActorRef(ActorRef[Any]):
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
    ``_one`` field (``_queue is ONE``: a one-item list without the list);
    only a second one, while the first waits or is being handled, makes a
    list. So an actor told one message at a time allocates nothing per
    message, and a burst of tells to many idle actors makes no garbage for
    the collector. ``put()`` is safe from any thread; the inbox itself is
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

    # What only a bounded mailbox (BoundedActorRef) has; read-only defaults here.
    capacity: int | None = None
    """Bound on queued messages (``None``: none)."""
    refused = 0
    """Tells refused because the mailbox was full."""
    _room: list[asyncio.Future[None]] | None = None  # senders waiting for room in it

    _one: Any  # the lone item while _queue is ONE (None once taken); no default, set first

    def __init__(self, actor: AsyncioActor, loop: asyncio.AbstractEventLoop | None) -> None:
        # Not pykka's __init__: what it stores is derived here, on demand.
        self.actor_class = type(actor)
        self._urn: str | None = None
        self._actor: AsyncioActor | None = actor
        if loop is None:
            self._dispatcher: Dispatcher | None = None
            self._thread: LoopThread = NOWHERE
        else:
            dispatcher = self._dispatcher = dispatcher_for(loop)
            self._thread = dispatcher.thread(loop)
        # Where a tell may take its short path: on the loop's thread while the
        # actor is alive (NOWHERE once it has stopped).
        self._fast = self._thread
        self._loop = loop  # None for an actor made off any loop and never started
        self._queue: list[Any] | Single | None = None
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
        """Queue ``item`` on the actor's loop (the caller knows it is there): the one way in."""
        queue = self._queue
        if queue is ONE:
            self._add_second(item)
        elif queue is not None:  # mail waits, or a turn runs: it will get to this
            queue.append(item)
        elif self._actor is None or self._dispatcher is None:
            self._refuse_put(item)
        else:
            self._one = item
            self._queue = ONE
            self._dispatcher.schedule(self._actor)

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
            refuse(item, f"the event loop of {self._actor} is closed")
            raise ActorDeadError(f"the event loop hosting {self._actor} is closed") from None

    def _refuse_put(self, item: Any) -> None:
        if self._loop is None:
            refuse(item, f"{self._actor} was never started")
            raise ActorDeadError(f"{self._actor} was never started: it has no event loop")
        refuse(item, "the actor stopped before handling the message")

    def hold(self) -> None:
        """Keep mail from being handled until ``release()`` (while ``on_start`` runs)."""
        self._queue = []  # a turn that is not scheduled: puts append, nothing runs them

    def release(self) -> bool:
        """End ``hold()``: whether mail came meanwhile (then a turn must run it)."""
        if self._queue:
            return True
        if self._queue is not None:  # else a stop took it
            self._queue = None  # idle: the next put schedules the first turn
        return False

    def retry_current(self, retry: Retry) -> None:
        """Put ``retry`` where the item being handled was, to be handled next (on the loop)."""
        self._head -= 1
        if self._queue is ONE:
            self._one = retry
        else:
            self._queue[self._head] = retry  # type: ignore[index]  # a list during a turn
        self._dropped_handled += 1  # a retry counts twice

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
        if queue is ONE:
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
        if queue is ONE:
            item, self._one = self._one, None
        else:
            assert queue is not None  # it holds an item
            item = queue[self._head]
            queue[self._head] = None
        self._head += 1
        if type(item) is Retry:
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
        return (1 if queue is ONE else len(queue)) - self._head

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
        if self._fast._thread_id == _get_ident():  # alive, and on its loop's thread
            # put_here(message), written out: the second enqueue path, kept because
            # every tell takes it (benchmarks/README.md, mailbox_fanout, has what the
            # two calls it saves are worth); tests/runtime/test_enqueue_paths.py
            # checks that both leave the same mailbox.
            queue = self._queue
            if queue is ONE:
                self._add_second(message)
            elif queue is not None:
                queue.append(message)
            else:
                self._one = message
                self._queue = ONE
                dispatcher = self._dispatcher
                dispatcher._ready.append(self._actor)  # type: ignore[union-attr,arg-type]  # alive
                if not dispatcher._scheduled:  # type: ignore[union-attr]
                    dispatcher.start()  # type: ignore[union-attr]
        elif self._stopped:
            msg = f"{self} not found"
            raise ActorDeadError(msg)
        else:
            self._put_from_elsewhere(message)

    def ask(self, message: Any, *, block: bool = True, timeout: float | None = None) -> Any:
        """Send ``message`` and get the answer: pykka's ``ask``, with an ``AsyncioFuture``.

        With ``block=False`` (the form to use on an event loop; or
        ``actors.ask(ref, message)``) it returns the future at once. ``block=True``
        waits up to ``timeout`` seconds as pykka does; on a loop thread it raises
        ``BlockingOnLoopError``. Any thread.
        """
        future = self.ask_future(message)
        if block:
            return future.get(timeout=timeout)
        return future

    def ask_future(self, message: Any) -> AskFuture:
        """Queue an ask of ``message`` and return its future at once (any thread)."""
        thread = self._thread
        here = thread._thread_id == _get_ident()  # on the actor's loop: the usual case
        asked = AskFuture(message, self._loop if here else None, thread)
        if self._stopped:
            refuse(asked, f"{self} not found")
        elif here:
            self._put_here(asked)
        else:
            self._put_from_elsewhere(asked)
        return asked

    def stop(self, *, block: bool = True, timeout: float | None = None) -> Any:
        """Ask the actor to stop after the messages already queued.

        With ``block=False`` (the form to use on an event loop) it returns an
        ``AsyncioFuture`` of ``True``, or ``False`` if the actor was already dead.
        ``block=True`` waits as pykka does; on a loop thread it raises
        ``BlockingOnLoopError``, so write ``await ref.stop(block=False)`` there.
        """
        reply = StopReply()
        if self._stopped:
            reply.set_exception((ActorDeadError, ActorDeadError(f"{self} not found"), None))
        else:
            self.put(Envelope(ActorStop(), reply_to=reply))
        if block:
            return reply.get(timeout=timeout)
        return reply


class BoundedActorRef(AsyncioActorRef):
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


REF_TYPES = frozenset((AsyncioActorRef, BoundedActorRef))
