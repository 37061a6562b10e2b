"""cluster: cross-host tells and asks through Ray, batched and not, beside the local path.

A local Ray cluster (2 CPUs, no dashboard) with three host processes on
``MemoryEdge`` (this measures the fleet's messaging, not media). Host A holds a
call; the driver reaches its connection through the directory (``lookup``) and
a ``RemoteConnectionRef``.

- tells: ``tells_per_s`` batched (every tell to a host in one loop turn travels
  in one Ray call, as ``tell`` does) and ``unbatched_tells_per_s`` (one Ray call
  per tell), each followed by one ask that waits for them all;
- asks: ``ask_p50_ms``/``ask_p99_ms`` one at a time (each alone in its turn:
  one Ray call), ``batched_asks_per_s`` with 100 asks per loop turn (one Ray
  call for all) against ``unbatched_asks_per_s`` (100 concurrent Ray calls);
- local: the same joins and leaves (``local_msgs_per_s``) and asks
  (``local_ask_p50_ms``) made on host A's own path, where nothing crosses Ray;
- ``places_per_s``: concurrent ``place()`` calls from the driver, each reserving
  a seat in the directory and opening the call on one of the three hosts;
- ``serve_again_s``: from killing the host of a call to the call answering an
  ask on another host after ``next_lost()`` and ``replace()``; ``lost_after_s``
  is the part the directory took to declare the host lost (its ``lost_after``
  is 2 s, the default).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks._measure import summary

NAME = "cluster"
TARGETS: dict[str, tuple[str, str, float]] = {}
TARGETS = {
    "tells_per_s": ("cross-host tells, one driver (batched)", ">=", 50_000.0),
    "ask_p50_ms": ("cross-host ask round trip, one at a time", "<=", 2.0),
}
NOTES = (
    "cross-host: driver -> Ray -> host actor -> connection actor; local: inside the host.",
    "Ray is started and stopped inside the point; its start-up is not timed.",
    "A Ray actor call's own round trip on this machine is about 1.4 ms (measured apart).",
)

BATCH = 100
LOST_AFTER = 2.0


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
    import ray

    from messages import Participant, ParticipantJoined, ParticipantLeft, encode
    from transport import MemoryEdge
    from transport.fleet import Host, lookup, next_lost, place, replace, start_directory

    directory = start_directory(lost_after=LOST_AFTER)
    hosts = {
        name: Host.options(name=name).remote(name, edge=MemoryEdge)  # type: ignore[attr-defined]
        for name in ("bench-a", "bench-b", "bench-c")
    }
    for host in hosts.values():
        await host.start.remote(host)
    await place("bench-call", "agent")
    ref = await lookup("bench-call")
    assert ref is not None
    handle = hosts[ref.host]

    def person(n: int, prefix: str) -> Participant:
        return Participant(None, f"{prefix}{n}", f"{prefix}{n}__1")

    updates_before = sum([await shard.update_count.remote() for shard in directory])
    started = time.perf_counter()
    for n in range(tells // 2):
        ref.tell(ParticipantJoined("bench-call", person(n, "t")))
        ref.tell(ParticipantLeft("bench-call", person(n, "t")))
    await ref.ask(ParticipantLeft("bench-call", person(0, "x")))
    tell_seconds = time.perf_counter() - started
    local_seconds = await handle.local_tells.remote("bench-call", tells // 2)  # the same load

    remote_started = started = time.perf_counter()
    for n in range(tells // 20):  # a tenth as many: each is its own Ray call
        handle.deliver.remote("bench-call", encode(ParticipantJoined("bench-call", person(n, "u"))))
        handle.deliver.remote("bench-call", encode(ParticipantLeft("bench-call", person(n, "u"))))
    await ref.ask(ParticipantLeft("bench-call", person(1, "x")))
    unbatched_tell_seconds = time.perf_counter() - started

    latencies = []
    for n in range(asks):
        began = time.perf_counter()
        await ref.ask(ParticipantJoined("bench-call", person(n, "a")))
        latencies.append(time.perf_counter() - began)
    updates_after = sum([await shard.update_count.remote() for shard in directory])
    remote_seconds = time.perf_counter() - remote_started  # unbatched tells and asks
    local_asks = await handle.local_asks.remote("bench-call", asks)  # the same load

    rounds = max(1, asks // BATCH)
    started = time.perf_counter()
    for r in range(rounds):
        people = [person(r * BATCH + n, "b") for n in range(BATCH)]
        await asyncio.gather(*(ref.ask(ParticipantJoined("bench-call", p)) for p in people))
    batched_seconds = time.perf_counter() - started
    started = time.perf_counter()
    for r in range(rounds):
        people = [person(r * BATCH + n, "c") for n in range(BATCH)]
        messages = [encode(ParticipantJoined("bench-call", p)) for p in people]
        await asyncio.gather(*(handle.ask.remote("bench-call", m) for m in messages))
    unbatched_seconds = time.perf_counter() - started

    started = time.perf_counter()
    await asyncio.gather(*(place(f"bench-place-{n}", "agent") for n in range(places)))
    place_seconds = time.perf_counter() - started

    killed = time.perf_counter()
    ray.kill(handle)
    lost = await next_lost()
    while lost.host != ref.host:  # a host too busy to beat in time is declared lost too
        lost = await next_lost()
    lost_seconds = time.perf_counter() - killed
    moved = (await replace(lost))["bench-call"]
    assert not isinstance(moved, Exception), moved
    await moved.ask(ParticipantJoined("bench-call", person(0, "back")))
    serve_again = time.perf_counter() - killed
    return {
        "places_per_s": places / place_seconds,
        "tells_per_s": tells / tell_seconds,
        "unbatched_tells_per_s": (tells // 10) / unbatched_tell_seconds,
        "local_msgs_per_s": tells / local_seconds,
        **{f"ask_{k}": v for k, v in summary(latencies).items()},
        "local_ask_p50_ms": summary(local_asks)["p50_ms"],
        "batched_asks_per_s": rounds * BATCH / batched_seconds,
        "unbatched_asks_per_s": rounds * BATCH / unbatched_seconds,
        "directory_updates_per_s": (updates_after - updates_before) / remote_seconds,
        "lost_after_s": lost_seconds,
        "serve_again_s": serve_again,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """One row for the cross-host path, with the local path beside it."""
    result = results[0][1] if results else {}
    ratios = {}
    if result:
        ratios["local_vs_cross_host_tells"] = result["local_msgs_per_s"] / result["tells_per_s"]
        ratios["batched_vs_unbatched_tells"] = (
            result["tells_per_s"] / result["unbatched_tells_per_s"]
        )
        ratios["batched_vs_unbatched_asks"] = (
            result["batched_asks_per_s"] / result["unbatched_asks_per_s"]
        )
        ratios["cross_host_vs_local_ask_p50"] = result["ask_p50_ms"] / result["local_ask_p50_ms"]
    size = str(results[0][0]["tells"]) if results else "0"
    return {"results": {"edge-actors": {size: result}}, "ratios": ratios, "headline": result}
