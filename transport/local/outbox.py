"""``Outbox``: the frames on their way to one participant, and the task that writes them.

Two kinds of frame wait here. Frames that carry meaning once (``Joined``,
``Answer``, ``Done``, ``Renegotiate``, ``Custom``, ``Error``) are queued and
written in the order they were put, never merged or dropped. The roster is
state: the queue holds at most one place for it, and what is written there is
chosen when the writer reaches it (``CallRoster.frame_for``: the newest
version, as a delta from what the participant has, or a snapshot). A peer
that reads slowly therefore misses roster versions, never a frame of the other
kind, and never its seat.

A peer is cut (its transport aborted, so its session ends as ``dropped``) only
when it reads nothing while the edge has data for it for a whole
``send_timeout`` (checked every ``send_timeout``: a cut comes between one and
two of them after the last byte it took), or when more than ``max_outbox``
frames of the first kind wait for it. ``cut_reason`` names the limit.

What a socket takes at once is written by the edge's ``Flusher``, one task for
every outbox with something to write in that loop turn; from the first frame
that may have to wait for its peer, an outbox has a writer task of its own
until its queue is empty. So no participant's socket ever holds up another's.
Everything runs on the edge's loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket as sockets
from collections import deque
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from transport.local.signaling import EncodedFrame, Roster

if TYPE_CHECKING:
    from transport.local.limits import LocalLimits
    from transport.local.roster import CallRoster

__all__ = ["Flusher", "Outbox", "SendCounts"]

logger = logging.getLogger(__name__)


class SendCounts:
    """What the edge's outboxes wrote, for metrics and benchmarks (one per edge)."""

    __slots__ = ("bytes", "frames", "roster_bytes", "roster_frames", "snapshots")

    def __init__(self) -> None:
        self.frames = 0
        """Frames written, of every kind."""
        self.bytes = 0
        """Their payload bytes."""
        self.roster_frames = 0
        """Roster frames written (snapshots and deltas)."""
        self.roster_bytes = 0
        """Their payload bytes."""
        self.snapshots = 0
        """Roster frames that were full snapshots."""


class Flusher:
    """Writes what many outboxes have queued, in one task, as long as no write can wait.

    One per edge. An outbox with something to write joins the flusher's batch;
    the flusher writes its frames while its transport takes them without
    waiting for the peer (the buffer stays under the low-water mark, so the
    transport is not paused and the write returns at once), and hands the
    outbox to a writer task of its own at the first frame that might wait. A
    change that reaches a thousand participants thus costs one task, not a
    thousand, and still no participant's socket holds up another's. On the
    edge's loop.
    """

    def __init__(self) -> None:
        self._batch: list[Outbox] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, outbox: Outbox) -> None:
        """Write ``outbox``'s queued frames soon (in this loop turn's batch)."""
        self._batch.append(outbox)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                for outbox in batch:
                    try:
                        await outbox.write_ready()
                    except Exception:  # a bug in one outbox must not strand the others
                        logger.exception("%s: writing failed", outbox)
        finally:
            self._task = None


class Outbox:
    """Frames queued for one participant's websocket, written in order.

    Made by the participant's ``PeerSession``; ``put`` and ``roster_changed``
    never wait for the peer. What the transport takes at once is written by the
    edge's ``Flusher``; a write that may wait for the peer, and all after it,
    by the outbox's own writer task. Call everything on the edge's loop.
    """

    def __init__(
        self,
        socket: web.WebSocketResponse,
        transport: asyncio.Transport | None,
        *,
        text: bool,
        limits: LocalLimits,
        counts: SendCounts,
        flusher: Flusher,
        name: str,
    ) -> None:
        self._socket = socket
        self._transport = transport
        self._opcode = WSMsgType.TEXT if text else WSMsgType.BINARY
        self._text = text
        self._limits = limits
        self._counts = counts
        self._name = name
        self._queue: deque[EncodedFrame | None] = deque()  # None: the roster's place
        self._frames = 0  # frames in the queue that cannot be conflated
        self._roster: CallRoster | None = None
        self._roster_queued = False
        self.roster_version: int | None = None
        """The roster version last written to the peer (``None``: none yet)."""
        self._writer: asyncio.Task[None] | None = None
        self._flusher = flusher
        self._flushing = False  # in the flusher's batch
        self._carry: bytes | None = None  # taken by the flusher, for the writer to send first
        self._watchdog: asyncio.TimerHandle | None = None
        self._written = 0  # frames whose write returned
        self._seen_written = 0  # ... when the watchdog last looked
        self._seen_buffered = 0  # the transport's buffer then
        self.cut_reason: str | None = None
        """The limit the peer broke (``send_timeout``, ``max_outbox`` or ``max_refused``)."""
        if limits.send_buffer is not None and transport is not None:
            raw = transport.get_extra_info("socket")
            if raw is not None:
                raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_SNDBUF, limits.send_buffer)
            transport.set_write_buffer_limits(high=limits.send_buffer)
        self._low = transport.get_write_buffer_limits()[0] if transport is not None else 0

    @property
    def writer(self) -> asyncio.Task[None] | None:
        """The task writing now, if any (it ends when the queue is empty)."""
        return self._writer

    @property
    def pending(self) -> int:
        """Frames waiting that cannot be conflated (the roster's place not counted)."""
        return self._frames

    def put(self, frame: EncodedFrame) -> None:
        """Queue a frame that must arrive, in order; cut the peer past ``max_outbox``.

        Ignored once the peer is cut or its socket closed.
        """
        if self.cut_reason is not None or self._socket.closed:
            return
        if self._frames >= self._limits.max_outbox:
            self.cut("max_outbox", f"{self._frames} frames unread")
            return
        self._queue.append(frame)
        self._frames += 1
        self._wake()

    def follow(self, roster: CallRoster) -> None:
        """From now on, keep the peer's copy of ``roster`` current (first a snapshot)."""
        self._roster = roster
        self.roster_changed()

    def roster_changed(self) -> None:
        """The roster changed: make sure a place for it is queued (one at most).

        ``CallRoster.notify`` calls it for an outbox that has taken the previous version.
        """
        if self._roster is None or self._roster_queued or self.cut_reason is not None:
            return
        if self._socket.closed:
            return
        self._queue.append(None)
        self._roster_queued = True
        self._wake()

    def _wake(self) -> None:
        if self._writer is None and not self._flushing:
            self._flushing = True
            self._flusher.add(self)

    def _take(self) -> bytes | None:
        """The next frame's bytes, off the queue (``None``: the roster was current)."""
        item = self._queue.popleft()
        counts = self._counts
        if item is None:
            self._roster_queued = False
            roster = self._roster
            assert roster is not None
            frame = roster.frame_for(self.roster_version)
            roster.wait(self)  # current once this is written: tell it the next change
            if frame is None:
                return None
            self.roster_version = roster.version
            data = frame.data(self._text)
            counts.roster_frames += 1
            counts.roster_bytes += len(data)
            if isinstance(frame.frame, Roster):
                counts.snapshots += 1
        else:
            self._frames -= 1
            data = item.data(self._text)
            if type(item.frame) is Roster:  # a roster sent as an ordinary frame
                counts.roster_frames += 1
                counts.roster_bytes += len(data)
                counts.snapshots += 1
        counts.frames += 1
        counts.bytes += len(data)
        return data

    async def write_ready(self) -> None:
        """Write the queued frames the transport takes at once; the rest goes to a writer task.

        The ``Flusher`` calls it; it never waits for the peer.
        """
        self._flushing = False
        if self._writer is not None:
            return
        queue, socket, transport, low = self._queue, self._socket, self._transport, self._low
        try:
            while queue and not socket.closed:
                data = self._take()
                if data is None:
                    continue
                if transport is None or transport.get_write_buffer_size() + len(data) > low:
                    self._carry = data  # this one may wait for the peer: its own task sends it
                    self._writer = asyncio.get_running_loop().create_task(self._write())
                    return
                await socket.send_frame(data, self._opcode)  # returns at once: not paused
                self._written += 1
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("%s: send failed, the peer is going: %r", self._name, exc)
        if socket.closed or self.cut_reason is not None:
            self._clear()

    async def flush(self) -> None:
        """Return once everything queued now is written (for closing the socket after it)."""
        if self._writer is None and self._queue:
            await self.write_ready()
        writer = self._writer
        if writer is not None:
            await asyncio.shield(writer)

    async def _write(self) -> None:
        queue, socket = self._queue, self._socket
        loop = asyncio.get_running_loop()
        transport, low = self._transport, self._low
        data, self._carry = self._carry, None
        try:
            while data is not None or (queue and not socket.closed):
                if data is None:
                    data = self._take()
                    if data is None:
                        continue
                if self._watchdog is None and (
                    transport is None or transport.get_write_buffer_size() + len(data) > low
                ):
                    # This write may have to wait for the peer: from now on it has a deadline.
                    # (Below the low-water mark the transport is not paused and stays so.)
                    self._watch(loop)
                await socket.send_frame(data, self._opcode)
                self._written += 1
                data = None
        except (ConnectionError, RuntimeError) as exc:
            logger.debug("%s: send failed, the peer is going: %r", self._name, exc)
        finally:
            self._writer = None
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            if socket.closed or self.cut_reason is not None:
                self._clear()

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        self._seen_written = self._written
        transport = self._transport
        self._seen_buffered = transport.get_write_buffer_size() if transport is not None else 0
        self._watchdog = loop.call_later(self._limits.send_timeout, self._check, loop)

    def _check(self, loop: asyncio.AbstractEventLoop) -> None:
        """The writer has been busy for ``send_timeout``: has the peer read anything since?"""
        if self._writer is None:
            return
        transport = self._transport
        buffered = transport.get_write_buffer_size() if transport is not None else 0
        if self._written != self._seen_written or buffered < self._seen_buffered:
            self._watch(loop)  # it reads, however slowly: keep going
            return
        self._watchdog = None
        self.cut("send_timeout", "the peer read nothing")

    def cut(self, reason: str, detail: str) -> None:
        """Cut the peer at once (no flush): it broke the limit ``reason``.

        Its websocket reader then ends and its session ends as ``dropped``.
        """
        if self.cut_reason is None:
            self.cut_reason = reason
            logger.info("%s: %s (%s); dropping the peer", self._name, detail, reason)
        self._clear()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.abort()

    def _clear(self) -> None:
        self._queue.clear()
        self._carry = None
        self._frames = 0
        self._roster_queued = False
