"""waiters: many concurrent ``wait_for_participant`` calls resolved by joins.

N connections each have one pending wait; then one participant joins each,
32 joins per loop iteration (as they would arrive from a network). Wake
latency is from telling the join to the waiting task running again. A
second pass lets N waits time out (on a virtual clock, so no real waiting) and
checks that nothing is left behind: no waiter in the registry, no extra task.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from benchmarks._measure import Stopwatch, summary

NAME = "waiters"
BATCH = 32
TARGETS = {"p99_ms": ("wake latency at 10k waiters", "<=", 2.0)}


def points(quick: bool) -> list[dict[str, Any]]:
    return [{"waiters": n} for n in ([10_000] if quick else [10_000, 100_000])]


def run(point: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(_run(point["waiters"]))


async def _run(n: int) -> dict[str, Any]:
    from messages import Participant, ParticipantJoined
    from transport import MemoryEdge, User, VirtualClock

    clock = VirtualClock()
    edge = MemoryEdge(clock=clock)
    connections = [
        await edge.join(User("agent"), await edge.create_call(f"c{i}")) for i in range(n)
    ]
    sent: list[float] = [0.0] * n
    latencies: list[float] = []

    async def wait(i: int) -> None:
        await connections[i].wait_for_participant()
        latencies.append(time.perf_counter() - sent[i])

    tasks = [asyncio.ensure_future(wait(i)) for i in range(n)]
    all_woken = asyncio.gather(*tasks)  # set up before the joins, so it costs them nothing
    for connection in connections:
        await connection.flush()
    gc.collect()
    clock_all = Stopwatch()
    for i, connection in enumerate(connections):
        sent[i] = time.perf_counter()
        connection.actor_ref.tell(
            ParticipantJoined(connection.call.id, Participant(None, "u", f"u__{i}"))
        )
        if i % BATCH == BATCH - 1:
            await asyncio.sleep(0)  # joins arrive over time, as from a network
    await all_woken
    woke_all = clock_all.elapsed()

    # Timed-out waits leave nothing behind.
    baseline_tasks = len(asyncio.all_tasks())
    timeouts = [
        asyncio.ensure_future(c.wait_for_participant(timeout=5, user_id="nobody"))
        for c in connections
    ]
    for connection in connections:
        await connection.flush()
    clock.advance(5)
    results = await asyncio.gather(*timeouts, return_exceptions=True)
    timed_out = sum(isinstance(r, TimeoutError) for r in results)
    for connection in connections:
        await connection.flush()
    assert edge._registries is not None
    left = 0
    for ref in edge._registries.refs:
        registry = ref._actor_weakref()  # type: ignore[attr-defined]
        left += sum(len(record.waiters) for record in registry._records.values())
    extra_tasks = len(asyncio.all_tasks()) - baseline_tasks
    await edge.close()
    return {
        **summary(latencies),
        "woke_all_s": woke_all,
        "timed_out": timed_out,
        "waiters_left": left,
        "extra_tasks_left": extra_tasks,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    by = {str(point["waiters"]): result for point, result in results}
    return {"results": {"edge-actors": by}, "ratios": {}, "headline": by.get("10000", {})}
