"""memory: RSS per idle connection at 100k connections, and what closing them all gives back.

An edge-actors connection is a connection actor (the owner of its presence), a presence
snapshot and the ``Connection`` facade; ``bytes_per_connection`` is the RSS
delta (``/proc/self/statm`` after ``gc.collect()`` and ``malloc_trim(0)``)
from before joining to after, divided by N. The leak check then closes every
connection and the edge: ``objects_left`` counts objects the collector tracks
beyond those before joining, ``after_close_ratio`` is RSS after / RSS before.

The edge-actors point runs twice, in separate processes: with CPython's
small-object allocator (``pymalloc``, what a host runs) and with
``PYTHONMALLOC=malloc``. pymalloc keeps a 1 MiB arena (CPython 3.10+) as long as one object
in it lives, so after a peak its RSS stays high even when every connection is
gone; with plain malloc the same run gives the memory back, which shows whether
what is retained is ours or the allocator's. The target on ``after_close_ratio``
is read from the malloc run. ``retained_of_peak`` = (after - start) / (held - start): the
share of the growth that closing did not give back, which does not depend on
how big the process was before.

Baseline ``shared-state``: the same N connections as plain objects (dicts, an
``asyncio.Event``), measured the same way.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from benchmarks._load import warm_up
from benchmarks._measure import missing, settle_memory

NAME = "memory"
TARGETS = {
    "bytes_per_connection": ("RSS per idle connection at 100k (pymalloc)", "<=", 1024),
    "objects_left": ("objects left after closing all", "<=", 0),
    "after_close_ratio": ("RSS after closing all / before (malloc)", "<=", 1.05),
}
NOTES = (
    "bytes_per_connection: RSS delta after gc + malloc_trim, per connection;"
    " after_close_ratio target read from the PYTHONMALLOC=malloc run (see README).",
)


def available() -> str | None:
    """Skip until the memory edge exists."""
    return missing("transport.memory")


def points(quick: bool) -> list[dict[str, Any]]:
    """edge-actors under both allocators, and the baseline; 10k when quick, else 100k."""
    n = 10_000 if quick else 100_000
    return [
        {"impl": "edge-actors", "connections": n, "allocator": "pymalloc"},
        {"impl": "edge-actors", "connections": n, "allocator": "malloc"},
        {"impl": "shared-state", "connections": n, "allocator": "pymalloc"},
    ]


def environment(point: dict[str, Any]) -> dict[str, str]:
    """Extra environment for the worker process of ``point``."""
    return {"PYTHONMALLOC": "malloc"} if point.get("allocator") == "malloc" else {}


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one point (in a fresh worker process)."""
    if point["impl"] == "edge-actors":
        return asyncio.run(_ours(point["connections"]))
    return asyncio.run(_baseline(point["connections"]))


def _result(n: int, start: int, held: int, after: int, objects_left: int) -> dict[str, Any]:
    return {
        "connections": n,
        "bytes_per_connection": (held - start) / n,
        "objects_left": objects_left,
        "rss_start_mb": start / 2**20,
        "rss_held_mb": held / 2**20,
        "rss_after_close_mb": after / 2**20,
        "after_close_ratio": after / start,
        "retained_of_peak": (after - start) / (held - start) if held > start else 0.0,
    }


async def _ours(n: int) -> dict[str, Any]:
    from transport import MemoryEdge, User

    await warm_up()
    start = settle_memory()
    objects = len(gc.get_objects())
    edge = MemoryEdge()
    agent = User("agent")
    for i in range(n):
        await edge.join(agent, await edge.create_call(f"c{i}"))
    held = settle_memory()
    await edge.close()
    del edge
    # Run on from a fresh loop callback: the one that woke this task after close()
    # still holds what it woke us with (the last batch's gather) while it runs.
    await asyncio.sleep(0)
    after = settle_memory()
    return _result(n, start, held, after, len(gc.get_objects()) - objects)


async def _baseline(n: int) -> dict[str, Any]:
    from benchmarks.baselines.shared_state import SharedStateEdge

    warm = SharedStateEdge()
    warm.join("agent", "warm")
    await warm.close()
    del warm
    start = settle_memory()
    objects = len(gc.get_objects())
    edge = SharedStateEdge()
    for i in range(n):
        edge.join("agent", f"c{i}")
    held = settle_memory()
    await edge.close()
    del edge
    after = settle_memory()
    return _result(n, start, held, after, len(gc.get_objects()) - objects)


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Results by implementation (and allocator) and size; the headline mixes both runs."""
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        impl = point["impl"]
        if impl == "edge-actors":
            impl = f"edge-actors ({point['allocator']})"
        by.setdefault(impl, {})[str(point["connections"])] = result
    ours: dict[str, Any] = next(iter(by.get("edge-actors (pymalloc)", {}).values()), {})
    plain: dict[str, Any] = next(iter(by.get("edge-actors (malloc)", {}).values()), {})
    base: dict[str, Any] = next(iter(by.get("shared-state", {}).values()), {})
    headline = dict(ours)
    if plain:
        headline["after_close_ratio"] = plain["after_close_ratio"]
    ratios = {}
    if ours and base and base["bytes_per_connection"] > 0:
        ratios["bytes_vs_shared_state"] = (
            ours["bytes_per_connection"] / base["bytes_per_connection"]
        )
    return {"results": by, "ratios": ratios, "headline": headline}
