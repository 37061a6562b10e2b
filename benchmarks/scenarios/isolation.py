"""isolation: does a slow handler on one call delay the other calls' events?

1,000 calls on one ``MemoryEdge``, one agent connection each. Every round, a
participant joins and leaves every call (joins delivered 32 per loop iteration,
as a busy edge's loop would). One handler receives every event; in the ``slow``
point it sleeps 2 s on every event of call 0 (an agent waiting on an LLM), in
the ``fast`` point it does not. Figures, for the other 999 calls only:

- ``p50_ms``, ``p99_ms``: join delivered -> its ``ParticipantJoinedEvent``
  reaching the handler;
- ``slow_events_waiting``: events of call 0 still queued for the handler when
  the churn ended (they wait in call 0's own lane; nothing else does).

``p99_ratio`` = slow p99 / fast p99 (target <= 1.2): a slow call must cost the
others nothing.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from benchmarks._measure import missing, summary

NAME = "isolation"
TARGETS = {
    "p99_ratio": ("join->handler p99 of other calls, slow call 0 / none", "<=", 1.2),
}
NOTES = ("the slow handler sleeps 2 s on every event of call 0; figures are for calls 1..999.",)
_BATCH = 32
_SLOW_S = 2.0


def available() -> str | None:
    """Skip until the memory edge exists."""
    return missing("transport.memory")


def points(quick: bool) -> list[dict[str, Any]]:
    """Both modes on 1,000 calls: 30 rounds (5 when quick), so p99 rests on 30k samples."""
    rounds = 5 if quick else 30
    return [{"impl": mode, "calls": 1_000, "rounds": rounds} for mode in ("fast", "slow")]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one mode (in a fresh worker process)."""
    return asyncio.run(_run(point["impl"] == "slow", point["calls"], point["rounds"]))


async def _run(slow: bool, n: int, rounds: int) -> dict[str, Any]:
    from messages import Participant, ParticipantJoined, ParticipantLeft
    from transport import EdgeEvent, MemoryEdge, ParticipantJoinedEvent, User

    edge = MemoryEdge(handler_grace=0.0)
    calls = [f"call{i}" for i in range(n)]
    connections = [await edge.join(User("agent"), await edge.create_call(c)) for c in calls]
    sent: dict[str, float] = {}
    latencies: list[float] = []
    loop = asyncio.get_running_loop()
    pending = 0
    round_done: asyncio.Future[None] = loop.create_future()

    @edge.events.subscribe
    async def on_event(event: EdgeEvent) -> None:
        nonlocal pending
        call = getattr(event, "call", None)
        if call is not None and call.id == "call0":
            if slow:
                await asyncio.sleep(_SLOW_S)  # stands for an LLM call
            return
        if type(event) is ParticipantJoinedEvent:
            started = sent.pop(event.participant.id, None)
            if started is not None:
                latencies.append(time.perf_counter() - started)
                pending -= 1
                if pending == 0 and not round_done.done():
                    round_done.set_result(None)

    gc.collect()
    for r in range(rounds):
        people = [Participant(None, f"u{i}", f"u{i}__r{r}") for i in range(n)]
        pending = n - 1
        round_done = loop.create_future()
        for i, call_id in enumerate(calls):
            sent[people[i].id] = time.perf_counter()
            edge.deliver(ParticipantJoined(call_id, people[i]))
            if i % _BATCH == _BATCH - 1:
                await asyncio.sleep(0)
        await round_done
        for i, call_id in enumerate(calls):
            edge.deliver(ParticipantLeft(call_id, people[i]))
        await asyncio.gather(*(c.caught_up() for c in connections[1:]))
    waiting = edge.events.pending(on_event)
    await edge.close()
    return {"calls": n, "rounds": rounds, **summary(latencies), "slow_events_waiting": waiting}


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Both modes side by side; the ratio of their p99s."""
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(point["impl"], {})[str(point["calls"])] = result
    ratios: dict[str, float] = {}
    fast = by.get("fast", {}).get("1000")
    slow = by.get("slow", {}).get("1000")
    if fast and slow and fast.get("p99_ms"):
        ratios["p99_ratio"] = slow["p99_ms"] / fast["p99_ms"]
    return {"results": by, "ratios": ratios, "headline": slow or {}}
