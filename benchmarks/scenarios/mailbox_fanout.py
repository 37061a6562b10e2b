"""mailbox_fanout: tell fan-out throughput and memory per idle actor.

edge-actors' ``AsyncioActor`` beside pykka's ``ThreadingActor`` (one OS thread
per actor: it stops at 5,000 actors, where starting takes seconds and each
thread reserves its own stack) and a bare ``deque`` + ``loop.call_soon``
dispatcher, the ceiling for any actor runtime on asyncio. Each actor gets one
message per round; throughput is messages handled per second of wall time.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Any

import pykka

from benchmarks._measure import Stopwatch, settle_memory

NAME = "mailbox_fanout"
TARGETS = {
    "msgs_per_s": ("edge-actors at 100k actors", ">=", 400_000),
    "bytes_per_actor": ("edge-actors idle actor", "<=", 1024),
    "start_s": ("100k started", "<=", 1.0),
}


def points(quick: bool) -> list[dict[str, Any]]:
    sizes = [1_000, 10_000, 100_000]
    rounds = 3 if quick else 10
    out = [{"impl": "edge-actors", "actors": n, "rounds": rounds} for n in sizes]
    out += [{"impl": "bare-dispatcher", "actors": n, "rounds": rounds} for n in sizes]
    out += [{"impl": "pykka-threading", "actors": n, "rounds": 2} for n in (1_000, 5_000)]
    return out


def run(point: dict[str, Any]) -> dict[str, Any]:
    impl = point["impl"]
    if impl == "pykka-threading":
        return _threading(point["actors"], point["rounds"])
    return asyncio.run(_asyncio(impl, point["actors"], point["rounds"]))


async def _asyncio(impl: str, n: int, rounds: int) -> dict[str, Any]:
    import actors

    before = settle_memory()
    clock = Stopwatch()
    if impl == "edge-actors":

        class Counter(actors.AsyncioActor):
            def __init__(self) -> None:
                super().__init__()
                self.count = 0

            def on_receive(self, message: Any) -> Any:
                self.count += 1
                return self.count

        refs: list[Any] = [Counter.start() for _ in range(n)]
    else:
        dispatcher = _Bare(asyncio.get_running_loop())
        refs = [_BareActor(dispatcher) for _ in range(n)]
    started = clock.elapsed()
    idle = settle_memory()
    clock = Stopwatch()
    for _ in range(rounds):
        for ref in refs:
            ref.tell(1)
    if impl == "edge-actors":
        await actors.ask(refs[-1], 0)
    else:
        await refs[-1].ask()
    elapsed = clock.elapsed()
    result = {
        "msgs_per_s": n * rounds / elapsed,
        "bytes_per_actor": (idle - before) / n,
        "start_s": started,
        "actors": n,
    }
    if impl == "edge-actors":
        await actors.stop_all()
    return result


class _Bare:
    """A run queue of actors drained by one call_soon callback (the ceiling)."""

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
    __slots__ = ("count", "dispatcher", "queue", "waiter")

    def __init__(self, dispatcher: _Bare) -> None:
        self.dispatcher = dispatcher
        self.queue: collections.deque[Any] | None = None
        self.count = 0
        self.waiter: asyncio.Future[None] | None = None

    def tell(self, message: Any) -> None:
        if self.queue is None:
            self.queue = collections.deque()
            self.dispatcher.schedule(self)
        self.queue.append(message)

    def drain(self) -> None:
        queue = self.queue
        self.queue = None
        while queue:
            queue.popleft()
            self.count += 1
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def ask(self) -> None:
        self.waiter = self.dispatcher.loop.create_future()
        self.tell(0)
        await self.waiter


def _threading(n: int, rounds: int) -> dict[str, Any]:
    class Counter(pykka.ThreadingActor):
        use_daemon_thread = True

        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        def on_receive(self, message: Any) -> Any:
            self.count += 1
            return self.count

    before = settle_memory()
    clock = Stopwatch()
    refs = [Counter.start() for _ in range(n)]
    started = clock.elapsed()
    idle = settle_memory()
    clock = Stopwatch()
    for _ in range(rounds):
        for ref in refs:
            ref.tell(1)
    for ref in refs:
        ref.ask(0)  # each actor has handled its rounds once this returns
    elapsed = clock.elapsed()
    stopper = threading.Thread(target=pykka.ActorRegistry.stop_all, daemon=True)
    stopper.start()
    stopper.join(timeout=60)
    return {
        "msgs_per_s": n * rounds / elapsed,
        "bytes_per_actor": (idle - before) / n,
        "start_s": started,
        "actors": n,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(point["impl"], {})[str(point["actors"])] = result
    ours = by.get("edge-actors", {}).get("100000", {})
    bare = by.get("bare-dispatcher", {}).get("100000", {})
    threads = by.get("pykka-threading", {}).get("5000", {})
    ratios = {}
    if ours and bare:
        ratios["vs_bare_dispatcher_at_100k"] = ours["msgs_per_s"] / bare["msgs_per_s"]
    if ours and threads:
        ratios["vs_pykka_threading"] = ours["msgs_per_s"] / threads["msgs_per_s"]
    return {"results": by, "ratios": ratios, "headline": ours}
