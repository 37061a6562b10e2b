"""The Stream edge end to end through the unmodified getstream SDK, against the emulator.

The agent is a ``StreamEdge`` connection; people are ``StreamParticipant``s, each
a real SDK ``ConnectionManager`` that joins the emulated call and publishes
real aiortc audio and video. Every event the agent gets comes from the
emulated SFU through the SDK; none is injected.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

import pytest

from actors.predicates import EmptyFor
from tests.stream.conftest import AGENT, LIMIT, EventLog, Person
from transport import (
    CallEndedEvent,
    ConnectionClosedError,
    ConnectionClosedEvent,
    ConnectionState,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    TrackAddedEvent,
    TrackRemovedEvent,
    TrackType,
    User,
)
from transport.stream import SfuLinkStateEvent, StreamCredentialsError, StreamEdge
from transport.stream.emulator import StreamEmulator

PARTICIPANT_ID = re.compile(r"^[^_]+__[0-9a-f-]{36}$")  # user__session, the SDK's uuid4 session


async def _agent_in(edge: StreamEdge, call_id: str) -> Any:
    await edge.authenticate(AGENT)
    return await edge.join(AGENT, await edge.create_call(call_id))


async def test_authenticate_create_call_and_join_through_the_sdk(
    edge: StreamEdge, emulator: StreamEmulator
) -> None:
    connection = await _agent_in(edge, "join")
    assert connection.state is ConnectionState.WAITING
    assert connection.participants == ()
    [session] = await emulator.sessions("join")
    assert (session.user_id, session.sfu) == (AGENT.id, emulator.sfu_names[0])
    await connection.close()
    assert await emulator.sessions("join") == []


async def test_a_human_joins_and_publishes_audio_and_video(
    edge: StreamEdge, log: EventLog, person: Person
) -> None:
    connection = await _agent_in(edge, "publish")
    alice = await person("publish", "alice")
    audio = await alice.publish(TrackType.AUDIO)
    video = await alice.publish(TrackType.VIDEO)
    await log.until(lambda e: isinstance(e, TrackAddedEvent) and e.track_id == video)
    await connection.settled()
    [joined] = log.of(ParticipantJoinedEvent)
    assert joined.participant.id == alice.id
    assert PARTICIPANT_ID.match(joined.participant.id)
    assert joined.participant.user_id == "alice"
    assert [(e.participant.id, e.track_id, e.track_type) for e in log.of(TrackAddedEvent)] == [
        (alice.id, audio, TrackType.AUDIO),
        (alice.id, video, TrackType.VIDEO),
    ]


async def test_a_frame_of_the_humans_video_reaches_the_agent(
    edge: StreamEdge, person: Person
) -> None:
    connection = await _agent_in(edge, "frames")
    manager = edge.manager(connection)
    received: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_track(track_id: str, kind: str, user: Any) -> None:
        if kind == "video" and not received.done():
            received.set_result((manager.subscriber_pc.add_track_subscriber(track_id), user))

    manager.on("track_added", on_track)
    alice = await person("frames", "alice")
    await alice.publish(TrackType.VIDEO)
    track, sender = await received
    frame = await track.recv()
    assert (frame.width, frame.height) == (320, 240)  # the PatternTrack alice publishes
    assert sender.user_id == "alice"
    track.stop()


async def test_unpublish_and_leave_give_track_removed_and_participant_left(
    edge: StreamEdge, log: EventLog, person: Person
) -> None:
    connection = await _agent_in(edge, "leave")
    alice = await person("leave", "alice")
    audio = await alice.publish(TrackType.AUDIO)
    video = await alice.publish(TrackType.VIDEO)
    await connection.wait_for(lambda p: len(p.tracks) == 2)
    alice_id = alice.id
    await alice.unpublish(audio)
    await connection.wait_for(lambda p: [t.track_id for t in p.tracks] == [video])
    await alice.leave()
    await connection.wait_for(EmptyFor(0))
    await connection.settled()
    assert [(e.track_id, e.track_type) for e in log.of(TrackRemovedEvent)] == [
        (audio, TrackType.AUDIO),
        (video, TrackType.VIDEO),
    ]
    assert [(e.participant.id, e.reason) for e in log.of(ParticipantLeftEvent)] == [
        (alice_id, "left")
    ]


async def test_wait_for_participant_and_idle_since_follow_the_state_table(
    edge: StreamEdge, person: Person
) -> None:
    connection = await _agent_in(edge, "table")
    assert (connection.state, connection.idle_since()) == (ConnectionState.WAITING, 0.0)
    with pytest.raises(asyncio.TimeoutError):
        await connection.wait_for_participant(timeout=0.05)
    waiting = asyncio.ensure_future(connection.wait_for_participant(timeout=LIMIT))
    alice = await person("table", "alice")
    await waiting
    assert (connection.state, connection.idle_since()) == (ConnectionState.ACTIVE, 0.0)
    await alice.leave()
    await connection.wait_for(EmptyFor(0))
    assert connection.state is ConnectionState.IDLE
    assert connection.idle_since() > 0.0
    await person("table", "alice")
    await connection.wait_for_participant(timeout=LIMIT)
    assert (connection.state, connection.idle_since()) == (ConnectionState.ACTIVE, 0.0)


def _link_joined_after(state: str) -> Any:
    seen: list[str] = []

    def match(event: Any) -> bool:
        if isinstance(event, SfuLinkStateEvent):
            seen.append(event.new)
        return state in seen and seen[-1] == "joined" and isinstance(event, SfuLinkStateEvent)

    return match


@pytest.mark.parametrize("fault", ["drop", "migrate"])
async def test_a_dropped_websocket_or_a_migration_keeps_presence(
    edge: StreamEdge, emulator: StreamEmulator, log: EventLog, person: Person, fault: str
) -> None:
    connection = await _agent_in(edge, fault)
    alice = await person(fault, "alice")
    await alice.publish(TrackType.AUDIO)
    await connection.wait_for(lambda p: len(p.tracks) == 1)
    before = connection.presence
    if fault == "drop":  # the SDK's fast reconnect: same session, same peer connections
        assert await emulator.drop(fault, AGENT.id) == 1
        await log.until(_link_joined_after("reconnecting"))
    else:  # GoAway: the SDK moves to the SFU the coordinator names now
        target = await emulator.migrate(fault)
        await log.until(_link_joined_after("migrating"))
        sfus = {s.user_id: s.sfu for s in await emulator.sessions(fault)}
        assert sfus == {AGENT.id: target, "alice": emulator.sfu_names[0]}
    bob = await person(fault, "bob")  # events flow on the new websocket
    await connection.wait_for(lambda p: len(p.participants) == 2)
    await connection.settled()
    assert connection.presence.participants == (
        *before.participants,
        *[p for p in connection.participants if p.id == bob.id],
    )
    assert connection.presence.tracks == before.tracks
    assert [e.participant.id for e in log.of(ParticipantJoinedEvent)] == [alice.id, bob.id]
    assert log.of(ParticipantLeftEvent) == []


async def test_who_came_and_went_while_the_agent_reconnected_is_caught_up(
    edge: StreamEdge, emulator: StreamEmulator, log: EventLog, person: Person
) -> None:
    connection = await _agent_in(edge, "away")
    alice = await person("away", "alice")
    await connection.wait_for_participant(timeout=LIMIT)
    alice_id = alice.id
    hold = emulator.hold_joins(AGENT.id)
    await emulator.drop("away", AGENT.id)
    await hold.arrived()  # the SDK is reconnecting: its join waits at the SFU
    await alice.leave()
    bob = await person("away", "bob")
    hold.release()
    await log.until(_link_joined_after("reconnecting"))
    await connection.wait_for(lambda p: [x.id for x in p.participants] == [bob.id])
    await connection.settled()
    assert [e.participant.id for e in log.of(ParticipantJoinedEvent)] == [alice_id, bob.id]
    assert [(e.participant.id, e.reason) for e in log.of(ParticipantLeftEvent)] == [
        (alice_id, "left")
    ]


async def test_call_ended_closes_the_connection(
    edge: StreamEdge, emulator: StreamEmulator, log: EventLog
) -> None:
    connection = await _agent_in(edge, "ending")
    waiting = asyncio.ensure_future(connection.wait_for_participant())
    await connection.caught_up()
    await emulator.end_call("ending")
    await log.until(lambda e: isinstance(e, CallEndedEvent))
    with pytest.raises(ConnectionClosedError):
        await waiting
    await connection.close()  # returns once the closing the call began has finished
    assert connection.state is ConnectionState.CLOSED
    assert [e.reason for e in log.of(ConnectionClosedEvent)] == ["call_ended"]
    with pytest.raises(ConnectionClosedError):
        await connection.wait_for_participant(timeout=1)


@pytest.mark.filterwarnings(
    "ignore::jwt.warnings.InsecureKeyLengthWarning"
)  # a short one, on purpose
async def test_a_wrong_secret_is_refused_with_streams_reason(emulator: StreamEmulator) -> None:
    edge = StreamEdge(emulator.api_key, "not-the-secret", base_url=emulator.url)
    with pytest.raises(StreamCredentialsError, match=r"\(401\).*sign it with the API secret"):
        await edge.authenticate(AGENT)
    await edge.close()


async def test_a_wrong_key_is_refused_with_streams_reason(emulator: StreamEmulator) -> None:
    edge = StreamEdge("no-such-key", emulator.api_secret, base_url=emulator.url)
    with pytest.raises(StreamCredentialsError, match='api_key "no-such-key" not found'):
        await edge.create_call("refused")
    await edge.close()


async def test_credentials_refused_at_join_are_a_credentials_error(
    edge: StreamEdge, emulator: StreamEmulator
) -> None:
    await edge.authenticate(AGENT)
    call = await edge.create_call("revoked")
    emulator.refuse_credentials("this key was revoked")
    with pytest.raises(StreamCredentialsError, match="this key was revoked"):
        await edge.join(AGENT, call)
    assert edge.connections() == ()


async def test_a_slow_coordinator_join_still_joins(
    edge: StreamEdge, emulator: StreamEmulator
) -> None:
    emulator.slow_joins(0.5)  # the coordinator answers the join late (the SDK's own timeouts)
    connection = await _agent_in(edge, "slow")
    assert connection.state is ConnectionState.WAITING
    assert [s.user_id for s in await emulator.sessions("slow")] == [AGENT.id]


async def test_missing_credentials_are_a_clear_error_from_authenticate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STREAM_API_KEY", raising=False)
    monkeypatch.delenv("STREAM_API_SECRET", raising=False)
    edge = StreamEdge()
    with pytest.raises(StreamCredentialsError, match="STREAM_API_KEY and STREAM_API_SECRET"):
        await edge.authenticate(AGENT)
    await edge.close()


@pytest.mark.live
@pytest.mark.skipif(
    not (os.environ.get("STREAM_API_KEY") and os.environ.get("STREAM_API_SECRET")),
    reason="needs STREAM_API_KEY and STREAM_API_SECRET (Stream's servers)",
)
async def test_live_agent_joins_a_stream_call() -> None:
    edge = StreamEdge()
    await edge.authenticate(User("agent-7"))
    call = await edge.create_call("edge-actors-live-test")
    connection = await edge.join(User("agent-7"), call)
    assert connection.state is ConnectionState.WAITING
    await connection.close()
    await edge.close()


async def test_closing_during_the_sdks_reconnect_leaves_no_reconnect_running(
    edge: StreamEdge, emulator: StreamEmulator
) -> None:
    def reconnecting() -> list[asyncio.Task[Any]]:
        return [
            task
            for task in asyncio.all_tasks()
            if task.get_coro().__qualname__.endswith("._on_signaling_connection_lost")
        ]

    connection = await _agent_in(edge, "closing")
    hold = emulator.hold_joins(AGENT.id)
    try:
        # The agent's SFU websocket closes under the SDK, which marks it stopped before it
        # reconnects in a task of its own; so its fast reconnect joins again, and waits here.
        await asyncio.to_thread(edge.manager(connection).ws_client.ws.close)
        await hold.arrived()
        assert len(reconnecting()) == 1
        await connection.close()
        assert reconnecting() == []  # ended with the connection, not left retrying for 30 s
    finally:
        hold.release()
