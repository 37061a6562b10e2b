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

from benchmarks._load import churn_round, warm_up
from benchmarks._measure import Stopwatch, missing, settle_memory

NAME = "soak"
TARGETS = {
    "objects_left": ("objects left after closing all", "<=", 0),
    "after_close_ratio": ("RSS after closing all / start (malloc)", "<=", 1.05),
}


def available() -> str | None:
    """Skip until the memory edge exists."""
    return missing("transport.memory")


def points(quick: bool) -> list[dict[str, Any]]:
    """The points to measure; smaller and shorter when ``quick``."""
    n, seconds = (1_000, 3.0) if quick else (10_000, 45.0)
    return [{"connections": n, "seconds": seconds, "allocator": a} for a in ("pymalloc", "malloc")]


def environment(point: dict[str, Any]) -> dict[str, str]:
    """Extra environment for the worker process of ``point`` (see the memory scenario)."""
    return {"PYTHONMALLOC": "malloc"} if point.get("allocator") == "malloc" else {}


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one point (in a fresh worker process)."""
    return asyncio.run(_run(point["connections"], point["seconds"]))


async def _run(n: int, seconds: float) -> dict[str, Any]:

    await warm_up()
    start = settle_memory()
    objects = len(gc.get_objects())
    # Everything the soak makes lives in _session's frame and is gone when it returns.
    rounds, events, elapsed, samples = await _session(n, seconds)
    # Run on from a fresh loop callback: the one that woke this task after the
    # session still holds what it woke us with (the last close batch) while it runs.
    await asyncio.sleep(0)
    after = settle_memory()
    objects_left = len(gc.get_objects()) - objects
    return {
        "objects_left": objects_left,
        "rounds": rounds,
        "events": events,
        "events_per_s": events / elapsed,
        "samples": [{"t_s": t, "rss_mb": rss, "tasks": tasks} for t, rss, tasks in samples],
        "rss_start_mb": start / 2**20,
        "rss_after_close_mb": after / 2**20,
        "after_close_ratio": after / start,
    }


async def _session(n: int, seconds: float) -> tuple[int, int, float, tuple[Any, ...]]:
    from messages import (
        TrackType,
    )
    from transport import EdgeEvent, MemoryEdge, User

    edge = MemoryEdge()
    events = 0

    @edge.events.subscribe
    async def count(event: EdgeEvent) -> None:
        nonlocal events
        events += 1

    agent = User("agent")
    connections = [await edge.join(agent, await edge.create_call(f"c{i}")) for i in range(n)]
    samples: list[tuple[float, float, int]] = []
    clock = Stopwatch()
    rounds = 0
    next_sample = 0.0
    while clock.elapsed() < seconds:
        if clock.elapsed() >= next_sample:
            samples.append((clock.elapsed(), settle_memory() / 2**20, len(asyncio.all_tasks())))
            next_sample += seconds / 2
        churn_round(connections, rounds, TrackType.VIDEO)
        await connections[-1].settled()
        rounds += 1
    await edge.events.drain()
    samples.append((clock.elapsed(), settle_memory() / 2**20, len(asyncio.all_tasks())))
    elapsed = clock.elapsed()
    await edge.close()
    return rounds, events, elapsed, tuple(samples)


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Results by implementation and size, and the headline result."""
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(f"edge-actors ({point['allocator']})", {})[str(point["connections"])] = result
    ours: dict[str, Any] = next(iter(by.get("edge-actors (pymalloc)", {}).values()), {})
    plain: dict[str, Any] = next(iter(by.get("edge-actors (malloc)", {}).values()), {})
    headline = dict(ours)
    if plain:
        headline["after_close_ratio"] = plain["after_close_ratio"]
    return {"results": by, "ratios": {}, "headline": headline}
