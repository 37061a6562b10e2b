"""presence_churn: joins, track adds and removes, leaves through the full Connection path.

Every connection (one per call) receives the same four protocol messages:
``ParticipantJoined``, ``TrackAdded``, ``TrackRemoved``, ``ParticipantLeft``,
delivered with ``edge.deliver(message)`` and yielding to the loop every 256
connections, as a busy edge's loop would. That gives four contract events per
connection (``ParticipantJoinedEvent``, ``TrackAddedEvent``,
``TrackRemovedEvent``, ``ParticipantLeftEvent``) to two subscribed handlers.

- ``edge-actors``: ``MemoryEdge``: message -> connection actor -> participant
  presence snapshot -> per-connection event lane -> handler.
- ``shared-state``: ``benchmarks.baselines.shared_state``: the message calls the
  connection's method, which mutates its dicts and starts a task per handler.

Figures:

- ``events_per_s``, ``seconds``: the whole script delivered at once (a saturated
  loop) until every handler has run (``settled()`` / ``events.drain()``);
- ``loaded_p50_ms``, ``loaded_p99_ms``: in that saturated run, from delivering a
  join to its handler starting: mostly queueing behind the rest of the script,
  so it grows with the number of connections;
- ``hops_per_change``: actor messages handled per presence message delivered
  (edge-actors; the settling ask is not counted);
- ``p50_ms``, ``p99_ms``: the path's own latency on an otherwise idle loop (with
  all the connections open): up to 1,000 joins delivered one at a time, each
  awaited until its handler runs, then undone.

``time_ratio_at_N`` = edge-actors seconds / shared-state seconds for the same
script (target <= 1.5 at 10k).
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from benchmarks._measure import Stopwatch, missing, summary

NAME = "presence_churn"
TARGETS = {
    "events_per_s": ("edge-actors at 10k connections", ">=", 100_000),
    "time_ratio_at_10000": ("edge-actors / shared-state time at 10k", "<=", 1.5),
}
NOTES = (
    "events_per_s and loaded_p*: the whole script at once (saturated loop);"
    " p50_ms/p99_ms: one join at a time on an idle loop (the path's own latency).",
)
_YIELD_EVERY = 256
_SAMPLES = 1_000


def available() -> str | None:
    """Skip until the memory edge exists."""
    return missing("transport.memory")


def points(quick: bool) -> list[dict[str, Any]]:
    """Both implementations at 1k and 10k connections (and 100k unless quick)."""
    sizes = [1_000, 10_000] if quick else [1_000, 10_000, 100_000]
    return [
        {"impl": impl, "connections": n} for n in sizes for impl in ("edge-actors", "shared-state")
    ]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one implementation at one size (in a fresh worker process)."""
    return asyncio.run(_run(point["impl"], point["connections"]))


class _Harness:
    """What both implementations share: the script, the handlers and the clocks."""

    def __init__(self) -> None:
        self.handled = 0
        self.sent: dict[str, float] = {}
        self.loaded: list[float] = []
        self.waiting: dict[str, asyncio.Future[float]] = {}

    async def on_join(self, event: Any) -> None:
        """The join handler: count it and time it from its delivery."""
        now = time.perf_counter()
        self.handled += 1
        pid = event.participant.id
        started = self.sent.pop(pid, None)
        if started is not None:
            self.loaded.append(now - started)
        waiter = self.waiting.pop(pid, None)
        if waiter is not None:
            waiter.set_result(now)

    async def on_other(self, event: Any) -> None:
        """Every other event: count it."""
        self.handled += 1


async def _run(impl: str, n: int) -> dict[str, Any]:
    from messages import (
        Participant,
        ParticipantJoined,
        ParticipantJoinedEvent,
        ParticipantLeft,
        ParticipantLeftEvent,
        TrackAdded,
        TrackAddedEvent,
        TrackRemoved,
        TrackRemovedEvent,
        TrackType,
    )

    harness = _Harness()
    calls = [f"call{i}" for i in range(n)]
    if impl == "edge-actors":
        from transport import MemoryEdge, User

        edge: Any = MemoryEdge()
        agent = User("agent")

        async def on_join(event: ParticipantJoinedEvent) -> None:
            await harness.on_join(event)

        async def on_other(
            event: TrackAddedEvent | TrackRemovedEvent | ParticipantLeftEvent,
        ) -> None:
            await harness.on_other(event)

        edge.events.subscribe(on_join)
        edge.events.subscribe(on_other)
        connections = [await edge.join(agent, await edge.create_call(c)) for c in calls]
        last = connections[-1]

        async def settle() -> None:
            await last.settled()
            await edge.events.drain()

    else:
        from benchmarks.baselines.shared_state import SharedStateEdge

        edge = SharedStateEdge()
        edge.events.subscribe(ParticipantJoinedEvent, harness.on_join)
        for kind in (TrackAddedEvent, TrackRemovedEvent, ParticipantLeftEvent):
            edge.events.subscribe(kind, harness.on_other)
        connections = [edge.join("agent", c) for c in calls]

        async def settle() -> None:
            await edge.events.drain()

    people = [Participant(None, f"user{i}", f"user{i}__s1") for i in range(n)]
    deliver = edge.deliver
    handled_before = _handled() if impl == "edge-actors" else 0
    gc.collect()
    clock = Stopwatch()
    for i, call_id in enumerate(calls):
        person = people[i]
        harness.sent[person.id] = time.perf_counter()
        deliver(ParticipantJoined(call_id, person))
        deliver(TrackAdded(call_id, person, f"t{i}", TrackType.AUDIO))
        deliver(TrackRemoved(call_id, person, f"t{i}", TrackType.AUDIO))
        deliver(ParticipantLeft(call_id, person))
        if i % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)
    await settle()
    elapsed = clock.elapsed()
    hops = (_handled() - handled_before - 1) / (4 * n) if impl == "edge-actors" else 0.0
    if harness.handled != 4 * n:
        msg = f"{harness.handled} events handled for {n} connections, expected {4 * n}"
        raise AssertionError(msg)

    # The path's own latency: one join at a time on an idle loop.
    loop = asyncio.get_running_loop()
    step = max(1, n // _SAMPLES)
    unloaded: list[float] = []
    for i in range(0, n, step):
        call_id, person = calls[i], Participant(None, f"user{i}", f"user{i}__s2")
        waiter: asyncio.Future[float] = loop.create_future()
        harness.waiting[person.id] = waiter
        started = time.perf_counter()
        deliver(ParticipantJoined(call_id, person))
        unloaded.append(await waiter - started)
        deliver(ParticipantLeft(call_id, person))
        await settle()
    await edge.close()
    del connections
    loaded = summary(harness.loaded)
    return {
        "connections": n,
        "events": harness.handled - 2 * len(unloaded),
        "seconds": elapsed,
        "events_per_s": 4 * n / elapsed,
        "loaded_p50_ms": loaded["p50_ms"],
        "loaded_p99_ms": loaded["p99_ms"],
        **summary(unloaded),
        "samples": len(unloaded),
        "hops_per_change": hops,
    }


def _handled() -> int:
    from actors.metrics import messages_handled

    return messages_handled()


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Results by implementation and size; time ratios edge-actors / shared-state."""
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(point["impl"], {})[str(point["connections"])] = result
    ratios = {}
    for size, ours in by.get("edge-actors", {}).items():
        base = by.get("shared-state", {}).get(size)
        if base:
            ratios[f"time_ratio_at_{size}"] = ours["seconds"] / base["seconds"]
    return {"results": by, "ratios": ratios, "headline": by.get("edge-actors", {}).get("10000", {})}
