"""stream_local: N agent connections on one ``StreamEdge`` against the Stream emulator.

Beside the same figures on ``LocalEdge`` in the same run. For each of N calls
the agent joins (join time: ``edge.join`` through the SDK's coordinator join and
SFU websocket, or through the local edge), then one person joins each call (a
getstream SDK client, or a ``LocalParticipant``), one after another, and the
presence latency runs from the start of that person's ``join()`` to the agent's
``ParticipantJoinedEvent`` handler. The N calls are then held for a fixed
window: CPU over it, per connection, is what an idle agent connection with one
person in the call costs.

Everything runs in this one process: the emulator on its own thread and loop,
the people's SDK clients beside the agent's, so CPU and latency include both
ends of each call (as ``local_media`` counts both ends). The emulator is an
emulator, not Stream: these figures measure the SDK and the edge, not Stream's
network.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from benchmarks._measure import Stopwatch, cpu_seconds, missing, percentile

NAME = "stream_local"
TARGETS: dict[str, tuple[str, str, float]] = {}
NOTES = (
    "One process holds the agent's connections, the people's clients and (for stream) the "
    "emulator's coordinator and SFUs on their own thread: CPU and latency count both ends.",
    "presence p50/p99: from the start of a person's join() to the agent's handler.",
)


def available() -> str | None:
    for module, extra in (("getstream.video.rtc", "stream"), ("aiortc", "local")):
        if missing(module):
            return f"{module} is not installed (pip install 'edge-actors[{extra}]')"
    return None


def points(quick: bool) -> list[dict[str, Any]]:
    """The points to measure; smaller and shorter when ``quick``."""
    sizes = [5] if quick else [10, 50]
    hold = 2.0 if quick else 5.0
    return [
        {"edge": edge, "calls": n, "hold_s": hold} for n in sizes for edge in ("stream", "local")
    ]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one point (in a fresh worker process)."""
    return asyncio.run(_run(point["edge"], point["calls"], point["hold_s"]))


@contextlib.asynccontextmanager
async def _edge(kind: str) -> AsyncIterator[Any]:
    if kind == "stream":
        from transport.stream.emulator import StreamEmulator

        async with StreamEmulator() as emulator, emulator.edge() as edge:
            yield edge
    else:
        from transport.local import LocalEdge

        async with LocalEdge() as edge:
            yield edge


async def _run(kind: str, n: int, hold: float) -> dict[str, Any]:
    from transport import ParticipantJoinedEvent, User

    agent = User("agent")
    joins: list[float] = []
    presence: list[float] = []
    seen: dict[str, asyncio.Future[float]] = {}
    async with _edge(kind) as edge:
        await edge.authenticate(agent)

        @edge.events.subscribe
        async def joined(event: ParticipantJoinedEvent) -> None:
            waiting = seen.get(event.call.id)
            if waiting is not None and not waiting.done():
                waiting.set_result(time.perf_counter())

        connections = []
        for i in range(n):
            call = await edge.create_call(f"bench-{i}")
            began = time.perf_counter()
            connections.append(await edge.join(agent, call))
            joins.append(time.perf_counter() - began)
        people = []
        for i in range(n):
            seen[f"bench-{i}"] = asyncio.get_running_loop().create_future()
            person = edge.participant(f"bench-{i}", f"person-{i}")
            began = time.perf_counter()
            await person.join()
            presence.append(await asyncio.wait_for(seen[f"bench-{i}"], 30) - began)
            people.append(person)
        cpu = cpu_seconds()
        clock = Stopwatch()
        await asyncio.sleep(hold)  # a measuring window of fixed length, not a wait for state
        wall, used = clock.elapsed(), cpu_seconds() - cpu
        for person in people:
            await person.leave()
    return {
        "join_p50_ms": percentile(joins, 0.5) * 1000,
        "join_p99_ms": percentile(joins, 0.99) * 1000,
        "p50_ms": percentile(presence, 0.5) * 1000,
        "p99_ms": percentile(presence, 0.99) * 1000,
        "cpu_ms_per_s_per_connection": used / wall / n * 1000,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Results by edge and size; ratios of stream to local at the largest size."""
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(f"{point['edge']}_edge", {})[str(point["calls"])] = result
    ratios: dict[str, float] = {}
    stream, local = by.get("stream_edge", {}), by.get("local_edge", {})
    common = sorted(set(stream) & set(local), key=int)
    if common:
        size = common[-1]
        for key in ("join_p50_ms", "p50_ms", "cpu_ms_per_s_per_connection"):
            if local[size].get(key):
                ratios[f"stream_over_local_{key}@{size}"] = stream[size][key] / local[size][key]
    headline = stream[max(stream, key=int)] if stream else {}
    return {"results": by, "ratios": ratios, "headline": headline}
