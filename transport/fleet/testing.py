"""A host you can drive and break: for tests, benchmarks and your own failure drills.

``InstrumentedHost`` is a fleet ``Host`` with what a test needs and a
production host never calls: a wait for a call's presence to reach the
directory, faults injected on purpose (``stall_until_placed_elsewhere`` blocks the
host's loop until the directory has moved its call), a wait for fences, and the local paths a
benchmark compares the cross-host ones with. Start it as you start a
``Host``: ``InstrumentedHost.options(name=...).remote(host_id, ...)``. Every
method runs on the host's own event loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import ray

from messages import Close, Participant, ParticipantJoined, ParticipantLeft
from transport.fleet.call_directory import shard_for
from transport.fleet.host import HostProcess
from transport.fleet.refs import directory_presence, lookup

__all__ = ["InstrumentedHost", "InstrumentedHostProcess"]


def _person(user_id: str) -> Participant:
    return Participant(None, user_id, f"{user_id}__1")


class InstrumentedHostProcess(HostProcess):
    """``HostProcess`` with drivers, fault injection and local measurements."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fences: list[list[str]] = []  # the calls closed each time this host was fenced
        self._fenced = asyncio.Condition()
        self.ray_calls_in = 0  # deliver_batch and exchange calls received

    async def deliver_batch(self, batch: list[tuple[str, bytes]]) -> None:
        self.ray_calls_in += 1
        await super().deliver_batch(batch)

    async def exchange(self, batch: list[tuple[str, bytes]], asked: list[int]) -> list[str]:
        self.ray_calls_in += 1
        return await super().exchange(batch, asked)

    async def ray_calls(self) -> int:
        """How many batches of tells and asks (one Ray call each) this host has received."""
        return self.ray_calls_in

    async def on_fenced(self, calls: list[str]) -> None:
        async with self._fenced:
            self._fences.append(calls)
            self._fenced.notify_all()

    async def fences(self, at_least: int, timeout: float) -> list[list[str]]:
        """Wait until this host has been fenced ``at_least`` times; the calls each closed.

        A fence is a heartbeat finding this host declared lost. Raises
        ``TimeoutError`` after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout), self._fenced:
            await self._fenced.wait_for(lambda: len(self._fences) >= at_least)
        return [list(calls) for calls in self._fences]

    async def stall_until_placed_elsewhere(self, call_id: str, limit: float) -> bool:
        """Block this host's loop until the directory has ``call_id`` on another host.

        The host sends no heartbeat and answers nothing meanwhile, so the
        directory declares it lost and the call is placed again elsewhere; it
        then wakes up to find out. Returns whether that happened within
        ``limit`` seconds. The wait polls the directory from this blocked thread.
        """
        shard = shard_for(call_id)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            found = ray.get(shard.lookup.remote(call_id))  # blocking on purpose, as the sleep
            if found is not None and found[0] != self.host_id:
                return True
            time.sleep(0.05)  # noqa: ASYNC251 (blocking on purpose: the fault being injected)
        return False

    async def settled(self, call_id: str, timeout: float) -> None:
        """Return once every change to ``call_id`` so far has reached the directory.

        That is the connection's ``settled()`` (its events have reached this
        host's handlers, which mark the call changed), then ``published()``.
        Raises ``TimeoutError`` after ``timeout`` seconds, ``KeyError`` if the
        call is not on this host.
        """
        async with asyncio.timeout(timeout):
            await self.connections[call_id].settled()
            await self.published()

    async def close_remote(self, call_id: str, reason: str) -> str:
        """From this host, close the connection to ``call_id`` wherever it lives; its state."""
        ref = await lookup(call_id)
        if ref is None:
            return "unknown"
        state: str = await ref.ask(Close(call_id, reason))
        return state

    async def presence_seen_here(self, call_id: str) -> bytes | None:
        """The presence of ``call_id`` as this host reads it from the directory."""
        view = await directory_presence(call_id)
        return None if view is None else msgspec.msgpack.encode(view)

    async def local_tells(self, call_id: str, count: int) -> float:
        """``count`` joins and leaves told inside the host; the seconds they took."""
        connection = self.connections[call_id]
        started = time.perf_counter()
        for n in range(count):
            person = _person(f"bench{n}")
            connection.actor_ref.tell(ParticipantJoined(call_id, person))
            connection.actor_ref.tell(ParticipantLeft(call_id, person))
        await connection.caught_up()
        return time.perf_counter() - started

    async def local_asks(self, call_id: str, count: int) -> list[float]:
        """``count`` asks from inside the host, one at a time; the seconds each took.

        Each is a join or the leave after it, so the call's size stays the same.
        """
        connection = self.connections[call_id]
        taken = []
        kinds = (ParticipantJoined, ParticipantLeft)
        for n in range(count):
            began = time.perf_counter()
            connection.actor_ref.tell(kinds[n % 2](call_id, _person(f"ask{n // 2}")))
            await connection.caught_up()
            taken.append(time.perf_counter() - began)
        return taken


InstrumentedHost: Any = ray.remote(num_cpus=0)(InstrumentedHostProcess)
"""``InstrumentedHostProcess`` as a Ray actor class, started like ``Host``."""
