"""A signaling-only participant for roster tests, over a real websocket; it can stop reading.

``RosterClient`` keeps a ``RosterView`` of what the edge sends, the custom events
it got, and the kind of every frame in arrival order. ``pause()`` stops it reading
(aiohttp then stops taking bytes off the socket once its own buffer is full, so
the edge's writes back up to it), ``resume()`` starts it again. Its socket has a
small receive buffer, so a little unread data is enough for the edge to notice.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import aiohttp

from messages import TrackType
from transport.local.roster import RosterView
from transport.local.signaling import (
    SIGNALING_VERSION,
    Custom,
    Join,
    Joined,
    Leave,
    Offer,
    Roster,
    RosterDelta,
    TrackSpec,
    Unpublish,
    decode_edge,
    encode,
)

RECEIVE_BUFFER = 4096


def _small_socket(addr_info: Any) -> socket.socket:
    family, kind, proto, _, _ = addr_info
    raw = socket.socket(family, kind, proto)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    return raw


def connector() -> aiohttp.TCPConnector:
    """A connector whose sockets have a small receive buffer."""
    return aiohttp.TCPConnector(limit=0, socket_factory=_small_socket)


class RosterClient:
    """One participant of ``call_id`` on ``url``, signaling only (no media)."""

    def __init__(self, http: aiohttp.ClientSession, url: str, call_id: str, token: str) -> None:
        self._http = http
        self._url = f"{url}/ws/{call_id}"
        self._token = token
        self.view = RosterView()
        self.customs: list[Any] = []
        self.kinds: list[str] = []  # the tag of every frame, in arrival order
        self.participant_id = ""
        self.closed: asyncio.Future[aiohttp.WSMessage] = asyncio.Future()
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._reading = asyncio.Event()
        self._reading.set()
        self._changed = asyncio.Event()
        self._replies: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._seq = 1

    async def join(self) -> None:
        """Connect, join, and start reading; returns once ``Joined`` arrived."""
        self._socket = await self._http.ws_connect(self._url, heartbeat=None)
        self._reader = asyncio.get_running_loop().create_task(self._read())
        joined = await self._request(Join(self._token, 0, SIGNALING_VERSION))
        assert isinstance(joined, Joined), joined
        self.participant_id = joined.participant_id

    async def _request(self, frame: Any) -> Any:
        assert self._socket is not None
        seq = frame.seq
        reply = self._replies[seq] = asyncio.get_running_loop().create_future()
        await self._socket.send_bytes(encode(frame))
        return await reply

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    async def publish(self, sdp: str, mid: str = "0") -> str:
        """Publish one audio track described by ``sdp`` (an offer with that mid); its id."""
        track_id = f"{self.participant_id}:1"
        spec = TrackSpec(mid, track_id, TrackType.AUDIO)
        answer = await self._request(Offer(sdp, [spec], [], self._next_seq()))
        assert type(answer).__name__ == "Answer", answer
        return track_id

    async def unpublish(self, track_id: str) -> None:
        """Stop publishing ``track_id``."""
        done = await self._request(Unpublish(track_id, self._next_seq()))
        assert type(done).__name__ == "Done", done

    async def leave(self) -> None:
        """Leave the call and close the socket."""
        await self._request(Leave(self._next_seq()))
        await self.close()

    async def close(self) -> None:
        """Close the socket (if open) and stop reading."""
        self._reading.set()
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            await self._reader

    def pause(self) -> None:
        """Stop reading (what arrives stays in the socket)."""
        self._reading.clear()

    def resume(self) -> None:
        """Read again."""
        self._reading.set()

    async def until(self, predicate: Callable[[RosterClient], bool], timeout: float) -> None:
        """Wait, reading, until ``predicate(self)`` holds; ``TimeoutError`` after ``timeout``."""
        async with asyncio.timeout(timeout):
            while not predicate(self):
                self._changed.clear()
                await self._changed.wait()

    async def _read(self) -> None:
        assert self._socket is not None
        while True:
            await self._reading.wait()
            message = await self._socket.receive()
            if message.type is not aiohttp.WSMsgType.BINARY:
                if message.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                ):
                    if not self.closed.done():
                        self.closed.set_result(message)
                    for reply in self._replies.values():
                        if not reply.done():
                            reply.set_exception(ConnectionResetError("closed"))
                    self._changed.set()
                    return
                continue
            frame = decode_edge(message.data)
            self.kinds.append(type(frame).__name__)
            if isinstance(frame, Roster | RosterDelta):
                assert self.view.apply(frame), (frame, self.view.version)
            elif isinstance(frame, Custom):
                self.customs.append(frame.data)
            else:
                reply = self._replies.pop(getattr(frame, "seq", -1), None)
                if reply is not None and not reply.done():
                    reply.set_result(frame)
            self._changed.set()
