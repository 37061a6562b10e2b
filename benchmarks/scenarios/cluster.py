"""cluster: cross-host tells and asks through Ray, batched and not, beside the local path.

A local Ray cluster (2 CPUs, no dashboard) with three host processes on
``MemoryEdge`` (this measures the fleet's messaging, not media). Host A holds a
call; the driver reaches its connection through the directory (``lookup``) and
a ``RemoteConnectionRef``.

- tells: ``tells_per_s`` batched (every tell to a host in one loop turn travels
  in one Ray call, as ``tell`` does) and ``unbatched_tells_per_s`` (one Ray call
  per tell), each followed by one ask that waits for them all;
- asks one at a time: ``ask_p50_ms``/``ask_p99_ms`` through the ref (each
  alone in its turn: a batch of one, one Ray call) beside
  ``bare_ray_ask_p50_ms``/``_p99_ms`` (the host's ``ask`` as a plain Ray call,
  no batching machinery) and ``local_ask_p50_ms``/``_p99_ms`` (inside the host);
- asks 100 per loop turn: ``batched_ask_p50_ms``/``_p99_ms`` and
  ``batched_asks_per_s`` (the ref's path: one Ray call for the 100) against
  ``unbatched_ask_p50_ms``/``_p99_ms`` and ``unbatched_asks_per_s`` (100
  concurrent Ray calls); each ask's latency runs from its turn to its answer;
- local: the same joins and leaves (``local_msgs_per_s``) made on host A's own
  path, where nothing crosses Ray;
- ``places_per_s``: concurrent ``place()`` calls from the driver, each reserving
  a seat in the directory and opening the call on one of the three hosts;
- ``serve_again_s``: from killing host A to every call it held (``calls_moved``:
  the benchmark's call and its share of the placed ones) answering an ask on
  another host after ``next_lost()`` and ``replace()``; ``lost_after_s`` is the
  part the directory took to declare the host lost (its ``lost_after`` is 2 s,
  the default).
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

    from transport.fleet import start_local_cluster

    start_local_cluster()
    try:
        return asyncio.run(_run(point["tells"], point["asks"], point["places"]))
    finally:
        ray.shutdown()


async def _run(tells: int, asks: int, places: int) -> dict[str, Any]:
    import ray

    from messages import Participant, ParticipantJoined, ParticipantLeft, encode
    from transport import MemoryEdge
    from transport.fleet import (
        RemoteConnectionRef,
        lookup,
        next_lost,
        place,
        place_again,
        start_directory,
    )
    from transport.fleet.testing import InstrumentedHost

    directory = start_directory(lost_after=LOST_AFTER)
    seats = places + 1  # room on each host for every call, also after one host is lost
    hosts = {
        name: InstrumentedHost.options(name=name).remote(name, seats, edge=MemoryEdge)
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

    def churn(prefix: str, count: int) -> list[Any]:
        """``count`` messages: joins, each followed by its leave (the call stays small)."""
        kinds = (ParticipantJoined, ParticipantLeft)
        return [kinds[n % 2]("bench-call", person(n // 2, prefix)) for n in range(count)]

    # Tells: batched (the ref's own path), unbatched (one Ray call each), local.
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

    # Asks one at a time: through the ref (a batch of one), a bare Ray call each, local.
    # Every ask is a join or the leave after it, so the call's size stays the same throughout.
    one_at_a_time = []
    for message in churn("a", asks):
        began = time.perf_counter()
        await ref.ask(message)
        one_at_a_time.append(time.perf_counter() - began)
    updates_after = sum([await shard.update_count.remote() for shard in directory])
    remote_seconds = time.perf_counter() - remote_started  # unbatched tells and asks
    bare = []
    for message in churn("r", asks):
        data = encode(message)
        began = time.perf_counter()
        await handle.handle_and_report_state.remote("bench-call", data)
        bare.append(time.perf_counter() - began)
    local_asks = await handle.local_asks.remote("bench-call", asks)  # the same load

    # Asks BATCH at a time (all made in one loop turn): one Ray call for all of them
    # against one Ray call each; each ask's latency is from the turn to its answer.
    async def timed(reply: Any, began: float, into: list[float]) -> None:
        await reply
        into.append(time.perf_counter() - began)

    rounds = max(1, asks // BATCH)
    batched: list[float] = []
    started = time.perf_counter()
    for r in range(rounds):
        messages = churn(f"b{r}-", BATCH)
        began = time.perf_counter()
        await asyncio.gather(*(timed(ref.ask(m), began, batched) for m in messages))
    batched_seconds = time.perf_counter() - started
    unbatched: list[float] = []
    started = time.perf_counter()
    for r in range(rounds):
        data = [encode(m) for m in churn(f"c{r}-", BATCH)]
        began = time.perf_counter()
        replies = [handle.handle_and_report_state.remote("bench-call", d) for d in data]
        await asyncio.gather(*(timed(reply, began, unbatched) for reply in replies))
    unbatched_seconds = time.perf_counter() - started

    started = time.perf_counter()
    await asyncio.gather(*(place(f"bench-place-{n}", "agent") for n in range(places)))
    place_seconds = time.perf_counter() - started

    # A host dies: from the kill to every call it held answering an ask elsewhere.
    killed = time.perf_counter()
    ray.kill(handle)
    lost = await next_lost()
    while lost.host != ref.host:  # a host too busy to beat in time is declared lost too
        lost = await next_lost()
    lost_seconds = time.perf_counter() - killed
    moved = await place_again(lost)
    refs = [r for r in moved.values() if isinstance(r, RemoteConnectionRef)]
    assert len(refs) == len(lost.call_ids), moved
    await asyncio.gather(*(r.ask(ParticipantJoined(r.call_id, person(0, "back"))) for r in refs))
    serve_again = time.perf_counter() - killed

    def percentiles(prefix: str, latencies: list[float]) -> dict[str, float]:
        figures = summary(latencies)
        return {f"{prefix}_p50_ms": figures["p50_ms"], f"{prefix}_p99_ms": figures["p99_ms"]}

    return {
        "places_per_s": places / place_seconds,
        "tells_per_s": tells / tell_seconds,
        "unbatched_tells_per_s": (tells // 10) / unbatched_tell_seconds,
        "local_msgs_per_s": tells / local_seconds,
        **percentiles("ask", one_at_a_time),
        **percentiles("bare_ray_ask", bare),
        **percentiles("local_ask", local_asks),
        **percentiles("batched_ask", batched),
        **percentiles("unbatched_ask", unbatched),
        "batched_asks_per_s": rounds * BATCH / batched_seconds,
        "unbatched_asks_per_s": rounds * BATCH / unbatched_seconds,
        "directory_updates_per_s": (updates_after - updates_before) / remote_seconds,
        "calls_moved": len(refs),
        "lost_after_s": lost_seconds,
        "serve_again_s": serve_again,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """A row per path (batched, unbatched, local) and one for the fleet; all figures headline.

    ``ask_*`` is one ask at a time; ``turn_ask_*`` is 100 asks made in one
    loop turn (``turn_asks_per_s`` their throughput). The unbatched row's
    one-at-a-time asks are bare Ray calls to the host.
    """
    result = results[0][1] if results else {}
    if not result:
        return {"results": {}, "ratios": {}, "headline": {}}
    size = str(results[0][0]["tells"])
    rows = {
        "cross-host batched": {
            "tells_per_s": result["tells_per_s"],
            "ask_p50_ms": result["ask_p50_ms"],
            "ask_p99_ms": result["ask_p99_ms"],
            "turn_ask_p50_ms": result["batched_ask_p50_ms"],
            "turn_ask_p99_ms": result["batched_ask_p99_ms"],
            "turn_asks_per_s": result["batched_asks_per_s"],
        },
        "cross-host unbatched": {
            "tells_per_s": result["unbatched_tells_per_s"],
            "ask_p50_ms": result["bare_ray_ask_p50_ms"],
            "ask_p99_ms": result["bare_ray_ask_p99_ms"],
            "turn_ask_p50_ms": result["unbatched_ask_p50_ms"],
            "turn_ask_p99_ms": result["unbatched_ask_p99_ms"],
            "turn_asks_per_s": result["unbatched_asks_per_s"],
        },
        "local (inside the host)": {
            "tells_per_s": result["local_msgs_per_s"],
            "ask_p50_ms": result["local_ask_p50_ms"],
            "ask_p99_ms": result["local_ask_p99_ms"],
        },
        "fleet (3 hosts)": {
            key: result[key]
            for key in (
                "places_per_s",
                "directory_updates_per_s",
                "calls_moved",
                "lost_after_s",
                "serve_again_s",
            )
        },
    }
    ratios = {
        "local_vs_cross_host_tells": result["local_msgs_per_s"] / result["tells_per_s"],
        "batched_vs_unbatched_tells": result["tells_per_s"] / result["unbatched_tells_per_s"],
        "batched_vs_unbatched_asks": result["batched_asks_per_s"] / result["unbatched_asks_per_s"],
        "cross_host_vs_local_ask_p50": result["ask_p50_ms"] / result["local_ask_p50_ms"],
        "ask_p50_vs_bare_ray_call": result["ask_p50_ms"] / result["bare_ray_ask_p50_ms"],
    }
    return {
        "results": {impl: {size: row} for impl, row in rows.items()},
        "ratios": ratios,
        "headline": result,
    }
