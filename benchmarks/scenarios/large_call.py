"""large_call: one call of 50, 200 or 1,000 signaling-only participants, with churn, on LocalEdge.

Loopback only, bounded in time. The worker process runs the edge (and the
agent's connection to each call); the participants run in a second process, so
the edge's CPU (``time.process_time`` of the worker) is its own. A fifth of the
participants (at most ``MAX_CHURNERS``) churn: each joins with a fresh token and
a new user id, stays until every stable participant's roster shows it (at most
``CONVERGE_S``), leaves, and joins again, until the run's time is up. The others
join once and stay (a point's ``churners`` overrides how many churn). The
``calls`` points spread 200 participants over 20 calls and all of them churn
without waiting, like the load test of issue 31. Implementations: ``conflated``
(the edge as shipped: deltas, one roster place per outbox) and ``broadcast``
(``benchmarks.baselines.broadcast_roster``: the full roster to everyone on every
change). Figures, over the churn phase only:

- ``joins_per_s``; ``join_p50_ms`` / ``join_p99_ms`` (socket open to ``Joined``);
- ``p50_ms`` / ``p99_ms``: from a churner sending ``Join`` to the moment the last
  stable participant's roster shows it; ``unconverged``: joins some never saw
  within ``CONVERGE_S``;
- ``roster_frames_per_change`` and ``roster_bytes_per_change`` (a change is a
  join or a leave), both also ``_per_participant``;
- ``dropped``: participants whose socket the edge closed (must be 0);
- ``cpu_ms_per_join``: edge CPU over the churn phase per join (with its leave);
  ``token_ms_per_join``: the part of it in ``JoinTokens.redeem``, and
  ``cpu_ms_per_join_without_tokens`` the rest.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
from multiprocessing.connection import Connection as Pipe
from typing import Any

from benchmarks._measure import missing, percentile

NAME = "large_call"
TARGETS = {
    "joins_ratio_at_200": ("joins/s at 200 in one call, conflated / broadcast", ">=", 2.0),
    "dropped_at_200": ("honest participants dropped at 200 (conflated)", "<=", 0),
    "p99_ms_at_1000": ("join seen by every participant at 1,000, p99 ms (conflated)", "<=", 1000),
    "bytes_growth_200_to_1000": (
        "roster bytes per change per participant, 1,000 / 200 (O(1): about 1)",
        "<=",
        1.5,
    ),
    "cpu_ms_per_join_20_calls": ("edge CPU per join, 200 over 20 calls (conflated)", "<=", 0.85),
}
NOTES = (
    "loopback only; participants are signaling-only clients in a second process.",
    "broadcast: the full roster to everyone on every change (before issue 31); not run at "
    "1,000, where seating everyone alone would take minutes.",
    "client_cpu_share near 1: the participants' process, not the edge, set the pace.",
)

SECRET = b"large-call-benchmark-secret"
MAX_CHURNERS = 100
"""Churners in one call at most, so that the participants' process stays below a core."""
CONVERGE_S = 5.0
"""How long a churner waits for every stable participant to see it before it leaves anyway."""


def available() -> str | None:
    """Skip without the local edge's dependencies."""
    return missing("aiortc") or missing("aiohttp")


def points(quick: bool) -> list[dict[str, Any]]:
    """Both implementations at each size; one call, then 200 over 20 calls."""
    seconds = 4.0 if quick else 10.0
    sizes = (50, 200) if quick else (50, 200, 1000)
    return [
        {"impl": impl, "n": n, "calls": calls, "s": seconds}
        for n, calls in [*((n, 1) for n in sizes), (200, 20)]
        for impl in ("conflated", "broadcast")
        if impl == "conflated" or n <= 200  # the broadcast would take minutes to seat 1,000
    ]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one point: this process runs the edge, a spawned one the participants."""
    return asyncio.run(_edge_side(point))


async def _edge_side(point: dict[str, Any]) -> dict[str, Any]:
    from transport import User
    from transport.local import LocalEdge

    if point["impl"] == "broadcast":
        from benchmarks.baselines.broadcast_roster import BroadcastRosterEdge

        edge: LocalEdge = await BroadcastRosterEdge(secret=SECRET).start()
    else:
        edge = await LocalEdge(secret=SECRET).start()
    for c in range(point["calls"]):
        await edge.join(User("agent"), await edge.create_call(f"call{c}"))
    redeem, token_s = edge.tokens.redeem, [0.0]

    def timed_redeem(token: str, call_id: str) -> Any:  # the token check's share, apart
        began = time.perf_counter()  # redeem never awaits: its wall time is its CPU time
        try:
            return redeem(token, call_id)
        finally:
            token_s[0] += time.perf_counter() - began

    edge.tokens.redeem = timed_redeem  # type: ignore[method-assign]
    ours, theirs = multiprocessing.Pipe()
    clients = multiprocessing.get_context("spawn").Process(
        target=_client_main, args=(edge.url, point, theirs), daemon=True
    )
    clients.start()
    try:
        filled = await asyncio.to_thread(ours.recv)  # the participants are seated
        if "error" in filled:
            return filled
        sent = edge.sent
        frames, data, cpu = sent.roster_frames, sent.roster_bytes, time.process_time()
        token_s[0] = 0.0
        ours.send("churn")
        churned = await asyncio.to_thread(ours.recv)
        cpu = time.process_time() - cpu
        tokens_cpu = token_s[0]
        frames, data = sent.roster_frames - frames, sent.roster_bytes - data
        if "error" in churned:
            return dict(churned)
        result: dict[str, Any] = await asyncio.to_thread(ours.recv)
    finally:
        clients.join(timeout=30)
        if clients.is_alive():
            clients.kill()
            clients.join()
        clients.close()
        cuts = dict(edge.cuts)
        await edge.close()
    changes = max(result["joins"] + result["leaves"], 1)
    n = point["n"]
    return {
        **result,
        "cuts": cuts,
        "cpu_ms_per_join": 1000 * cpu / max(result["joins"], 1),
        "token_ms_per_join": 1000 * tokens_cpu / max(result["joins"], 1),
        "cpu_ms_per_join_without_tokens": 1000 * (cpu - tokens_cpu) / max(result["joins"], 1),
        "roster_frames_per_change": frames / changes,
        "roster_bytes_per_change": data / changes,
        "roster_frames_per_change_per_participant": frames / changes / n,
        "roster_bytes_per_change_per_participant": data / changes / n,
    }


def _client_main(url: str, point: dict[str, Any], pipe: Pipe) -> None:
    """In the participants' process: seat them, churn on the edge's word, report."""
    try:
        result = asyncio.run(_participants(url, point, pipe))
    except Exception as exc:  # reported as the point's error
        result = {"error": f"participants: {exc!r}"}
    pipe.send(result)


class _Call:
    """What the participants' process knows of one call: who watches for which join."""

    def __init__(self) -> None:
        self.stable = 0  # stable participants seated
        self.changed = asyncio.Event()  # a stable participant's roster changed
        self.watching: dict[str, list[Any]] = {}  # user id -> [t0, observers left, done]


class _Client:
    """One signaling-only participant: a websocket, a roster view, replies by seq."""

    def __init__(self, url: str, call: _Call, stable: bool, counts: dict[str, int]) -> None:
        from transport.local.roster import RosterView

        self.url = url
        self.call = call
        self.stable = stable
        self.counts = counts
        self.view = RosterView()
        self.socket: Any = None
        self.reader: asyncio.Task[None] | None = None
        self.replies: dict[int, asyncio.Future[Any]] = {}
        self.leaving = False

    async def join(self, http: Any, token: str) -> None:
        from transport.local.signaling import SIGNALING_VERSION, Join

        self.leaving = False
        self.socket = await http.ws_connect(self.url, heartbeat=None)
        self.reader = asyncio.get_running_loop().create_task(self._read())
        await self._request(Join(token, 1, SIGNALING_VERSION), 1)

    async def leave(self) -> None:
        from transport.local.signaling import Leave

        self.leaving = True
        await self._request(Leave(2), 2)
        await self.socket.close()
        assert self.reader is not None
        await self.reader

    async def _request(self, frame: Any, seq: int) -> Any:
        from transport.local.signaling import encode

        reply = self.replies[seq] = asyncio.get_running_loop().create_future()
        await self.socket.send_bytes(encode(frame))
        return await reply

    async def _read(self) -> None:
        import aiohttp

        from transport.local.signaling import Roster, RosterDelta, decode_edge

        view, call = self.view, self.call
        async for message in self.socket:
            if message.type is not aiohttp.WSMsgType.BINARY:
                continue
            frame = decode_edge(message.data)
            if self.stable:
                call.changed.set()
            if isinstance(frame, RosterDelta):
                view.apply(frame)
                if self.stable and call.watching:
                    for entry in frame.joined:
                        _seen(call, entry.user_id)
            elif isinstance(frame, Roster):
                before = view.entries
                view.apply(frame)
                if self.stable and call.watching:
                    for participant_id, entry in view.entries.items():
                        if participant_id not in before:
                            _seen(call, entry.user_id)
            else:
                reply = self.replies.pop(getattr(frame, "seq", -1), None)
                if reply is not None and not reply.done():
                    reply.set_result(frame)
        if not self.leaving:
            self.counts["dropped"] += 1
        for reply in self.replies.values():
            if not reply.done():
                reply.set_exception(ConnectionResetError("the edge closed the socket"))
        self.replies.clear()


def _seen(call: _Call, user_id: str) -> None:
    watch = call.watching.get(user_id)
    if watch is None:
        return
    watch[1] -= 1
    if watch[1] <= 0:
        del call.watching[user_id]
        watch[2].set_result(time.perf_counter() - watch[0])


async def _participants(url: str, point: dict[str, Any], pipe: Pipe) -> dict[str, Any]:
    import aiohttp

    from transport.local import JoinTokens

    n, calls, seconds = point["n"], point["calls"], point["s"]
    tokens = JoinTokens(SECRET)
    counts = {"dropped": 0}
    rooms = [_Call() for _ in range(calls)]
    spread = calls > 1  # many small calls: everyone churns, nobody waits to be seen
    churners = point.get("churners") or (n if spread else max(1, min(n // 5, MAX_CHURNERS)))
    join_latencies: list[float] = []
    converge: list[float] = []
    done = {"joins": 0, "leaves": 0, "unconverged": 0, "failed": 0}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        stable: list[_Client] = []
        for k in range(churners, n):
            room = rooms[k % calls]
            stable.append(_Client(f"{url}/ws/call{k % calls}", room, True, counts))
        gate = asyncio.Semaphore(50)

        async def seat(client: _Client, k: int) -> None:
            async with gate:
                await client.join(http, tokens.issue(f"call{k % calls}", f"s{k}", ttl=600))
                client.call.stable += 1

        await asyncio.gather(*(seat(c, k) for k, c in enumerate(stable, churners)))
        async with asyncio.timeout(120):  # every stable participant sees every other
            for client in stable:
                while len(client.view.entries) < client.call.stable:
                    client.call.changed.clear()
                    await client.call.changed.wait()
        pipe.send({"seated": len(stable)})
        await asyncio.to_thread(pipe.recv)  # the edge has its CPU clock running
        deadline = time.perf_counter() + seconds

        async def churn(k: int) -> None:
            room = rooms[k % calls]
            client = _Client(f"{url}/ws/call{k % calls}", room, False, counts)
            turn = 0
            while time.perf_counter() < deadline:
                turn += 1
                user = f"c{k}_{turn}"
                token = tokens.issue(f"call{k % calls}", user, ttl=600)
                watch = None
                if room.stable:
                    watch = [time.perf_counter(), room.stable, asyncio.Future()]
                    room.watching[user] = watch
                started = time.perf_counter()
                try:
                    await client.join(http, token)
                except (aiohttp.ClientError, ConnectionError):
                    done["failed"] += 1
                    room.watching.pop(user, None)
                    continue
                join_latencies.append(time.perf_counter() - started)
                done["joins"] += 1
                if watch is not None:
                    try:
                        converge.append(await asyncio.wait_for(watch[2], CONVERGE_S))
                    except TimeoutError:
                        done["unconverged"] += 1
                        room.watching.pop(user, None)
                try:
                    await client.leave()
                    done["leaves"] += 1
                except (aiohttp.ClientError, ConnectionError):
                    done["failed"] += 1

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(churn(k) for k in range(churners)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        pipe.send({"churned": True})  # the edge stops its CPU clock
        for client in stable:
            try:
                await client.leave()
            except (aiohttp.ClientError, ConnectionError):
                done["failed"] += 1  # dropped before: counted in ``dropped`` already
    return {
        "n": n,
        "calls": calls,
        "churners": churners,
        **done,
        "dropped": counts["dropped"],
        "joins_per_s": done["joins"] / elapsed,
        "client_cpu_share": cpu / elapsed,  # near 1: the participants' process is the limit
        "join_p50_ms": 1000 * percentile(join_latencies, 0.5),
        "join_p99_ms": 1000 * percentile(join_latencies, 0.99),
        "p50_ms": 1000 * percentile(converge, 0.5) if converge else None,
        "p99_ms": 1000 * percentile(converge, 0.99) if converge else None,
    }


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Rows per implementation and size; ratios against the broadcast baseline."""
    by: dict[str, dict[str, Any]] = {}
    for point, result in results:
        size = str(point["n"]) if point["calls"] == 1 else f"{point['n']}/{point['calls']} calls"
        by.setdefault(point["impl"], {})[size] = result
    ours, base = by.get("conflated", {}), by.get("broadcast", {})
    ratios: dict[str, float] = {}
    for size, result in ours.items():
        other = base.get(size)
        if other and other.get("joins_per_s"):
            key = size.replace("/20 calls", "_20_calls").replace(" ", "")
            ratios[f"joins_ratio_at_{key}"] = result["joins_per_s"] / other["joins_per_s"]
    at200, at1000 = ours.get("200"), ours.get("1000")
    if at200 and at1000 and at200.get("roster_bytes_per_change_per_participant"):
        ratios["bytes_growth_200_to_1000"] = (
            at1000["roster_bytes_per_change_per_participant"]
            / at200["roster_bytes_per_change_per_participant"]
        )
    headline: dict[str, Any] = {}
    if at200:
        headline["dropped_at_200"] = at200["dropped"]
    if at1000 and at1000.get("p99_ms") is not None:
        headline["p99_ms_at_1000"] = at1000["p99_ms"]
    spread = ours.get("200/20 calls")
    if spread:
        headline["cpu_ms_per_join_20_calls"] = spread["cpu_ms_per_join"]
    return {"results": by, "ratios": ratios, "headline": headline}
