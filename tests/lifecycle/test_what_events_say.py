"""What a connection's events and lifecycle entries say, field by field, on a virtual clock.

The other lifecycle tests check which events come and in what order; these
check their content: whose track went, of which type, why someone left, and
that a timer that fired too late changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

import actors
from actors.connection_interface import ReportRequest
from messages import (
    Close,
    Participant,
    ParticipantJoined,
    ParticipantKind,
    ParticipantLeft,
    TrackAdded,
    TrackRemoved,
)
from transport import (
    CallEndedEvent,
    Connection,
    ConnectionClosedError,
    ConnectionClosedEvent,
    ConnectionOptions,
    ConnectionState,
    ConnectionStateEvent,
    EmptyFor,
    LifecycleEntry,
    MemoryEdge,
    ParticipantLeftEvent,
    ParticipantReconnectingEvent,
    ParticipantRejoinedEvent,
    TrackRemovedEvent,
    TrackType,
    User,
    UserPresent,
    VirtualClock,
)


async def _join(edge: MemoryEdge, options: ConnectionOptions | None = None) -> Connection:
    return await edge.join(User("agent"), await edge.create_call("c"), options=options)


async def _alice_dropped(edge: MemoryEdge) -> tuple[Connection, Participant]:
    """A connection with 10 s of grace, and alice joined and dropped: reconnecting."""
    connection = await _join(edge, ConnectionOptions(reconnect_grace=10))
    alice = edge.participant("c", "alice")
    joined = await alice.join()
    await alice.drop()
    return connection, joined


async def test_a_removed_tracks_event_names_its_owner_and_type_whoever_reports_it(
    edge: MemoryEdge, log: list[Any]
) -> None:
    connection = await _join(edge)
    ann = Participant(None, "ann", "ann__1", ParticipantKind.SIP)
    connection.actor_ref.tell(ParticipantJoined("c", ann))
    connection.actor_ref.tell(TrackAdded("c", ann, "t1", TrackType.SCREEN_SHARE))
    stranger = Participant(None, "bob", "bob__9")  # an edge may name anyone, or no one useful
    connection.actor_ref.tell(TrackRemoved("c", stranger, "t1"))
    await connection.settled()
    await edge.events.drain()
    [removed] = [e for e in log if isinstance(e, TrackRemovedEvent)]
    assert (removed.track_id, removed.track_type) == ("t1", TrackType.SCREEN_SHARE)
    assert removed.participant == ann  # the registry's owner, as it joined
    assert removed.call.id == "c"


async def test_grace_running_out_is_noted_with_its_reason_at_its_time(
    edge: MemoryEdge, clock: VirtualClock, log: list[Any]
) -> None:
    connection = await _join(edge, ConnectionOptions(reconnect_grace=10))
    alice = edge.participant("c", "alice")
    joined = await alice.join()
    await alice.publish(TrackType.AUDIO)
    await alice.drop()
    clock.advance(10)
    await connection.settled()
    await edge.events.drain()
    lifecycle = (await connection.report()).lifecycle
    assert lifecycle[-1] == LifecycleEntry(
        1_010.0, "dropped", joined.id, "alice", "grace period over"
    )
    left = [e for e in log if isinstance(e, ParticipantLeftEvent)]
    assert [(e.participant.id, e.reason) for e in left] == [(joined.id, "dropped")]
    assert connection.presence.tracks == ()


async def test_a_grace_timer_that_fires_after_the_comeback_changes_nothing(
    edge: MemoryEdge, clock: VirtualClock, log: list[Any]
) -> None:
    connection, joined = await _alice_dropped(edge)
    # The comeback reaches the mailbox first; the timer fires right behind it.
    connection.actor_ref.tell(ParticipantJoined("c", Participant(None, "alice", "alice__2")))
    clock.advance(10)
    await connection.settled()
    await edge.events.drain()
    assert connection.state is ConnectionState.ACTIVE
    assert [p.id for p in connection.participants] == ["alice__2"]
    assert not [e for e in log if isinstance(e, ParticipantLeftEvent)]
    report = await connection.report()
    assert report.restarts == 0  # the late timer was recognised, not tripped over
    assert [(e.what, e.participant_id) for e in report.lifecycle[-2:]] == [
        ("reconnecting", joined.id),
        ("rejoined", "alice__2"),
    ]


class _RefusingEdge(MemoryEdge):
    """An edge whose eviction of a duplicate session fails."""

    def on_evict(self, connection: Connection, participant: Participant, reason: str) -> None:
        raise RuntimeError("cannot disconnect that session")


async def test_an_eviction_that_fails_is_logged_naming_the_session_and_changes_nothing(
    clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    edge = _RefusingEdge(clock=clock)
    try:
        options = ConnectionOptions(duplicate_sessions="newest")
        connection = await _join(edge, options)
        first = Participant(None, "ann", "ann__1")
        connection.actor_ref.tell(ParticipantJoined("c", first))
        with caplog.at_level(logging.ERROR, logger="actors.connection"):
            connection.actor_ref.tell(ParticipantJoined("c", Participant(None, "ann", "ann__2")))
            await connection.settled()
        [record] = [r for r in caplog.records if r.name == "actors.connection"]
        assert record.getMessage() == f"{connection.key}: evicting ann__1 failed"
        assert record.exc_info is not None
        assert [p.id for p in connection.participants] == ["ann__2"]  # the policy still held
    finally:
        await edge.close()


async def test_a_track_that_arrives_late_for_a_dropped_participant_goes_when_grace_runs_out(
    edge: MemoryEdge, clock: VirtualClock, log: list[Any]
) -> None:
    connection, joined = await _alice_dropped(edge)
    # A track announcement that was on its way when the session dropped.
    connection.actor_ref.tell(TrackAdded("c", joined, "late", TrackType.AUDIO))
    await connection.settled()
    clock.advance(10)
    await connection.settled()
    await edge.events.drain()
    assert connection.participants == ()
    assert connection.presence.tracks == ()  # presence shows no track of someone gone
    removed = [e for e in log if isinstance(e, TrackRemovedEvent)]
    assert [(e.track_id, e.participant.id) for e in removed] == [("late", joined.id)]


async def test_removing_a_track_nobody_published_is_ignored_and_said_at_debug_level(
    edge: MemoryEdge, log: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    connection = await _join(edge)
    caplog.set_level(logging.DEBUG, logger="actors.connection")
    connection.actor_ref.tell(TrackRemoved("c", Participant(None, "ann", "ann__1"), "ghost"))
    await connection.settled()
    await edge.events.drain()
    assert not [e for e in log if isinstance(e, TrackRemovedEvent)]
    said = [r.getMessage() for r in caplog.records if r.name == "actors.connection"]
    assert said == [f"{connection.key}: unknown track ghost removed; ignored"]


async def test_a_state_event_names_the_state_before_and_when_idleness_began(
    edge: MemoryEdge, clock: VirtualClock, log: list[Any]
) -> None:
    connection = await _join(edge)
    alice = edge.participant("c", "alice")
    await alice.join()
    clock.advance(4)
    await alice.leave()
    await edge.events.drain()
    states = [e for e in log if isinstance(e, ConnectionStateEvent)]
    assert [(e.state, e.previous, e.idle_since, e.call.id) for e in states] == [
        (ConnectionState.ACTIVE, ConnectionState.WAITING, 0.0, "c"),
        (ConnectionState.IDLE, ConnectionState.ACTIVE, 1_004.0, "c"),
    ]
    assert connection.presence.since == 1_004.0


async def test_a_state_keeps_the_time_it_began_while_people_come_and_go_within_it(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    connection = await _join(edge)
    alice, bob = edge.participant("c", "alice"), edge.participant("c", "bob")
    await alice.join()
    clock.advance(3)
    await bob.join()
    await bob.publish(TrackType.AUDIO)
    clock.advance(3)
    await bob.leave()
    assert connection.state is ConnectionState.ACTIVE
    assert connection.presence.since == 1_000.0  # active since alice came


async def test_a_time_based_wait_coming_due_before_the_idle_timeout_does_not_close(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    connection = await _join(edge, ConnectionOptions(idle_timeout=30))
    alice = edge.participant("c", "alice")
    await alice.join()
    await alice.leave()
    empty = asyncio.ensure_future(connection.wait_for(EmptyFor(5)))
    await connection.settled()
    clock.advance(5)
    await asyncio.wait_for(empty, 5)  # the actor's tick at 5 s settles the wait...
    await connection.settled()
    assert connection.state is ConnectionState.IDLE  # ...and is not the idle timeout
    clock.advance(25)
    await connection.settled()
    assert connection.state is ConnectionState.CLOSED


@pytest.mark.parametrize("policy", ["oldest", "newest"])
async def test_a_duplicate_session_is_noted_and_announced_with_its_call(
    edge: MemoryEdge, clock: VirtualClock, log: list[Any], policy: str
) -> None:
    connection = await _join(edge, ConnectionOptions(duplicate_sessions=policy))  # type: ignore[arg-type]
    first = await edge.participant("c", "ann").join()
    clock.advance(2)
    second = await edge.participant("c", "ann").join()
    await connection.settled()
    await edge.events.drain()
    lifecycle = (await connection.report()).lifecycle
    if policy == "oldest":
        loser, reason = second, "duplicate"
        assert lifecycle[-1] == LifecycleEntry(1_002.0, "refused", second.id, "ann", reason)
    else:
        loser, reason = first, "replaced"
        assert lifecycle[-2:] == (
            LifecycleEntry(1_002.0, "replaced", first.id, "ann", reason),
            LifecycleEntry(1_002.0, "joined", second.id, "ann"),
        )
    left = [e for e in log if isinstance(e, ParticipantLeftEvent)]
    assert [(e.participant.id, e.reason, e.call.id) for e in left] == [(loser.id, reason, "c")]


async def test_a_comeback_is_noted_naming_the_session_it_took_over_from(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    connection, first = await _alice_dropped(edge)
    clock.advance(3)
    second = await edge.participant("c", "alice").join()
    lifecycle = (await connection.report()).lifecycle
    assert lifecycle == (
        LifecycleEntry(1_000.0, "joined", first.id, "alice"),
        LifecycleEntry(1_000.0, "reconnecting", first.id, "alice", "dropped"),
        LifecycleEntry(1_003.0, "rejoined", second.id, "alice", first.id),
    )


async def test_the_same_session_back_within_grace_rejoins_as_itself(
    edge: MemoryEdge, log: list[Any]
) -> None:
    connection, joined = await _alice_dropped(edge)
    connection.actor_ref.tell(ParticipantJoined("c", joined))  # its transport came back
    await connection.settled()
    await edge.events.drain()
    assert connection.state is ConnectionState.ACTIVE
    assert connection.participants == (joined,)
    [back] = [e for e in log if isinstance(e, ParticipantRejoinedEvent)]
    assert (back.participant, back.previous, back.call.id) == (joined, joined, "c")
    report = await connection.report()
    assert (report.restarts, report.lifecycle[-1].what) == (0, "rejoined")


async def test_a_drop_takes_the_tracks_out_at_once_with_their_type_and_call(
    edge: MemoryEdge, log: list[Any]
) -> None:
    connection = await _join(edge, ConnectionOptions(reconnect_grace=10))
    alice = edge.participant("c", "alice")
    joined = await alice.join()
    await alice.publish(TrackType.VIDEO)
    await alice.drop()
    await edge.events.drain()
    [removed] = [e for e in log if isinstance(e, TrackRemovedEvent)]
    assert (removed.track_type, removed.participant.id, removed.call.id) == (
        TrackType.VIDEO,
        joined.id,
        "c",
    )
    assert connection.presence.tracks == ()


async def test_an_unpublished_track_leaves_presence(edge: MemoryEdge) -> None:
    connection = await _join(edge)
    alice = edge.participant("c", "alice")
    await alice.join()
    audio = await alice.publish(TrackType.AUDIO)
    video = await alice.publish(TrackType.VIDEO)
    await alice.unpublish(audio)
    assert [t.track_id for t in connection.presence.tracks] == [video]


async def test_a_refused_session_is_ignored_until_it_leaves_and_others_are_not(
    edge: MemoryEdge,
) -> None:
    connection = await _join(edge, ConnectionOptions(duplicate_sessions="oldest"))
    tell = connection.actor_ref.tell
    first = Participant(None, "ann", "ann__1")
    second = Participant(None, "ann", "ann__2")
    bob = Participant(None, "bob", "bob__1")
    tell(ParticipantJoined("c", first))
    tell(ParticipantJoined("c", second))  # refused: ann is here already
    tell(TrackAdded("c", second, "t2", TrackType.AUDIO))  # ignored with its session
    tell(ParticipantJoined("c", bob))
    tell(TrackAdded("c", bob, "t3", TrackType.VIDEO))  # others are heard as ever
    await connection.settled()
    assert [p.id for p in connection.participants] == ["ann__1", "bob__1"]
    assert [t.track_id for t in connection.presence.tracks] == ["t3"]
    tell(ParticipantLeft("c", bob))
    tell(ParticipantLeft("c", second))  # the refused session goes: nothing to announce
    tell(ParticipantLeft("c", first))
    await connection.settled()
    assert connection.participants == ()
    tell(ParticipantJoined("c", second))  # back once ann has gone: welcome now
    await connection.settled()
    assert [p.id for p in connection.participants] == ["ann__2"]


async def test_a_call_ended_under_a_connection_says_so_everywhere(
    edge: MemoryEdge, clock: VirtualClock, log: list[Any]
) -> None:
    connection = await _join(edge)
    alice = edge.participant("c", "alice")
    await alice.join()
    waiting = asyncio.ensure_future(connection.wait_for(UserPresent("bob")))
    await connection.settled()
    clock.advance(6)
    version = connection.presence.version
    connection.actor_ref.tell(Close("c", "call_ended"))  # as the edge delivers it
    report = await actors.ask(connection.actor_ref, ReportRequest())  # right behind it
    assert (report.state, report.participants, report.tracks) == (ConnectionState.CLOSED, (), ())
    assert report.lifecycle[-1] == LifecycleEntry(1_006.0, "call_ended", reason="call_ended")
    presence = connection.presence
    assert (presence.state, presence.since, presence.version) == (
        ConnectionState.CLOSED,
        1_006.0,
        version + 1,
    )
    with pytest.raises(ConnectionClosedError, match=rf"{connection.key} is closed \(call_ended\)"):
        await waiting
    await connection.close()  # joins the close the call's end began
    await edge.events.drain()
    ended = [e for e in log if isinstance(e, CallEndedEvent)]
    assert [(e.call.id, e.reason) for e in ended] == [("c", "call_ended")]
    closing = [e for e in log if isinstance(e, ConnectionStateEvent)][-1]
    assert (closing.state, closing.previous, closing.idle_since) == (
        ConnectionState.CLOSED,
        ConnectionState.ACTIVE,
        0.0,
    )
    closed = [e for e in log if isinstance(e, ConnectionClosedEvent)]
    assert [e.reason for e in closed] == ["call_ended"]


async def test_leaving_dropping_and_coming_back_are_noted_with_their_reasons(
    edge: MemoryEdge, clock: VirtualClock, log: list[Any]
) -> None:
    connection = await _join(edge, ConnectionOptions(reconnect_grace=0.5))
    alice, bob = edge.participant("c", "alice"), edge.participant("c", "bob")
    a, b = await alice.join(), await bob.join()
    await alice.leave()
    clock.advance(1)
    await bob.drop()  # half a second of grace is grace
    await edge.events.drain()
    [reconnecting] = [e for e in log if isinstance(e, ParticipantReconnectingEvent)]
    assert (reconnecting.participant, reconnecting.call.id) == (b, "c")
    lifecycle = (await connection.report()).lifecycle
    assert lifecycle[-2:] == (
        LifecycleEntry(1_000.0, "left", a.id, "alice", "left"),
        LifecycleEntry(1_001.0, "reconnecting", b.id, "bob", "dropped"),
    )


async def test_without_grace_a_drop_is_noted_as_dropped() -> None:
    clock = VirtualClock(start=50.0)
    edge = MemoryEdge(clock=clock)
    try:
        connection = await _join(edge)
        alice = edge.participant("c", "alice")
        joined = await alice.join()
        await alice.drop()
        entry = (await connection.report()).lifecycle[-1]
        assert entry == LifecycleEntry(50.0, "dropped", joined.id, "alice", "dropped")
    finally:
        await edge.close()


async def test_the_lifecycle_keeps_the_newest_entries_up_to_its_length(edge: MemoryEdge) -> None:
    connection = await _join(edge, ConnectionOptions(lifecycle_history=3))
    people = [edge.participant("c", name) for name in ("a", "b", "c", "d", "e")]
    for person in people:
        await person.join()
    lifecycle = (await connection.report()).lifecycle
    assert [(e.what, e.user_id) for e in lifecycle] == [
        ("joined", "c"),
        ("joined", "d"),
        ("joined", "e"),
    ]


async def test_the_newest_session_takes_the_place_of_the_older_one_and_its_tracks_go(
    edge: MemoryEdge,
) -> None:
    connection = await _join(edge, ConnectionOptions(duplicate_sessions="newest"))
    first = edge.participant("c", "ann")
    await first.join()
    await first.publish(TrackType.AUDIO)
    second = await edge.participant("c", "ann").join()
    assert connection.participants == (second,)
    assert connection.presence.tracks == ()


async def test_the_agents_own_tracks_are_not_presence(edge: MemoryEdge) -> None:
    connection = await _join(edge)
    agent = Participant(None, "agent", "agent__1")
    connection.actor_ref.tell(TrackAdded("c", agent, "mine", TrackType.AUDIO))
    await connection.settled()
    assert (connection.participants, connection.presence.tracks) == ((), ())
    assert connection.state is ConnectionState.WAITING


async def test_a_connection_closed_by_its_agent_notes_closed(
    edge: MemoryEdge, clock: VirtualClock
) -> None:
    connection = await _join(edge)
    clock.advance(2)
    connection.actor_ref.tell(Close("c", "closed"))
    report = await actors.ask(connection.actor_ref, ReportRequest())
    assert report.lifecycle[-1] == LifecycleEntry(1_002.0, "closed", reason="closed")


async def test_the_events_of_a_close_travel_in_the_connections_own_lane(edge: MemoryEdge) -> None:
    connection = await _join(edge)
    release = asyncio.Event()

    @edge.events.subscribe
    async def held(event: ConnectionClosedEvent) -> None:
        await release.wait()

    connection.actor_ref.tell(Close("c", "call_ended"))
    await actors.ask(connection.actor_ref, ReportRequest())  # handled: its events are queued
    assert not await edge.events.settled(connection.key, timeout=0)  # what settled() awaits
    release.set()
    assert await edge.events.settled(connection.key, timeout=5)
