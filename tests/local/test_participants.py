"""Real aiortc participants on loopback: what they do reaches the agent's connection."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from transport import (
    Connection,
    ConnectionOptions,
    ConnectionState,
    EdgeEvent,
    EmptyFor,
    ParticipantLeftEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
    TrackType,
    User,
)
from transport.local import MAX_FRAME, FrameRefusedError, LocalEdge, LocalParticipant
from transport.local.signaling import SIGNALING_VERSION, ErrorFrame, decode_edge
from transport.replay import event_signature, replay


def _kinds(events: list[Any], kind: type) -> list[Any]:
    return [e for e in events if isinstance(e, kind)]


async def test_join_publish_every_track_type_unpublish_and_leave(
    edge: LocalEdge, connection: Connection, events: list[Any]
) -> None:
    alice = edge.participant("room", "alice")
    joined = await alice.join()
    assert [p.id for p in connection.participants] == [joined.id]
    published = {kind: await alice.publish(kind) for kind in list(TrackType)[1:]}
    assert {t.track_id: t.track_type for t in connection.presence.tracks} == {
        track_id: kind for kind, track_id in published.items()
    }
    await alice.unpublish(published[TrackType.SCREEN_SHARE])
    await connection.settled()
    assert [e.track_type for e in _kinds(events, TrackRemovedEvent)] == [TrackType.SCREEN_SHARE]
    await alice.leave()
    await connection.settled()
    assert connection.state is ConnectionState.IDLE
    await connection.settled()
    left = _kinds(events, ParticipantLeftEvent)
    assert [(e.participant.id, e.reason) for e in left] == [(joined.id, "left")]
    assert len(_kinds(events, TrackRemovedEvent)) == 4


async def test_a_drop_becomes_participant_left_dropped(
    edge: LocalEdge, connection: Connection, events: list[Any]
) -> None:
    bob = edge.participant("room", "bob")
    joined = await bob.join()
    await bob.publish(TrackType.AUDIO)
    await bob.drop()
    await connection.wait_for(EmptyFor(0), timeout=10)
    await connection.settled()
    left = _kinds(events, ParticipantLeftEvent)
    assert [(e.participant.id, e.reason) for e in left] == [(joined.id, "dropped")]


async def test_agent_receives_real_audio_and_video_frames(
    edge: LocalEdge, connection: Connection
) -> None:
    alice = edge.participant("room", "alice")
    await alice.join()
    audio = await alice.publish(TrackType.AUDIO)
    video = await alice.publish(TrackType.VIDEO)
    for track_id, kind in ((audio, "audio"), (video, "video")):
        subscriber = edge.add_track_subscriber(track_id)
        assert subscriber is not None
        assert subscriber.kind == kind
        first = await asyncio.wait_for(subscriber.recv(), timeout=10)
        second = await asyncio.wait_for(subscriber.recv(), timeout=10)
        assert second.pts > first.pts
        subscriber.stop()
    await alice.leave()
    assert edge.add_track_subscriber(video) is None  # gone with its participant
    assert edge.add_track_subscriber("never-published") is None


async def test_track_types_come_from_signaling(edge: LocalEdge, events: list[Any]) -> None:
    connection = await edge.join(User("agent"), await edge.create_call("room"))
    carol = edge.participant("room", "carol")
    await carol.join()
    await carol.publish(TrackType.SCREEN_SHARE_AUDIO)  # an audio track, typed by its publisher
    await connection.settled()
    added = _kinds(events, TrackAddedEvent)
    assert [e.track_type for e in added] == [TrackType.SCREEN_SHARE_AUDIO]
    await carol.leave()


async def test_a_join_without_a_valid_token_is_refused_with_a_reason(
    edge: LocalEdge, connection: Connection
) -> None:
    forged = LocalParticipant(edge.url, "room", edge.token("room", "mallory") + "x")
    with pytest.raises(FrameRefusedError, match="signature"):
        await forged.join()
    wrong_call = LocalParticipant(edge.url, "room", edge.token("other", "mallory"))
    with pytest.raises(FrameRefusedError, match="for call 'other'"):
        await wrong_call.join()
    expired = LocalParticipant(edge.url, "room", edge.token("room", "mallory", ttl=-1))
    with pytest.raises(FrameRefusedError, match="expired"):
        await expired.join()
    assert connection.participants == ()


async def test_malformed_and_oversized_frames_are_refused_without_harming_others(
    edge: LocalEdge, connection: Connection
) -> None:
    alice = edge.participant("room", "alice")
    await alice.join()
    track = await alice.publish(TrackType.AUDIO)
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{edge.url}/ws/room") as socket:
            await socket.send_bytes(b"\xc1 not msgpack")
            refusal = decode_edge(await socket.receive_bytes())
            assert isinstance(refusal, ErrorFrame)
            assert refusal.reason.startswith("refused frame: MessagePack data is malformed")
            closing = await socket.receive()  # a socket that does not join is closed
            assert closing.type is aiohttp.WSMsgType.CLOSE
            assert closing.data == 4400
        async with http.ws_connect(f"{edge.url}/ws/room") as socket:
            await socket.send_str('{"type": "Join", "token": "' + "x" * (MAX_FRAME + 10) + '"}')
            assert "over the" in await socket.receive_str()
        async with http.ws_connect(f"{edge.url}/ws/room") as socket:
            join = f'{{"type": "Join", "version": {SIGNALING_VERSION}, "token": "'
            join += edge.token("room", "bob") + '"}'
            await socket.send_str(join)
            assert '"Joined"' in await socket.receive_str()
            await socket.send_str('{"type": "Nope"}')  # a joined peer's bad frame: refused only
            while '"Error"' not in (reply := await socket.receive_str()):
                pass  # the roster comes first
            assert "refused frame" in reply
            assert sorted(p.user_id for p in connection.participants) == ["alice", "bob"]
    await alice.unpublish(track)  # alice's session is unaffected
    assert [p.user_id for p in connection.participants] == ["alice"]
    await alice.leave()


async def test_a_recorded_local_session_replays_to_identical_events(tmp_path: Path) -> None:
    path = tmp_path / "local.rec"
    async with LocalEdge(options=ConnectionOptions(record=str(path))) as edge:
        live: list[Any] = []

        @edge.events.subscribe
        async def record(event: EdgeEvent) -> None:
            live.append(event)

        connection = await edge.join(User("agent"), await edge.create_call("rec"))
        waiter = asyncio.ensure_future(connection.wait_for_participant(timeout=30))
        erin = edge.participant("rec", "erin")
        await erin.join()
        await waiter
        audio = await erin.publish(TrackType.AUDIO)
        await erin.publish(TrackType.VIDEO)
        await erin.unpublish(audio)
        await erin.leave()
        await connection.close()
    replayed = await replay(path)
    assert [event_signature(e) for e in replayed.events] == [event_signature(e) for e in live]
    assert replayed.outcomes == replayed.recorded_outcomes == {1: "met"}


async def test_participants_receive_the_agents_own_audio_and_video(edge: LocalEdge) -> None:
    from transport.local.tracks import PatternTrack, ToneTrack

    await edge.join(User("agent"), await edge.create_call("room"))
    early = edge.participant("room", "early")
    await early.join()
    voice = await edge.publish_track("room", ToneTrack())
    face = await edge.publish_track("room", PatternTrack(), TrackType.SCREEN_SHARE)
    late = edge.participant("room", "late")
    await late.join()
    for person in (early, late):
        for track_id, kind in ((voice, "audio"), (face, "video")):
            received = await asyncio.wait_for(person.agent_track(track_id), timeout=10)
            assert received.kind == kind
            frame = await asyncio.wait_for(received.recv(), timeout=10)
            assert frame.pts is not None
            received.stop()
    await edge.unpublish_track("room", voice)
    await early.leave()
    await late.leave()


async def test_a_peer_that_vanishes_without_closing_is_dropped_by_the_heartbeat(
    edge: LocalEdge, connection: Connection, events: list[Any]
) -> None:
    from transport.local.signaling import Join, Joined, encode

    async with aiohttp.ClientSession() as http:
        # A client that never answers pings: as if its machine lost power.
        socket = await http.ws_connect(f"{edge.url}/ws/room", autoping=False, heartbeat=None)
        await socket.send_bytes(encode(Join(edge.token("room", "ghost"), 1, SIGNALING_VERSION)))
        assert isinstance(decode_edge(await socket.receive_bytes()), Joined)
        await connection.wait_for_participant(timeout=10)
        await connection.wait_for(EmptyFor(0), timeout=15)  # no ping answered: dropped
        await socket.close()
    await connection.settled()
    left = _kinds(events, ParticipantLeftEvent)
    assert [(e.participant.user_id, e.reason) for e in left] == [("ghost", "dropped")]


async def test_the_edge_mounts_on_an_aiohttp_app_the_host_already_runs() -> None:
    from aiohttp import web

    app = web.Application()
    edge = LocalEdge()
    runner = web.AppRunner(app)
    try:
        edge.mount(app)  # before the app starts: aiohttp freezes its routes
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        edge.url = f"http://{host}:{port}"
        connection = await edge.join(User("agent"), await edge.create_call("hosted"))
        guest = edge.participant("hosted", "guest")
        await guest.join()
        assert [p.user_id for p in connection.participants] == ["guest"]
        await guest.leave()
    finally:
        await edge.close()
        await runner.cleanup()


async def test_a_participant_in_another_process_joins_with_a_token(
    edge: LocalEdge, connection: Connection
) -> None:
    import sys

    script = (
        "import asyncio, sys\n"
        "from transport.local import LocalParticipant\n"
        "from transport import TrackType\n"
        "async def main():\n"
        "    p = await LocalParticipant.connect(sys.argv[1], 'room', sys.argv[2])\n"
        "    await p.publish(TrackType.AUDIO)\n"
        "    print('published', flush=True)\n"
        "    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)\n"
        "    await p.leave()\n"
        "asyncio.run(main())\n"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        edge.url,
        edge.token("room", "remote"),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    assert child.stdin is not None
    assert (await asyncio.wait_for(child.stdout.readline(), timeout=30)).strip() == b"published"
    assert [p.user_id for p in connection.participants] == ["remote"]
    assert [t.track_type for t in connection.presence.tracks] == [TrackType.AUDIO]
    child.stdin.write(b"bye\n")
    await child.stdin.drain()
    assert await asyncio.wait_for(child.wait(), timeout=30) == 0
    await connection.wait_for(EmptyFor(0), timeout=10)


def test_the_local_edge_serves_on_uvloop() -> None:
    """Ray's async actors (fleet hosts) run on uvloop, whose transports are not asyncio's."""
    uvloop = pytest.importorskip("uvloop")

    async def call() -> tuple[str, list[str]]:
        async with asyncio.timeout(20), LocalEdge() as edge:
            connection = await edge.join(User("agent"), await edge.create_call("uv"))
            alice = edge.participant("uv", "alice")
            joined = await alice.join()
            await alice.publish(TrackType.AUDIO)
            await connection.wait_for(lambda p: len(p.tracks) == 1, timeout=10)
            present = [p.id for p in connection.participants]
            await alice.leave()
            return joined.id, present

    joined, present = uvloop.run(call())
    assert present == [joined]


async def test_a_participant_waits_for_a_silent_edge_only_so_long() -> None:
    """A server that accepts the websocket and never answers: the join fails, it does not hang."""
    from aiohttp import web

    async def silent(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        async for _ in socket:  # reads every frame, answers none
            pass
        return socket

    app = web.Application()
    app.router.add_get("/ws/{call}", silent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        person = LocalParticipant(f"http://127.0.0.1:{port}", "quiet", "t", reply_timeout=0.2)
        with pytest.raises(TimeoutError, match=r"did not answer Join in 0\.2 s"):
            await person.join()
    finally:
        await runner.cleanup()


async def test_a_participant_dropped_while_the_agent_publishes_leaves_no_task_error(
    edge: LocalEdge, connection: Connection
) -> None:
    from transport.local.tracks import ToneTrack

    dana = edge.participant("room", "dana")
    await dana.join()
    await dana.publish(TrackType.AUDIO)  # dana has a peer connection now
    before = asyncio.all_tasks()
    # The edge asks dana to receive the agent's track; dana drops while that is in flight,
    # so her reader may take the request while her peer connection is closing.
    await edge.publish_track("room", ToneTrack())
    await dana.drop()
    await connection.wait_for(EmptyFor(0), timeout=10)
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    assert not [t for t in left if "_receive" in repr(t)]  # no receive outlives the drop
