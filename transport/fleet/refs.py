"""Reaching connections on any host: lookup, location-transparent refs, placement, losses.

``RemoteConnectionRef`` has the ``tell``/``ask`` of a pykka ``ActorRef`` for the
connection to a call, wherever in the fleet it lives: ``tell`` sends and
returns, ``ask`` returns an awaitable (a Ray ``ObjectRef``, awaited without
blocking the loop). Calls from any process attached to the Ray cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, ClassVar

import msgspec

from messages import (
    Close,
    EdgeActorsError,
    EdgeEvent,
    Message,
    NotReadyError,
    encode,
    strict_decode,
)
from transport.fleet.host import PresenceView
from transport.fleet.presence_directory import all_shards, placement_shard, shard_for

__all__ = [
    "CallsLostEvent",
    "FleetFullError",
    "RemoteConnectionRef",
    "close",
    "lookup",
    "next_lost",
    "place",
    "presence",
    "sessions",
]


class CallsLostEvent(EdgeEvent, frozen=True):
    """A host stopped answering: the calls it held are lost."""

    host: str
    call_ids: tuple[str, ...]
    type: ClassVar[str] = "plugin.edge.calls_lost"


class RemoteConnectionRef:
    """The connection to ``call_id`` on host ``host``, reachable from anywhere."""

    def __init__(self, call_id: str, host: str, key: str, handle: Any) -> None:
        self.call_id = call_id
        self.host = host
        self.key = key
        self._handle = handle

    def __repr__(self) -> str:
        return f"<RemoteConnectionRef {self.key} on {self.host}>"

    def tell(self, message: Message) -> None:
        """Send ``message`` to the connection actor; returns at once.

        On a running loop, every tell to one host within one loop turn travels
        in one Ray call at the end of the turn, in the order told; without a
        running loop, each tell is its own Ray call.
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._handle.deliver.remote(self.call_id, encode(message))
            return
        key = (id(loop), self.host)
        outbox = _outboxes.get(key)
        if outbox is None:
            outbox = _outboxes[key] = (self._handle, [])
            loop.call_soon(_flush, key)
        outbox[1].append((self.call_id, encode(message)))

    def ask(self, message: Message) -> Any:
        """Send ``message`` and get an awaitable of the connection's state once handled.

        Tells to this host still waiting for the end of the loop turn leave
        first, so the ask is handled after them.
        """
        with contextlib.suppress(RuntimeError):  # no running loop: nothing is waiting
            _flush((id(asyncio.get_running_loop()), self.host))
        return self._handle.ask.remote(self.call_id, encode(message))


# (loop id, host id) -> (host handle, tells told in this loop turn, in order)
_outboxes: dict[tuple[int, str], tuple[Any, list[tuple[str, bytes]]]] = {}


def _flush(key: tuple[int, str]) -> None:
    outbox = _outboxes.pop(key, None)
    if outbox is not None and outbox[1]:
        outbox[0].deliver_batch.remote(outbox[1])


async def lookup(call_id: str) -> RemoteConnectionRef | None:
    """A ref to the connection to ``call_id``, or ``None`` if no live host holds it."""
    found = await shard_for(call_id).lookup.remote(call_id)
    if found is None:
        return None
    host, key, handle = found
    return RemoteConnectionRef(call_id, host, key, handle)


async def presence(call_id: str) -> PresenceView | None:
    """The presence of ``call_id`` as its host last published it."""
    data = await shard_for(call_id).presence_of.remote(call_id)
    if data is None:
        return None
    return strict_decode(_presence_decoder.decode, data, "presence view")


_presence_decoder = msgspec.msgpack.Decoder(PresenceView)


class FleetFullError(EdgeActorsError):
    """``place()`` found no live host with a free session: every host is at ``max_sessions``."""


async def place(call_id: str, agent_id: str) -> RemoteConnectionRef:
    """Open ``call_id`` on the live host with the most room; a ref to it.

    The seat is reserved atomically in the directory before the host opens the
    call, so concurrent ``place()`` calls from any number of processes never
    put more than ``max_sessions`` calls on a host. Raises ``FleetFullError``
    when every live host is full. Runs on the caller's loop, in any process
    attached to the Ray cluster.
    """
    seat = await placement_shard().reserve.remote()
    if seat is None:
        live = await placement_shard().seats_taken.remote()
        if not live:
            msg = f"cannot place call {call_id!r}: no live host in the fleet; start a Host first"
            raise NotReadyError(msg)
        msg = (
            f"cannot place call {call_id!r}: every live host is at its max_sessions; "
            "close a call or start another Host, then place again"
        )
        raise FleetFullError(msg)
    host, handle = seat
    try:
        key = await handle.open_call.remote(call_id, agent_id)
    except BaseException:
        await placement_shard().release.remote(host)
        raise
    return RemoteConnectionRef(call_id, host, key, handle)


async def close(call_id: str, reason: str = "closed by the fleet") -> bool:
    """Close the connection to ``call_id`` wherever it lives; ``False`` if no live host holds it.

    Awaits until the host has closed it and given its seat back. Runs on the
    caller's loop, in any process attached to the Ray cluster.
    """
    ref = await lookup(call_id)
    if ref is None:
        return False
    await ref.ask(Close(call_id, reason))
    return True


async def sessions() -> dict[str, int]:
    """Sessions placed on each live host (seats taken within its ``max_sessions``); any process."""
    seats: dict[str, int] = await placement_shard().seats_taken.remote()
    return seats


async def next_lost() -> CallsLostEvent:
    """Wait for the next host the directory declares lost."""
    waits = [asyncio.ensure_future(_lost(shard)) for shard in all_shards()]
    done, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for other in pending:
        other.cancel()
    host, calls = next(iter(done)).result()
    for task in done:
        if task is not next(iter(done)):
            calls = calls + task.result()[1]
    return CallsLostEvent(host, tuple(calls))


async def _lost(shard: Any) -> tuple[str, list[str]]:
    result: tuple[str, list[str]] = await shard.next_lost.remote()
    return result
