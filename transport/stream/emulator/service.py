"""``StreamEmulator``: a coordinator and SFUs on 127.0.0.1 for the getstream SDK 4.x.

An emulator of Stream's video API, not Stream: it serves what the SDK's
``upsert_users``, ``get_or_create`` and RTC join use, so ``StreamEdge`` and
other SDK clients run end to end with no account and no network.

It runs on an event loop of its own, in its own thread, as Stream's servers
run elsewhere than the agent's loop: the SDK makes blocking calls on its
caller's loop (closing a websocket waits for the server's reply), which must
not stall the servers answering them. Its methods may be called from any
loop. Faults are methods: ``drop`` a client's websocket (the SDK reconnects
fast), ``migrate`` a call to the next SFU (``GoAway``), ``send_error`` (an
SFU ``Error`` with a reconnect strategy), ``end_call`` (``CallEnded``),
``refuse_credentials``, ``refuse_joins`` (the SFUs refuse a user's joins),
``slow_joins`` (the coordinator answers late) and ``hold_joins`` (a user's SFU
joins wait until released).
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from messages import EdgeActorsError
from transport.stream.emulator.coordinator import Coordinator
from transport.stream.emulator.room import Room, RoomLimits
from transport.stream.emulator.sfu_server import EmulatedSfu, JoinHold, SfuLimits
from transport.stream.emulator.tokens import Keys
from transport.stream.emulator.wire import error_event, models_pb2

if TYPE_CHECKING:
    from transport.stream.edge import StreamEdge

__all__ = ["EmulatedSession", "StreamEmulator", "StreamEmulatorError"]

T = TypeVar("T")


class StreamEmulatorError(EdgeActorsError, RuntimeError):
    """The emulator was asked for something it does not have; the text says what."""


class EmulatedSession(msgspec.Struct, frozen=True):
    """A session in an emulated call, as the SFUs see it."""

    user_id: str
    session_id: str
    sfu: str
    """The edge name of the SFU its websocket is on (empty while it is down)."""
    published: tuple[int, ...]
    """The SFU track types it publishes."""


class StreamEmulator:
    """Stream's coordinator and ``sfus`` SFUs, emulated on ``host`` (free ports).

    ``api_key``/``api_secret`` are the app's credentials (a secret is made up
    when none is given): pass them, with ``url`` as ``base_url``, to the SDK
    (``client()`` does). ``limits`` and ``sfu_limits`` set the deadlines and
    caps of calls and SFUs. ``async with StreamEmulator() as emulator:``
    starts and stops it.
    """

    def __init__(
        self,
        api_key: str = "emulator-key",
        api_secret: str | None = None,
        *,
        sfus: int = 2,
        host: str = "127.0.0.1",
        limits: RoomLimits | None = None,
        sfu_limits: SfuLimits | None = None,
    ) -> None:
        if sfus < 1:
            raise StreamEmulatorError(f"an emulator needs at least one SFU, not {sfus}")
        self.api_key = api_key
        self.api_secret = api_secret or secrets.token_urlsafe(32)
        self.host = host
        self.limits = limits if limits is not None else RoomLimits()
        self._rooms: dict[str, Room] = {}
        keys = Keys(self.api_key, self.api_secret)
        self._sfus = [
            EmulatedSfu(f"sfu-emulator-{n}", keys, self._rooms.get, sfu_limits)
            for n in range(1, sfus + 1)
        ]
        self._placement: dict[str, int] = {}
        self._coordinator = Coordinator(keys, self._rooms, self._sfu_of, self.limits)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The coordinator's base URL (the SDK's ``base_url``), once started."""
        return self._coordinator.url

    @property
    def sfu_names(self) -> tuple[str, ...]:
        """The edge names of the SFUs, in the order calls move through them."""
        return tuple(sfu.edge_name for sfu in self._sfus)

    async def start(self) -> StreamEmulator:
        """Start the emulator's thread, then the coordinator and the SFUs on it."""
        if self._loop is None:
            loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=loop.run_forever, name="stream-emulator", daemon=True
            )
            self._thread.start()
            self._loop = loop
            await self._on_loop(self._start())
        return self

    async def _start(self) -> None:
        await self._coordinator.start(self.host)
        for sfu in self._sfus:
            await sfu.start(self.host)

    async def stop(self) -> None:
        """End every call, stop the servers and the emulator's thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            await self._on_loop(self._stop())
        finally:
            loop.call_soon_threadsafe(loop.stop)
            await asyncio.to_thread(thread.join)
            loop.close()
            self._loop = self._thread = None

    async def _stop(self) -> None:
        for room in list(self._rooms.values()):
            if not room.ended:
                await room.end(models_pb2.CALL_ENDED_REASON_SESSION_ENDED)
        for sfu in self._sfus:
            await sfu.stop()
        await self._coordinator.stop()
        # What the servers leave running (media relays of ended calls) ends with them,
        # as asyncio.run() ends a program's tasks, instead of being destroyed pending.
        rest = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_asyncgens()

    async def __aenter__(self) -> StreamEmulator:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            work.close()
            raise StreamEmulatorError("the emulator is not running: start() it first")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._loop))

    def edge(self, **kwargs: Any) -> StreamEdge:
        """A ``StreamEdge`` on this emulator (its key, secret and URL); ``kwargs`` go to it."""
        from transport.stream.edge import StreamEdge

        return StreamEdge(self.api_key, self.api_secret, base_url=self.url, **kwargs)

    def client(self, **kwargs: Any) -> Any:
        """A getstream ``AsyncStream`` client with this emulator's key, secret and URL."""
        from getstream import AsyncStream

        return AsyncStream(
            api_key=self.api_key, api_secret=self.api_secret, base_url=self.url, **kwargs
        )

    def _room(self, call_id: str, call_type: str) -> Room:
        room = self._rooms.get(f"{call_type}:{call_id}")
        if room is None or room.ended:
            raise StreamEmulatorError(f"call {call_type}:{call_id} is not running: join it first")
        return room

    def _sfu_of(self, cid: str) -> EmulatedSfu:
        return self._sfus[self._placement.get(cid, 0)]

    async def sessions(self, call_id: str, call_type: str = "default") -> list[EmulatedSession]:
        """The sessions in the call now (``StreamEmulatorError`` if it is not running)."""

        async def look() -> list[EmulatedSession]:
            room = self._room(call_id, call_type)
            return [
                EmulatedSession(
                    s.user_id,
                    s.session_id,
                    s.signal.sfu if s.signal is not None else "",
                    tuple(s.published),
                )
                for s in room.sessions.values()
            ]

        return await self._on_loop(look())

    # -- faults ------------------------------------------------------------------

    async def drop(self, call_id: str, user_id: str, call_type: str = "default") -> int:
        """Drop the signaling websockets of ``user_id`` in the call; how many were dropped.

        The sessions keep their place for the reconnect deadline; the SDK
        reconnects fast (same session, same peer connections).
        """

        async def drop() -> int:
            room = self._room(call_id, call_type)

            def picked(session: Any) -> bool:
                return bool(session.room is room and session.user_id == user_id)

            return sum(sfu.drop(picked) for sfu in self._sfus)

        return await self._on_loop(drop())

    async def migrate(self, call_id: str, call_type: str = "default") -> str:
        """Move the call to the next SFU: joins go there, its old SFU sends ``GoAway``.

        Returns the edge name of the SFU the call moves to. Sessions stay in
        the call while they move; a client that does not move stays on the
        old SFU.
        """
        if len(self._sfus) < 2:
            raise StreamEmulatorError("migrate() needs an emulator with two SFUs or more")

        async def migrate() -> str:
            room = self._room(call_id, call_type)
            current = self._placement.get(room.cid, 0)
            self._placement[room.cid] = (current + 1) % len(self._sfus)
            room.go_away(self._sfus[current].edge_name, models_pb2.GO_AWAY_REASON_REBALANCE)
            return self._sfus[self._placement[room.cid]].edge_name

        return await self._on_loop(migrate())

    async def end_call(self, call_id: str, call_type: str = "default") -> None:
        """End the call: every session gets ``CallEnded`` and its websocket closes."""

        async def end() -> None:
            await self._room(call_id, call_type).end(models_pb2.CALL_ENDED_REASON_ENDED)

        await self._on_loop(end())

    async def send_error(
        self,
        call_id: str,
        user_id: str,
        strategy: int,
        message: str = "the SFU asks this client to reconnect",
        *,
        code: int = models_pb2.ERROR_CODE_INTERNAL_SERVER_ERROR,
        call_type: str = "default",
    ) -> int:
        """Send an SFU ``Error`` event with a reconnect ``strategy`` to ``user_id``'s sessions.

        ``strategy`` is a ``WebsocketReconnectStrategy`` (``models_pb2``: ``UNSPECIFIED``,
        ``DISCONNECT``, ``FAST``, ``REJOIN``, ``MIGRATE``), ``code`` an ``ErrorCode``.
        The SFU only says it: the session and its websocket stay as they are,
        and what happens next is the client's doing. Returns how many sessions got it.
        """
        frame = error_event(code, message, strategy)

        async def send() -> int:
            return self._room(call_id, call_type).error(user_id, frame)

        return await self._on_loop(send())

    def refuse_credentials(self, reason: str | None) -> None:
        """Refuse every coordinator request with a 401 and ``reason`` (``None`` accepts again)."""
        self._coordinator.refusal = reason

    def slow_joins(self, seconds: float) -> None:
        """Answer each coordinator join ``seconds`` late (0 for on time)."""
        self._coordinator.join_delay = seconds

    def hold_joins(self, user_id: str) -> JoinHold:
        """Hold ``user_id``'s SFU joins (first joins and reconnects) until the hold is released."""
        hold = JoinHold()
        for sfu in self._sfus:
            sfu.holds[user_id] = hold
        return hold

    def refuse_joins(
        self,
        user_id: str,
        message: str | None = "this user may not join",
        code: int = models_pb2.ERROR_CODE_PERMISSION_DENIED,
    ) -> None:
        """Make every SFU answer ``user_id``'s joins with an ``Error`` (``code``, ``message``).

        The SFU sends it as its first message and closes the websocket, as
        Stream's SFU refuses a join; ``None`` lets the user's joins in again.
        """
        for sfu in self._sfus:
            if message is None:
                sfu.refusals.pop(user_id, None)
            else:
                sfu.refusals[user_id] = (code, message)

    async def watching(self, call_id: str, user_id: str, call_type: str = "default") -> None:
        """Return once ``user_id``'s SDK client watches the call: its events reach it now on."""
        await self._on_loop(self._coordinator.until_watching(f"{call_type}:{call_id}", user_id))

    async def send_custom_event(
        self, call_id: str, data: dict[str, Any], user_id: str, call_type: str = "default"
    ) -> int:
        """A ``custom`` call event from ``user_id`` to the SDK clients watching the call."""
        return await self._on_loop(
            self._coordinator.send_custom(f"{call_type}:{call_id}", user_id, data)
        )
