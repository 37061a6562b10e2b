"""local_media: real aiortc participants publishing audio and video through the local edge.

N participants join a call on a ``LocalEdge`` in this process and each
publishes audio and video; the agent subscribes to every video. Join-to-
TrackAdded latency runs from the start of ``publish()`` to the agent's handler.
The call is then held for a few seconds: CPU use over that window (clients and
edge together, both in this one process) gives the participants one core holds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks._measure import Stopwatch, cpu_seconds, summary

NAME = "local_media"
TARGETS: dict[str, tuple[str, str, float]] = {}


def available() -> str | None:
    try:
        import aiortc  # noqa: F401
    except ImportError:
        return "the local edge is not installed (pip install 'edge-actors[local]')"
    return None


def points(quick: bool) -> list[dict[str, Any]]:
    """The points to measure; smaller and shorter when ``quick``."""
    sizes = [1, 3] if quick else [1, 3, 6, 10]
    return [{"participants": n, "hold_s": 2.0 if quick else 5.0} for n in sizes]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one point (in a fresh worker process)."""
    return asyncio.run(_run(point["participants"], point["hold_s"]))


async def _run(n: int, hold: float) -> dict[str, Any]:
    from transport import TrackAddedEvent, TrackType, User
    from transport.local import LocalEdge

    latencies: list[float] = []
    started: dict[str, float] = {}
    async with LocalEdge() as edge:
        connection = await edge.join(User("agent"), await edge.create_call("bench"))

        @edge.events.subscribe
        async def added(event: TrackAddedEvent) -> None:
            owner = event.participant.user_id if event.participant else ""
            key = f"{owner}:{event.track_type.name}"
            if key in started:
                latencies.append(time.perf_counter() - started.pop(key))

        people = [edge.participant("bench", f"p{i}") for i in range(n)]
        for i, person in enumerate(people):
            await person.join()
            for kind in (TrackType.AUDIO, TrackType.VIDEO):
                started[f"p{i}:{kind.name}"] = time.perf_counter()
                await person.publish(kind)
        subscribers = [
            edge.add_track_subscriber(t.track_id)
            for t in connection.presence.tracks
            if t.track_type is TrackType.VIDEO
        ]
        frames = 0

        async def read(track: Any) -> None:
            nonlocal frames
            while True:
                await track.recv()
                frames += 1

        readers = [asyncio.ensure_future(read(s)) for s in subscribers]
        cpu = cpu_seconds()
        clock = Stopwatch()
        await asyncio.sleep(hold)  # a measuring window of fixed length, not a wait for state
        wall, used = clock.elapsed(), cpu_seconds() - cpu
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for subscriber in subscribers:
            subscriber.stop()
        for person in people:
            await person.leave()
    cores = used / wall
    return {
        **summary(latencies),
        "cpu_cores": cores,
        "participants_per_core": n / cores if cores else 0.0,
        "video_fps_per_participant": frames / wall / n,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Results by implementation and size, and the headline result."""
    by = {str(point["participants"]): result for point, result in results}
    headline = by[max(by, key=int)] if by else {}
    return {"results": {"edge-actors": by}, "ratios": {}, "headline": headline}
