"""``duplicate_sessions`` on the Stream edge, end to end through the SDK and the emulator.

The policy decides which session of a user is the call's presence; the other
gets a ``ParticipantLeftEvent`` with the reason. Stream's API removes users
from a call, not sessions (``kick_user``), so ``StreamEdge`` does not
disconnect the other session: kicking its user would remove the session the
policy keeps as well (README, "The Stream edge").
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.stream.conftest import AGENT, EventLog, Person
from transport import ConnectionOptions, ParticipantJoinedEvent, ParticipantLeftEvent
from transport.stream import StreamEdge
from transport.stream.emulator import StreamEmulator


@pytest.fixture(params=["oldest", "newest"])
async def policy_edge(
    request: pytest.FixtureRequest, emulator: StreamEmulator
) -> AsyncIterator[StreamEdge]:
    made = emulator.edge(options=ConnectionOptions(duplicate_sessions=request.param))
    try:
        yield made
    finally:
        await made.close()


async def test_one_session_per_user_is_present_and_the_other_is_told_why(
    policy_edge: StreamEdge, emulator: StreamEmulator, person: Person
) -> None:
    edge = policy_edge
    log = EventLog()

    @edge.events.subscribe
    async def record(event: ParticipantJoinedEvent | ParticipantLeftEvent) -> None:
        await log.record(event)

    await edge.authenticate(AGENT)
    connection = await edge.join(AGENT, await edge.create_call("twice"))
    first = await person("twice", "erin")
    await connection.wait_for_participant(user_id="erin")
    second = await person("twice", "erin")
    policy = connection.options.duplicate_sessions
    kept, other = (first, second) if policy == "oldest" else (second, first)
    reason = "duplicate" if policy == "oldest" else "replaced"
    await log.until(lambda e: isinstance(e, ParticipantLeftEvent))
    await connection.settled()
    assert [p.id for p in connection.participants] == [kept.id]
    assert [(e.participant.id, e.reason) for e in log.of(ParticipantLeftEvent)] == [
        (other.id, reason)
    ]
    # Both sessions are still in the call at Stream: the edge kicked nobody.
    sessions = {s.session_id for s in await emulator.sessions("twice") if s.user_id == "erin"}
    assert sessions == {kept.id.split("__")[1], other.id.split("__")[1]}
