"""The people of ``voice_density``: a client process of marked voice calls.

``python -m benchmarks._voice_people ORDER`` (ORDER a JSON object: the host's
``url``, the implementation, the ``seats`` to take, the measuring ``window``
start and its length ``hold``) joins each seat as one person, publishes 48 kHz
stereo Opus audio in 20 ms frames whose every ``MARK_EVERY``th frame is loud,
reads what the host sends back, and prints a JSON list: per person the frames
heard back in the window and the round trip of each mark.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

FRAMES_PER_S = 50
MARK_EVERY = 50  # frames: one loud frame a second
LOUD, QUIET = 20_000, 300  # amplitudes of the mark and of the frames between


class _Marked:
    """A 48 kHz stereo audio source in 20 ms frames; every ``MARK_EVERY``th frame is loud."""

    def __init__(self, sent: list[float]) -> None:
        import fractions

        import numpy
        from aiortc.mediastreams import MediaStreamTrack

        self._sent = sent
        self._numpy = numpy
        self._time_base = fractions.Fraction(1, 48_000)
        track = self

        class Track(MediaStreamTrack):
            kind = "audio"

            async def recv(self) -> Any:
                return await track.frame()

        self.track = Track()
        self._count = 0
        self._start: float | None = None
        rng = numpy.random.default_rng(7)
        self._quiet = rng.integers(-QUIET, QUIET, 1920).astype(numpy.int16).reshape(1, -1)
        self._loud = rng.integers(-LOUD, LOUD, 1920).astype(numpy.int16).reshape(1, -1)

    async def frame(self) -> Any:
        from av import AudioFrame

        if self._start is None:
            self._start = time.time()
        due = self._start + self._count / FRAMES_PER_S
        await asyncio.sleep(max(0.0, due - time.time()))  # the frame's send time: pacing
        loud = self._count % MARK_EVERY == 0
        frame = AudioFrame.from_ndarray(self._loud if loud else self._quiet, "s16", "stereo")
        frame.sample_rate = 48_000
        frame.pts = self._count * 960
        frame.time_base = self._time_base
        if loud:
            self._sent.append(time.time())
        self._count += 1
        return frame


async def _listen(track: Any, sent: list[float], window: float, hold: float) -> dict[str, Any]:
    """Count the frames heard back in the window and time each mark's round trip."""
    import numpy

    frames, trips, was_loud = 0, [], False
    end = window + hold
    while True:
        frame = await track.recv()
        now = time.time()
        if now >= end:
            break
        level = numpy.abs(frame.to_ndarray()).mean()
        loud = level > LOUD / 8
        if loud and not was_loud and sent and now >= window:
            trips.append(now - sent[-1])
        was_loud = loud
        if now >= window:
            frames += 1
    return {"frames": frames, "round_trips_s": trips}


async def _person_edge_actors(url: str, seat: dict[str, str], window: float, hold: float) -> Any:
    from transport import TrackType
    from transport.local import LocalParticipant

    sent: list[float] = []
    person = LocalParticipant(url, seat["call"], seat["token"])
    await person.join()
    await person.publish(TrackType.AUDIO, _Marked(sent).track)
    echo_id = (await person.custom_event())["echo"]
    heard = await person.agent_track(echo_id)
    try:
        return await _listen(heard, sent, window, hold)
    finally:
        heard.stop()
        await person.leave()


async def _person_bare(url: str, window: float, hold: float) -> Any:
    import aiohttp
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    sent: list[float] = []
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    heard: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    pc.on("track", lambda track: heard.set_result(track))
    pc.addTrack(_Marked(sent).track)
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        offer = {"sdp": pc.localDescription.sdp, "type": "offer"}
        async with http.post(f"{url}/offer", json=offer) as response:
            answer = await response.json()
    await pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
    try:
        return await _listen(await heard, sent, window, hold)
    finally:
        await pc.close()


async def _people(order: dict[str, Any]) -> list[dict[str, Any]]:
    url, window, hold = order["url"], order["window"], order["hold"]
    if order["impl"] == "edge-actors":
        visits = [_person_edge_actors(url, seat, window, hold) for seat in order["seats"]]
    else:
        visits = [_person_bare(url, window, hold) for _ in order["seats"]]
    limit = window + hold + 30 - time.time()  # a person that never hears back ends anyway
    done = await asyncio.wait_for(asyncio.gather(*visits, return_exceptions=True), limit)
    return [r for r in done if isinstance(r, dict)]


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_people(json.loads(sys.argv[1])))))
