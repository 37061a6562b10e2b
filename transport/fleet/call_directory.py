"""The cluster-wide call directory: where each call lives, placement, failure detection.

Ray named actors, sharded by call id. Each shard keeps, for the calls that
hash to it, which host holds the call, the presence that host last published
(msgspec bytes), and each host's load and last heartbeat. Shard 0 also places
calls and detects failures: a host that misses heartbeats for ``lost_after``
seconds is declared lost there, every shard drops the host and its calls, and
the loss, with all its calls, goes into shard 0's log of losses, which
``next_lost(after)`` reads by position (a reader that gives up waiting loses
nothing). Shards are found by name, so any process in the Ray cluster reaches
them with ``shard_for(call_id)``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import zlib
from typing import Any

import ray

__all__ = [
    "DIRECTORY_SHARDS",
    "CallDirectory",
    "all_shards",
    "directory_name",
    "placement_shard",
    "shard_for",
    "start_directory",
    "start_local_cluster",
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
class CallDirectory:
    """One shard of the directory; its methods run on the shard's own event loop."""

    def __init__(self, lost_after: float = 2.0, index: int = 0, shards: int = 1) -> None:
        self.lost_after = lost_after
        self.index = index
        self.shards = shards
        # call id -> (host id, connection key, agent id, the URL people join at)
        self.calls: dict[str, tuple[str, str, str, str]] = {}
        self.presence: dict[str, bytes] = {}
        self.hosts: dict[str, tuple[float, int]] = {}  # host id -> (last heartbeat, load)
        self.handles: dict[str, Any] = {}  # host id -> the host's actor handle
        self.limits: dict[str, int] = {}  # host id -> its max_sessions
        self.seats: dict[str, int] = {}  # host id -> sessions reserved on it (placement shard)
        self.placed: dict[str, str] = {}  # call id -> the host it has a seat on (placement shard)
        self.updates = 0
        self.losses: list[tuple[str, list[tuple[str, str]]]] = []  # (host, [(call, agent)])
        self.declared_lost: set[str] = set()  # hosts dropped here that have not beaten since
        self.epoch = uuid.uuid4().hex  # tells readers of the losses one directory from the next
        self._lost: asyncio.Condition | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.lost_after / 4)  # the sweep period of the failure detector
            now = time.monotonic()
            for host, (seen, _) in list(self.hosts.items()):
                if now - seen > self.lost_after:
                    calls = await self.forget_host(host)
                    others = [
                        ray.get_actor(directory_name(i), namespace=NAMESPACE)
                        for i in range(self.shards)
                        if i != self.index
                    ]
                    for shard in others:
                        calls += await shard.forget_host.remote(host)
                    assert self._lost is not None
                    async with self._lost:
                        self.losses.append((host, calls))
                        self._lost.notify_all()

    def _ensure_watching(self) -> None:
        if self._lost is None:
            self._lost = asyncio.Condition()
            if self.index == 0:  # one failure detector for the whole directory
                self._watcher = asyncio.get_running_loop().create_task(self._watch())

    async def forget_host(self, host: str) -> list[tuple[str, str]]:
        """Drop ``host`` (declared lost) and its calls; the (call, agent) pairs it held here."""
        calls = [(c, entry[2]) for c, entry in self.calls.items() if entry[0] == host]
        for call, _ in calls:
            self.calls.pop(call, None)
            self.presence.pop(call, None)
        self.hosts.pop(host, None)
        self.handles.pop(host, None)
        self.limits.pop(host, None)
        self.seats.pop(host, None)
        for call in [c for c, h in self.placed.items() if h == host]:
            del self.placed[call]
        self.declared_lost.add(host)
        return calls

    async def heartbeat(
        self, host: str, load: int, handle: Any = None, max_sessions: int | None = None
    ) -> bool:
        """A host is alive, holds ``load`` connections and takes at most ``max_sessions``.

        Returns ``False``, and takes nothing from the heartbeat, when this shard
        had declared the host lost: its calls were dropped and may be placed
        elsewhere, so the host must close them all (fence itself) and beat
        again as a new, empty host.
        """
        self._ensure_watching()
        if host in self.declared_lost:
            self.declared_lost.discard(host)
            return False
        self.hosts[host] = (time.monotonic(), load)
        if handle is not None:
            self.handles[host] = handle
        if max_sessions is not None:
            self.limits[host] = max_sessions
        return True

    async def reserve(self, call_id: str) -> tuple[str, Any]:
        """Take a seat for ``call_id`` on the live host with the fewest seats taken and room left.

        Returns ``("seat", (host id, host handle))``; ``("placed", host id)``
        when ``call_id`` already has a seat (on that host), or ``("full", None)``
        when every live host is full. The body has no ``await``, so concurrent
        calls on the shard's loop cannot both take the last seat (a host never
        holds more than its ``max_sessions``) nor both place one call.
        """
        if call_id in self.placed:
            return "placed", self.placed[call_id]
        open_hosts = [
            host
            for host in sorted(self.hosts)
            if host in self.handles and self.seats.get(host, 0) < self.limits.get(host, 0)
        ]
        if not open_hosts:
            return "full", None
        host = min(open_hosts, key=lambda h: self.seats.get(h, 0))
        self.seats[host] = self.seats.get(host, 0) + 1
        self.placed[call_id] = host
        return "seat", (host, self.handles[host])

    async def seats_taken(self) -> dict[str, int]:
        """Seats taken on each live host (placement shard)."""
        return {host: self.seats.get(host, 0) for host in sorted(self.hosts)}

    async def release(self, host: str, call_id: str) -> None:
        """Give back the seat of ``call_id`` on ``host`` (it closed, or its opening failed).

        Ignored when the call has no seat there (it was dropped with a lost host).
        """
        if self.placed.get(call_id) != host:
            return
        del self.placed[call_id]
        if self.seats.get(host, 0) > 0:
            self.seats[host] -= 1

    async def add_call(
        self, call_id: str, host: str, key: str, agent_id: str = "", url: str = ""
    ) -> None:
        """``host`` holds the connection ``key`` to ``call_id``, joined as ``agent_id``.

        ``url`` is where people join the call (empty when the host's edge has none).
        """
        self.calls[call_id] = (host, key, agent_id, url)
        self.updates += 1

    async def remove_call(self, call_id: str, host: str | None = None) -> None:
        """``call_id`` closed on ``host`` (any host when ``None``): forget it, if still there."""
        entry = self.calls.get(call_id)
        if entry is None or (host is not None and entry[0] != host):
            return  # already placed elsewhere (after a loss): that entry is not this host's
        del self.calls[call_id]
        self.presence.pop(call_id, None)
        self.updates += 1

    async def publish(self, call_id: str, presence: bytes, host: str | None = None) -> None:
        """The presence of ``call_id`` changed (msgspec bytes, from its host ``host``).

        Dropped when the directory has the call on another host (or on none).
        """
        if host is not None:
            entry = self.calls.get(call_id)
            if entry is None or entry[0] != host:
                return
        self.presence[call_id] = presence
        self.updates += 1

    async def lookup(self, call_id: str) -> tuple[str, str, Any, str] | None:
        """(host id, connection key, host handle, join URL) of ``call_id``, or ``None``."""
        found = self.calls.get(call_id)
        if found is None:
            return None
        return found[0], found[1], self.handles.get(found[0]), found[3]

    async def presence_of(self, call_id: str) -> bytes | None:
        return self.presence.get(call_id)

    async def update_count(self) -> int:
        return self.updates

    async def losses_epoch(self) -> str:
        """This directory's identity: a new one starts its log of losses from 0."""
        return self.epoch

    async def next_lost(self, after: int) -> tuple[int, str, list[tuple[str, str]]]:
        """Wait for loss number ``after`` (from 0): (its number, the host, its (call, agent)s)."""
        self._ensure_watching()
        assert self._lost is not None
        async with self._lost:
            await self._lost.wait_for(lambda: len(self.losses) > after)
        host, calls = self.losses[after]
        return after, host, calls


def start_local_cluster(num_cpus: int = 2) -> None:
    """Start a Ray cluster of this machine's own for the fleet (a new one, even beside another).

    For demos, tests and benchmarks on one machine; a real fleet connects to
    its cluster with ``ray.init(address=...)`` instead. Stop it with
    ``ray.shutdown()``.
    """
    ray.init(
        address="local",
        num_cpus=num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        namespace=NAMESPACE,
    )


def start_directory(lost_after: float = 2.0, shards: int = DIRECTORY_SHARDS) -> list[Any]:
    """Create the directory shards (named, detached from the caller); call once per cluster."""
    return [
        CallDirectory.options(  # type: ignore[attr-defined]
            name=directory_name(i), namespace=NAMESPACE, lifetime="detached"
        ).remote(lost_after, i, shards)
        for i in range(shards)
    ]
