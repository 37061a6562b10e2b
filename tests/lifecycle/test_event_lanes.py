"""The event bus's lanes: in order per connection, concurrent across, each handler in a task."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from transport import EdgeEvent, MemoryEdge, ParticipantJoinedEvent, User
from transport.bus import EventBus

_who: contextvars.ContextVar[str] = contextvars.ContextVar("who", default="sender")


class Ping(EdgeEvent, frozen=True):
    """A test event; ``n`` orders them."""

    n: int


async def test_a_handler_that_suspends_keeps_its_lane_in_order() -> None:
    bus = EventBus()
    seen: list[tuple[str | None, int]] = []
    gate = asyncio.Event()

    @bus.subscribe
    async def on_ping(event: Ping) -> None:
        if event.n == 0:
            await gate.wait()  # the first event suspends; the next ones queue behind it
        seen.append((_who.get(), event.n))

    for n in range(5):
        bus.send(Ping(n), "a")
    bus.send(Ping(100), "b")  # another lane is not held up
    assert await bus.settled("b", timeout=5) is True
    assert seen == [("sender", 100)]
    gate.set()
    assert await bus.settled("a", timeout=5) is True
    assert [n for _, n in seen] == [100, 0, 1, 2, 3, 4]


async def test_a_handler_cannot_change_the_senders_context() -> None:
    bus = EventBus()

    @bus.subscribe
    async def on_ping(event: Ping) -> None:
        _who.set("handler")

    bus.send(Ping(1), "a")
    await bus.settled("a", timeout=5)
    assert _who.get() == "sender"


async def test_handlers_run_in_a_task_so_asyncio_timeout_works_in_them() -> None:
    bus = EventBus()
    outcomes: list[str] = []

    @bus.subscribe
    async def on_ping(event: Ping) -> None:
        try:
            async with asyncio.timeout(0):
                await asyncio.Event().wait()  # an LLM call that takes too long
        except TimeoutError:
            outcomes.append("timed out")

    bus.send(Ping(1), "a")
    await bus.settled("a", timeout=5)
    assert outcomes == ["timed out"]


async def test_events_a_handler_sends_on_its_own_lane_come_after_it() -> None:
    bus = EventBus()
    seen: list[int] = []

    @bus.subscribe
    async def on_ping(event: Ping) -> None:
        if event.n == 0:
            bus.send(Ping(1), "a")  # while this handler is still running
        seen.append(event.n)

    bus.send(Ping(0), "a")
    await bus.settled("a", timeout=5)
    assert seen == [0, 1]


async def test_a_handler_may_wait_for_its_own_connection_to_settle() -> None:
    edge = MemoryEdge()
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    settled = asyncio.Event()

    @edge.events.subscribe
    async def on_joined(event: ParticipantJoinedEvent) -> None:
        await connection.settled()  # must not wait for itself
        settled.set()

    await edge.participant("c", "alice").join()
    await asyncio.wait_for(settled.wait(), 5)
    await edge.close()


async def test_idle_lanes_cost_nothing() -> None:
    bus = EventBus()
    seen: list[Any] = []

    @bus.subscribe
    async def on_ping(event: Ping) -> None:
        seen.append(event.n)

    for n in range(1_000):
        bus.send(Ping(n), f"lane{n}")
    assert await bus.drain(timeout=5) is True
    assert sorted(seen) == list(range(1_000))
    assert bus.pending(on_ping) == 0
    assert not bus._subscriptions[on_ping].lanes  # no lane kept for an idle connection  # noqa: SLF001


async def test_a_handler_may_wait_for_another_connection_whose_events_queue_behind() -> None:
    bus = EventBus()
    seen: list[tuple[str, int]] = []

    @bus.subscribe
    async def on_ping(event: Ping) -> None:
        if event.n == 0:
            await bus.settled("b")  # b's events were sent after this one
        seen.append(("a" if event.n < 10 else "b", event.n))

    bus.send(Ping(0), "a")
    for n in range(10, 13):
        bus.send(Ping(n), "b")
    assert await bus.drain(timeout=5) is True
    assert seen == [("b", 10), ("b", 11), ("b", 12), ("a", 0)]


async def test_a_handler_hopelessly_behind_on_a_lane_drops_and_counts_past_its_bound() -> None:
    bus = EventBus(max_pending=5)
    release = asyncio.Event()
    seen: list[tuple[str, int]] = []

    @bus.subscribe
    async def slow(event: Ping) -> None:
        await release.wait()  # stuck, as a handler waiting on an LLM
        seen.append((_who.get(), event.n))

    for n in range(12):  # in one loop turn: none is being handled yet
        bus.send(Ping(n), "busy")
    bus.send(Ping(100), "other")  # another connection's lane has its own bound
    assert bus.pending(slow) == 5 + 1
    assert bus.dropped(slow) == 12 - 5  # five queued on "busy", the rest dropped and counted
    release.set()
    assert await bus.drain(timeout=5) is True
    assert sorted(n for _, n in seen) == [0, 1, 2, 3, 4, 100]
    assert bus.dropped(slow) == 7


async def test_an_edge_passes_max_pending_events_to_its_bus() -> None:
    edge = MemoryEdge(max_pending_events=3)
    release = asyncio.Event()

    @edge.events.subscribe
    async def stuck(event: ParticipantJoinedEvent) -> None:
        await release.wait()

    connection = await edge.join(User("agent"), await edge.create_call("c"))
    for n in range(6):
        await edge.participant("c", f"p{n}").join()
    await connection.caught_up()
    assert edge.events.dropped(stuck) == 6 - 1 - 3
    release.set()
    await edge.close()
