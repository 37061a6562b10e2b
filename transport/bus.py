"""The edge's event bus and the events it carries.

``edge.events.subscribe`` registers an ``async def`` handler for the event types
named by the annotation of its parameter (a union subscribes to each member; a
base class such as ``EdgeEvent`` receives its subclasses).

Events travel in lanes: one per connection (the connection's key; events sent
with no lane share one). A handler sees one connection's events one at a time,
in the order they were sent, while the events of other connections reach it
concurrently: a handler that is slow on one call (it awaits an LLM, say)
delays only that call's events to itself, and nothing else waits for it. A
handler that raises is logged and keeps receiving.

Per handler, one pump task delivers the events of every connection whose
handler is not busy. When a handler call suspends, the pump's task stays with
that call and its connection (so ``asyncio.current_task()`` and
``asyncio.timeout`` behave in handlers as in any task), later events of that
connection queue behind it, and a new pump takes over the others. A handler
that never suspends costs no task of its own.

Each handler keeps at most ``max_pending`` events (default 10,000) queued per
connection. Past that it is hopelessly behind on that call: further events of
that connection are dropped for it (counted in ``bus.dropped(handler)``, with a
warning on the first and every 10,000th) until it catches up.

``settled(lane)`` waits until every event sent so far on one lane has been
handled; ``drain()`` waits for every lane, for shutdown.

The bus belongs to one event loop: call ``send``, ``subscribe`` and
``unsubscribe`` on it (the connection actors do).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import types
import typing
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any, TypeVar, Union

from messages import (
    CallEndedEvent,
    ConnectionClosedEvent,
    ConnectionStateEvent,
    EdgeEvent,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    ParticipantReconnectingEvent,
    ParticipantRejoinedEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
)

__all__ = [
    "CallEndedEvent",
    "ConnectionClosedEvent",
    "ConnectionStateEvent",
    "EdgeEvent",
    "EventBus",
    "ParticipantJoinedEvent",
    "ParticipantLeftEvent",
    "ParticipantReconnectingEvent",
    "ParticipantRejoinedEvent",
    "TrackAddedEvent",
    "TrackRemovedEvent",
]

logger = logging.getLogger(__name__)

Handler = Callable[[Any], Coroutine[Any, Any, Any]]
H = TypeVar("H", bound=Handler)


class _Resumed:
    """Awaitable that goes on with a handler coroutine its task already started.

    The pump runs a handler's first step itself (``coroutine.send(None)``, in
    the pump's own task) to learn whether it suspends; if it does, the same
    task awaits this, which hands the task what the coroutine waits for and
    passes every later send, throw and cancellation through unchanged.
    """

    __slots__ = ("coroutine", "waiting_for")

    def __init__(self, coroutine: Coroutine[Any, Any, Any], waiting_for: Any) -> None:
        self.coroutine = coroutine
        self.waiting_for = waiting_for

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine, value = self.coroutine, self.waiting_for
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # cancellation, or an error thrown in
                try:
                    value = coroutine.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    value = coroutine.send(sent)
                except StopIteration as stop:
                    return stop.value


class _Lane:
    """One handler's events of one connection, while they need more than the pump.

    A lane exists while a handler call of its connection is suspended (then
    ``task`` is the task running it, and ``queue`` holds the connection's next
    events, which that task delivers in order) or while someone waits for the
    connection to settle. ``sent`` and ``delivered`` count its events from the
    lane's creation; an idle lane is dropped.
    """

    __slots__ = ("delivered", "key", "queue", "sent", "subscription", "task", "waiters")

    def __init__(self, subscription: _Subscription, key: str | None, sent: int) -> None:
        self.subscription = subscription
        self.key = key
        self.sent = sent
        self.delivered = 0
        self.queue: deque[Any] = deque()
        self.task: asyncio.Task[None] | None = None
        self.waiters: list[tuple[int, asyncio.Future[None]]] | None = None

    def count_one(self) -> None:
        self.delivered += 1
        if self.waiters is not None:
            self.wake_waiters()
        if self.task is None:
            self.subscription.forget(self)

    def wake_waiters(self) -> None:
        assert self.waiters is not None
        still: list[tuple[int, asyncio.Future[None]]] = []
        for target, future in self.waiters:
            if self.delivered >= target:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((target, future))
        self.waiters = still or None

    async def own(self, started: _Resumed) -> None:
        """In the task that started a handler call that suspended: finish it, then the queue."""
        handler = self.subscription.handler
        queue = self.queue
        try:
            try:
                await started
            except Exception:
                logger.exception("event handler %s failed", _name(handler))
            finally:
                self.count_one()
            while queue:
                event = queue.popleft()
                try:
                    await handler(event)
                except Exception:
                    logger.exception("event handler %s failed on %r", _name(handler), event)
                finally:
                    self.count_one()
        finally:
            self.task = None
            if queue:  # cancelled at shutdown: what is left will not be delivered
                self.delivered += len(queue)
                queue.clear()
            if self.waiters is not None:
                self.wake_waiters()
            self.subscription.forget(self)

    async def settled(self) -> None:
        """Return once every event of this lane counted so far has been handled."""
        if self.delivered >= self.sent:
            return
        if self.task is not None and self.task is asyncio.current_task():
            return  # the handler itself is asking: it cannot wait for itself
        target = self.sent
        future = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append((target, future))
        try:
            await future
        finally:
            if not future.done() and self.waiters is not None:  # cancelled: forget it
                self.waiters = [w for w in self.waiters if w[1] is not future] or None
            if self.waiters is None and self.task is None:
                self.subscription.forget(self)


class _Subscription:
    """One handler: the event types it takes, its pump, and the lanes that need more.

    The pump is one task that delivers, in arrival order, every event whose
    connection's handler is not busy; ``waiting`` counts each connection's
    events in its queue. When a handler call suspends (it awaits I/O, an LLM,
    anything), the pump's task stays with that call and that connection, whose
    later events then go to its lane, and a new pump takes over the others: a
    handler that never suspends costs no task of its own and no per-connection
    object, and one that does holds up only its connection's events.
    """

    __slots__ = (
        "dropped",
        "handler",
        "lanes",
        "max_pending",
        "pump",
        "queue",
        "running",
        "types",
        "waiting",
    )

    def __init__(
        self, handler: Handler, event_types: tuple[type[Any], ...], max_pending: int
    ) -> None:
        self.handler = handler
        self.types = event_types
        self.max_pending = max_pending
        self.queue: deque[tuple[str | None, Any]] = deque()  # the pump's events
        self.waiting: dict[str | None, int] = {}  # events per connection in the pump's queue
        self.lanes: dict[str | None, _Lane] = {}
        self.pump: asyncio.Task[None] | None = None
        self.running: str | object | None = _NOBODY  # whose handler the pump runs right now
        self.dropped = 0

    def push(self, event: Any, key: str | None) -> None:
        waiting = self.waiting.get(key, 0)
        lane = self.lanes.get(key)
        if lane is not None:
            if waiting + len(lane.queue) >= self.max_pending:
                self._drop(key, waiting + len(lane.queue))
                return
            lane.sent += 1
            if lane.task is not None and not waiting:
                lane.queue.append(event)  # its handler is busy: its own task delivers it
                return
        elif waiting >= self.max_pending:
            self._drop(key, waiting)
            return
        self.waiting[key] = waiting + 1
        self.queue.append((key, event))
        if self.pump is None:
            self.pump = asyncio.get_running_loop().create_task(self._pump())

    def _drop(self, key: str | None, behind: int) -> None:
        self.dropped += 1
        if self.dropped == 1 or self.dropped % 10_000 == 0:
            logger.warning(
                "event handler %s is %d events behind on %s; dropping its events there "
                "until it catches up (%d dropped so far)",
                _name(self.handler),
                behind,
                key,
                self.dropped,
            )

    def lane(self, key: str | None) -> _Lane | None:
        """The lane of ``key`` to wait on, made if needed; ``None`` if nothing is pending."""
        lane = self.lanes.get(key)
        if lane is None:
            waiting = self.waiting.get(key, 0)
            if not waiting:
                return None
            lane = self.lanes[key] = _Lane(self, key, waiting)
        return lane

    def busy(self, key: str | None) -> bool:
        """Whether ``key`` has events queued or running for this handler."""
        lane = self.lanes.get(key)
        return bool(self.waiting.get(key)) or (
            lane is not None and (lane.task is not None or lane.delivered < lane.sent)
        )

    def forget(self, lane: _Lane) -> None:
        if (
            self.lanes.get(lane.key) is lane
            and lane.task is None
            and lane.waiters is None
            and not self.waiting.get(lane.key)
        ):
            del self.lanes[lane.key]  # an idle lane costs nothing

    async def _pump(self) -> None:
        queue, waiting, lanes = self.queue, self.waiting, self.lanes
        handler = self.handler
        me = asyncio.current_task()
        try:
            while queue:
                key, event = queue.popleft()
                left = waiting[key] - 1
                if left:
                    waiting[key] = left
                else:
                    del waiting[key]
                lane = lanes.get(key)
                if lane is not None and lane.task is not None:
                    lane.queue.append(event)  # busy in its own task: keep its order there
                    continue
                self.running = key
                try:
                    coroutine = handler(event)
                    waiting_for = coroutine.send(None)
                except StopIteration:
                    self.running = _NOBODY
                    if lane is not None:
                        lane.count_one()
                    continue
                except Exception:
                    self.running = _NOBODY
                    logger.exception("event handler %s failed on %r", _name(handler), event)
                    if lane is not None:
                        lane.count_one()
                    continue
                self.running = _NOBODY
                # The call suspended: this task now belongs to it and its connection.
                if lane is None:
                    lane = lanes[key] = _Lane(self, key, 1 + waiting.get(key, 0))
                lane.task = me
                self.pump = None
                if queue:
                    self.pump = asyncio.get_running_loop().create_task(self._pump())
                await lane.own(_Resumed(coroutine, waiting_for))
                return
        finally:
            if self.pump is me:
                self.pump = None
            if queue and self.pump is None and not _cancelling(me):
                self.pump = asyncio.get_running_loop().create_task(self._pump())

    def pending(self) -> int:
        """Events queued or running for this handler, over every connection."""
        return len(self.queue) + sum(
            len(lane.queue) + (lane.task is not None) for lane in self.lanes.values()
        )

    def cancel(self) -> int:
        """Cancel the pump and every lane's task; their events are dropped. How many."""
        tasks = {lane.task for lane in self.lanes.values() if lane.task is not None}
        if self.pump is not None:
            tasks.add(self.pump)
        for key, _ in self.queue:
            lane = self.lanes.get(key)
            if lane is not None:
                lane.delivered += 1
        self.queue.clear()
        self.waiting.clear()
        for lane in list(self.lanes.values()):
            if lane.waiters is not None:
                lane.wake_waiters()
        for task in tasks:
            task.cancel()
        return len(tasks)


_NOBODY = object()


def _cancelling(task: asyncio.Task[None] | None) -> bool:
    return task is not None and task.cancelling() > 0


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", repr(handler))


def _event_classes() -> dict[str, type[Any]]:
    classes: dict[str, type[Any]] = {}
    pending: list[type[Any]] = [EdgeEvent]
    while pending:
        cls = pending.pop()
        classes[cls.__name__] = cls
        pending.extend(cls.__subclasses__())
    return classes


def _event_types(handler: Handler) -> tuple[type[Any], ...]:
    """The classes named by the annotation of ``handler``'s only parameter."""
    if not inspect.iscoroutinefunction(handler) and not inspect.iscoroutinefunction(
        getattr(handler, "__call__", None)  # noqa: B004
    ):
        msg = f"event handler {_name(handler)} must be an `async def` function"
        raise TypeError(msg)
    parameters = [
        p
        for p in inspect.signature(handler).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(parameters) != 1:
        msg = f"event handler {_name(handler)} must take exactly one parameter, the event"
        raise TypeError(msg)
    try:
        # Event classes resolve by name even when the handler's module imported
        # them locally (with postponed annotations, a local import is invisible).
        hints = typing.get_type_hints(handler, localns=_event_classes())
    except Exception as exc:
        msg = f"cannot resolve the annotation of {_name(handler)}: {exc}"
        raise TypeError(msg) from exc
    annotation = hints.get(parameters[0].name)
    if annotation is None:
        msg = (
            f"event handler {_name(handler)} needs a type annotation on its parameter "
            "(an event class, or a union of them) to be routed"
        )
        raise TypeError(msg)
    if typing.get_origin(annotation) in (Union, types.UnionType):
        members = typing.get_args(annotation)
    else:
        members = (annotation,)
    classes = tuple(m for m in members if m is not type(None))
    for cls in classes:
        if not isinstance(cls, type):
            msg = f"event handler {_name(handler)}: {cls!r} is not an event class"
            raise TypeError(msg)
    return classes


class EventBus:
    """Routes events to subscribed handlers by type, in order, outside the actors."""

    def __init__(self, *, max_pending: int = 10_000) -> None:
        if max_pending < 1:
            msg = f"max_pending must be at least 1, not {max_pending}"
            raise ValueError(msg)
        self.max_pending = max_pending
        self._subscriptions: dict[Handler, _Subscription] = {}
        self._routes: dict[type[Any], tuple[_Subscription, ...]] = {}

    def subscribe(self, handler: H) -> H:
        """Register ``handler`` (usable as a decorator); subscribing twice is a no-op."""
        if handler not in self._subscriptions:
            self._subscriptions[handler] = _Subscription(
                handler, _event_types(handler), self.max_pending
            )
            self._routes.clear()
        return handler

    def pending(self, handler: Handler) -> int:
        """Events sent to ``handler`` and not handled yet, over every connection."""
        subscription = self._subscriptions.get(handler)
        return subscription.pending() if subscription is not None else 0

    def dropped(self, handler: Handler) -> int:
        """Events dropped for ``handler`` because its queue was full."""
        subscription = self._subscriptions.get(handler)
        return subscription.dropped if subscription is not None else 0

    def unsubscribe(self, handler: Handler) -> None:
        """Stop routing to ``handler``; events already queued for it are still delivered."""
        if self._subscriptions.pop(handler, None) is not None:
            self._routes.clear()

    def _route(self, event_type: type[Any]) -> tuple[_Subscription, ...]:
        route = self._routes.get(event_type)
        if route is None:
            route = tuple(
                sub
                for sub in self._subscriptions.values()
                if any(issubclass(event_type, cls) for cls in sub.types)
            )
            self._routes[event_type] = route
        return route

    def send(self, event: Any, lane: str | None = None) -> None:
        """Queue ``event`` for every matching handler, on ``lane``. Call it on the bus's loop.

        Connection actors send with their connection's key as the lane.
        """
        route = self._routes.get(type(event))
        if route is None:
            route = self._route(type(event))
        for subscription in route:
            subscription.push(event, lane)

    async def settled(self, lane: str | None, timeout: float | None = None) -> bool:
        """Wait until every event sent on ``lane`` so far has been handled by every handler.

        Other lanes are not waited for. A handler waiting on its own lane does
        not wait for itself. Returns ``False`` if ``timeout`` seconds ran out
        first (a handler is stuck), ``True`` otherwise.
        """
        lanes = [
            each
            for sub in list(self._subscriptions.values())
            if sub.running != lane and (each := sub.lane(lane)) is not None
        ]
        if not lanes:
            return True
        try:
            async with asyncio.timeout(timeout):
                for each in lanes:
                    await each.settled()
        except TimeoutError:
            return False
        return True

    async def drain(self, timeout: float | None = None) -> bool:
        """Wait until no handler has an event queued or running, on any lane.

        Every lane of every handler, including events sent while waiting: a
        handler that never returns makes it wait until ``timeout`` (then it
        returns ``False``). For shutdown and tests; a connection waits for its
        own events with ``Connection.settled()``.
        """
        me = asyncio.current_task()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    waits = []
                    for sub in list(self._subscriptions.values()):
                        for key in {*sub.waiting, *sub.lanes}:
                            lane = sub.lane(key)
                            if lane is not None and lane.task is not me and sub.busy(key):
                                waits.append(lane)
                    if not waits:
                        return True
                    for lane in waits:
                        await lane.settled()
        except TimeoutError:
            return False

    def cancel_all(self) -> int:
        """Cancel every delivery still running (shutdown after ``drain`` timed out).

        Returns how many tasks were cancelled; the events still queued are dropped.
        """
        return sum(sub.cancel() for sub in list(self._subscriptions.values()))
