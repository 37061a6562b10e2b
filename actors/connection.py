"""``ConnectionActor``: one per joined call; its mailbox is the call as the edge sees it.

It receives ``ParticipantJoined``, ``ParticipantLeft``, ``TrackAdded``,
``TrackRemoved`` and ``Close``, keeps the call's participants and track table,
turns each message into the events it means, and tells the registry the change
(the registry publishes presence, then emits the events). Odd input follows one
rule per case, so presence is never lost or corrupted:

==========================================  ==============================================
input                                       rule
==========================================  ==============================================
``ParticipantJoined`` for a present id      ignored (debug log): a repeat, not a new session
``ParticipantLeft`` for an unknown id       ignored (debug log): it never joined, or left
``ParticipantLeft`` with tracks published   ``TrackRemoved`` for each track first, then left
``TrackAdded`` from an unknown participant  the participant joins first, then the track
``TrackAdded`` for a known track id         ignored (debug log)
``TrackRemoved`` for an unknown track       ignored (debug log)
a message for another call id               ignored (warning): misrouted
any message after ``Close``                 dropped (debug log); nothing is emitted
anything else                               ``TypeError`` for an ask; logged for a tell
==========================================  ==============================================

Every session of the agent's own user is left out of presence and events. All
handlers run on the actor's loop.

Supervision: a handler that raises restarts the actor (``restart_policy``: 3
restarts within 60 s) and the message is handled once more; past the budget
the connection closes with a ``ConnectionClosedEvent`` whose reason is
``failed: <error>``. While its registry shard is down, changes wait in an
outbox; the shard is replaced and the actor receives ``Reattach``, then sends
the new registry the presence last published, the changes it missed, the
presence now and the waits that were pending, in that order. Waits and their
cancellations go through this actor too, so they always follow the
``OpenCall`` they belong to.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pykka

from actors._actor import AsyncioActor
from actors._errors import ConnectionClosedError
from actors._supervision import RestartPolicy
from actors.presence import PresenceCell
from actors.registry import (
    AddWaiter,
    Change,
    CloseCall,
    Flush,
    OpenCall,
    ParticipantRegistry,
    Reattach,
    RemoveWaiter,
    _settle,
)
from messages import (
    CallEndedEvent,
    Close,
    ConnectionClosedEvent,
    Participant,
    ParticipantJoined,
    ParticipantJoinedEvent,
    ParticipantLeft,
    ParticipantLeftEvent,
    TrackAdded,
    TrackAddedEvent,
    TrackRemoved,
    TrackRemovedEvent,
    TrackType,
)

__all__ = ["ConnectionActor"]

logger = logging.getLogger("actors.connection")


class ConnectionActor(AsyncioActor):
    """The actor behind one ``Connection``; start it on the edge's loop.

    ``emit`` receives the events (through the registry, after presence is
    published); ``on_closed(reason)`` is called once, on the actor's loop, when
    a ``Close`` has been handled, so the owner can release the transport.
    """

    mailbox_batch = 128
    restart_policy = RestartPolicy(max_restarts=3, within=60.0)

    def __init__(
        self,
        *,
        key: str,
        call_id: str,
        call: Any,
        agent_user_id: str,
        registry: pykka.ActorRef[ParticipantRegistry],
        cell: PresenceCell,
        emit: Callable[[Any], None],
        on_closed: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__()
        self.key = key
        self.call_id = call_id
        self.call = call
        self.agent_user_id = agent_user_id
        self._registry = registry
        self._cell = cell
        self._emit = emit
        self._on_closed = on_closed
        self._participants: dict[str, Participant] = {}
        self._tracks: dict[str, tuple[Participant, TrackType]] = {}
        self._closed = False
        self._outbox: list[Any] = []  # changes kept while the registry is down
        registry.tell(OpenCall(key, call_id, agent_user_id, cell, emit))

    @property
    def closed(self) -> bool:
        """Whether a ``Close`` has been handled (read on the actor's loop)."""
        return self._closed

    def on_receive(self, message: Any) -> Any:
        kind = type(message)
        if kind is Flush:
            return None
        if kind is Reattach:
            self._reattach(message)
            return None
        if kind is AddWaiter:
            self._add_waiter(message)
            return None
        if kind is RemoveWaiter:
            self._tell_registry(message)
            return None
        if kind not in _HANDLED:
            msg = f"ConnectionActor does not handle {kind.__name__}"
            raise TypeError(msg)
        if self._closed:
            logger.debug("%s is closed; dropping %r", self.key, message)
            return None
        if message.call_id != self.call_id:
            logger.warning("%s is for call %s; dropping %r", self.key, self.call_id, message)
            return None
        if kind is ParticipantJoined:
            self._joined(message.participant)
        elif kind is TrackAdded:
            self._track_added(message)
        elif kind is TrackRemoved:
            self._track_removed(message)
        elif kind is ParticipantLeft:
            self._left(message.participant, message.reason)
        else:
            self._close(message.reason)
        return None

    def _is_agent(self, participant: Participant) -> bool:
        return participant.user_id == self.agent_user_id

    def _tell_registry(self, message: Any) -> None:
        """Tell the registry; while it is down, keep the message for the replacement."""
        if self._outbox:
            self._outbox.append(message)
            return
        try:
            self._registry.tell(message)
        except pykka.ActorDeadError:
            self._outbox.append(message)

    def _presence(self) -> tuple[Participant, ...]:
        return tuple(self._participants.values())

    def _joined(self, participant: Participant) -> None:
        if self._is_agent(participant):
            return
        if participant.id in self._participants:
            logger.debug("%s: %s joined twice; ignored", self.key, participant.id)
            return
        event = ParticipantJoinedEvent(participant, self.call)
        self._participants[participant.id] = participant
        self._tell_registry(Change(self.key, (event,), self._presence()))

    def _track_added(self, message: TrackAdded) -> None:
        participant = message.participant
        if self._is_agent(participant):
            return
        if message.track_id in self._tracks:
            logger.debug("%s: track %s added twice; ignored", self.key, message.track_id)
            return
        if participant.id not in self._participants:
            self._joined(participant)
        known = self._participants[participant.id]
        event = TrackAddedEvent(message.track_id, message.track_type, known, self.call)
        self._tracks[message.track_id] = (known, message.track_type)
        self._tell_registry(Change(self.key, (event,)))

    def _track_removed(self, message: TrackRemoved) -> None:
        entry = self._tracks.get(message.track_id)
        if entry is None:
            logger.debug("%s: unknown track %s removed; ignored", self.key, message.track_id)
            return
        owner, track_type = entry
        event = TrackRemovedEvent(message.track_id, track_type, owner, self.call)
        del self._tracks[message.track_id]
        self._tell_registry(Change(self.key, (event,)))

    def _left(self, participant: Participant, reason: str) -> None:
        known = self._participants.get(participant.id)
        if known is None:
            if not self._is_agent(participant):
                logger.debug("%s: %s left but was not present; ignored", self.key, participant.id)
            return
        gone = [track_id for track_id, (owner, _) in self._tracks.items() if owner.id == known.id]
        events: list[Any] = [
            TrackRemovedEvent(track_id, self._tracks[track_id][1], known, self.call)
            for track_id in gone
        ]
        events.append(ParticipantLeftEvent(known, self.call, reason))
        for track_id in gone:
            del self._tracks[track_id]
        del self._participants[known.id]
        self._tell_registry(Change(self.key, tuple(events), self._presence()))

    def _close(self, reason: str) -> None:
        events: list[Any] = []
        if reason == "call_ended":
            events.append(CallEndedEvent(self.call, reason))
        events.append(ConnectionClosedEvent(self.call, reason))
        self._closed = True
        self._participants.clear()
        self._tracks.clear()
        self._tell_registry(CloseCall(self.key, reason, tuple(events)))
        if self._on_closed is not None:
            self._on_closed(reason)

    def _add_waiter(self, message: AddWaiter) -> None:
        if self._closed:
            _settle(message.future, ConnectionClosedError(f"connection {self.key} is closed"))
            return
        self._tell_registry(message)

    # -- supervision ---------------------------------------------------------------

    def on_dropped(self, message: Any) -> None:
        """A wait still queued when the actor stopped fails; a presence message is logged."""
        if type(message) is AddWaiter:
            _settle(message.future, ConnectionClosedError(f"connection {self.key} is closed"))
        elif type(message) in _HANDLED:
            logger.debug("%s stopped before handling %r", self.key, message)

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """Out of restarts: close the connection, saying why, so nobody waits forever."""
        if not self._closed:
            self._close(f"failed: {exception_value!r}")

    def _reattach(self, message: Reattach) -> None:
        """A new registry replaces a failed one: bring it up to date, then carry on.

        It receives, in order: this connection's ``OpenCall`` (starting from the
        presence last published), what the failed registry still held for it
        (pending waits, unhandled messages), the changes kept in the outbox,
        and the presence now.
        """
        self._registry = registry = message.registry
        outbox, self._outbox = self._outbox, []
        registry.tell(OpenCall(self.key, self.call_id, self.agent_user_id, self._cell, self._emit))
        for pending in (*message.leftovers, *outbox):
            registry.tell(pending)
        if not self._closed:
            registry.tell(Change(self.key, (), self._presence()))


_HANDLED = frozenset((ParticipantJoined, ParticipantLeft, TrackAdded, TrackRemoved, Close))
