"""A received track is decoded only while someone reads it; video then starts from a keyframe."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from av import VideoFrame

from transport import TrackType, User
from transport.local import LocalEdge

LIMIT = 20.0


async def _frames(track: Any, count: int) -> None:
    for _ in range(count):
        await asyncio.wait_for(track.recv(), LIMIT)


def _decoder_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.endswith("-decoder") and t.is_alive()]


async def _quiet_decoders() -> None:
    """Join the decoder threads that are ending (aiortc's end at once for a gated track)."""
    for thread in _decoder_threads():
        await asyncio.to_thread(thread.join, LIMIT)


async def test_video_is_decoded_only_while_subscribed(edge: LocalEdge) -> None:
    await edge.join(User("agent"), await edge.create_call("lazy"))
    person = edge.participant("lazy", "sharer")
    await person.join()
    audio_id = await person.publish(TrackType.AUDIO)
    video_id = await person.publish(TrackType.VIDEO)
    clock = edge.add_track_subscriber(audio_id)  # what the agent listens to: the test's pace
    video = edge._gates[video_id]  # noqa: SLF001
    try:
        await _frames(clock, 25)
        await _quiet_decoders()
        assert video.received > 0  # video arrives...
        assert video.decoded == 0  # ...and reaches no decoder
        assert _decoder_threads() == []  # no decoder thread waits for it either

        watched = edge.add_track_subscriber(video_id)  # someone reads it now
        frame = await asyncio.wait_for(watched.recv(), LIMIT)
        assert isinstance(frame, VideoFrame)  # decodable: it began at a keyframe
        assert video.decoded > 0
        assert [t.name for t in _decoder_threads()] == ["video-decoder"]

        watched.stop()  # the last reader goes: decoding stops
        await _quiet_decoders()
        await _frames(clock, 10)  # any frame decoded before the stop is handed on by now
        decoded, received = video.decoded, video.received
        await _frames(clock, 25)
        assert video.received > received
        assert video.decoded == decoded
    finally:
        clock.stop()
    await person.leave()


async def test_two_readers_keep_decoding_until_the_last_stops(edge: LocalEdge) -> None:
    await edge.join(User("agent"), await edge.create_call("readers"))
    person = edge.participant("readers", "speaker")
    await person.join()
    audio_id = await person.publish(TrackType.AUDIO)
    first, second = edge.add_track_subscriber(audio_id), edge.add_track_subscriber(audio_id)
    gate = edge._gates[audio_id]  # noqa: SLF001
    await _frames(first, 5)
    first.stop()
    assert gate.is_open  # the second still reads
    await _frames(second, 5)
    second.stop()
    assert not gate.is_open
    await person.leave()


async def test_a_report_says_how_the_calls_media_fares(edge: LocalEdge) -> None:
    connection = await edge.join(User("agent"), await edge.create_call("health"))
    person = edge.participant("health", "sharer")
    await person.join()
    audio_id = await person.publish(TrackType.AUDIO)
    await person.publish(TrackType.VIDEO)
    heard = edge.add_track_subscriber(audio_id)
    try:
        await _frames(heard, 25)
        media = (await connection.report()).media
    finally:
        heard.stop()
    assert media is not None
    assert media.call_id == "health"
    assert (media.tracks, media.tracks_decoding) == (2, 1)
    assert media.frames_decoded >= 25
    assert media.frames_unread > 0  # the video nobody watched
    assert media.frames_received == media.frames_decoded + media.frames_unread
    assert media.packets_lost == 0  # loopback
    assert edge.media_health() == (edge.media_health("health")[0],)
    await person.leave()
