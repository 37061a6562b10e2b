"""ask_latency: one ask's round trip, from a coroutine to one actor and back.

Two implementations, each point in its own fresh process, on an otherwise idle
loop: ``edge-actors`` (``actors.ask(ref, message)`` on an ``AsyncioActor``, the
future awaited) and ``task-queue``, the usual hand-written actor: one asyncio
task per actor reading an ``asyncio.Queue`` of ``(message, future)`` pairs.
After a warm-up, ``asks`` asks are timed one by one (``perf_counter`` around
each ``await``); ``p50_us`` / ``p99_us`` are their latencies in microseconds.

``vs_task_queue`` = edge-actors p50 / task-queue p50 (target <= 1.0).
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from typing import Any

NAME = "ask_latency"
TARGETS = {"vs_task_queue": ("edge-actors ask p50 / task+queue actor ask p50", "<=", 1.0)}
NOTES = ("one ask at a time on an idle loop; the loop is the one --loop names.",)
_WARMUP = 2_000


def points(quick: bool) -> list[dict[str, Any]]:
    """Both implementations; 20k timed asks (5k when quick)."""
    asks = 5_000 if quick else 20_000
    return [{"impl": impl, "asks": asks} for impl in ("edge-actors", "task-queue")]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Time one implementation's asks (in a fresh worker process)."""
    return asyncio.run(_run(point["impl"], point["asks"]))


async def _run(impl: str, asks: int) -> dict[str, Any]:
    ask, stop = await (_ours() if impl == "edge-actors" else _task_queue())
    for n in range(_WARMUP):
        await ask(n)
    gc.collect()
    gc.disable()  # a collection inside one ask is not the ask's latency
    latencies: list[float] = []
    try:
        for n in range(asks):
            started = time.perf_counter()
            answer = await ask(n)
            latencies.append(time.perf_counter() - started)
            if answer != n:
                msg = f"asked {n}, got {answer!r}"
                raise AssertionError(msg)
    finally:
        gc.enable()
    await stop()
    latencies.sort()
    return {
        "asks": asks,
        "p50_us": latencies[len(latencies) // 2] * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
        "mean_us": statistics.fmean(latencies) * 1e6,
    }


async def _ours() -> tuple[Any, Any]:
    import actors

    class Echo(actors.AsyncioActor):
        def on_receive(self, message: Any) -> Any:
            return message

    ref = Echo.start()

    async def ask(n: int) -> Any:
        return await actors.ask(ref, n)

    async def stop() -> None:
        await actors.stop_all()

    return ask, stop


async def _task_queue() -> tuple[Any, Any]:
    inbox: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] = asyncio.Queue()

    async def actor() -> None:
        while True:
            message, reply = await inbox.get()
            reply.set_result(message)

    task = asyncio.get_running_loop().create_task(actor())
    loop = asyncio.get_running_loop()

    async def ask(n: int) -> Any:
        reply: asyncio.Future[Any] = loop.create_future()
        inbox.put_nowait((n, reply))
        return await reply

    async def stop() -> None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    return ask, stop


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Both implementations side by side; the ratio of their p50s."""
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(point["impl"], {})["1"] = result
    ratios: dict[str, float] = {}
    ours = by.get("edge-actors", {}).get("1")
    base = by.get("task-queue", {}).get("1")
    if ours and base and base.get("p50_us"):
        ratios["vs_task_queue"] = ours["p50_us"] / base["p50_us"]
    return {"results": by, "ratios": ratios, "headline": ours or {}}
