"""Reaching connections on any host: lookup, location-transparent refs, placement, losses.

``RemoteConnectionRef`` has the ``tell``/``ask`` of a pykka ``ActorRef`` for the
connection to a call, wherever in the fleet it lives: ``tell`` sends and
returns, ``ask`` returns an awaitable of the connection's state once handled.
Tells and asks to one host within one loop turn travel in one Ray call at the
end of the turn, in the order made. ``place`` opens a call within the hosts'
limits and ``place_again`` opens a lost host's calls again elsewhere. Calls from
any process attached to the Ray cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
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
from transport.fleet.call_directory import placement_shard, shard_for
from transport.fleet.host import PresenceView

__all__ = [
    "AlreadyPlacedError",
    "CallsLostEvent",
    "FleetFullError",
    "RemoteConnectionRef",
    "close_call",
    "lookup",
    "losses",
    "next_lost",
    "place",
    "directory_presence",
    "place_again",
    "seats_taken",
]


class CallsLostEvent(EdgeEvent, frozen=True):
    """A host stopped answering: the calls it held are lost (``place_again`` opens them again)."""

    host: str
    call_ids: tuple[str, ...]
    agent_ids: tuple[str, ...] = ()
    """The agent each call was joined as, in the order of ``call_ids``."""
    type: ClassVar[str] = "plugin.edge.calls_lost"


class RemoteConnectionRef:
    """The connection to ``call_id`` on host ``host``, reachable from anywhere.

    ``url`` is where people join the call: its host's edge's ``url``
    (empty when the host's edge has no URL of its own).
    """

    def __init__(self, call_id: str, host: str, key: str, handle: Any, url: str = "") -> None:
        self.call_id = call_id
        self.host = host
        self.key = key
        self.url = url
        self._handle = handle

    def __repr__(self) -> str:
        return f"<RemoteConnectionRef {self.key} on {self.host}>"

    async def presence(self) -> PresenceView | None:
        """The call's presence as its host has it now (``None`` once it closed there).

        Read from the host itself, so it shows every message this process told
        or asked before; the module's ``directory_presence(call_id)`` reads the directory,
        which any process can and which follows the host within a Ray hop.
        """
        data = await self._handle.local_presence.remote(self.call_id)
        if data is None:
            return None
        return strict_decode(_presence_decoder.decode, data, "presence view")

    async def wait_for_participant(
        self, timeout: float | None = None, *, user_id: str | None = None
    ) -> list[str]:
        """``Connection.wait_for_participant`` on the call's host; the participant ids then.

        Raises ``TimeoutError`` after ``timeout`` seconds and
        ``ConnectionClosedError`` if the connection is or becomes closed
        (both as Ray hands them on: ``RayTaskError`` subclasses of them).
        """
        present: list[str] = await self._handle.wait_for_participant.remote(
            self.call_id, timeout, user_id
        )
        return present

    async def wait_closed(self, timeout: float | None = None) -> None:
        """Return once the call is closed on its host, its agent ended and its seat given back.

        However it ends: ``close_call()``, its agent returning or failing, an idle
        timeout, the call's end. Returns at once if it is not open there (any
        more). Raises ``TimeoutError`` (as Ray hands it on) after ``timeout`` seconds.
        """
        await self._handle.wait_closed.remote(self.call_id, timeout)

    async def token(self, user_id: str) -> str:
        """A single-use join token for ``user_id``, from the call's host's edge."""
        token: str = await self._handle.token.remote(self.call_id, user_id)
        return token

    async def join_url(self, user_id: str) -> str:
        """The browser join page for ``user_id`` on the call's host, token included."""
        url: str = await self._handle.join_url.remote(self.call_id, user_id)
        return url

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
        _outbox(loop, self.host, self._handle).items.append((self.call_id, encode(message)))

    def ask(self, message: Message) -> Awaitable[str]:
        """Send ``message``; an awaitable of the connection's state once it is handled.

        On a running loop the ask joins the tells and asks to this host made in
        this loop turn, in order, and all travel in one Ray call; its answer
        comes once the connection's actor handled it (the directory hears of
        the new presence right after; ``presence()`` here reads the host).
        Without a running loop it is its own Ray call (a Ray ``ObjectRef``,
        which ``ray.get`` reads).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            reply: Awaitable[str] = self._handle.handle_and_report_state.remote(
                self.call_id, encode(message)
            )
            return reply
        outbox = _outbox(loop, self.host, self._handle)
        answer: asyncio.Future[str] = loop.create_future()
        outbox.asks.append((len(outbox.items), answer))
        outbox.items.append((self.call_id, encode(message)))
        return answer


class _Outbox:
    """What one loop turn sends to one host: tells and asks in order, the asks' answers."""

    __slots__ = ("asks", "handle", "items")

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.items: list[tuple[str, bytes]] = []
        self.asks: list[tuple[int, asyncio.Future[str]]] = []  # (index in items, answer)


_outboxes: dict[tuple[int, str], _Outbox] = {}  # (loop id, host id) -> this turn's outbox
_answering: set[asyncio.Task[None]] = set()


def _outbox(loop: asyncio.AbstractEventLoop, host: str, handle: Any) -> _Outbox:
    key = (id(loop), host)
    outbox = _outboxes.get(key)
    if outbox is None:
        outbox = _outboxes[key] = _Outbox(handle)
        loop.call_soon(_flush, key)
    return outbox


def _flush(key: tuple[int, str]) -> None:
    outbox = _outboxes.pop(key)
    if not outbox.asks:
        outbox.handle.deliver_batch.remote(outbox.items)
        return
    reply = outbox.handle.exchange.remote(outbox.items, [index for index, _ in outbox.asks])
    task = asyncio.get_running_loop().create_task(_answer(reply, outbox.asks))
    _answering.add(task)
    task.add_done_callback(_answering.discard)


async def _answer(reply: Any, asks: list[tuple[int, asyncio.Future[str]]]) -> None:
    try:
        states: list[str] = await reply
    except Exception as exc:
        for _, answer in asks:
            if not answer.done():
                answer.set_exception(exc)
        return
    for (_, answer), state in zip(asks, states, strict=True):
        if not answer.done():
            answer.set_result(state)


async def lookup(call_id: str) -> RemoteConnectionRef | None:
    """A ref to the connection to ``call_id``, or ``None`` if no live host holds it."""
    found = await shard_for(call_id).lookup.remote(call_id)
    if found is None:
        return None
    host, key, handle, url = found
    return RemoteConnectionRef(call_id, host, key, handle, url)


async def directory_presence(call_id: str) -> PresenceView | None:
    """The presence of ``call_id`` as its host last published it."""
    data = await shard_for(call_id).presence_of.remote(call_id)
    if data is None:
        return None
    return strict_decode(_presence_decoder.decode, data, "presence view")


_presence_decoder = msgspec.msgpack.Decoder(PresenceView)


class FleetFullError(EdgeActorsError):
    """``place()`` found no live host with a free session: every host is at ``max_sessions``."""


class AlreadyPlacedError(EdgeActorsError, RuntimeError):
    """``place()`` was given a call that is placed already: a call lives on one host at a time."""

    def __init__(self, call_id: str, host: str) -> None:
        super().__init__(
            f"call {call_id!r} is placed already, on host {host}: lookup() it, "
            "or close_call() it before placing it again"
        )
        self.call_id = call_id
        self.host = host


async def place(call_id: str, agent_id: str) -> RemoteConnectionRef:
    """Open ``call_id`` on the live host with the most room; a ref to it.

    The seat is reserved atomically in the directory before the host opens the
    call, so concurrent ``place()`` calls from any number of processes never
    put more than ``max_sessions`` calls on a host, nor one call on two hosts.
    Raises ``FleetFullError`` when every live host is full and
    ``AlreadyPlacedError`` when the call has a seat already (until it closes,
    or its host is declared lost). Runs on the caller's loop, in any process
    attached to the Ray cluster.
    """
    outcome, seat = await placement_shard().reserve.remote(call_id)
    if outcome == "placed":
        raise AlreadyPlacedError(call_id, seat)
    if outcome == "full":
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
        key, url = await handle.open_call.remote(call_id, agent_id)
    except BaseException:
        await placement_shard().release.remote(host, call_id)
        raise
    return RemoteConnectionRef(call_id, host, key, handle, url)


async def place_again(lost: CallsLostEvent) -> dict[str, RemoteConnectionRef | EdgeActorsError]:
    """Open the calls of a lost host again on live hosts, each as the agent it was joined as.

    Returns a ref per call placed again (its ``url`` is where people rejoin)
    and, for a call that could not be, the error (``FleetFullError``,
    ``NotReadyError``, or ``AlreadyPlacedError`` when another process placed it
    again first: several may watch the losses safely). The agents on the new
    hosts join the same calls anew;
    what the lost host's connections knew is gone with it. Runs on the
    caller's loop, in any process attached to the Ray cluster.
    """
    agents = lost.agent_ids or ("",) * len(lost.call_ids)
    outcomes = await asyncio.gather(
        *(place(call_id, agent) for call_id, agent in zip(lost.call_ids, agents, strict=True)),
        return_exceptions=True,
    )
    placed: dict[str, RemoteConnectionRef | EdgeActorsError] = {}
    for call_id, outcome in zip(lost.call_ids, outcomes, strict=True):
        if isinstance(outcome, BaseException) and not isinstance(outcome, EdgeActorsError):
            raise outcome
        placed[call_id] = outcome
    return placed


async def close_call(call_id: str, reason: str = "closed by the fleet") -> bool:
    """Close the connection to ``call_id`` wherever it lives; ``False`` if no live host holds it.

    Awaits until the host has closed it and given its seat back. Runs on the
    caller's loop, in any process attached to the Ray cluster.
    """
    ref = await lookup(call_id)
    if ref is None:
        return False
    await ref.ask(Close(call_id, reason))
    return True


async def seats_taken() -> dict[str, int]:
    """Sessions placed on each live host (seats taken within its ``max_sessions``); any process."""
    seats: dict[str, int] = await placement_shard().seats_taken.remote()
    return seats


async def next_lost() -> CallsLostEvent:
    """Wait for the next host the directory declares lost (each loss once per process).

    The event lists every call the host held and the agent each was joined
    as; ``place_again(event)`` opens them again elsewhere. A caller cancelled while
    waiting misses nothing: the next call returns that loss.
    """
    shard = placement_shard()
    epoch: str = await shard.losses_epoch.remote()
    number, host, calls = await shard.next_lost.remote(_losses_seen.get(epoch, 0))
    _losses_seen[epoch] = max(_losses_seen.get(epoch, 0), number + 1)
    return CallsLostEvent(
        host, tuple(call for call, _ in calls), tuple(agent for _, agent in calls)
    )


async def losses(
    *, replace_lost: bool = False
) -> AsyncIterator[tuple[CallsLostEvent, dict[str, RemoteConnectionRef | EdgeActorsError]]]:
    """Every host loss from now on (``next_lost()``), with its calls placed again if asked.

    With ``replace_lost=True`` each loss's calls are opened again on live
    hosts (``replace``) before it is yielded with the outcome per call;
    otherwise the outcomes are empty and ``replace`` is yours to call. Any
    number of processes may watch with ``replace_lost=True``: each call is
    placed again once, the others get ``AlreadyPlacedError`` for it. Runs on
    the caller's loop until the caller stops iterating.
    """
    while True:
        lost = await next_lost()
        yield lost, (await place_again(lost)) if replace_lost else {}


_losses_seen: dict[str, int] = {}  # directory epoch -> losses this process was given
