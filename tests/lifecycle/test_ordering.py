"""Ordered delivery: every handler sees a session's events in mailbox order, even slow ones.

The order is checked against the messages as they were sent: a small model of
the rule table (README.md, "Odd input, one rule each") turns the script into
the events the connection must emit, in order, and every handler must have
seen exactly those.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from messages import Participant, ParticipantJoined, ParticipantLeft, TrackAdded, TrackRemoved
from transport import EdgeEvent, MemoryEdge, TrackType, User

steps = st.lists(
    st.tuples(
        st.sampled_from(["join", "add", "remove", "leave"]), st.integers(0, 2), st.integers(0, 2)
    ),
    min_size=1,
    max_size=40,
)


def _expected(script: list[tuple[str, int, int]]) -> list[tuple[str, str]]:
    """The events the script must produce, in the order its messages were sent."""
    present: dict[str, list[str]] = {}  # participant id -> its tracks, in order
    events: list[tuple[str, str]] = []
    for action, who, track in script:
        pid, tid = f"user{who}__s", f"user{who}:t{track}"
        if action in ("join", "add") and pid not in present:
            present[pid] = []
            events.append(("ParticipantJoinedEvent", pid))
        if action == "add" and tid not in present[pid]:
            present[pid].append(tid)
            events.append(("TrackAddedEvent", tid))
        elif action == "remove" and tid in present.get(pid, ()):
            present[pid].remove(tid)
            events.append(("TrackRemovedEvent", tid))
        elif action == "leave" and pid in present:
            events.extend(("TrackRemovedEvent", t) for t in present.pop(pid))
            events.append(("ParticipantLeftEvent", pid))
    return events


def _signature(event: Any) -> tuple[str, str]:
    detail = getattr(event, "track_id", None) or getattr(
        getattr(event, "participant", None), "id", ""
    )
    return (type(event).__name__, str(detail))


@settings(max_examples=60, deadline=None)
@given(script=steps, delays=st.lists(st.integers(0, 5), min_size=3, max_size=3), seed=st.integers())
def test_each_handler_sees_events_in_mailbox_order(
    script: list[tuple[str, int, int]], delays: list[int], seed: int
) -> None:
    asyncio.run(_run(script, delays, seed))


async def _run(script: list[tuple[str, int, int]], delays: list[int], seed: int) -> None:
    edge = MemoryEdge()
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    randomness = random.Random(seed)
    logs: list[list[tuple[str, str]]] = [[], [], []]

    def handler(log: list[tuple[str, str]], most: int) -> Any:
        async def handle(event: EdgeEvent) -> None:
            for _ in range(randomness.randint(0, most)):  # a slow handler: yields to others
                await asyncio.sleep(0)
            log.append(_signature(event))

        return handle

    for log, most in zip(logs, delays, strict=True):
        edge.events.subscribe(handler(log, most))
    for action, who, track in script:
        person = Participant(None, f"user{who}", f"user{who}__s")
        track_id = f"user{who}:t{track}"
        if action == "join":
            message: Any = ParticipantJoined("c", person)
        elif action == "add":
            message = TrackAdded("c", person, track_id, TrackType.AUDIO)
        elif action == "remove":
            message = TrackRemoved("c", person, track_id)
        else:
            message = ParticipantLeft("c", person)
        connection.actor_ref.tell(message)
    await connection.settled()
    assert logs[0] == logs[1] == logs[2]
    presence = [e for e in logs[0] if e[0] != "ConnectionStateEvent"]
    assert presence == _expected(script)  # the order the messages were sent in
    for who in range(3):  # per session: joined, then its tracks, then left
        mine = [e for e in logs[0] if f"user{who}" in e[1]]
        joined = [i for i, e in enumerate(mine) if e[0] == "ParticipantJoinedEvent"]
        left = [i for i, e in enumerate(mine) if e[0] == "ParticipantLeftEvent"]
        for start in joined:
            end = next((i for i in left if i > start), len(mine))
            assert all(e[0] != "ParticipantJoinedEvent" for e in mine[start + 1 : end])
    await edge.close()
