"""mailbox_fanout: tell fan-out throughput, memory per idle actor and start time.

Three implementations, each point in its own fresh process:

- ``edge-actors``: ``actors.AsyncioActor`` at 1k, 10k and 100k actors;
- ``bare-dispatcher``: the ceiling, written here: each actor is an object with
  a ``deque`` created when mail arrives, and one ``loop.call_soon`` callback
  drains a FIFO run queue of actors with mail (1,024 actors per loop
  iteration). No pykka, no envelopes, no error handling: the dispatch loop any
  actor runtime on one asyncio loop can at best approach (its deque per actor
  with mail sets off collections that edge-actors, keeping a lone message in a
  field, does not: see benchmarks/README.md);
- ``pykka-threading``: pykka's ``ThreadingActor`` at 1k and 5k actors only.
  It costs one OS thread per actor (its stack, a kernel task, a
  ``queue.Queue``); starting 5,000 already takes about a second, memory grows
  by tens of KB per actor, and each message costs a thread wake-up and a
  context switch on 2 cores. 10k+ threads would mostly measure the kernel
  scheduler, and 100k exceeds the default thread limits. We stop at 5,000.

Throughput: every actor gets one ``tell`` per round (the fan-out); a round ends
when the last actor has answered an ask (FIFO dispatch: everyone before it has
then had its turn; for threads, every actor is asked). One untimed warm-up
round, then ``rounds`` timed rounds (as many as make 1M tells, 300k with
``--quick``, so small sizes are not timed on a few milliseconds);
``msgs_per_s`` = tells handled / wall time, tell and handling included. Each
actor's counter is checked afterwards.

Memory: ``bytes_per_actor`` is the RSS delta (``/proc/self/statm``, after
``gc.collect()`` and glibc ``malloc_trim(0)``) from before starting the actors
to after, divided by their number: everything one idle started actor costs
(actor, ref, mailbox, directory entry, allocator slack; for threads also the
touched stack pages and kernel structures). For the asyncio implementations
``traced_bytes_per_actor`` cross-checks it with ``tracemalloc`` (Python heap
only, no allocator slack) over up to 10,000 extra actors started after the
timing. ``start_s`` is the wall time of starting all of them, ``stop_s`` of
stopping all of them with ``actors.stop_all()`` (each ``on_stop`` run, the
directory emptied), before the tracemalloc actors are made.
"""

from __future__ import annotations

import asyncio
import collections
import gc
import threading
import tracemalloc
from typing import Any, cast

import pykka

from benchmarks._measure import Stopwatch, settle_memory

NAME = "mailbox_fanout"
TARGETS = {
    "msgs_per_s": ("edge-actors at 100k actors", ">=", 400_000),
    "vs_bare_dispatcher_at_1k": ("edge-actors / bare dispatcher msg/s at 1k", ">=", 0.7),
    "vs_bare_dispatcher_at_10k": ("edge-actors / bare dispatcher msg/s at 10k", ">=", 0.7),
    "vs_bare_dispatcher_at_100k": ("edge-actors / bare dispatcher msg/s at 100k", ">=", 0.7),
    "vs_pykka_threading": ("edge-actors at 100k / ThreadingActor at 5k msg/s", ">=", 50),
    "bytes_per_actor": ("RSS per idle edge-actors actor at 100k", "<=", 400),
    "start_s": ("100k edge-actors actors started", "<=", 0.2),
    "stop_s": ("100k edge-actors actors stopped (stop_all)", "<=", 0.25),
}
NOTES = (
    "pykka-threading stops at 5,000 actors: one OS thread per actor (stack, kernel task, queue);"
    " starting 5,000 takes ~1 s and 100,000 would exceed the default thread limits.",
    "bytes_per_actor: RSS delta after gc + malloc_trim, per actor;"
    " traced_bytes_per_actor: tracemalloc (Python heap only) over up to 10k extra actors.",
)
_SIZES = (1_000, 10_000, 100_000)
_THREAD_SIZES = (1_000, 5_000)
_TRACED = 10_000
_PING = object()  # the ask that ends a round; not counted


def points(quick: bool) -> list[dict[str, Any]]:
    """Every implementation at every size: 300k timed tells per point when quick, else 1M."""
    total = 300_000 if quick else 1_000_000
    out: list[dict[str, Any]] = []
    for n in _SIZES:
        out.append({"impl": "edge-actors", "actors": n, "rounds": total // n})
        out.append({"impl": "bare-dispatcher", "actors": n, "rounds": total // n})
    out += [
        {"impl": "pykka-threading", "actors": n, "rounds": 2 if quick else 3} for n in _THREAD_SIZES
    ]
    return out


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one implementation at one size (in a fresh worker process)."""
    impl, n, rounds = point["impl"], point["actors"], point["rounds"]
    if impl == "pykka-threading":
        return _threading(n, rounds)
    if impl == "edge-actors":
        return asyncio.run(_edge_actors(n, rounds))
    return asyncio.run(_bare(n, rounds))


# -- edge-actors ------------------------------------------------------------------


async def _edge_actors(n: int, rounds: int) -> dict[str, Any]:
    import actors

    class Counter(actors.AsyncioActor):
        """Counts the tells it handles; answers the round-ending ask with the count."""

        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def on_receive(self, message: Any) -> Any:
            if message is _PING:
                return self.count
            self.count += 1
            return None

    async def fan_out(refs: list[Any]) -> None:
        for ref in refs:
            ref.tell(1)
        await actors.ask(refs[-1], _PING)

    # Warm the code paths (and the dispatcher) on a few actors first.
    warm = [Counter.start() for _ in range(100)]
    await fan_out(warm)
    await actors.stop_all()
    before = settle_memory()
    clock = Stopwatch()
    refs = [Counter.start() for _ in range(n)]
    started = clock.elapsed()
    idle = settle_memory()
    await fan_out(refs)  # warm-up round, not timed
    gc.collect()
    clock = Stopwatch()
    for _ in range(rounds):
        await fan_out(refs)
    elapsed = clock.elapsed()
    counts = [await actors.ask(ref, _PING) for ref in refs[:: max(1, n // 100)]]
    assert all(c == rounds + 1 for c in counts), f"lost tells: {set(counts)}"
    gc.collect()
    clock = Stopwatch()
    stopped = await actors.stop_all()
    stop_s = clock.elapsed()
    assert stopped == n, f"stop_all stopped {stopped} of {n}"
    assert not any(ref.is_alive() for ref in refs), "actors left alive"
    traced = await _traced_bytes(lambda: Counter.start(), min(n, _TRACED))
    await actors.stop_all()
    return {**_result(n, rounds, elapsed, idle - before, started, traced), "stop_s": stop_s}


# -- the bare dispatcher (the ceiling) ----------------------------------------------


class _BareDispatcher:
    """A FIFO run queue of actors with mail, drained by one ``call_soon`` callback."""

    __slots__ = ("loop", "ready", "scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.ready: collections.deque[_BareActor] = collections.deque()
        self.scheduled = False

    def schedule(self, actor: _BareActor) -> None:
        self.ready.append(actor)
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self.run)

    def run(self) -> None:
        ready = self.ready
        for _ in range(min(len(ready), 1024)):
            ready.popleft().drain()
        if ready:
            self.loop.call_soon(self.run)
        else:
            self.scheduled = False


class _BareActor:
    """A mailbox that exists only while mail waits, and a counter."""

    __slots__ = ("count", "dispatcher", "queue", "waiter")

    def __init__(self, dispatcher: _BareDispatcher) -> None:
        self.dispatcher = dispatcher
        self.queue: collections.deque[Any] | None = None
        self.count = 0
        self.waiter: asyncio.Future[int] | None = None

    def tell(self, message: Any) -> None:
        queue = self.queue
        if queue is None:
            self.queue = queue = collections.deque()
            self.dispatcher.schedule(self)
        queue.append(message)

    def drain(self) -> None:
        queue, self.queue = self.queue, None
        while queue:
            if queue.popleft() is _PING:
                if self.waiter is not None:
                    self.waiter.set_result(self.count)
                    self.waiter = None
            else:
                self.count += 1

    def ask(self) -> asyncio.Future[int]:
        self.waiter = self.dispatcher.loop.create_future()
        self.tell(_PING)
        return self.waiter


async def _bare(n: int, rounds: int) -> dict[str, Any]:
    dispatcher = _BareDispatcher(asyncio.get_running_loop())

    async def fan_out(refs: list[_BareActor]) -> None:
        for ref in refs:
            ref.tell(1)
        await refs[-1].ask()

    await fan_out([_BareActor(dispatcher) for _ in range(100)])
    before = settle_memory()
    clock = Stopwatch()
    refs = [_BareActor(dispatcher) for _ in range(n)]
    started = clock.elapsed()
    idle = settle_memory()
    await fan_out(refs)
    gc.collect()
    clock = Stopwatch()
    for _ in range(rounds):
        await fan_out(refs)
    elapsed = clock.elapsed()
    assert all(ref.count == rounds + 1 for ref in refs), "lost tells"
    traced = await _traced_bytes(lambda: _BareActor(dispatcher), min(n, _TRACED))
    return _result(n, rounds, elapsed, idle - before, started, traced)


# -- pykka ThreadingActor -----------------------------------------------------------


def _threading(n: int, rounds: int) -> dict[str, Any]:
    class Counter(pykka.ThreadingActor):
        """Counts the tells it handles; answers an ask with the count."""

        use_daemon_thread = True

        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def on_receive(self, message: Any) -> Any:
            if message is _PING:
                return self.count
            self.count += 1
            return None

    def fan_out(refs: list[pykka.ActorRef[Any]]) -> list[int]:
        for ref in refs:
            ref.tell(1)
        return [cast("int", ref.ask(_PING)) for ref in refs]  # each has handled the round

    before = settle_memory()
    clock = Stopwatch()
    refs = [Counter.start() for _ in range(n)]
    started = clock.elapsed()
    idle = settle_memory()
    fan_out(refs)
    clock = Stopwatch()
    for _ in range(rounds):
        counts = fan_out(refs)
    elapsed = clock.elapsed()
    assert all(c == rounds + 1 for c in counts), "lost tells"
    stopper = threading.Thread(target=pykka.ActorRegistry.stop_all, daemon=True)
    stopper.start()
    stopper.join(timeout=60)
    result = _result(n, rounds, elapsed, idle - before, started, None)
    result["threads"] = n
    return result


# -- shared -------------------------------------------------------------------------


async def _traced_bytes(make: Any, count: int) -> float:
    """Python-heap bytes per object made by ``make()``, from tracemalloc."""
    keep: list[Any] = []
    gc.collect()
    tracemalloc.start()
    try:
        first = tracemalloc.get_traced_memory()[0]
        keep.extend(make() for _ in range(count))
        gc.collect()
        last = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (last - first) / count


def _result(
    n: int, rounds: int, elapsed: float, rss_delta: int, started: float, traced: float | None
) -> dict[str, Any]:
    return {
        "actors": n,
        "rounds": rounds,
        "msgs": n * rounds,
        "seconds": elapsed,
        "msgs_per_s": n * rounds / elapsed,
        "bytes_per_actor": rss_delta / n,
        "traced_bytes_per_actor": traced,
        "start_s": started,
        "starts_per_s": n / started if started else None,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Results by implementation and size; ratios against the baselines."""
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(point["impl"], {})[str(point["actors"])] = result
    ours = by.get("edge-actors", {})
    bare = by.get("bare-dispatcher", {})
    threads = by.get("pykka-threading", {})
    ratios: dict[str, float] = {}
    for size, result in ours.items():
        if size in bare:
            ratios[f"vs_bare_dispatcher_at_{int(size) // 1000}k"] = (
                result["msgs_per_s"] / bare[size]["msgs_per_s"]
            )
        if size in threads:
            ratios[f"vs_pykka_threading_at_{int(size) // 1000}k"] = (
                result["msgs_per_s"] / threads[size]["msgs_per_s"]
            )
    if "100000" in ours and "5000" in threads:
        ratios["vs_pykka_threading"] = ours["100000"]["msgs_per_s"] / threads["5000"]["msgs_per_s"]
    return {"results": by, "ratios": ratios, "headline": ours.get("100000", {})}
