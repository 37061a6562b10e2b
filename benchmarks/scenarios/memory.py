"""memory: RSS per idle connection at 100k connections, and what closing them all gives back.

Each connection is a connection actor, a registry record and a presence
snapshot (plus the ``Connection`` facade). RSS is read after a garbage
collection and ``malloc_trim``. The leak check closes every connection and
the edge, then counts the objects the collector still tracks against the count
before (``objects_left``) and compares the RSS with the start.

The point runs twice: with CPython's own small-object allocator (what a host
runs) and with ``PYTHONMALLOC=malloc``. pymalloc keeps a 1 MiB arena as long
as one object in it lives, so after a peak the RSS stays high even when every
connection is gone; with plain malloc the same run gives the memory back, which
shows the retention is the allocator's, not ours.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from benchmarks._measure import settle_memory

NAME = "memory"
TARGETS = {
    "bytes_per_connection": ("idle connection at 100k", "<=", 2048),
    "objects_left": ("objects left after closing all", "<=", 0),
    "after_close_ratio": ("RSS after closing all / before (malloc)", "<=", 1.05),
}


def points(quick: bool) -> list[dict[str, Any]]:
    n = 10_000 if quick else 100_000
    return [{"connections": n, "allocator": a} for a in ("pymalloc", "malloc")]


def environment(point: dict[str, Any]) -> dict[str, str]:
    """Extra environment for the worker process of ``point``."""
    return {"PYTHONMALLOC": "malloc"} if point.get("allocator") == "malloc" else {}


def run(point: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_run(point["connections"]))


async def _run(n: int) -> dict[str, Any]:
    from transport import MemoryEdge, User

    # Warm the code paths so their one-off allocations are not counted.
    warm = MemoryEdge()
    await (await warm.join(User("agent"), await warm.create_call("warm"))).close()
    await warm.close()
    start = settle_memory()
    objects = len(gc.get_objects())
    edge = MemoryEdge()
    agent = User("agent")
    for i in range(n):
        await edge.join(agent, await edge.create_call(f"c{i}"))
    held = settle_memory()
    await edge.close()
    del edge
    after = settle_memory()
    objects_left = len(gc.get_objects()) - objects
    return {
        "objects_left": objects_left,
        "bytes_per_connection": (held - start) / n,
        "rss_start_mb": start / 2**20,
        "rss_held_mb": held / 2**20,
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
