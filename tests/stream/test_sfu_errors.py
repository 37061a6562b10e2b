"""An SFU ``Error`` event's reconnect strategy, end to end: emulated SFU, the SDK, ``StreamEdge``.

Stream's SFU may send a client an ``Error`` that says how to go on
(``WebsocketReconnectStrategy``); the SDK itself ignores it, the edge acts on
it (README, "The Stream edge"): ``FAST``, ``REJOIN`` and ``MIGRATE`` run the
SDK's reconnect of that kind and presence stays as it was; ``DISCONNECT``
closes the connection with a reason that says so; ``UNSPECIFIED`` changes
nothing. The emulator sends the error (``StreamEmulator.send_error``); the
agent's presence comes from real SDK clients publishing real tracks.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.stream.conftest import AGENT, EventLog, Person
from transport import (
    ConnectionClosedError,
    ConnectionClosedEvent,
    ConnectionState,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    TrackType,
)
from transport.stream import SfuLinkStateEvent, StreamEdge
from transport.stream.emulator import StreamEmulator
from transport.stream.emulator.wire import models_pb2

STRATEGY = models_pb2.WebsocketReconnectStrategy


async def _agent_with_alice(edge: StreamEdge, person: Person, call_id: str) -> tuple[Any, Any]:
    await edge.authenticate(AGENT)
    connection = await edge.join(AGENT, await edge.create_call(call_id))
    alice = await person(call_id, "alice")
    await alice.publish(TrackType.AUDIO)
    await connection.wait_for(lambda p: len(p.tracks) == 1)
    return connection, alice


def _link_back_after(leaving: str) -> Any:
    """Matches the ``joined`` link state that follows the first ``leaving`` state."""
    seen: list[str] = []

    def match(event: Any) -> bool:
        if not isinstance(event, SfuLinkStateEvent):
            return False
        seen.append(event.new)
        return leaving in seen and event.new == "joined"

    return match


@pytest.mark.parametrize(
    ("strategy", "leaving"),
    [("FAST", "reconnecting"), ("REJOIN", "reconnecting"), ("MIGRATE", "migrating")],
)
async def test_an_sfu_error_asking_to_reconnect_reconnects_and_keeps_presence(
    edge: StreamEdge,
    emulator: StreamEmulator,
    log: EventLog,
    person: Person,
    strategy: str,
    leaving: str,
) -> None:
    call_id = f"error-{strategy.lower()}"
    connection, alice = await _agent_with_alice(edge, person, call_id)
    before = connection.presence
    value = STRATEGY.Value(f"WEBSOCKET_RECONNECT_STRATEGY_{strategy}")
    assert await emulator.send_error(call_id, AGENT.id, value) == 1
    await log.until(_link_back_after(leaving))
    bob = await person(call_id, "bob")  # events flow on the websocket the SDK is on now
    await connection.wait_for(lambda p: len(p.participants) == 2)
    await connection.settled()
    assert connection.state is ConnectionState.ACTIVE
    assert connection.presence.participants == (
        *before.participants,
        *[p for p in connection.participants if p.id == bob.id],
    )
    assert connection.presence.tracks == before.tracks
    assert [e.participant.id for e in log.of(ParticipantJoinedEvent)] == [alice.id, bob.id]
    assert log.of(ParticipantLeftEvent) == []
    assert log.of(ConnectionClosedEvent) == []
    assert [s.user_id for s in await emulator.sessions(call_id)].count(AGENT.id) == 1


async def test_an_sfu_error_asking_to_disconnect_closes_the_connection_with_its_reason(
    edge: StreamEdge, emulator: StreamEmulator, log: EventLog, person: Person
) -> None:
    connection, alice = await _agent_with_alice(edge, person, "error-disconnect")
    strategy = models_pb2.WEBSOCKET_RECONNECT_STRATEGY_DISCONNECT
    sent = await emulator.send_error("error-disconnect", AGENT.id, strategy, "kicked by moderator")
    assert sent == 1
    closed = await log.until(lambda e: isinstance(e, ConnectionClosedEvent))
    assert closed.reason == "sfu_disconnect: kicked by moderator"
    await connection.close()  # returns once the close the SFU asked for has finished
    assert connection.state is ConnectionState.CLOSED
    assert edge.connections() == ()
    with pytest.raises(ConnectionClosedError):
        await connection.wait_for_participant(timeout=1)
    # The agent really left the call; alice stays, and nobody was reported leaving.
    assert [s.user_id for s in await emulator.sessions("error-disconnect")] == ["alice"]
    assert log.of(ParticipantLeftEvent) == []
    assert [e.participant.id for e in log.of(ParticipantJoinedEvent)] == [alice.id]


async def test_an_sfu_error_without_a_strategy_changes_nothing(
    edge: StreamEdge, emulator: StreamEmulator, log: EventLog, person: Person
) -> None:
    connection, alice = await _agent_with_alice(edge, person, "error-none")
    links_before = len(log.of(SfuLinkStateEvent))  # the join's own: joining, joined
    strategy = models_pb2.WEBSOCKET_RECONNECT_STRATEGY_UNSPECIFIED
    assert await emulator.send_error("error-none", AGENT.id, strategy, "a bad request") == 1
    # bob's join comes on the same websocket after the error, so the error was seen first
    bob = await person("error-none", "bob")
    await connection.wait_for(lambda p: len(p.participants) == 2)
    await connection.settled()
    assert [p.id for p in connection.participants] == [alice.id, bob.id]
    assert connection.state is ConnectionState.ACTIVE
    assert len(log.of(SfuLinkStateEvent)) == links_before
    assert log.of(ConnectionClosedEvent) == []
