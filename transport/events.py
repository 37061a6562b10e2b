"""The edge's event bus and the events it carries.

``edge.events.subscribe`` registers an ``async def`` handler for the event types
named by the annotation of its parameter (a union subscribes to each member; a
base class such as ``EdgeEvent`` receives its subclasses). Each subscription has
its own queue and its own delivery task, which exists only while events wait:
a handler sees its events one at a time, in the order they were sent, and a
slow handler delays only its own subscription. A handler that raises is logged
and keeps receiving.

A subscription queues at most ``max_pending`` events (default 10,000). Past
that its handler is hopelessly behind: further events for it are dropped (and
counted in ``bus.dropped(handler)``) until it catches up, with one warning per
episode; other handlers are not affected and nothing else waits for it. At
about 200 bytes per queued event, a full queue holds roughly 2 MB.

The bus belongs to one event loop: call ``send``, ``subscribe`` and
``unsubscribe`` on it (the actors do).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import types
import typing
from collections import deque
from collections.abc import Awaitable, Callable
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

Handler = Callable[[Any], Awaitable[Any]]
H = TypeVar("H", bound=Handler)


class _Subscription:
    """One handler's queue and, while it has events, its delivery task."""

    __slots__ = (
        "dropped",
        "handler",
        "idle",
        "max_pending",
        "overflowing",
        "queue",
        "task",
        "types",
    )

    def __init__(
        self, handler: Handler, event_types: tuple[type[Any], ...], max_pending: int
    ) -> None:
        self.handler = handler
        self.types = event_types
        self.max_pending = max_pending
        self.queue: deque[Any] = deque()
        self.task: asyncio.Task[None] | None = None
        self.idle: asyncio.Future[None] | None = None
        self.dropped = 0
        self.overflowing = False

    def push(self, event: Any) -> None:
        queue = self.queue
        if len(queue) >= self.max_pending:
            if not self.overflowing:
                self.overflowing = True
                logger.warning(
                    "event handler %s is %d events behind; dropping events for it until it "
                    "catches up",
                    _name(self.handler),
                    len(queue),
                )
            self.dropped += 1
            return
        self.overflowing = False
        queue.append(event)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._deliver())

    async def _deliver(self) -> None:
        queue = self.queue
        handler = self.handler
        try:
            while queue:
                event = queue.popleft()
                try:
                    await handler(event)
                except Exception:
                    logger.exception("event handler %s failed on %r", _name(handler), event)
        finally:
            self.task = None
            if self.idle is not None and not queue:
                idle, self.idle = self.idle, None
                if not idle.done():
                    idle.set_result(None)

    async def drained(self) -> None:
        if self.task is None:
            return
        if self.idle is None:
            self.idle = asyncio.get_running_loop().create_future()
        await asyncio.shield(self.idle)


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
        """Events queued for ``handler`` and not yet delivered."""
        subscription = self._subscriptions.get(handler)
        return len(subscription.queue) if subscription is not None else 0

    def dropped(self, handler: Handler) -> int:
        """Events dropped for ``handler`` because its queue was full."""
        subscription = self._subscriptions.get(handler)
        return subscription.dropped if subscription is not None else 0

    def unsubscribe(self, handler: Handler) -> None:
        """Stop routing to ``handler``; events already queued for it are still delivered."""
        if self._subscriptions.pop(handler, None) is not None:
            self._routes.clear()

    def has_subscribers(self, event_type: type[Any]) -> bool:
        """Whether any handler would receive an event of ``event_type``."""
        return bool(self._route(event_type))

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

    def send(self, event: Any) -> None:
        """Queue ``event`` for every matching handler. Call it on the bus's loop."""
        route = self._routes.get(type(event))
        if route is None:
            route = self._route(type(event))
        for subscription in route:
            subscription.push(event)

    async def drain(self) -> None:
        """Return once every event sent before the call has been handled."""
        while True:
            busy = [sub for sub in self._subscriptions.values() if sub.task is not None]
            if not busy:
                return
            for sub in busy:
                await sub.drained()
