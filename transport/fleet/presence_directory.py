"""The cluster-wide presence directory: Ray named actors, sharded by call id.

Each shard keeps, for the calls that hash to it, which host holds the call,
the presence that host last published (msgspec bytes), and each host's load
and last heartbeat. A host that misses heartbeats for ``lost_after`` seconds
is declared lost: its calls are dropped from the directory and reported to
everyone waiting in ``next_lost()``. Shards are found by name, so any process
in the Ray cluster reaches them with ``shard_for(call_id)``.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from typing import Any

import ray

__all__ = [
    "DIRECTORY_SHARDS",
    "PresenceDirectory",
    "all_shards",
    "directory_name",
    "placement_shard",
    "shard_for",
    "start_directory",
]

DIRECTORY_SHARDS = 2
NAMESPACE = "edge-actors"


def directory_name(index: int) -> str:
    """The Ray actor name of directory shard ``index``."""
    return f"edge-actors-directory-{index}"


def shard_for(call_id: str, shards: int = DIRECTORY_SHARDS) -> Any:
    """The directory shard (a Ray actor handle) that owns ``call_id``; any process."""
    index = zlib.crc32(call_id.encode()) % shards
    return ray.get_actor(directory_name(index), namespace=NAMESPACE)


def all_shards(shards: int = DIRECTORY_SHARDS) -> list[Any]:
    """Every directory shard (Ray actor handles)."""
    return [ray.get_actor(directory_name(i), namespace=NAMESPACE) for i in range(shards)]


def placement_shard() -> Any:
    """The shard that reserves seats on hosts for every ``place()`` (shard 0); any process."""
    return ray.get_actor(directory_name(0), namespace=NAMESPACE)


@ray.remote(num_cpus=0)
class PresenceDirectory:
    """One shard of the directory; its methods run on the shard's own event loop."""

    def __init__(self, lost_after: float = 2.0) -> None:
        self.lost_after = lost_after
        self.calls: dict[str, tuple[str, str]] = {}  # call id -> (host id, connection key)
        self.presence: dict[str, bytes] = {}
        self.hosts: dict[str, tuple[float, int]] = {}  # host id -> (last heartbeat, load)
        self.handles: dict[str, Any] = {}  # host id -> the host's actor handle
        self.limits: dict[str, int] = {}  # host id -> its max_sessions
        self.seats: dict[str, int] = {}  # host id -> sessions reserved on it (placement shard)
        self.updates = 0
        self._lost: asyncio.Queue[tuple[str, list[str]]] | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.lost_after / 4)  # the sweep period of the failure detector
            now = time.monotonic()
            for host, (seen, _) in list(self.hosts.items()):
                if now - seen > self.lost_after:
                    calls = [c for c, (h, _) in self.calls.items() if h == host]
                    for call in calls:
                        self.calls.pop(call, None)
                        self.presence.pop(call, None)
                    del self.hosts[host]
                    self.handles.pop(host, None)
                    self.limits.pop(host, None)
                    self.seats.pop(host, None)
                    assert self._lost is not None
                    self._lost.put_nowait((host, calls))

    def _ensure_watching(self) -> None:
        if self._watcher is None:
            self._lost = asyncio.Queue()
            self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def heartbeat(
        self, host: str, load: int, handle: Any = None, max_sessions: int | None = None
    ) -> None:
        """A host is alive, holds ``load`` connections and takes at most ``max_sessions``."""
        self._ensure_watching()
        self.hosts[host] = (time.monotonic(), load)
        if handle is not None:
            self.handles[host] = handle
        if max_sessions is not None:
            self.limits[host] = max_sessions

    async def reserve(self) -> tuple[str, Any] | None:
        """Take a seat on the live host with the fewest seats taken and room left.

        Returns (host id, host handle), or ``None`` when every live host is full.
        The body has no ``await``, so concurrent calls on the shard's loop cannot
        both take the last seat: a host never holds more than its ``max_sessions``.
        """
        open_hosts = [
            host
            for host in sorted(self.hosts)
            if host in self.handles and self.seats.get(host, 0) < self.limits.get(host, 0)
        ]
        if not open_hosts:
            return None
        host = min(open_hosts, key=lambda h: self.seats.get(h, 0))
        self.seats[host] = self.seats.get(host, 0) + 1
        return host, self.handles[host]

    async def seats_taken(self) -> dict[str, int]:
        """Seats taken on each live host (placement shard)."""
        return {host: self.seats.get(host, 0) for host in sorted(self.hosts)}

    async def release(self, host: str) -> None:
        """Give back a seat on ``host`` (its call closed, or its opening failed)."""
        if self.seats.get(host, 0) > 0:
            self.seats[host] -= 1

    async def register(self, call_id: str, host: str, key: str) -> None:
        """``host`` holds the connection ``key`` to ``call_id``."""
        self.calls[call_id] = (host, key)
        self.updates += 1

    async def unregister(self, call_id: str) -> None:
        self.calls.pop(call_id, None)
        self.presence.pop(call_id, None)
        self.updates += 1

    async def publish(self, call_id: str, presence: bytes) -> None:
        """The presence of ``call_id`` changed (msgspec bytes, from its host)."""
        self.presence[call_id] = presence
        self.updates += 1

    async def lookup(self, call_id: str) -> tuple[str, str, Any] | None:
        """(host id, connection key, host handle) of ``call_id``, or ``None``."""
        found = self.calls.get(call_id)
        if found is None:
            return None
        return found[0], found[1], self.handles.get(found[0])

    async def presence_of(self, call_id: str) -> bytes | None:
        return self.presence.get(call_id)

    async def loads(self) -> dict[str, int]:
        """Connections per live host, as their heartbeats report."""
        return {host: load for host, (_, load) in self.hosts.items()}

    async def handle_of(self, host: str) -> Any:
        return self.handles.get(host)

    async def update_count(self) -> int:
        return self.updates

    async def next_lost(self) -> tuple[str, list[str]]:
        """Wait for the next host declared lost; its id and the calls it held."""
        self._ensure_watching()
        assert self._lost is not None
        return await self._lost.get()


def start_directory(lost_after: float = 2.0, shards: int = DIRECTORY_SHARDS) -> list[Any]:
    """Create the directory shards (named, detached from the caller); call once per cluster."""
    return [
        PresenceDirectory.options(  # type: ignore[attr-defined]
            name=directory_name(i), namespace=NAMESPACE, lifetime="detached"
        ).remote(lost_after)
        for i in range(shards)
    ]
