"""Supervision: failing handlers restart, presence survives, a stopped actor closes its call."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pykka
import pytest

import actors
from actors.connection import ConnectionActor
from messages import ConnectionClosedError, ParticipantJoined, TrackAdded
from transport import (
    ConnectionClosedEvent,
    ConnectionState,
    LifecycleEntry,
    MemoryEdge,
    TrackType,
    User,
    VirtualClock,
)


class _Flaky(actors.AsyncioActor):
    restart_policy = actors.RestartPolicy(max_restarts=2, within=60.0)

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []
        self.fail_once: set[Any] = set()
        self.restarts_seen: list[tuple[str, Any]] = []

    def on_receive(self, message: Any) -> Any:
        if message in self.fail_once:
            self.fail_once.discard(message)
            raise RuntimeError(f"boom on {message}")
        if message == "always":
            raise RuntimeError("always fails")
        self.seen.append(message)
        return list(self.seen)

    def on_restart(self, error: BaseException, message: Any) -> None:
        self.restarts_seen.append((str(error), message))


def _actor(ref: Any) -> Any:
    return ref._actor_weakref()  # noqa: SLF001


async def test_failed_tell_restarts_and_the_message_is_handled_once_more() -> None:
    ref = _Flaky.start()
    _actor(ref).fail_once = {2}
    for n in range(4):
        ref.tell(n)
    assert await actors.ask(ref, "done") == [0, 1, 2, 3, "done"]
    assert _actor(ref).restarts_seen == [("boom on 2", 2)]
    assert _actor(ref).restart_count == 1
    await actors.stop_all()


async def test_the_same_message_told_again_after_a_good_retry_gets_a_retry_of_its_own() -> None:
    ref = _Flaky.start()
    _actor(ref).fail_once = {7}
    ref.tell(7)  # fails, restart, the retry succeeds
    assert await actors.ask(ref, "first") == [7, "first"]
    _actor(ref).fail_once = {7}
    ref.tell(7)  # the same object fails again: a new failure, not a failed retry
    assert await actors.ask(ref, "second") == [7, "first", 7, "second"]
    assert _actor(ref).restart_count == 2
    assert _actor(ref).messages_handled == 6  # each retry counts twice
    await actors.stop_all()


async def test_message_failing_again_after_restart_is_dropped_and_the_actor_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref = _Flaky.start()
    with caplog.at_level(logging.ERROR, logger="actors"):
        ref.tell("always")
        assert await actors.ask(ref, "next") == ["next"]
    assert "failed again after a restart" in caplog.text
    assert ref.is_alive()
    await actors.stop_all()


async def test_out_of_restarts_the_actor_fails_as_pykka_actors_do() -> None:
    ref = _Flaky.start()
    actor = _actor(ref)
    failures: list[BaseException | None] = []
    actor.on_failure = lambda _type, value, _tb: failures.append(value)
    ref.tell("always")  # restart 1, the retry fails: restart 2, message dropped
    ref.tell("always")  # no restart left: on_failure, then the actor stops
    pending = actors.ask(ref, "never handled")
    with pytest.raises(pykka.ActorDeadError):
        await pending
    assert not ref.is_alive()
    assert [str(error) for error in failures] == ["always fails"]


class _BrokenOnce(ConnectionActor):
    broken = True

    def on_receive(self, message: Any) -> Any:
        if type(message) is TrackAdded and _BrokenOnce.broken:
            _BrokenOnce.broken = False
            raise RuntimeError("handler bug")
        return super().on_receive(message)


async def test_connection_actor_restart_keeps_presence_and_tracks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("transport._connection.ConnectionActor", _BrokenOnce)
    clock = VirtualClock(start=500.0)
    edge = MemoryEdge(clock=clock)
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    alice = edge.participant("c", "alice")
    await alice.join()
    clock.advance(2.5)
    added: list[str] = []

    @edge.events.subscribe
    async def on_event(event: ConnectionClosedEvent) -> None:
        added.append(event.reason)

    await alice.publish(TrackType.AUDIO)
    assert [p.user_id for p in connection.participants] == ["alice"]
    assert connection.state is ConnectionState.ACTIVE
    assert _actor(connection.actor_ref).restart_count == 1
    assert len(_actor(connection.actor_ref)._tracks) == 1  # noqa: SLF001
    report = await connection.report()
    assert (report.restarts, report.lifecycle[-1]) == (
        1,
        LifecycleEntry(502.5, "restarted", reason="RuntimeError('handler bug')"),
    )
    await edge.close()
    assert added == ["closed"]


class _AlwaysBroken(ConnectionActor):
    def on_receive(self, message: Any) -> Any:
        if type(message) is ParticipantJoined:
            raise RuntimeError("handler bug")
        return super().on_receive(message)


async def test_connection_out_of_restarts_closes_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr("transport._connection.ConnectionActor", _AlwaysBroken)
    clock = VirtualClock(start=30.0)
    edge = MemoryEdge(clock=clock)
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    clock.advance(1.5)
    reasons: list[str] = []

    @edge.events.subscribe
    async def on_closed(event: ConnectionClosedEvent) -> None:
        reasons.append(event.reason)

    waiter = asyncio.ensure_future(connection.wait_for_participant())
    caplog.set_level(logging.DEBUG, logger="actors.connection")
    for n in range(5):
        edge.deliver(ParticipantJoined("c", _participant(f"u{n}")))
    with pytest.raises(ConnectionClosedError, match=f"connection {connection.key} is closed"):
        await waiter
    dropped = [r.getMessage() for r in caplog.records if "stopped before handling" in r.message]
    assert dropped == [  # the joins still queued when it stopped: said, not lost in silence
        f"{connection.key} stopped before handling {ParticipantJoined('c', _participant(u))!r}"
        for u in ("u2", "u3", "u4")
    ]
    await edge.events.drain()
    assert connection.state is ConnectionState.CLOSED
    assert connection.presence.since == 31.5  # closed when it ran out of restarts
    assert reasons == ["failed: RuntimeError('handler bug')"]
    await edge.close()


def _participant(user_id: str) -> Any:
    from messages import Participant

    return Participant(None, user_id, f"{user_id}__s")


async def test_a_connection_actor_stopped_by_someone_else_closes_its_connection() -> None:
    clock = VirtualClock(start=70.0)
    edge = MemoryEdge(clock=clock)
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    await edge.participant("c", "alice").join()
    clock.advance(5)
    reasons: list[str] = []

    @edge.events.subscribe
    async def on_closed(event: ConnectionClosedEvent) -> None:
        reasons.append(event.reason)

    waiter = asyncio.ensure_future(connection.wait_for(lambda presence: False))
    await connection.caught_up()  # the wait is pending in the actor
    assert await connection.actor_ref.stop(block=False) is True
    with pytest.raises(ConnectionClosedError):
        await waiter
    await connection.close()  # the close the stop began; nothing is left to do
    assert connection.state is ConnectionState.CLOSED
    assert connection.presence.since == 75.0  # closed when it was stopped
    assert connection.participants == ()
    assert reasons == ["stopped"]
    assert edge.connections() == ()
    await edge.close()
    assert len(actors.directory) == 0


async def test_fifty_joins_told_at_once_reach_presence_in_order() -> None:
    edge = MemoryEdge()
    call = await edge.create_call("busy")
    connection = await edge.join(User("agent"), call)
    for n in range(50):
        edge.deliver(ParticipantJoined("busy", _participant(f"user{n}")))
    await connection.settled()
    assert [p.user_id for p in connection.participants] == [f"user{n}" for n in range(50)]
    await edge.close()


def test_restarts_older_than_the_window_no_longer_count() -> None:
    from actors._supervision import RestartBudget

    now = [0.0]
    policy = actors.RestartPolicy(max_restarts=2, within=10.0)
    budget = RestartBudget(policy, clock=lambda: now[0])
    assert budget.take()
    now[0] = 1.0
    assert budget.take()
    now[0] = 9.0
    assert not budget.take()  # two within the last 10 s: exhausted
    now[0] = 10.5  # the first has left the window, the second not yet
    assert budget.take()
    assert not budget.take()
    now[0] = 21.0  # both older than 10 s
    assert budget.take()
    assert budget.total == 4
