"""What an idle connection holds, and that what it makes on first use is its own."""

from __future__ import annotations

import pytest

from actors import connection as connection_actor
from actors.presence import Presence
from transport import ConnectionOptions, ConnectionState, MemoryEdge, TrackType, User


async def test_a_connection_never_joined_reports_an_empty_call(edge: MemoryEdge) -> None:
    connection = await edge.join(User("agent"), await edge.create_call("quiet"))
    report = await connection.report()
    assert report.participants == ()
    assert report.tracks == ()
    assert report.reconnecting == ()
    await connection.close()
    assert (await edge.join(User("agent"), await edge.create_call("quiet"))).participants == ()


async def test_what_one_connection_sees_first_stays_its_own(edge: MemoryEdge) -> None:
    busy = await edge.join(
        User("agent"),
        await edge.create_call("busy"),
        options=ConnectionOptions(reconnect_grace=5),
    )
    quiet = await edge.join(User("agent"), await edge.create_call("quiet"))
    alice = edge.participant("busy", "alice")
    await alice.join()
    await alice.publish(TrackType.AUDIO)
    await edge.participant("busy", "bob").join()
    await alice.drop()  # reconnecting: the third table in use

    busy_report, quiet_report = await busy.report(), await quiet.report()
    assert [p.user_id for p in busy_report.participants] == ["alice", "bob"]
    assert len(busy_report.reconnecting) == 1
    assert quiet_report.participants == ()
    assert quiet_report.tracks == ()
    assert quiet_report.reconnecting == ()
    assert connection_actor._NO_TABLE == {}  # the shared empty table was never written  # noqa: SLF001

    carol = edge.participant("quiet", "carol")
    await carol.join()
    await carol.publish(TrackType.VIDEO)
    quiet_report = await quiet.report()
    assert [p.user_id for p in quiet_report.participants] == ["carol"]
    assert [t.track_type for t in quiet_report.tracks] == [TrackType.VIDEO]
    assert [p.user_id for p in (await busy.report()).participants] == ["alice", "bob"]
    await busy.close()
    assert busy.state is ConnectionState.CLOSED
    assert connection_actor._NO_TABLE == {}  # noqa: SLF001


async def test_only_the_actor_writes_a_connections_presence(edge: MemoryEdge) -> None:
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    with pytest.raises(AttributeError):
        connection.presence = Presence()  # type: ignore[misc]  # read-only, as it always was
    await edge.participant("c", "alice").join()
    assert connection.presence.state is ConnectionState.ACTIVE
    assert connection.presence.version == 2


async def test_connections_sharing_a_call_each_hear_it_until_they_close(edge: MemoryEdge) -> None:
    call = await edge.create_call("shared")
    first, second, third = [await edge.join(User("agent"), call) for _ in range(3)]
    assert edge.connections("shared") == (first, second, third)
    await edge.participant("shared", "alice").join()
    assert [len(c.participants) for c in (first, second, third)] == [1, 1, 1]

    await second.close()
    assert edge.connections("shared") == (first, third)
    await edge.participant("shared", "bob").join()
    assert [len(c.participants) for c in (first, second, third)] == [2, 0, 2]
    await first.close()
    assert edge.connections("shared") == (third,)
    late = await edge.join(User("agent"), call)
    assert edge.connections() == (third, late)
    await third.close()
    await late.close()
    assert edge.connections("shared") == edge.connections() == ()
