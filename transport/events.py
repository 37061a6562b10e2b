"""The edge's event bus and the events it carries.

``edge.events.subscribe`` registers an ``async def`` handler for the event types
named by the annotation of its parameter (a union subscribes to each member; a
base class such as ``EdgeEvent`` receives its subclasses).

Events travel in lanes: one per connection (the connection's key; events sent
with no lane share one). For each handler, each lane has its own queue and its
own delivery task, which exists only while events wait (an idle lane is
dropped). So a handler sees one connection's events one at a time, in the
order they were sent, while the events of other connections reach it
concurrently: a handler that is slow on one call (it awaits an LLM, say)
delays only that call's events to itself, and nothing else waits for it. A
handler that raises is logged and keeps receiving. Every handler runs in a
task (``asyncio.current_task()`` is its lane's), so ``asyncio.timeout`` and
the libraries built on it work in handlers.

Each (handler, lane) queue holds at most ``max_pending`` events (default
10,000). Past that the handler is hopelessly behind on that call: further
events of that lane are dropped for it (counted in ``bus.dropped(handler)``)
until it catches up, with one warning per episode.

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

logger = logging.getLogger("transport.events")

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
    """One handler's events of one connection, while any are queued or running.

    ``sent`` and ``delivered`` count its events; ``in_pump`` are those waiting
    in the handler's shared pump. While a handler call of this lane is
    suspended, ``task`` is the task running it and ``queue`` holds the lane's
    next events, which that task delivers in order.
    """

    __slots__ = (
        "delivered",
        "in_pump",
        "key",
        "overflowing",
        "queue",
        "running",
        "sent",
        "subscription",
        "task",
        "waiters",
    )

    def __init__(self, subscription: _Subscription, key: str | None) -> None:
        self.subscription = subscription
        self.key = key
        self.sent = 0
        self.delivered = 0
        self.in_pump = 0
        self.running = False  # the pump is running this lane's handler right now
        self.queue: deque[Any] = deque()
        self.task: asyncio.Task[None] | None = None
        self.overflowing = False
        self.waiters: list[tuple[int, asyncio.Future[None]]] | None = None

    def count_one(self) -> None:
        self.delivered += 1
        if self.waiters is not None:
            self._wake()
        if self.delivered >= self.sent and self.task is None and not self.running:
            self.subscription.forget(self)

    def _wake(self) -> None:
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
                    self._wake()
            if self.delivered >= self.sent:
                self.subscription.forget(self)

    async def settled(self) -> None:
        """Return once every event of this lane sent so far has been handled."""
        if self.delivered >= self.sent:
            return
        if self.running or (self.task is not None and self.task is asyncio.current_task()):
            return  # the handler itself is asking: it cannot wait for itself
        target = self.sent
        future = asyncio.get_running_loop().create_future()
        if self.waiters is None:
            self.waiters = []
        self.waiters.append((target, future))
        await future


class _Subscription:
    """One handler: the event types it takes, its pump and its lanes that have events.

    The pump is one task that delivers, in arrival order, the events of every
    lane whose handler is not busy. When a handler call suspends (it awaits
    I/O, an LLM, anything), the pump's task stays with that call and that lane,
    and a new pump takes over the other lanes: so a handler that never
    suspends costs no task of its own, and one that does holds up only its lane.
    """

    __slots__ = ("dropped", "handler", "lanes", "max_pending", "pump", "queue", "types")

    def __init__(
        self, handler: Handler, event_types: tuple[type[Any], ...], max_pending: int
    ) -> None:
        self.handler = handler
        self.types = event_types
        self.max_pending = max_pending
        self.lanes: dict[str | None, _Lane] = {}
        self.queue: deque[tuple[_Lane, Any]] = deque()  # the pump's events
        self.pump: asyncio.Task[None] | None = None
        self.dropped = 0

    def push(self, event: Any, key: str | None) -> None:
        lane = self.lanes.get(key)
        if lane is None:
            lane = self.lanes[key] = _Lane(self, key)
        elif lane.sent - lane.delivered >= self.max_pending:
            self.dropped += 1
            if not lane.overflowing:
                lane.overflowing = True
                logger.warning(
                    "event handler %s is %d events behind on %s; dropping its events there "
                    "until it catches up",
                    _name(self.handler),
                    lane.sent - lane.delivered,
                    key,
                )
            return
        lane.overflowing = False
        lane.sent += 1
        if lane.task is not None and not lane.in_pump:
            lane.queue.append(event)  # its handler is busy: its own task delivers it
            return
        lane.in_pump += 1
        self.queue.append((lane, event))
        if self.pump is None:
            self.pump = asyncio.get_running_loop().create_task(self._pump())

    def forget(self, lane: _Lane) -> None:
        if self.lanes.get(lane.key) is lane and not lane.in_pump:
            del self.lanes[lane.key]  # an idle lane costs nothing

    async def _pump(self) -> None:
        queue = self.queue
        handler = self.handler
        me = asyncio.current_task()
        try:
            while queue:
                lane, event = queue.popleft()
                lane.in_pump -= 1
                if lane.task is not None:  # busy in its own task: keep its order there
                    lane.queue.append(event)
                    continue
                lane.running = True
                try:
                    coroutine = handler(event)
                    waiting_for = coroutine.send(None)
                except StopIteration:
                    lane.running = False
                    lane.count_one()
                    continue
                except Exception:
                    lane.running = False
                    logger.exception("event handler %s failed on %r", _name(handler), event)
                    lane.count_one()
                    continue
                lane.running = False
                # The call suspended: this task now belongs to it and its lane.
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

    def cancel(self) -> int:
        """Cancel the pump and every lane's task; their events are dropped. How many."""
        tasks = {lane.task for lane in self.lanes.values() if lane.task is not None}
        if self.pump is not None:
            tasks.add(self.pump)
        for lane, _ in self.queue:
            lane.delivered += 1
            if lane.waiters is not None:
                lane._wake()
        self.queue.clear()
        for lane in self.lanes.values():
            lane.in_pump = 0
        for task in tasks:
            task.cancel()
        for lane in list(self.lanes.values()):
            if lane.delivered >= lane.sent and lane.task is None:
                self.forget(lane)
        return len(tasks)


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
        """Events sent to ``handler``, on every lane, and not handled yet (one may be running)."""
        subscription = self._subscriptions.get(handler)
        if subscription is None:
            return 0
        return sum(lane.sent - lane.delivered for lane in subscription.lanes.values())

    def lanes(self, handler: Handler) -> int:
        """How many connections have events queued or running for ``handler`` now."""
        subscription = self._subscriptions.get(handler)
        return len(subscription.lanes) if subscription is not None else 0

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
        lanes = [sub.lanes[lane] for sub in list(self._subscriptions.values()) if lane in sub.lanes]
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
        try:
            async with asyncio.timeout(timeout):
                while True:
                    lanes = [
                        lane
                        for sub in list(self._subscriptions.values())
                        for lane in list(sub.lanes.values())
                        if lane.delivered < lane.sent
                        and not lane.running
                        and lane.task is not asyncio.current_task()
                    ]
                    if not lanes:
                        return True
                    for lane in lanes:
                        await lane.settled()
        except TimeoutError:
            return False

    def cancel_all(self) -> int:
        """Cancel every delivery still running (shutdown after ``drain`` timed out).

        Returns how many tasks were cancelled; the events still queued are dropped.
        """
        return sum(sub.cancel() for sub in list(self._subscriptions.values()))
