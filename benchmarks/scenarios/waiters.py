"""waiters: many concurrent ``wait_for_participant`` calls, resolved by joins.

N connections (one per call) each have one task blocked in
``wait_for_participant()``. Then one participant joins each call, delivered
with ``edge.deliver`` 32 joins per loop iteration (as they would arrive from a
network). ``p50_ms`` / ``p99_ms`` is the wake latency: from delivering the join
to the waiting task running again; ``woke_all_s`` is the time until every
task has woken.

Leak check (edge-actors only): N more waits for a user who never comes, with
``timeout=5`` on the edge's ``VirtualClock`` (advanced by hand: no real waiting).
Every one must raise ``TimeoutError`` (``timed_out``) and leave no waiter in
the connection actors (``waiters_left``) and no extra asyncio task (``extra_tasks_left``).

Baseline ``shared-state``: the same waits on ``asyncio.Event``s
(``benchmarks.baselines.shared_state``), woken by the same joins.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from benchmarks._measure import Stopwatch, missing, summary

NAME = "waiters"
TARGETS = {
    "p99_ms": ("wake latency p99 at 10k waiters", "<=", 2.0),
    "woke_all_ratio_at_10000": ("edge-actors / shared-state time to wake all 10k", "<=", 1.0),
    "waiters_left": ("waits left pending after timeouts", "<=", 0),
    "extra_tasks_left": ("tasks left after timeouts", "<=", 0),
}
NOTES = ("wake latency: join delivered -> waiting task resumed; 32 joins per loop iteration.",)
_BATCH = 32


def available() -> str | None:
    """Skip until the memory edge exists."""
    return missing("transport.memory")


def points(quick: bool) -> list[dict[str, Any]]:
    """Both implementations at 10k waiters (and 100k unless quick)."""
    sizes = [10_000] if quick else [10_000, 100_000]
    return [{"impl": impl, "waiters": n} for n in sizes for impl in ("edge-actors", "shared-state")]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one implementation at one size (in a fresh worker process)."""
    if point["impl"] == "edge-actors":
        return asyncio.run(_ours(point["waiters"]))
    return asyncio.run(_baseline(point["waiters"]))


async def _wake_all(edge: Any, connections: list[Any], calls: list[str]) -> dict[str, Any]:
    """Start a wait on every connection, then wake each with a join; time it.

    Every wait is registered before the first join (for edge-actors: each
    connection flushed), so the latency is the wake-up's, not the set-up's.
    """
    from messages import Participant, ParticipantJoined

    n = len(connections)
    sent = [0.0] * n
    latencies: list[float] = []

    async def wait(i: int) -> None:
        await connections[i].wait_for_participant()
        latencies.append(time.perf_counter() - sent[i])

    tasks = [asyncio.ensure_future(wait(i)) for i in range(n)]
    all_woken = asyncio.gather(*tasks)  # made before the joins, so it costs them nothing
    await asyncio.sleep(0)  # every task is now blocked in its wait
    for connection in connections:
        caught_up = getattr(connection, "caught_up", None)
        if caught_up is not None:
            await caught_up()  # edge-actors: each connection actor holds its waiter now
    people = [Participant(None, f"u{i}", f"u{i}__1") for i in range(n)]
    gc.collect()
    clock = Stopwatch()
    for i, call_id in enumerate(calls):
        sent[i] = time.perf_counter()
        edge.deliver(ParticipantJoined(call_id, people[i]))
        if i % _BATCH == _BATCH - 1:
            await asyncio.sleep(0)
    await all_woken
    return {"waiters": n, "woke_all_s": clock.elapsed(), **summary(latencies)}


async def _ours(n: int) -> dict[str, Any]:
    from transport import MemoryEdge, User, VirtualClock

    clock = VirtualClock()
    edge = MemoryEdge(clock=clock)
    calls = [f"c{i}" for i in range(n)]
    connections = [await edge.join(User("agent"), await edge.create_call(c)) for c in calls]
    result = await _wake_all(edge, connections, calls)
    for connection in connections:
        await connection.settled()

    # Timed-out waits leave nothing behind.
    tasks_before = len(asyncio.all_tasks())
    timeouts = [
        asyncio.ensure_future(c.wait_for_participant(timeout=5, user_id="nobody"))
        for c in connections
    ]
    await asyncio.sleep(0)
    for connection in connections:
        await connection.settled()
    clock.advance(5)
    outcomes = await asyncio.gather(*timeouts, return_exceptions=True)
    for connection in connections:
        await connection.settled()
    result["timed_out"] = sum(isinstance(r, TimeoutError) for r in outcomes)
    result["waiters_left"] = sum([(await c.report()).waits for c in connections])
    result["extra_tasks_left"] = len(asyncio.all_tasks()) - tasks_before
    await edge.close()
    return result


async def _baseline(n: int) -> dict[str, Any]:
    from benchmarks.baselines.shared_state import SharedStateEdge

    edge = SharedStateEdge()
    calls = [f"c{i}" for i in range(n)]
    connections = [edge.join("agent", c) for c in calls]
    result = await _wake_all(edge, connections, calls)
    await edge.close()
    return result


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Results by implementation and size; p99 ratio edge-actors / shared-state."""
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(point["impl"], {})[str(point["waiters"])] = result
    ratios = {}
    for size, ours in by.get("edge-actors", {}).items():
        base = by.get("shared-state", {}).get(size)
        if base and base.get("woke_all_s"):
            ratios[f"woke_all_ratio_at_{size}"] = ours["woke_all_s"] / base["woke_all_s"]
    return {"results": by, "ratios": ratios, "headline": by.get("edge-actors", {}).get("10000", {})}
