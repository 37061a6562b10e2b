"""``ConnectionActor``: one per joined call, the one owner of that call's presence.

Its mailbox is the call as the edge sees it: ``ParticipantJoined``,
``ParticipantLeft``, ``TrackAdded``, ``TrackRemoved`` and ``Close``. It keeps the
call's participants, track table and lifecycle state, and after each message
publishes a new immutable ``Presence`` snapshot into the connection's
``PresenceCell``, settles the waits that now hold, and only then hands the
message's events to the edge's bus (so a handler never sees an event that the
snapshot does not show yet). Nobody else writes presence: readers get the
snapshot, waiters get futures. Odd input (a repeated join, a leave of someone
unknown, a message after ``Close``...) follows one rule per case, so presence
is never lost or corrupted: README.md, "Odd input, one rule each", has the table.

Every session of the agent's own user is left out of presence and events.

Lifecycle: ``WAITING`` until someone other than the agent joins, ``ACTIVE``
while anyone is connected, ``RECONNECTING`` while the only ones left are
dropped participants within their grace period, ``IDLE`` once all have left,
``CLOSED`` after ``Close`` (README.md, "Where a connection is in its life").
Each transition is a ``ConnectionStateEvent``, emitted after the events of the
message that caused it.

``ConnectionOptions`` add three policies. ``reconnect_grace``: a participant
that left with reason ``dropped`` keeps its place that long (its tracks are
removed, ``ParticipantReconnectingEvent``); if the same user joins again within
it, ``ParticipantRejoinedEvent`` replaces the old session with no left event,
else it leaves (``dropped``) when the grace runs out. ``duplicate_sessions``:
``allow`` (several sessions per user), ``newest`` (an older session leaves with
reason ``replaced``) or ``oldest`` (the newcomer is refused: a
``ParticipantLeftEvent`` with reason ``duplicate``, and its later messages are
ignored until it leaves). ``idle_timeout``: the actor closes the connection
(reason ``idle_timeout``) once it has been idle that long; this is the only
place an idle timeout is kept. The last ``lifecycle_history`` of these
happenings are kept for ``inspect()``.

Supervision: a handler that raises restarts the actor (``restart_policy``: 3
restarts within 60 s) with its state kept, and the message is handled once
more; past the budget the connection closes with a ``ConnectionClosedEvent``
whose reason is ``failed: <error>`` and pending waits fail.

All handlers run on the actor's loop; timers come from its ``Clock``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ClassVar

import msgspec

from actors._actor import AsyncioActor
from actors._api import teller
from actors._supervision import RestartPolicy
from actors.clock import Clock, Timer
from actors.connection_interface import (
    CatchUp,
    ConnectionOptions,
    ConnectionOwner,
    ConnectionReport,
    ReportRequest,
    WaitEnded,
)
from actors.presence import Presence, PresenceCell
from actors.recording import FORMAT_VERSION, Recorder, RecordingHeader
from actors.waits import AddWaiter, RemoveWaiter, Waits, settle
from messages import (
    CallEndedEvent,
    Close,
    ConnectionClosedError,
    ConnectionClosedEvent,
    ConnectionState,
    ConnectionStateEvent,
    LifecycleEntry,
    Participant,
    ParticipantJoined,
    ParticipantJoinedEvent,
    ParticipantLeft,
    ParticipantLeftEvent,
    ParticipantReconnectingEvent,
    ParticipantRejoinedEvent,
    TrackAdded,
    TrackAddedEvent,
    TrackInfo,
    TrackRemoved,
    TrackRemovedEvent,
)

__all__ = ["ConnectionActor", "Emit"]

logger = logging.getLogger(__name__)

Emit = Callable[[Any, str], None]
"""Where a connection actor hands its events: ``emit(event, key)`` (an ``EventBus.send``)."""


class _GraceOver(msgspec.Struct, frozen=True):
    """A dropped participant's grace period ran out."""

    participant_id: str


class _Tick(msgspec.Struct, frozen=True):
    """A timer fired: check the idle timeout and time-based waits."""


_TICK = _Tick()


# The states as module constants: publishing a snapshot reads several, and a
# global is read more cheaply than a member off the Enum class.
_WAITING, _ACTIVE, _RECONNECTING, _IDLE, _CLOSED = (
    ConnectionState.WAITING,
    ConnectionState.ACTIVE,
    ConnectionState.RECONNECTING,
    ConnectionState.IDLE,
    ConnectionState.CLOSED,
)

_NO_TABLE: dict[Any, Any] = {}
"""The empty table every connection starts with, shared and never written: the place
that adds to a table (participants, reconnecting, tracks: one each) first gives the
connection a table of its own, so an idle connection owns none."""


class ConnectionActor(AsyncioActor):
    """The actor behind one ``Connection``, and the only writer of its presence.

    Start it on the edge's loop. ``cell`` receives each new ``Presence``;
    ``emit(event, key)`` receives the events once presence shows them. Its
    ``owner`` (the ``Connection``) hears, on the actor's loop, when a ``Close``
    has been handled, so it can release the transport, and when a
    duplicate-session policy turns a session away, so the edge can disconnect it.
    """

    __slots__ = (
        "_cell",
        "_clock",
        "_closed",
        "_emit",
        "_idle_timer",
        "_lifecycle",
        "_now",
        "_owner",
        "_participants",
        "_reconnecting",
        "_recorder",
        "_refused",
        "_tracks",
        "_waits",
        "agent_user_id",
        "call",
        "call_id",
        "key",
        "options",
    )

    mailbox_batch = 128
    restart_policy = RestartPolicy(max_restarts=3, within=60.0)

    def __init__(
        self,
        *,
        key: str,
        call_id: str,
        call: Any,
        agent_user_id: str,
        cell: PresenceCell,
        emit: Emit,
        owner: ConnectionOwner | None,
        options: ConnectionOptions,
        clock: Clock,
    ) -> None:
        super().__init__()
        self.key = key
        self.call_id = call_id
        self.call = call
        self.agent_user_id = agent_user_id
        self.options = options
        self._clock = clock
        self._cell = cell
        self._emit = emit
        self._owner = owner
        # The tables are the shared empty one until something is added to them
        # (see _NO_TABLE): an idle connection owns no table.
        self._participants: dict[str, Participant] = _NO_TABLE
        self._reconnecting: dict[str, Timer] = _NO_TABLE
        self._tracks: dict[str, TrackInfo] = _NO_TABLE
        self._closed = False
        # The clock reading of the presence message being handled (read by on_receive,
        # _tick and _grace_over: the actor's own messages need none).
        self._now = self._clock.time()
        # What most connections never need is made on first use, to keep them small.
        self._refused: set[str] | None = None  # sessions a duplicate policy refused
        self._waits: Waits | None = None
        self._idle_timer: Timer | None = None
        self._lifecycle: list[LifecycleEntry] | None = None
        self._recorder: Recorder | None = None
        if self.options.record is not None:
            path = self.options.record.format(call_id=call_id, key=key.replace("#", "-"))
            self._recorder = Recorder(
                path,
                RecordingHeader(
                    FORMAT_VERSION,
                    call_id,
                    agent_user_id,
                    self._now,
                    msgspec.structs.asdict(msgspec.structs.replace(self.options, record=None)),
                ),
            )
        cell._swap_in(Presence(since=self._now, version=1))  # noqa: SLF001  # the cell's one writer

    @property
    def closed(self) -> bool:
        """Whether a ``Close`` has been handled (read on the actor's loop)."""
        return self._closed

    @property
    def presence(self) -> Presence:
        """The snapshot last published (any thread; an immutable value)."""
        return self._cell.presence

    @property
    def pending_waits(self) -> int:
        """How many waits are pending on this connection (read on the actor's loop)."""
        return len(self._waits) if self._waits is not None else 0

    def on_receive(self, message: Any) -> Any:
        """Handle one message (on the actor's loop); a protocol message is admitted first.

        A protocol message for a closed connection or another call is dropped
        (the rule table); one admitted is recorded, if recording.
        """
        kind = type(message)
        handler = self._handlers.get(kind)
        if handler is None:
            msg = f"ConnectionActor does not handle {kind.__name__}"
            raise TypeError(msg)
        if kind in _HANDLED:
            self._now = self._clock.time()  # one reading per message: records, states, notes
            if self._closed:
                logger.debug("%s is closed; dropping %r", self.key, message)
                return None
            if message.call_id != self.call_id:
                logger.warning("%s is for call %s; dropping %r", self.key, self.call_id, message)
                return None
            if self._recorder is not None:
                self._recorder.message(self._now, message)
        return handler(self, message)

    # -- publishing ----------------------------------------------------------------

    def _publish(self, events: list[Any], *, presence: bool = False, tracks: bool = False) -> None:
        """Publish the snapshot this message made, settle waits, then emit the events.

        ``presence`` and ``tracks`` say what changed; an unchanged part reuses the
        previous snapshot's tuple.
        """
        before = self._cell.presence
        if presence or tracks:
            participants = tuple(self._participants.values()) if presence else before.participants
            reconnecting = tuple(self._reconnecting) if presence else before.reconnecting
            if len(participants) > len(reconnecting):
                state = _ACTIVE
            elif reconnecting:
                state = _RECONNECTING
            elif before.state is _WAITING:
                state = _WAITING
            else:
                state = _IDLE
            since = self._now if state is not before.state else before.since
            after = Presence(
                participants,
                tuple(self._tracks.values()) if tracks else before.tracks,
                reconnecting,
                state,
                since,
                since if state is _IDLE else 0.0,
                before.version + 1,
            )
            self._cell._swap_in(after)  # noqa: SLF001  # the cell's one writer
            if self._waits is not None:
                self._waits.check(after, self._now)
            if state is not before.state:
                if self._idle_timer is not None or self.options.idle_timeout is not None:
                    self._arm_idle_timer(after)
                events.append(
                    ConnectionStateEvent(state, before.state, after.idle_since, self.call)
                )
        emit, key = self._emit, self.key
        for event in events:
            emit(event, key)

    def _arm_idle_timer(self, presence: Presence) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        timeout = self.options.idle_timeout
        if timeout is not None and presence.state is _IDLE:
            self._idle_timer = self._clock.call_later(timeout, teller(self.actor_ref, _TICK))

    def _tick(self, _: _Tick) -> None:
        if self._closed:
            return
        self._now = self._clock.time()
        presence = self._cell.presence
        timeout = self.options.idle_timeout
        if (
            timeout is not None
            and presence.state is _IDLE
            and self._now - presence.since >= timeout
        ):
            self._idle_timer = None
            self._close("idle_timeout")
            return
        if self._waits is not None:
            self._waits.check(presence, self._now)

    # -- presence ----------------------------------------------------------------

    def _note(self, what: str, participant: Participant | None = None, reason: str = "") -> None:
        if self._lifecycle is None:
            self._lifecycle = []
        elif len(self._lifecycle) >= self.options.lifecycle_history:
            del self._lifecycle[0]  # keep the newest; a short list, so this is cheap
        self._lifecycle.append(
            LifecycleEntry(
                self._now,
                what,
                participant.id if participant else "",
                participant.user_id if participant else "",
                reason,
            )
        )

    def _is_agent(self, participant: Participant) -> bool:
        return participant.user_id == self.agent_user_id

    def _joined(self, message: ParticipantJoined | TrackAdded) -> None:
        participant = message.participant
        if self._is_agent(participant) or (self._refused and participant.id in self._refused):
            return
        if participant.id in self._participants:
            if participant.id in self._reconnecting:
                self._rejoin(participant, self._participants[participant.id])
            else:
                logger.debug("%s: %s joined twice; ignored", self.key, participant.id)
            return
        events: list[Any] = []
        if self._participants:  # someone is here: maybe an earlier session of this user
            previous = next(
                (p for p in self._participants.values() if p.user_id == participant.user_id),
                None,
            )
            if previous is not None and previous.id in self._reconnecting:
                self._rejoin(participant, previous)
                return
            if previous is not None and self.options.duplicate_sessions == "oldest":
                if self._refused is None:
                    self._refused = set()
                self._refused.add(participant.id)
                self._note("refused", participant, "duplicate")
                self._publish([ParticipantLeftEvent(participant, self.call, "duplicate")])
                self._evict(participant, "duplicate")
                return
            if previous is not None and self.options.duplicate_sessions == "newest":
                for older in [
                    p for p in self._participants.values() if p.user_id == participant.user_id
                ]:
                    events.extend(self._remove(older, "replaced"))
                    self._note("replaced", older, "replaced")
                    self._evict(older, "replaced")
        elif self._participants is _NO_TABLE:
            self._participants = {}
        self._participants[participant.id] = participant
        self._note("joined", participant)
        events.append(ParticipantJoinedEvent(participant, self.call))
        self._publish(events, presence=True, tracks=len(events) > 1)

    def _rejoin(self, participant: Participant, previous: Participant) -> None:
        timer = self._reconnecting.pop(previous.id, None)
        if timer is not None:
            timer.cancel()
        del self._participants[previous.id]
        self._participants[participant.id] = participant
        self._note("rejoined", participant, previous.id)
        self._publish([ParticipantRejoinedEvent(participant, previous, self.call)], presence=True)

    def _remove(self, participant: Participant, reason: str) -> list[Any]:
        """Take ``participant`` and its tracks out; return the events that tell of it."""
        events = self._drop_tracks(participant)
        timer = self._reconnecting.pop(participant.id, None)
        if timer is not None:
            timer.cancel()
        del self._participants[participant.id]
        events.append(ParticipantLeftEvent(participant, self.call, reason))
        return events

    def _drop_tracks(self, participant: Participant) -> list[Any]:
        gone = [t for t in self._tracks.values() if t.participant_id == participant.id]
        for track in gone:
            del self._tracks[track.track_id]
        return [TrackRemovedEvent(t.track_id, t.track_type, participant, self.call) for t in gone]

    def _evict(self, participant: Participant, reason: str) -> None:
        if self._owner is not None:
            try:
                self._owner.actor_evicted(participant, reason)
            except Exception:
                logger.exception("%s: evicting %s failed", self.key, participant.id)

    def _track_added(self, message: TrackAdded) -> None:
        participant = message.participant
        if self._is_agent(participant) or (self._refused and participant.id in self._refused):
            return
        if message.track_id in self._tracks:
            logger.debug("%s: track %s added twice; ignored", self.key, message.track_id)
            return
        events: list[Any] = []
        joined = participant.id not in self._participants
        if joined:
            self._joined(message)
            if participant.id not in self._participants:
                return
        known = self._participants[participant.id]
        if self._tracks is _NO_TABLE:
            self._tracks = {}
        self._tracks[message.track_id] = TrackInfo(message.track_id, message.track_type, known.id)
        events.append(TrackAddedEvent(message.track_id, message.track_type, known, self.call))
        self._publish(events, tracks=True)

    def _track_removed(self, message: TrackRemoved) -> None:
        track = self._tracks.pop(message.track_id, None)
        if track is None:
            logger.debug("%s: unknown track %s removed; ignored", self.key, message.track_id)
            return
        owner = self._participants.get(track.participant_id, message.participant)
        event = TrackRemovedEvent(track.track_id, track.track_type, owner, self.call)
        self._publish([event], tracks=True)

    def _left(self, message: ParticipantLeft) -> None:
        participant, reason = message.participant, message.reason
        if self._refused and participant.id in self._refused:
            self._refused.discard(participant.id)
            return
        known = self._participants.get(participant.id)
        if known is None or known.id in self._reconnecting:
            if known is None and not self._is_agent(participant):
                logger.debug("%s: %s left but was not present; ignored", self.key, participant.id)
            return
        grace = self.options.reconnect_grace
        if reason == "dropped" and grace > 0:
            events = self._drop_tracks(known)
            if self._reconnecting is _NO_TABLE:
                self._reconnecting = {}
            self._reconnecting[known.id] = self._clock.call_later(
                grace, teller(self.actor_ref, _GraceOver(known.id))
            )
            self._note("reconnecting", known, reason)
            events.append(ParticipantReconnectingEvent(known, self.call))
            self._publish(events, presence=True, tracks=True)
            return
        self._note("dropped" if reason == "dropped" else "left", known, reason)
        self._publish(self._remove(known, reason), presence=True, tracks=True)

    def _grace_over(self, message: _GraceOver) -> None:
        if self._closed or message.participant_id not in self._reconnecting:
            return
        self._now = self._clock.time()
        participant = self._participants[message.participant_id]
        self._note("dropped", participant, "grace period over")
        self._publish(self._remove(participant, "dropped"), presence=True, tracks=True)

    def _close(self, reason: str) -> None:
        self._note("call_ended" if reason == "call_ended" else "closed", reason=reason)
        self._closed = True
        for timer in self._reconnecting.values():
            timer.cancel()
        self._participants = self._reconnecting = self._tracks = _NO_TABLE
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        if self._recorder is not None:  # before the waits fail: they end as "closed"
            for future in self._recorder.open_waits():
                if not future.done():
                    self._recorder.wait_end(self._clock.time(), future, "closed")
        if self._waits is not None:
            self._waits.fail_all(ConnectionClosedError.of(self.key, reason))
        before = self._cell.presence
        closed = Presence(state=_CLOSED, since=self._now, version=before.version + 1)
        self._cell._swap_in(closed)  # noqa: SLF001  # the cell's one writer
        events: list[Any] = []
        if reason == "call_ended":
            events.append(CallEndedEvent(self.call, reason))
        if before.state is not _CLOSED:
            events.append(ConnectionStateEvent(_CLOSED, before.state, 0.0, self.call))
        events.append(ConnectionClosedEvent(self.call, reason))  # the last word
        emit, key = self._emit, self.key
        for event in events:
            emit(event, key)
        if self._recorder is not None:
            self._recorder.end(self._clock.time(), reason)
        if self._owner is not None:
            self._owner.actor_closed(reason)

    # -- waits, inspection -------------------------------------------------------

    def _add_waiter(self, message: AddWaiter) -> None:
        if self._closed:
            settle(message.future, ConnectionClosedError.of(self.key))
            return
        if self._recorder is not None:
            self._recorder.wait(
                self._clock.time(), message.future, message.predicate, message.timeout
            )
        if self._waits is None:
            self._waits = Waits(self._clock, teller(self.actor_ref, _TICK))
        self._waits.add(message.future, message.predicate, self._cell.presence)

    def _remove_waiter(self, message: RemoveWaiter) -> None:
        if self._waits is not None:
            self._waits.remove(message.future)

    def _wait_ended(self, message: WaitEnded) -> None:
        if self._recorder is not None and not self._closed:
            self._recorder.wait_end(self._clock.time(), message.future, message.outcome)

    def _report(self, _: ReportRequest) -> ConnectionReport:
        presence = self._cell.presence
        return ConnectionReport(
            key=self.key,
            call_id=self.call_id,
            agent_user_id=self.agent_user_id,
            state=presence.state,
            idle_since=presence.idle_since,
            participants=tuple(self._participants.values()),
            reconnecting=tuple(self._reconnecting),
            tracks=tuple(self._tracks.values()),
            mailbox_depth=self.mailbox_depth,
            messages_handled=self.messages_handled,
            restarts=self.restart_count,
            lifecycle=tuple(self._lifecycle or ()),
            waits=self.pending_waits,
        )

    # -- supervision ---------------------------------------------------------------

    def on_restart(self, error: BaseException, message: Any) -> None:
        """Note the restart for ``inspect()``; the state is kept (see the module docs)."""
        self._now = self._clock.time()
        self._note("restarted", reason=repr(error))

    def on_dropped(self, message: Any) -> None:
        """A wait still queued when the actor stopped fails; a presence message is logged."""
        if type(message) is AddWaiter:
            settle(message.future, ConnectionClosedError.of(self.key))
        elif type(message) in _HANDLED:
            logger.debug("%s stopped before handling %r", self.key, message)

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """Out of restarts: close the connection, saying why, so nobody waits forever."""
        self._now = self._clock.time()
        if not self._closed:
            self._close(f"failed: {exception_value!r}")

    def on_stop(self) -> None:
        """Stopped without a ``Close`` (by ``stop()`` or ``stop_all()``): close as ``stopped``.

        Presence then reads ``CLOSED``, waits fail and the owner releases the
        transport, so nothing reports a live call that no actor serves.
        """
        self._now = self._clock.time()
        if not self._closed:
            self._close("stopped")
        if self._recorder is not None:
            self._recorder.close()

    _handlers: ClassVar[dict[type[Any], Callable[[ConnectionActor, Any], Any]]] = {
        # The protocol (_HANDLED): on_receive admits each message first.
        ParticipantJoined: _joined,
        TrackAdded: _track_added,
        TrackRemoved: _track_removed,
        ParticipantLeft: _left,
        Close: lambda self, message: self._close(message.reason),
        # The actor's own messages.
        CatchUp: lambda self, message: None,
        AddWaiter: _add_waiter,
        RemoveWaiter: _remove_waiter,
        WaitEnded: _wait_ended,
        _GraceOver: _grace_over,
        _Tick: _tick,
        ReportRequest: _report,
    }


_HANDLED = frozenset((ParticipantJoined, ParticipantLeft, TrackAdded, TrackRemoved, Close))
