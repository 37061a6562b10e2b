"""Duplicate sessions of one user: allow (the default), newest wins, oldest wins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from messages import Participant
from transport import ConnectionOptions, EdgeEvent, MemoryEdge, TrackType, User

Names = Callable[[], list[str]]


class _Kicking(MemoryEdge):
    """A MemoryEdge that remembers whom a policy asked it to disconnect."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evicted: list[tuple[str, str]] = []

    def on_evict(self, connection: Any, participant: Participant, reason: str) -> None:
        self.evicted.append((participant.id, reason))


async def _setup(policy: str) -> tuple[_Kicking, Any, list[Any]]:
    edge = _Kicking(options=ConnectionOptions(duplicate_sessions=policy))  # type: ignore[arg-type]
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    events: list[Any] = []

    @edge.events.subscribe
    async def record(event: EdgeEvent) -> None:
        events.append(event)

    return edge, connection, events


def _short(events: list[Any]) -> list[str]:
    out = []
    for event in events:
        name = type(event).__name__.removesuffix("Event")
        participant = getattr(event, "participant", None)
        if name == "ConnectionState":
            continue
        who = f" {participant.id}" if participant is not None else ""
        why = f" {event.reason}" if hasattr(event, "reason") else ""
        out.append(f"{name}{who}{why}")
    return out


async def test_allow_keeps_every_session() -> None:
    edge, connection, _ = await _setup("allow")
    first = await edge.participant("c", "alice").join()
    second = await edge.participant("c", "alice").join()
    assert [p.id for p in connection.participants] == [first.id, second.id]
    assert edge.evicted == []
    await edge.close()


async def test_newest_wins_replaces_the_older_session() -> None:
    edge, connection, events = await _setup("newest")
    old = edge.participant("c", "alice")
    first = await old.join()
    await old.publish(TrackType.AUDIO)
    second = await edge.participant("c", "alice").join()
    assert [p.id for p in connection.participants] == [second.id]
    await connection.settled()  # every event so far has reached the handler
    assert _short(events) == [
        f"ParticipantJoined {first.id}",
        f"TrackAdded {first.id}",
        f"TrackRemoved {first.id}",
        f"ParticipantLeft {first.id} replaced",
        f"ParticipantJoined {second.id}",
    ]
    assert edge.evicted == [(first.id, "replaced")]
    await edge.close()


async def test_oldest_wins_refuses_the_newcomer_and_ignores_it_until_it_leaves() -> None:
    edge, connection, events = await _setup("oldest")
    first = await edge.participant("c", "alice").join()
    newcomer = edge.participant("c", "alice")
    second = await newcomer.join()
    await newcomer.publish(TrackType.VIDEO)
    assert [p.id for p in connection.participants] == [first.id]
    assert connection.presence.tracks == ()
    await newcomer.leave()
    await connection.settled()  # every event so far has reached the handler
    assert _short(events) == [
        f"ParticipantJoined {first.id}",
        f"ParticipantLeft {second.id} duplicate",
    ]
    assert edge.evicted == [(second.id, "duplicate")]
    again = await edge.participant("c", "bob").join()
    assert [p.id for p in connection.participants] == [first.id, again.id]
    await edge.close()


async def test_inspect_names_who_was_replaced_and_why() -> None:
    edge, connection, _ = await _setup("newest")
    first = await edge.participant("c", "alice").join()
    await edge.participant("c", "alice").join()
    report = await connection.report()
    assert [(e.what, e.participant_id) for e in report.lifecycle][:2] == [
        ("joined", first.id),
        ("replaced", first.id),
    ]
    await edge.close()
