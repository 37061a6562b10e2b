"""voice_density: voice calls one host process holds at full rate, against bare aiortc.

Each call has one person and one agent. The people run in two client
processes, so the host's CPU is its own: each publishes Opus audio (48 kHz
stereo, 20 ms frames) whose every 50th frame is loud, a mark that survives
the codec; the host sends the person's audio back (the agent subscribes to it
and publishes it); the person reads what comes back. Two hosts run the same
calls, one at a time:

- ``edge-actors``: a ``LocalEdge``, one agent ``Connection`` per call,
  ``add_track_subscriber`` and ``publish_track``; the people are
  ``LocalParticipant``s;
- ``bare-aiortc``: ``benchmarks/baselines/aiortc_echo.py``, aiortc as its users
  install it (aiohttp signaling, a ``MediaRelay``); the people are plain
  ``RTCPeerConnection``s.

Over a fixed window after everyone is connected, the host measures its CPU
(cores) and RSS; each person counts the frames it receives back and the round
trip of each mark (sent to heard back). A point passes when every call gets
at least 49 frames/s with at most 1% late or lost; calls per host core is the
most calls of a passing point over the host's cores there.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from benchmarks._measure import cpu_seconds, local_edge_missing, percentile, rss_bytes
from benchmarks._voice_people import FRAMES_PER_S

NAME = "voice_density"
TARGETS: dict[str, tuple[str, str, float]] = {
    "vs_bare_aiortc": ("calls per host core, edge-actors / bare aiortc", ">=", 2.0),
}
NOTES = [
    "host cores and RSS are the host process's alone: the people run in two other processes",
    "a point passes when every call gets >= 49 frames/s back with <= 1% late or lost",
]

IMPLEMENTATIONS = ("edge-actors", "bare-aiortc")
CLIENTS = 2  # client processes, sharing the calls
WARM_S = 4.0  # after the last person joined, before the window


def available() -> str | None:
    """Why this scenario cannot run here, or ``None``."""
    return local_edge_missing()


def points(quick: bool) -> list[dict[str, Any]]:
    """Every size for each implementation; shorter windows when ``quick``."""
    sizes = [2, 6] if quick else [2, 4, 6, 8, 12, 16]
    hold = 4.0 if quick else 8.0
    return [{"impl": impl, "calls": n, "hold_s": hold} for n in sizes for impl in IMPLEMENTATIONS]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one point: this worker process is the host."""
    return asyncio.run(_host(point["impl"], point["calls"], point["hold_s"]))


# -- the host -----------------------------------------------------------------------


async def _host(impl: str, calls: int, hold: float) -> dict[str, Any]:
    if impl == "edge-actors":
        return await _host_edge_actors(calls, hold)
    return await _host_bare(calls, hold)


async def _host_edge_actors(calls: int, hold: float) -> dict[str, Any]:
    from transport import TrackAddedEvent, TrackType, User
    from transport.local import LocalEdge

    async with LocalEdge() as edge:

        @edge.events.subscribe
        async def echo(event: TrackAddedEvent) -> None:
            if event.track_type is not TrackType.AUDIO:
                return
            heard = edge.add_track_subscriber(event.track_id)
            track_id = await edge.publish_track(event.call.id, heard)
            await edge.send_custom_event(event.call.id, {"echo": track_id})

        seats = []
        for n in range(calls):
            call = await edge.create_call(f"voice-{n}")
            await edge.join(User("agent"), call)
            seats.append({"call": call.id, "token": edge.token(call.id, f"person-{n}", ttl=600)})
        return await _measure(edge.url, "edge-actors", seats, hold)


async def _host_bare(calls: int, hold: float) -> dict[str, Any]:
    from benchmarks.baselines.aiortc_echo import EchoServer

    async with EchoServer() as server:
        seats = [{"call": f"voice-{n}", "token": ""} for n in range(calls)]
        return await _measure(server.url, "bare-aiortc", seats, hold)


async def _measure(url: str, impl: str, seats: list[dict[str, str]], hold: float) -> dict[str, Any]:
    """Start the people, measure the host over the window, gather what the people saw."""
    window = time.time() + WARM_S + 2.0 * len(seats) / CLIENTS  # joins take a while each
    shares = [seats[i::CLIENTS] for i in range(CLIENTS)]
    order = {"url": url, "impl": impl, "window": window, "hold": hold}
    clients = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks._voice_people",
            json.dumps({**order, "seats": share}),
            stdout=asyncio.subprocess.PIPE,
        )
        for share in shares
        if share
    ]
    await asyncio.sleep(max(0.0, window - time.time()))  # the window is fixed in advance
    cpu, began = cpu_seconds(), time.time()
    await asyncio.sleep(hold)  # a measuring window of fixed length, not a wait for state
    cores = (cpu_seconds() - cpu) / (time.time() - began)
    rss = rss_bytes()
    people: list[dict[str, Any]] = []
    for client in clients:
        out, _ = await client.communicate()
        people.extend(json.loads(out) if out else [])
    return _result(len(seats), cores, rss, people, hold)


def _result(
    calls: int, cores: float, rss: int, people: list[dict[str, Any]], hold: float
) -> dict[str, Any]:
    expected = FRAMES_PER_S * hold
    fps = [p["frames"] / hold for p in people] + [0.0] * (calls - len(people))
    lost = [max(0.0, 1 - p["frames"] / expected) for p in people] + [1.0] * (calls - len(people))
    trips = [t for p in people for t in p["round_trips_s"]]
    full_rate = min(fps) >= 49.0 and max(lost) <= 0.01
    return {
        "calls": calls,
        "host_cores": cores,
        "host_cores_per_call": cores / calls,
        "rss_mb_per_call": rss / calls / 1e6,
        "worst_fps": min(fps),
        "worst_late_or_lost": max(lost),
        "round_trip_p50_ms": percentile(trips, 0.5) * 1e3 if trips else float("nan"),
        "round_trip_p99_ms": percentile(trips, 0.99) * 1e3 if trips else float("nan"),
        "full_rate": full_rate,
        "calls_per_core": calls / cores if full_rate and cores else 0.0,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Results by implementation and size; calls per core is each one's best passing point."""
    by: dict[str, dict[str, Any]] = {impl: {} for impl in IMPLEMENTATIONS}
    for point, result in results:
        by[point["impl"]][str(point["calls"])] = result
    best = {
        impl: max((r["calls_per_core"] for r in rows.values()), default=0.0)
        for impl, rows in by.items()
    }
    ratio = best["edge-actors"] / best["bare-aiortc"] if best["bare-aiortc"] else 0.0
    headline = {
        "calls_per_core": best["edge-actors"],
        "bare_calls_per_core": best["bare-aiortc"],
    }
    return {"results": by, "ratios": {"vs_bare_aiortc": ratio}, "headline": headline}
