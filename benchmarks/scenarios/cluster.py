"""cluster: cross-host tells and asks through Ray, beside the local path, and directory updates.

A local Ray cluster (2 CPUs, no dashboard) with three host processes. Host A
holds a call; the driver reaches its connection through the directory
(``lookup``) and a ``RemoteConnectionRef``: ``tell`` throughput (fire and
forget, then one ask to wait for them all), ``ask`` latency one at a time, and
the same joins and leaves made on host A's own local path, where nothing
crosses Ray. ``directory_updates_per_s`` counts presence publications the
directory took while the host published after every change.
``places_per_s`` is placement throughput: so many concurrent ``place()`` calls
from the driver, each reserving a seat in the directory and opening the call on
one of the three hosts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks._measure import summary

NAME = "cluster"
TARGETS: dict[str, tuple[str, str, float]] = {}
NOTES = (
    "cross-host: driver -> Ray -> host actor -> connection actor; local: inside the host.",
    "Ray is started and stopped inside the point; its start-up is not timed.",
)


def available() -> str | None:
    """Skip without Ray (the ``ray`` extra)."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed (pip install 'edge-actors[ray]')"
    return None


def points(quick: bool) -> list[dict[str, Any]]:
    """One point: so many tells, asks and local changes."""
    return [
        {
            "tells": 2_000 if quick else 10_000,
            "asks": 200 if quick else 1_000,
            "places": 60 if quick else 200,
        }
    ]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure in this worker process, which also drives the Ray cluster."""
    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="edge-actors")
    try:
        return asyncio.run(_run(point["tells"], point["asks"], point["places"]))
    finally:
        ray.shutdown()


async def _run(tells: int, asks: int, places: int) -> dict[str, Any]:
    from messages import Participant, ParticipantJoined, ParticipantLeft
    from transport.fleet import Host, lookup, place, start_directory

    directory = start_directory()
    hosts = [Host.options(name=f"bench-{n}").remote(f"bench-{n}") for n in ("a", "b", "c")]
    for host in hosts:
        await host.start.remote(host)
    await place("bench-call", "agent")
    ref = await lookup("bench-call")
    assert ref is not None
    updates_before = await directory[0].update_count.remote()
    updates_before += await directory[1].update_count.remote()

    started = time.perf_counter()
    for n in range(tells // 2):
        person = Participant(None, f"t{n}", f"t{n}__1")
        ref.tell(ParticipantJoined("bench-call", person))
        ref.tell(ParticipantLeft("bench-call", person))
    await ref.ask(ParticipantLeft("bench-call", Participant(None, "x", "x__1")))
    tell_seconds = time.perf_counter() - started

    latencies = []
    for n in range(asks):
        person = Participant(None, f"a{n}", f"a{n}__1")
        began = time.perf_counter()
        await ref.ask(ParticipantJoined("bench-call", person))
        latencies.append(time.perf_counter() - began)
    updates_after = await directory[0].update_count.remote()
    updates_after += await directory[1].update_count.remote()
    remote_seconds = time.perf_counter() - started

    loads = [await host.load.remote() for host in hosts]
    holder = hosts[loads.index(max(loads))]
    local_seconds = await holder.local_tells.remote("bench-call", tells // 2)

    started = time.perf_counter()
    await asyncio.gather(*(place(f"bench-place-{n}", "agent") for n in range(places)))
    place_seconds = time.perf_counter() - started
    return {
        "places_per_s": places / place_seconds,
        "tells_per_s": tells / tell_seconds,
        "local_msgs_per_s": tells / local_seconds,
        **{f"ask_{k}": v for k, v in summary(latencies).items()},
        "directory_updates_per_s": (updates_after - updates_before) / remote_seconds,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """One row for the cross-host path, with the local path beside it."""
    result = results[0][1] if results else {}
    ratios = {}
    if result:
        ratios["local_vs_cross_host_tells"] = result["local_msgs_per_s"] / result["tells_per_s"]
    size = str(results[0][0]["tells"]) if results else "0"
    return {"results": {"edge-actors": {size: result}}, "ratios": ratios, "headline": result}
