"""soak: connections under continuous churn for a bounded time; RSS and tasks stay flat.

Every connection sees a participant join, publish, unpublish and leave, round
after round, for ``seconds``. RSS and the number of asyncio tasks are read at
the start, the middle and the end; after closing everything the RSS must be
back within 5% of the start.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from benchmarks._measure import Stopwatch, settle_memory

NAME = "soak"
TARGETS = {
    "objects_left": ("objects left after closing all", "<=", 0),
    "after_close_ratio": ("RSS after closing all / start (malloc)", "<=", 1.05),
}


def points(quick: bool) -> list[dict[str, Any]]:
    n, seconds = (1_000, 3.0) if quick else (10_000, 45.0)
    return [{"connections": n, "seconds": seconds, "allocator": a} for a in ("pymalloc", "malloc")]


def environment(point: dict[str, Any]) -> dict[str, str]:
    """Extra environment for the worker process of ``point`` (see the memory scenario)."""
    return {"PYTHONMALLOC": "malloc"} if point.get("allocator") == "malloc" else {}


def run(point: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_run(point["connections"], point["seconds"]))


async def _run(n: int, seconds: float) -> dict[str, Any]:
    from messages import (
        Participant,
        ParticipantJoined,
        ParticipantLeft,
        TrackAdded,
        TrackRemoved,
        TrackType,
    )
    from transport import EdgeEvent, MemoryEdge, User

    warm = MemoryEdge()
    await (await warm.join(User("agent"), await warm.create_call("warm"))).close()
    await warm.close()
    start = settle_memory()
    objects = len(gc.get_objects())
    edge = MemoryEdge()
    events = 0

    @edge.events.subscribe
    async def count(event: EdgeEvent) -> None:
        nonlocal events
        events += 1

    connections = [
        await edge.join(User("agent"), await edge.create_call(f"c{i}")) for i in range(n)
    ]
    samples: list[dict[str, float]] = []
    clock = Stopwatch()
    rounds = 0
    next_sample = 0.0
    while clock.elapsed() < seconds:
        if clock.elapsed() >= next_sample:
            samples.append(
                {
                    "t_s": clock.elapsed(),
                    "rss_mb": settle_memory() / 2**20,
                    "tasks": len(asyncio.all_tasks()),
                }
            )
            next_sample += seconds / 2
        for i, connection in enumerate(connections):
            person = Participant(None, f"u{i}", f"u{i}__{rounds}")
            call_id, ref = connection.call.id, connection.actor_ref
            ref.tell(ParticipantJoined(call_id, person))
            ref.tell(TrackAdded(call_id, person, f"t{rounds}", TrackType.VIDEO))
            ref.tell(TrackRemoved(call_id, person, f"t{rounds}", TrackType.VIDEO))
            ref.tell(ParticipantLeft(call_id, person))
        await connections[-1].flush()
        rounds += 1
    await edge.events.drain()
    samples.append(
        {
            "t_s": clock.elapsed(),
            "rss_mb": settle_memory() / 2**20,
            "tasks": len(asyncio.all_tasks()),
        }
    )
    await edge.close()
    del edge, connections
    after = settle_memory()
    return {
        "objects_left": len(gc.get_objects()) - objects,
        "rounds": rounds,
        "events": events,
        "events_per_s": events / clock.elapsed(),
        "samples": samples,
        "rss_start_mb": start / 2**20,
        "rss_after_close_mb": after / 2**20,
        "after_close_ratio": after / start,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(f"edge-actors ({point['allocator']})", {})[str(point["connections"])] = result
    ours = next(iter(by.get("edge-actors (pymalloc)", {}).values()), {})
    plain = next(iter(by.get("edge-actors (malloc)", {}).values()), {})
    headline = dict(ours)
    if plain:
        headline["after_close_ratio"] = plain["after_close_ratio"]
    return {"results": by, "ratios": {}, "headline": headline}
