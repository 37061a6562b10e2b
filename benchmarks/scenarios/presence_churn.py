"""presence_churn: joins, track adds and removes, leaves through the full Connection path.

For each connection one participant joins, publishes a track, unpublishes it
and leaves: four mailbox messages and four contract events
(``ParticipantJoined``, ``TrackAdded``, ``TrackRemoved``, ``ParticipantLeft``).
edge-actors runs them message -> connection actor -> registry -> snapshot ->
handler; the baseline is the shared-state implementation (a task per handler
per event). events/s counts handler calls; latency is from the moment a join is
told to the moment the handler sees it.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from benchmarks._measure import Stopwatch, summary

NAME = "presence_churn"
TARGETS = {
    "events_per_s": ("edge-actors at 10k connections", ">=", 100_000),
    "time_ratio": ("edge-actors time / shared-state time", "<=", 1.5),
}


def points(quick: bool) -> list[dict[str, Any]]:
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    return [
        {"impl": impl, "connections": n} for n in sizes for impl in ("edge-actors", "shared-state")
    ]


def run(point: dict[str, Any]) -> dict[str, Any]:
    runner = _ours if point["impl"] == "edge-actors" else _baseline
    return asyncio.run(runner(point["connections"]))


def _script(n: int) -> list[Any]:
    from messages import Participant

    return [Participant(None, f"user{i}", f"user{i}__s{i}") for i in range(n)]


async def _ours(n: int) -> dict[str, Any]:
    from messages import ParticipantJoined, ParticipantLeft, TrackAdded, TrackRemoved, TrackType
    from transport import (
        MemoryEdge,
        ParticipantJoinedEvent,
        ParticipantLeftEvent,
        TrackAddedEvent,
        TrackRemovedEvent,
        User,
    )

    edge = MemoryEdge()
    agent = User("agent")
    connections = [await edge.join(agent, await edge.create_call(f"call{i}")) for i in range(n)]
    sent: dict[str, float] = {}
    latencies: list[float] = []
    handled = 0

    @edge.events.subscribe
    async def on_join(event: ParticipantJoinedEvent) -> None:
        nonlocal handled
        handled += 1
        latencies.append(time.perf_counter() - sent[event.participant.id])

    @edge.events.subscribe
    async def on_other(event: TrackAddedEvent | TrackRemovedEvent | ParticipantLeftEvent) -> None:
        nonlocal handled
        handled += 1

    people = _script(n)
    gc.collect()
    clock = Stopwatch()
    for i, connection in enumerate(connections):
        person, call_id, ref = people[i], connection.call.id, connection.actor_ref
        sent[person.id] = time.perf_counter()
        ref.tell(ParticipantJoined(call_id, person))
        ref.tell(TrackAdded(call_id, person, f"t{i}", TrackType.AUDIO))
        ref.tell(TrackRemoved(call_id, person, f"t{i}", TrackType.AUDIO))
        ref.tell(ParticipantLeft(call_id, person))
        if i % 256 == 255:
            await asyncio.sleep(0)  # the same yields as the baseline gets
    await connections[-1].flush()
    await edge.events.drain()
    elapsed = clock.elapsed()
    assert handled == 4 * n, f"{handled} events for {n} connections"
    await edge.close()
    return {"events_per_s": handled / elapsed, "seconds": elapsed, **summary(latencies)}


async def _baseline(n: int) -> dict[str, Any]:
    from benchmarks.baselines.shared_state import SharedBus, SharedStateConnection
    from messages import (
        ParticipantJoinedEvent,
        ParticipantLeftEvent,
        TrackAddedEvent,
        TrackRemovedEvent,
        TrackType,
    )

    bus = SharedBus()
    connections = [SharedStateConnection(f"call{i}", "agent", bus) for i in range(n)]
    sent: dict[str, float] = {}
    latencies: list[float] = []
    handled = 0

    async def on_join(event: Any) -> None:
        nonlocal handled
        handled += 1
        latencies.append(time.perf_counter() - sent[event.participant.id])

    async def on_other(event: Any) -> None:
        nonlocal handled
        handled += 1

    bus.subscribe(ParticipantJoinedEvent, on_join)
    for kind in (TrackAddedEvent, TrackRemovedEvent, ParticipantLeftEvent):
        bus.subscribe(kind, on_other)
    people = _script(n)
    gc.collect()
    clock = Stopwatch()
    for i, connection in enumerate(connections):
        person = people[i]
        sent[person.id] = time.perf_counter()
        connection.on_joined(person)
        connection.on_track_added(person, f"t{i}", TrackType.AUDIO)
        connection.on_track_removed(f"t{i}")
        connection.on_left(person)
        if i % 256 == 255:
            await asyncio.sleep(0)  # let handlers run as a live edge's loop would
    await bus.drain()
    elapsed = clock.elapsed()
    assert handled == 4 * n
    return {"events_per_s": handled / elapsed, "seconds": elapsed, **summary(latencies)}


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(point["impl"], {})[str(point["connections"])] = result
    ratios = {}
    for size, ours in by.get("edge-actors", {}).items():
        base = by.get("shared-state", {}).get(size)
        if base:
            ratios[f"time_ratio_at_{size}"] = ours["seconds"] / base["seconds"]
    return {"results": by, "ratios": ratios, "headline": by.get("edge-actors", {}).get("10000", {})}
