"""``Fanout``: one received track's frames, handed to each of its subscribers as they arrive.

A received track has one source of frames and any number of readers. aiortc's
``MediaRelay`` puts a task between them that reads the source and wakes every
copy, and an unread aiortc video track grows memory, so every received track
also needed a copy that a task read all the time: two task wake-ups per frame
besides the reader's own. A ``Fanout`` is pushed to instead. The edge's decode
gate hands it each decoded frame (``push``), and each copy keeps only the
newest frame it has not read yet, so a slow reader skips frames and nothing
piles up, and no task runs while nobody reads. A track that only yields frames
when read (a remote track aiortc decodes itself, or any other track) is read
by ``feed_from``'s one task instead. Ending the fan-out (``end``, or ``None``
pushed) ends every copy, even one whose reader waits. On the loop of whoever
pushes; copies are read on the same loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av.frame import Frame
from av.packet import Packet

__all__ = ["Fanout"]

Item = Frame | Packet


class Fanout:
    """Hands every frame of one track to each live copy (``subscribe``); see the module."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.frames = 0
        """Frames pushed so far (read or not)."""
        self.ended = False
        self._copies: set[_Copy] = set()
        self._feeding: asyncio.Task[None] | None = None

    def subscribe(self, stopped: Callable[[], None] | None = None) -> MediaStreamTrack:
        """A new copy of the track, from the next frame on; ``stopped`` is called when it stops.

        Read it or stop it: an unread copy holds one frame at most. A copy
        made after the end has ended already.
        """
        copy = _Copy(self, stopped)
        if self.ended:
            copy.stop()
        else:
            self._copies.add(copy)
        return copy

    def push(self, frame: Item | None) -> None:
        """Hand ``frame`` to every copy; ``None`` ends the track (and every copy) instead."""
        if self.ended:
            return
        if frame is None:
            self.end()
            return
        self.frames += 1
        for copy in self._copies:
            copy.hand(frame)

    def feed_from(self, track: MediaStreamTrack) -> None:
        """Read ``track`` in a task until it or this fan-out ends, pushing each frame."""
        self._feeding = asyncio.get_running_loop().create_task(self._feed(track))

    def end(self) -> None:
        """End the track: every copy ends (a waiting reader gets ``MediaStreamError``)."""
        if self.ended:
            return
        self.ended = True
        copies, self._copies = self._copies, set()
        for copy in copies:
            copy.stop()

    async def stop(self) -> None:
        """``end()``, and stop reading the track ``feed_from`` reads (waits for that task)."""
        self.end()
        feeding, self._feeding = self._feeding, None
        if feeding is not None:
            feeding.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feeding

    def drop(self, copy: _Copy) -> None:
        """Forget ``copy`` (it stopped)."""
        self._copies.discard(copy)

    async def _feed(self, track: MediaStreamTrack) -> None:
        try:
            while not self.ended:
                self.push(await track.recv())
        except MediaStreamError:
            self.end()


class _Copy(MediaStreamTrack):
    """One subscriber's copy of a ``Fanout``: the newest frame not read yet, if any."""

    def __init__(self, fanout: Fanout, stopped: Callable[[], None] | None) -> None:
        super().__init__()
        self.kind = fanout.kind
        self._fanout: Fanout | None = fanout
        self._stopped = stopped
        self._frame: Item | None = None
        self._fresh = asyncio.Event()

    def hand(self, frame: Item) -> None:
        """Keep ``frame`` for the reader, in place of an older one not read yet."""
        self._frame = frame
        self._fresh.set()

    async def recv(self) -> Item:
        while self._frame is None:
            if self.readyState != "live":
                raise MediaStreamError
            self._fresh.clear()
            await self._fresh.wait()
        frame, self._frame = self._frame, None
        return frame

    def stop(self) -> None:
        if self.readyState != "live":
            return
        super().stop()
        self._frame = None
        self._fresh.set()  # a waiting reader wakes to the end
        fanout, self._fanout = self._fanout, None
        if fanout is not None:
            fanout.drop(self)
        stopped, self._stopped = self._stopped, None
        if stopped is not None:
            stopped()
