"""``HeadGuard``: a deadline and a cap on TCP connections that have not sent a request yet.

Before aiohttp sees a request (and before the edge's join deadline can start), a
peer can open connections and send nothing, or send a request head one byte at
a time, holding a file descriptor each for as long as it likes. The guard wraps
each connection's protocol: a connection must finish its first request head
(the blank line that ends the headers) within ``deadline`` seconds, and at most
``cap`` connections may be waiting for theirs at once (past that the one that
has waited longest is cut). Everything runs on the server's loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

__all__ = ["HeadGuard"]

_HEAD_END = b"\r\n\r\n"


class HeadGuard:
    """Wraps a protocol factory so that each connection's first request head has a deadline."""

    def __init__(
        self, factory: Callable[[], asyncio.Protocol], deadline: float, cap: Callable[[], int]
    ) -> None:
        self._factory = factory
        self.deadline = deadline
        self._cap = cap
        self._waiting: dict[_Guarded, None] = {}  # oldest first
        self.cut = 0
        """Connections cut for sending no complete request head in time, or to make room."""

    def __call__(self) -> asyncio.Protocol:
        """A new connection's protocol (the event loop calls it)."""
        return _Guarded(self._factory(), self)

    # -- what each connection's protocol calls -------------------------------------

    def waiting_for_head(self, connection: _Guarded) -> None:
        """A new connection waits for its first request head (the oldest may make room)."""
        if len(self._waiting) >= self._cap():
            oldest = next(iter(self._waiting))
            self.cut_now(oldest)
        self._waiting[connection] = None

    def headed(self, connection: _Guarded) -> None:
        """The connection sent its first request head (or went away)."""
        self._waiting.pop(connection, None)

    def cut_now(self, connection: _Guarded) -> None:
        """Cut a connection that missed its deadline or is the oldest past the cap."""
        self._waiting.pop(connection, None)
        self.cut += 1
        connection.abort()


class _Guarded(asyncio.Protocol):
    """Forwards everything to the real protocol; watches for the end of the first head."""

    def __init__(self, inner: asyncio.Protocol, guard: HeadGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen, so a head end split across reads is found

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport; uvloop's has Transport's methods without subclassing it.
        self._transport = cast(asyncio.Transport, transport)
        self._guard.waiting_for_head(self)
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._guard.deadline, self._guard.cut_now, self)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            if _HEAD_END in self._tail + data:
                self._headed()
            else:
                self._tail = (self._tail + data)[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._headed()
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _headed(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._guard.headed(self)

    def abort(self) -> None:
        """Cut the connection now (no flush)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._transport is not None and not self._transport.is_closing():
            self._transport.abort()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)  # anything else the server asks of its protocol
