"""The Stream edge, offline: the SDK's own objects, with only Stream's servers stood in for.

Each test makes a real getstream ``ConnectionManager`` (the object ``rtc.join``
returns) and feeds it real protobuf SFU events through ``emit``, the entry
point the SDK's signaling client uses (it re-emits every SFU event on the
``ConnectionManager``). The only test double is the connect step: the
manager is not connected to Stream's servers, which cannot be reached here.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

pytest.importorskip("getstream.video.rtc")

from getstream import AsyncStream
from getstream.video.rtc import join
from getstream.video.rtc.connection_utils import ConnectionState as SdkState
from getstream.video.rtc.pb.stream.video.sfu.event import events_pb2
from getstream.video.rtc.pb.stream.video.sfu.models import models_pb2

from transport import (
    CallEndedEvent,
    ConnectionState,
    EdgeEvent,
    TrackType,
    User,
)
from transport.stream import (
    SfuLinkStateEvent,
    StreamCall,
    StreamCredentialsError,
    StreamEdge,
)

AGENT = User("agent-7")


def _person(user: str, session: str, *tracks: int) -> Any:
    return models_pb2.Participant(
        user_id=user,
        session_id=session,
        track_lookup_prefix=f"{user}-{session}",  # unique per session, as the SFU sends it
        published_tracks=list(tracks),
    )


async def _setup() -> tuple[StreamEdge, Any, Any, list[Any]]:
    client = AsyncStream(api_key="offline-key", api_secret="offline-secret-" + "x" * 24)
    managers: list[Any] = []

    async def connect_offline(sdk_call: Any, user_id: str) -> Any:
        manager = await join(sdk_call, user_id)  # a real ConnectionManager, not connected
        managers.append(manager)
        return manager

    edge = StreamEdge(client=client, connect=connect_offline)
    events: list[Any] = []

    @edge.events.subscribe
    async def record(event: EdgeEvent) -> None:
        events.append(event)

    call = StreamCall("room-1", "default", client.video.call("default", "room-1"))
    connection = await edge.join(AGENT, call)
    return edge, connection, managers[0], events


async def test_sfu_join_publish_unpublish_leave_reach_the_connection() -> None:
    edge, connection, manager, _ = await _setup()
    alice = _person("alice", "s1")
    manager.emit("participant_joined", events_pb2.ParticipantJoined(participant=alice))
    manager.emit(
        "track_published",
        events_pb2.TrackPublished(
            user_id="alice", session_id="s1", type=models_pb2.TRACK_TYPE_AUDIO, participant=alice
        ),
    )
    manager.emit(
        "track_published",
        events_pb2.TrackPublished(
            user_id="alice",
            session_id="s1",
            type=models_pb2.TRACK_TYPE_SCREEN_SHARE,
            participant=alice,
        ),
    )
    await connection.flush()
    assert [p.id for p in connection.participants] == ["alice__s1"]
    assert connection.participants[0].original.session_id == "s1"
    assert sorted(t.track_type for t in connection.presence.tracks) == [
        TrackType.AUDIO,
        TrackType.SCREEN_SHARE,
    ]
    manager.emit(
        "track_unpublished",
        events_pb2.TrackUnpublished(
            user_id="alice", session_id="s1", type=models_pb2.TRACK_TYPE_AUDIO, participant=alice
        ),
    )
    manager.emit("participant_left", events_pb2.ParticipantLeft(participant=alice))
    await connection.flush()
    assert connection.state is ConnectionState.IDLE
    await edge.close()


async def test_duplicated_and_out_of_order_events_change_nothing_twice() -> None:
    edge, connection, manager, events = await _setup()
    bob = _person("bob", "s9")
    published = events_pb2.TrackPublished(
        user_id="bob", session_id="s9", type=models_pb2.TRACK_TYPE_VIDEO, participant=bob
    )
    manager.emit("track_published", published)  # before the join: bob joins first
    manager.emit("participant_joined", events_pb2.ParticipantJoined(participant=bob))
    manager.emit("track_published", published)
    manager.emit("participant_left", events_pb2.ParticipantLeft(participant=_person("ghost", "x")))
    await connection.flush()
    names = [type(e).__name__ for e in events if type(e).__name__ != "ConnectionStateEvent"]
    assert names == ["ParticipantJoinedEvent", "TrackAddedEvent"]
    assert [p.id for p in connection.participants] == ["bob__s9"]
    await edge.close()


async def test_a_reconnect_is_rebuilt_from_the_sdk_participant_list() -> None:
    edge, connection, manager, events = await _setup()
    stays, goes = _person("stay", "a", 1), _person("go", "b", 2)
    for person in (stays, goes):
        manager.emit("participant_joined", events_pb2.ParticipantJoined(participant=person))
    await connection.flush()
    state = manager.participants_state
    for person in (stays, goes):
        state._add_participant(person)
    # The SDK reconnects and replaces its list without joined/left events.
    manager.connection_state = SdkState.RECONNECTING
    state._remove_participant(goes)
    arrives = _person("new", "c", 2)
    state._add_participant(arrives)
    state._add_participant(_person("stay", "a", 1, 2))  # the one who stayed now also has video
    manager.connection_state = SdkState.JOINED
    await connection.flush()
    assert sorted(p.id for p in connection.participants) == ["new__c", "stay__a"]
    tracks = sorted((t.participant_id, t.track_type) for t in connection.presence.tracks)
    assert tracks == [
        ("new__c", TrackType.VIDEO),
        ("stay__a", TrackType.AUDIO),
        ("stay__a", TrackType.VIDEO),
    ]
    changes = [(e.old, e.new) for e in events if isinstance(e, SfuLinkStateEvent)]
    assert changes == [("idle", "reconnecting"), ("reconnecting", "joined")]
    await edge.close()


async def test_call_ended_closes_the_connection() -> None:
    edge, connection, manager, events = await _setup()
    manager.emit("call_ended", events_pb2.CallEnded())
    await edge.events.drain()
    await connection.close()
    assert connection.state is ConnectionState.CLOSED
    assert any(isinstance(e, CallEndedEvent) for e in events)
    await edge.close()


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
    await edge.authenticate(AGENT)
    call = await edge.create_call("edge-actors-live-test")
    connection = await edge.join(AGENT, call)
    assert connection.state is ConnectionState.WAITING
    await connection.close()
    await edge.close()
