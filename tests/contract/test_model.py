"""A stateful test: random sequences of the five messages over several connections,
checked after every step against a small reference model of the contract.

The model keeps, per connection, who is present (in join order), the track
table, the lifecycle state, ``idle_since`` (on a virtual clock) and the event
log the handlers must have seen; pending waits are checked against it too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from messages import (
    Close,
    ConnectionClosedError,
    Participant,
    ParticipantJoined,
    ParticipantLeft,
    TrackAdded,
    TrackRemoved,
    TrackType,
)
from transport import ConnectionState, EdgeEvent, MemoryEdge, User, VirtualClock

CALLS = ("a", "b")
USERS = ("agent", "ann", "bob")  # "agent" is the agent's own user: never presence
SESSIONS = ("1", "2")
TRACKS = ("t1", "t2", "t3")


_calls = st.sampled_from(CALLS)
_users = st.sampled_from(USERS)
_sessions = st.sampled_from(SESSIONS)


def _participant(user: str, session: str) -> Participant:
    return Participant(None, user, f"{user}__{session}")


class _Model:
    """What one connection should show, by the rules of actors/connection.py."""

    def __init__(self) -> None:
        self.present: dict[str, Participant] = {}
        self.tracks: dict[str, tuple[str, TrackType]] = {}
        self.state = ConnectionState.WAITING
        self.idle_since = 0.0
        self.events: list[tuple[Any, ...]] = []
        self.closed = False

    def _transition(self, now: float) -> None:
        if self.present:
            new = ConnectionState.ACTIVE
        elif self.state is ConnectionState.WAITING:
            new = ConnectionState.WAITING
        else:
            new = ConnectionState.IDLE
        if new is not self.state:
            self.state = new
            self.idle_since = now if new is ConnectionState.IDLE else 0.0
            self.events.append(("state", new.value))

    def join(self, p: Participant, now: float) -> None:
        if self.closed or p.user_id == "agent" or p.id in self.present:
            return
        self.present[p.id] = p
        self.events.append(("joined", p.id))
        self._transition(now)

    def leave(self, p: Participant, now: float) -> None:
        if self.closed or p.id not in self.present:
            return
        for track_id in [t for t, (owner, _) in self.tracks.items() if owner == p.id]:
            _, kind = self.tracks.pop(track_id)
            self.events.append(("track_removed", track_id, kind, p.id))
        del self.present[p.id]
        self.events.append(("left", p.id, "left"))
        self._transition(now)

    def add_track(self, p: Participant, track_id: str, kind: TrackType, now: float) -> None:
        if self.closed or p.user_id == "agent" or track_id in self.tracks:
            return
        if p.id not in self.present:
            self.join(p, now)
        self.tracks[track_id] = (p.id, kind)
        self.events.append(("track_added", track_id, kind, p.id))

    def remove_track(self, track_id: str) -> None:
        if self.closed or track_id not in self.tracks:
            return
        owner, kind = self.tracks.pop(track_id)  # the registry's owner, whoever sent the removal
        self.events.append(("track_removed", track_id, kind, owner))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.present.clear()
        self.tracks.clear()
        self.state = ConnectionState.CLOSED
        self.idle_since = 0.0
        self.events.append(("state", "closed"))
        self.events.append(("closed", ""))


def _describe(event: Any) -> tuple[Any, ...]:
    name = type(event).__name__
    if name == "ParticipantJoinedEvent":
        return ("joined", event.participant.id)
    if name == "ParticipantLeftEvent":
        return ("left", event.participant.id, event.reason)
    if name == "TrackAddedEvent":
        return ("track_added", event.track_id, event.track_type, event.participant.id)
    if name == "TrackRemovedEvent":
        return ("track_removed", event.track_id, event.track_type, event.participant.id)
    if name == "ConnectionStateEvent":
        return ("state", event.state.value)
    if name == "ConnectionClosedEvent":
        return ("closed", "")
    return (name, "")


class ContractMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = VirtualClock(start=100.0)
        self.edge = MemoryEdge(clock=self.clock)
        self.seen: dict[str, list[tuple[Any, ...]]] = {call: [] for call in CALLS}

        @self.edge.events.subscribe
        async def record(event: EdgeEvent) -> None:
            call = getattr(event, "call", None)
            if call is not None:
                self.seen[call.id].append(_describe(event))

        self.connections = {
            call: self.run(self.edge.join(User("agent"), self.run(self.edge.create_call(call))))
            for call in CALLS
        }
        self.models = {call: _Model() for call in CALLS}
        self.waits: list[tuple[str, str | None, asyncio.Future[None]]] = []

    def run(self, awaitable: Any) -> Any:
        return self.loop.run_until_complete(awaitable)

    def tell(self, call: str, message: Any) -> None:
        connection = self.connections[call]
        if connection.actor_ref.is_alive():
            connection.actor_ref.tell(message)
        self.run(connection.settled())  # handled at the clock reading the model used
        self.clock.advance(1.0)

    @rule(
        call=st.sampled_from(CALLS), user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS)
    )
    def join(self, call: str, user: str, session: str) -> None:
        p = _participant(user, session)
        self.models[call].join(p, self.clock.time())
        self.tell(call, ParticipantJoined(call, p))

    @rule(
        call=st.sampled_from(CALLS), user=st.sampled_from(USERS), session=st.sampled_from(SESSIONS)
    )
    def leave(self, call: str, user: str, session: str) -> None:
        p = _participant(user, session)
        self.models[call].leave(p, self.clock.time())
        self.tell(call, ParticipantLeft(call, p))

    @rule(
        call=st.sampled_from(CALLS),
        user=st.sampled_from(USERS),
        session=st.sampled_from(SESSIONS),
        track=st.sampled_from(TRACKS),
        kind=st.sampled_from([TrackType.AUDIO, TrackType.VIDEO, TrackType.SCREEN_SHARE]),
    )
    def add_track(self, call: str, user: str, session: str, track: str, kind: TrackType) -> None:
        p = _participant(user, session)
        self.models[call].add_track(p, track, kind, self.clock.time())
        self.tell(call, TrackAdded(call, p, track, kind))

    @rule(call=st.sampled_from(CALLS), track=st.sampled_from(TRACKS))
    def remove_track(self, call: str, track: str) -> None:
        self.models[call].remove_track(track)
        self.tell(call, TrackRemoved(call, _participant("ann", "1"), track))

    @rule(call=st.sampled_from(CALLS), other=st.sampled_from(CALLS))
    def misrouted(self, call: str, other: str) -> None:
        if call != other:  # a message for another call is ignored
            self.tell(call, ParticipantJoined(other, _participant("bob", "9")))

    @precondition(lambda self: len(self.waits) < 6)
    @rule(call=st.sampled_from(CALLS), user=st.sampled_from((None, "ann", "bob")))
    def wait(self, call: str, user: str | None) -> None:
        waiting = self.connections[call].wait_for_participant(user_id=user)
        self.waits.append((call, user, asyncio.ensure_future(waiting, loop=self.loop)))

    @rule(call=st.sampled_from(CALLS))
    def close(self, call: str) -> None:
        self.models[call].close()
        self.tell(call, Close(call, "closed"))

    @invariant()
    def matches_the_model(self) -> None:
        for call in CALLS:
            self.run(self.connections[call].settled())
        for call, model in self.models.items():
            connection = self.connections[call]
            assert [p.id for p in connection.participants] == list(model.present)
            assert {t.track_id: t.track_type for t in connection.presence.tracks} == {
                track: kind for track, (_, kind) in model.tracks.items()
            }
            assert connection.state is model.state
            assert connection.idle_since() == model.idle_since
            assert self.seen[call] == model.events
        for call, user, future in self.waits:
            model = self.models[call]
            present = any(user is None or p.user_id == user for p in model.present.values())
            if present and not model.closed:
                assert future.done(), f"a wait on {call} for {user} missed a join"
            if future.done() and future.exception() is not None:
                assert isinstance(future.exception(), ConnectionClosedError)
                assert model.closed

    def teardown(self) -> None:
        self.run(self._finish())
        self.loop.close()

    async def _finish(self) -> None:
        for _, _, future in self.waits:
            future.cancel()
        await asyncio.gather(*(f for _, _, f in self.waits), return_exceptions=True)
        await self.edge.close()


ContractMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None)
test_contract_against_the_model = ContractMachine.TestCase
