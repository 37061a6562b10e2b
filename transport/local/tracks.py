"""Media helpers of the local edge: synthetic sources, and tracks that wrap another.

``ToneTrack`` and ``PatternTrack`` are what participants publish when they have
no media of their own; ``PausableTrack`` is how a publisher stops sending what
nobody watches; ``EncoderSafeTrack`` lets several encoders share one video
track. Each runs on the loop of whoever reads it.
"""

from __future__ import annotations

import math

import numpy
from aiortc import MediaStreamTrack
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from av import AudioFrame, VideoFrame
from av.frame import Frame
from av.packet import Packet

from messages import TrackType

__all__ = [
    "EncoderSafeTrack",
    "PatternTrack",
    "PausableTrack",
    "ToneTrack",
    "synthetic_track",
]


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
