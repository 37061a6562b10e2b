"""lifecycle_costs: what ordered delivery and mailbox recording cost, against the plain path.

The presence_churn workload at 1,000 connections (ten churn rounds each), run
three ways in separate processes: ``ordered`` (edge-actors as shipped: each
handler has its own ordered queue), ``unordered`` (a bus that starts one task
per handler per event, as the reference does: the order between events is lost)
and ``recording`` (ordered, with every connection recording its mailbox to a
file). The ratios are times relative to ``unordered``.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._load import churn_round
from benchmarks._measure import Stopwatch, missing

NAME = "lifecycle_costs"
TARGETS: dict[str, tuple[str, str, float]] = {}
CONNECTIONS = 1_000


def available() -> str | None:
    """Skip until the memory edge exists."""
    return missing("transport.memory")


def points(quick: bool) -> list[dict[str, Any]]:
    """The three modes, 3 churn rounds when quick, else 10."""
    rounds = 3 if quick else 10
    return [{"mode": m, "rounds": rounds} for m in ("unordered", "ordered", "recording")]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one mode (in a fresh worker process)."""
    return asyncio.run(_run(point["mode"], point["rounds"]))


async def _run(mode: str, rounds: int) -> dict[str, Any]:
    from transport import ConnectionOptions, EdgeEvent, EventBus, MemoryEdge, User

    class TaskPerEvent(EventBus):
        """The reference's dispatch: a new task per handler per event, no order kept."""

        def __init__(self) -> None:
            super().__init__()
            self.tasks: set[asyncio.Task[Any]] = set()

        def send(self, event: Any, lane: str | None = None) -> None:
            for subscription in self._route(type(event)):
                task = asyncio.ensure_future(subscription.handler(event))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

        async def drain(self, timeout: float | None = None) -> bool:
            while self.tasks:
                await asyncio.gather(*list(self.tasks))
            return True

    with tempfile.TemporaryDirectory() as folder:
        edge = MemoryEdge(events=TaskPerEvent() if mode == "unordered" else None)
        handled = 0

        @edge.events.subscribe
        async def first(event: EdgeEvent) -> None:
            nonlocal handled
            handled += 1

        @edge.events.subscribe
        async def second(event: EdgeEvent) -> None:
            await asyncio.sleep(0)

        connections = []
        for i in range(CONNECTIONS):
            record = str(Path(folder) / f"c{i}.rec") if mode == "recording" else None
            options = ConnectionOptions(record=record)
            call = await edge.create_call(f"c{i}")
            connections.append(await edge.join(User("agent"), call, options=options))
        clock = Stopwatch()
        for r in range(rounds):
            churn_round(connections, r)
            await asyncio.sleep(0)
        await connections[-1].settled()
        await edge.events.drain()
        elapsed = clock.elapsed()
        events = handled  # closing emits more; they are not part of the timed work
        assert events == 4 * CONNECTIONS * rounds + 2 * CONNECTIONS * rounds, events
        await edge.close()
    return {"seconds": elapsed, "events_per_s": events / elapsed, "events": events}


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Results by mode (at 1,000 connections); times relative to ``unordered``."""
    by = {point["mode"]: result for point, result in results}
    base = by.get("unordered", {}).get("seconds")
    ratios = {}
    if base:
        for mode in ("ordered", "recording"):
            if mode in by:
                ratios[f"{mode}_vs_unordered"] = by[mode]["seconds"] / base
    table = {mode: {str(CONNECTIONS): result} for mode, result in by.items()}
    return {"results": table, "ratios": ratios, "headline": by.get("ordered", {})}
