"""A voice agent's echo: a person's audio goes to the agent and comes back through the edge."""

from __future__ import annotations

import asyncio
import fractions
import threading
from typing import Any

import numpy
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame

from transport import TrackAddedEvent, TrackType, User
from transport.local import LocalEdge

LIMIT = 20.0
LOUD = 20_000


class Knock(MediaStreamTrack):
    """20 ms stereo frames at 48 kHz: near silence, then loud from ``loud_from`` on."""

    kind = "audio"

    def __init__(self, loud_from: int) -> None:
        super().__init__()
        self.count = 0
        self.loud_from = loud_from
        rng = numpy.random.default_rng(1)
        self.quiet = rng.integers(-100, 100, 1920).astype(numpy.int16).reshape(1, -1)
        self.loud = rng.integers(-LOUD, LOUD, 1920).astype(numpy.int16).reshape(1, -1)

    async def recv(self) -> AudioFrame:
        await asyncio.sleep(0.02)  # pacing a live source, as aiortc's own tracks do
        samples = self.loud if self.count >= self.loud_from else self.quiet
        frame = AudioFrame.from_ndarray(samples, "s16", "stereo")
        frame.sample_rate = 48_000
        frame.pts = self.count * 960
        frame.time_base = fractions.Fraction(1, 48_000)
        self.count += 1
        return frame


async def _first_loud(track: Any) -> int:
    """Read ``track`` until a loud frame arrives; how many frames that took."""
    frames = 0
    while True:
        frame = await track.recv()
        frames += 1
        if numpy.abs(frame.to_ndarray()).mean() > LOUD / 8:
            return frames


async def test_a_persons_voice_comes_back_through_the_agent(edge: LocalEdge) -> None:
    echoes: asyncio.Queue[str] = asyncio.Queue()

    @edge.events.subscribe
    async def echo(event: TrackAddedEvent) -> None:
        heard = edge.add_track_subscriber(event.track_id)  # the agent reads the person...
        echoes.put_nowait(await edge.publish_track(event.call.id, heard))  # ...and answers

    await edge.join(User("agent"), await edge.create_call("echo"))
    person = edge.participant("echo", "caller")
    await person.join()
    knock = Knock(loud_from=25)
    await person.publish(TrackType.AUDIO, knock)
    echo_id = await asyncio.wait_for(echoes.get(), LIMIT)
    back = await asyncio.wait_for(person.agent_track(echo_id), LIMIT)
    try:
        await asyncio.wait_for(_first_loud(back), LIMIT)
    finally:
        back.stop()
    assert knock.count > knock.loud_from  # what came back was sent after the knock began
    await person.leave()


async def test_received_audio_is_decoded_with_no_thread_of_its_own(edge: LocalEdge) -> None:
    await edge.join(User("agent"), await edge.create_call("threads"))
    person = edge.participant("threads", "caller")
    await person.join()
    track_id = await person.publish(TrackType.AUDIO, Knock(loud_from=0))
    heard = edge.add_track_subscriber(track_id)
    try:
        await asyncio.wait_for(_first_loud(heard), LIMIT)  # decoded frames arrive...
    finally:
        heard.stop()
    for thread in threading.enumerate():  # ...and aiortc's decoder thread ended at its start
        if thread.name == "audio-decoder":
            thread.join(LIMIT)
            assert not thread.is_alive()
    await person.leave()
