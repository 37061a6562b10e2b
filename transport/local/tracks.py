"""Media helpers of the local edge: synthetic sources and the drain every received track needs.

A remote video track that nobody reads grows memory without bound (DESIGN.md),
so the edge reads every track it receives through a ``MediaRelay``: one
unbuffered subscription is drained by a ``Drain`` task, and each subscriber the
agent asks for gets its own unbuffered subscription. Stopping the drain ends
the track for all of them, even if it never carried a frame. Runs on the
edge's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable

import numpy
from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from av import AudioFrame, VideoFrame
from av.frame import Frame
from av.packet import Packet

from messages import TrackType

__all__ = [
    "Drain",
    "EncoderSafeTrack",
    "EndableTrack",
    "PatternTrack",
    "PausableTrack",
    "ToneTrack",
    "synthetic_track",
]

logger = logging.getLogger(__name__)


class ToneTrack(AudioStreamTrack):
    """A 440 Hz tone at 48 kHz in 20 ms frames (so a listener can tell it is real audio)."""

    def __init__(self) -> None:
        super().__init__()
        self._sample = 0

    async def recv(self) -> AudioFrame:
        frame = await super().recv()  # paces the track and stamps pts
        assert isinstance(frame, AudioFrame)
        samples = frame.samples
        t = (numpy.arange(samples) + self._sample) / 48_000
        self._sample += samples
        wave = (numpy.sin(2 * math.pi * 440 * t) * 8_000).astype(numpy.int16)
        data = numpy.repeat(wave, len(frame.layout.channels)).reshape(1, -1)
        tone = AudioFrame.from_ndarray(data, format="s16", layout=frame.layout.name)
        tone.sample_rate = frame.sample_rate
        tone.pts = frame.pts
        tone.time_base = frame.time_base
        return tone


class PatternTrack(VideoStreamTrack):
    """A moving colour bar pattern, 320x240, so frames differ from one to the next."""

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = numpy.zeros((240, 320, 3), numpy.uint8)
        offset = (pts // 3000) % 320
        image[:, :, 1] = 160
        image[:, offset : offset + 32, 0] = 255
        # In yuv420p already, so no encoder thread has to convert a frame it shares.
        frame = VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
        frame.pts = pts
        frame.time_base = time_base
        return frame


class EncoderSafeTrack(MediaStreamTrack):
    """One receiver's copy of a shared video track, converted to yuv420p on the loop.

    aiortc encodes in worker threads, and a frame caches its converter: two
    encoders converting one shared frame at once crash in libswscale. Frames
    that are already yuv420p are passed on as they are (encoders only read them).
    """

    kind = "video"

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self._source = source

    async def recv(self) -> VideoFrame:
        frame = await self._source.recv()
        assert isinstance(frame, VideoFrame)
        if frame.format.name != "yuv420p":
            converted = frame.reformat(format="yuv420p")
            converted.pts, converted.time_base = frame.pts, frame.time_base
            return converted
        return frame

    def stop(self) -> None:
        super().stop()
        self._source.stop()


class PausableTrack(MediaStreamTrack):
    """A published track that its publisher stops sending while ``paused``.

    The sender waits in ``recv()``, so nothing is encoded or sent while it is
    paused; the source is still read at its own pace and its frames dropped
    (``dropped`` counts them), so a live source piles nothing up. The edge asks
    for the pause (``SendTrack``) when nobody reads the track, and for frames
    again with a keyframe request, which the sender honours with its next
    frame. On the publisher's loop.
    """

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self.paused = False
        self.dropped = 0
        """Frames of the source not sent because the track was paused."""

    async def recv(self) -> Frame | Packet:
        while True:
            frame = await self._source.recv()
            if not self.paused:
                return frame
            self.dropped += 1

    def stop(self) -> None:
        super().stop()
        self._source.stop()


def synthetic_track(track_type: TrackType) -> MediaStreamTrack:
    """A source for ``track_type``: a tone for audio kinds, a pattern for video kinds."""
    if track_type in (TrackType.AUDIO, TrackType.SCREEN_SHARE_AUDIO):
        return ToneTrack()
    return PatternTrack()


class EndableTrack(MediaStreamTrack):
    """A received track that ends when we stop it, even while a ``recv()`` waits for a frame.

    aiortc's remote track ends only once its decoder has run, so one that never
    got a packet (the peer left first, or never sent media) would hold its
    reader, a relay's worker task, forever. ``stop()`` cancels that wait and
    the reader gets ``MediaStreamError``, as at the end of any track.
    """

    def __init__(self, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._reader: asyncio.Task[object] | None = None

    async def recv(self) -> Frame | Packet:
        if self.readyState != "live":
            raise MediaStreamError
        self._reader = asyncio.current_task()
        try:
            return await self._source.recv()
        except asyncio.CancelledError:
            reader = asyncio.current_task()
            if self.readyState == "live" or reader is None:
                raise  # cancelled by someone else
            reader.uncancel()
            raise MediaStreamError from None
        finally:
            self._reader = None

    def stop(self) -> None:
        if self.readyState == "live":
            super().stop()
            if self._reader is not None:
                self._reader.cancel()


class SubscriberTrack(MediaStreamTrack):
    """One subscriber's copy of a received track; ``stopped`` is called once when it stops."""

    def __init__(self, source: MediaStreamTrack, stopped: Callable[[], None]) -> None:
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._stopped: Callable[[], None] | None = stopped

    async def recv(self) -> Frame | Packet:
        if self.readyState != "live":
            raise MediaStreamError
        return await self._source.recv()

    def stop(self) -> None:
        super().stop()
        self._source.stop()
        stopped, self._stopped = self._stopped, None
        if stopped is not None:
            stopped()


class Drain:
    """Reads a received track until it ends or ``stop()``, so nothing piles up.

    ``source`` is the track to relay to anyone else who wants its frames (an
    ``EndableTrack`` over the received one): ``stop()`` ends it, and with it
    every copy relayed from it.
    """

    def __init__(self, relay: MediaRelay, track: MediaStreamTrack) -> None:
        self.frames = 0
        self.source = EndableTrack(track)
        """The received track as the relay reads it: subscribe copies to this one."""
        self._sink = relay.subscribe(self.source, buffered=False)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        with contextlib.suppress(MediaStreamError, asyncio.CancelledError):
            while True:
                await self._sink.recv()
                self.frames += 1

    async def stop(self) -> None:
        """Stop reading, release the subscription and end ``source`` (and its copies)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._sink.stop()
        self.source.stop()
