"""A received track is decoded only while someone reads it (video from a keyframe), and
video nobody reads is paused at its sender."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from av import VideoFrame

from transport import TrackType, User
from transport.local import LocalEdge, LocalParticipant
from transport.local.signaling import SendTrack

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


async def test_video_nobody_watches_is_paused_at_its_sender_and_decoded_only_while_watched(
    edge: LocalEdge,
) -> None:
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
        assert not person.is_sending(video_id)  # paused before its first frame...
        assert person.is_sending(audio_id)  # ...while audio flows
        assert (video.received, video.decoded) == (0, 0)  # nothing arrives, nothing is decoded
        assert _decoder_threads() == []  # and no decoder thread waits for it

        watched = edge.add_track_subscriber(video_id)  # someone reads it now
        frame = await asyncio.wait_for(watched.recv(), LIMIT)
        assert isinstance(frame, VideoFrame)  # decodable: it began at a keyframe
        assert person.is_sending(video_id)
        assert video.decoded > 0
        assert [t.name for t in _decoder_threads()] == ["video-decoder"]

        watched.stop()  # the last reader goes: decoding stops, and so does the sender
        await _quiet_decoders()
        await person.wait_until_sending(video_id, sending=False, timeout=LIMIT)
        await _frames(clock, 10)  # what was on its way has arrived (one transport, in order)
        decoded, received = video.decoded, video.received
        await _frames(clock, 25)
        assert (video.received, video.decoded) == (received, decoded)

        again = edge.add_track_subscriber(video_id)  # and it resumes, from a keyframe
        assert isinstance(await asyncio.wait_for(again.recv(), LIMIT), VideoFrame)
        again.stop()
    finally:
        clock.stop()
    await person.leave()


async def test_video_published_once_media_flows_is_gated_and_paused_too(edge: LocalEdge) -> None:
    await edge.join(User("agent"), await edge.create_call("later"))
    person = edge.participant("later", "sharer")
    await person.join()
    audio_id = await person.publish(TrackType.AUDIO)
    clock = edge.add_track_subscriber(audio_id)
    try:
        await _frames(clock, 5)  # connected: a new receiver starts with the answer
        video_id = await person.publish(TrackType.VIDEO)
        await _frames(clock, 25)
        video = edge._gates[video_id]  # noqa: SLF001
        assert not person.is_sending(video_id)
        assert (video.received, video.decoded) == (0, 0)
        await _quiet_decoders()
        assert _decoder_threads() == []
        watched = edge.add_track_subscriber(video_id)
        assert isinstance(await asyncio.wait_for(watched.recv(), LIMIT), VideoFrame)
        watched.stop()
    finally:
        clock.stop()
    await person.leave()


class _IgnoresPauses(LocalParticipant):
    """A client that never pauses (an old or careless one): it sends video nobody reads."""

    def __init__(self, url: str, call_id: str, token: str) -> None:
        super().__init__(url, call_id, token)
        self.asked: list[bool] = []

    def _on_send_track(self, frame: SendTrack) -> None:
        self.asked.append(frame.send)


async def test_video_from_a_sender_that_ignores_pauses_reaches_no_decoder(edge: LocalEdge) -> None:
    await edge.join(User("agent"), await edge.create_call("careless"))
    person = _IgnoresPauses(edge.url, "careless", edge.token("careless", "sharer"))
    await person.join()
    audio_id = await person.publish(TrackType.AUDIO)
    video_id = await person.publish(TrackType.VIDEO)
    clock = edge.add_track_subscriber(audio_id)
    video = edge._gates[video_id]  # noqa: SLF001
    try:
        await _frames(clock, 25)
        await _quiet_decoders()
        assert person.asked == [False]  # it was asked...
        assert video.received > 0  # ...and sends anyway
        assert video.decoded == 0  # but its frames reach no decoder
        assert video.unread == video.received
        assert _decoder_threads() == []
    finally:
        clock.stop()
    await person.leave()


async def test_a_subscriber_that_never_reads_piles_nothing_up(edge: LocalEdge) -> None:
    await edge.join(User("agent"), await edge.create_call("idle-reader"))
    person = edge.participant("idle-reader", "speaker")
    await person.join()
    audio_id = await person.publish(TrackType.AUDIO)
    other_id = await person.publish(TrackType.SCREEN_SHARE_AUDIO)
    clock = edge.add_track_subscriber(audio_id)
    idle = edge.add_track_subscriber(other_id)  # subscribed, never read: decoded all the same
    gate = edge._gates[other_id]  # noqa: SLF001
    try:
        await _frames(clock, 100)
        assert gate.decoded > 50
        assert gate.backlog <= 2  # the edge reads what it decodes; nothing waits for the reader
    finally:
        idle.stop()
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
    await person.publish(TrackType.VIDEO)  # nobody watches it: paused at the sender
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
    assert media.frames_unread == 0  # the video nobody watched was not sent
    assert media.frames_received == media.frames_decoded + media.frames_unread
    assert media.packets_lost == 0  # loopback
    assert edge.media_health() == (edge.media_health("health")[0],)
    await person.leave()
