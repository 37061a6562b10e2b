"""hostile_load: honest joins on a ``LocalEdge`` while hundreds of sockets never join.

Loopback only, bounded in count and time. Honest clients (200 by default) each
join call ``load`` with a fresh token over a real websocket, then leave, in a
loop, for the run's duration. In the ``hostile`` point, 300 more sockets,
from another process, connect and never send a frame, reconnecting whenever the
edge cuts them (the join deadline or the cap on unjoined sockets). Figures:

- ``joins_per_s``, ``p50_ms``, ``p99_ms``: honest joins completed (socket open ->
  ``Joined``) and their latency;
- ``fds_before`` / ``fds_after``, ``tasks_before`` / ``tasks_after``: open file
  descriptors and asyncio tasks of the process before the run and after it
  ended and the edge closed (they must come back);
- ``cut``: unjoined sockets the edge cut to make room.

``p99_ratio`` = hostile p99 / clean p99 (target <= 1.5).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from typing import Any

from benchmarks._measure import missing, summary

NAME = "hostile_load"
TARGETS = {"p99_ratio": ("honest join p99, 300 idle sockets / none", "<=", 1.5)}
NOTES = ("loopback only; hostile sockets connect and never join, reconnecting when cut.",)


def available() -> str | None:
    """Skip without the local edge's dependencies."""
    return missing("aiortc") or missing("aiohttp")


def points(quick: bool) -> list[dict[str, Any]]:
    """Clean and hostile runs of the same honest load."""
    seconds = 8.0 if quick else 30.0
    honest = 50 if quick else 200
    return [
        {"impl": mode, "honest": honest, "hostile": 300 if mode == "hostile" else 0, "s": seconds}
        for mode in ("clean", "hostile")
    ]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one mode (in a fresh worker process)."""
    return asyncio.run(_run(point["honest"], point["hostile"], point["s"]))


def _attack(url: str, sockets: int, seconds: float) -> None:
    """In another process: ``sockets`` connections that never join, reconnecting when cut."""
    asyncio.run(_idle_sockets(url, sockets, seconds))


async def _idle_sockets(url: str, sockets: int, seconds: float) -> None:
    import aiohttp

    deadline = time.perf_counter() + seconds

    async def idle(http: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            try:
                async with http.ws_connect(url, heartbeat=None) as socket:
                    await socket.receive(timeout=max(deadline - time.perf_counter(), 0.01))
            except (aiohttp.ClientError, ConnectionError, TimeoutError):
                await asyncio.sleep(0.01)  # pacing between reconnects of one attacker socket

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await asyncio.gather(*(idle(http) for _ in range(sockets)))


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _run(honest: int, hostile: int, seconds: float) -> dict[str, Any]:
    import aiohttp

    from transport import User
    from transport.local import LocalEdge
    from transport.local.signaling import SIGNALING_VERSION, Join, Leave, decode_edge, encode

    fds_before, tasks_before = _fds(), len(asyncio.all_tasks())
    edge = await LocalEdge().start()
    await edge.join(User("agent"), await edge.create_call("load"))
    url = f"{edge.url}/ws/load"
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=0)

    async def honest_client(n: int, http: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            token = edge.token("load", f"honest{n}")
            started = time.perf_counter()
            try:
                async with http.ws_connect(url) as socket:
                    await socket.send_bytes(encode(Join(token, 1, SIGNALING_VERSION)))
                    while type(decode_edge(await socket.receive_bytes())).__name__ != "Joined":
                        pass
                    latencies.append(time.perf_counter() - started)
                    await socket.send_bytes(encode(Leave(2)))
                    while type(decode_edge(await socket.receive_bytes())).__name__ != "Done":
                        pass
            except (aiohttp.ClientError, ConnectionError, TypeError):
                continue  # refused or cut: try again

    attacker = None
    if hostile:
        attacker = multiprocessing.get_context("spawn").Process(
            target=_attack, args=(url, hostile, seconds), daemon=True
        )
        attacker.start()
    async with aiohttp.ClientSession(connector=connector) as http:
        clients = [honest_client(n, http) for n in range(honest)]
        started = time.perf_counter()
        await asyncio.gather(*clients)
        elapsed = time.perf_counter() - started
    if attacker is not None:
        attacker.join(timeout=10)
        if attacker.is_alive():
            attacker.kill()
            attacker.join()
        attacker.close()  # its pipes and sentinel are file descriptors too
    cut = edge.turned_away
    await edge.close()
    await asyncio.sleep(0.1)  # let the closed sockets' file descriptors go (a measurement)
    return {
        "honest": honest,
        "hostile": hostile,
        "joins": len(latencies),
        "joins_per_s": len(latencies) / elapsed,
        **summary(latencies),
        "cut": cut,
        "fds_before": fds_before,
        "fds_after": _fds(),
        "tasks_before": tasks_before,
        "tasks_after": len(asyncio.all_tasks()),
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Both modes side by side; the ratio of their p99s."""
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        by.setdefault(point["impl"], {})[str(point["honest"])] = result
    ratios: dict[str, float] = {}
    clean = next(iter(by.get("clean", {}).values()), None)
    hostile = next(iter(by.get("hostile", {}).values()), None)
    if clean and hostile and clean.get("p99_ms"):
        ratios["p99_ratio"] = hostile["p99_ms"] / clean["p99_ms"]
    return {"results": by, "ratios": ratios, "headline": hostile or {}}
