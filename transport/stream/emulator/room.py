"""A call on the emulated SFUs: its sessions, what each publishes, who receives what.

One ``Room`` per call holds the call's state for every emulated SFU (as
Stream's SFUs cascade a call between them), so a session can move from one
SFU to another (a migration) or come back on a new websocket (a fast
reconnect) and stay the same participant: nobody sees it leave and join.
A session whose websocket drops keeps its place for the reconnect deadline
the ``JoinResponse`` announced; a websocket the client closes normally is a
leave. Participant and track events go to every other session of the call;
tracks go only to the sessions subscribed to them (``UpdateSubscriptions``),
as on Stream. Runs on the emulator's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import secrets
from collections.abc import Iterable
from typing import Any, Protocol

import aioice
from aiortc.rtcicetransport import candidate_from_aioice

from transport.stream.emulator.relay import Feed, Outbound, PublisherPeer, SubscriberPeer
from transport.stream.emulator.wire import encode, events_pb2, models_pb2

__all__ = ["Room", "RoomLimits", "SfuSession", "Signal"]

logger = logging.getLogger(__name__)

_ids = itertools.count(1)


class Signal(Protocol):
    """A session's signaling websocket, as the room uses it (``sfu.Link``)."""

    sfu: str

    def send(self, frame: bytes) -> None:
        """Queue one serialized ``SfuEvent``; never waits."""

    def drop(self, code: int) -> None:
        """Close the websocket now (the client sees it drop)."""

    def finish(self, code: int) -> None:
        """Close the websocket once what is queued has been sent."""


class RoomLimits:
    """What one session may hold and how long the room waits for it."""

    def __init__(
        self,
        *,
        reconnect_deadline: float = 10.0,
        answer_timeout: float = 10.0,
        max_published: int = 4,
        max_subscriptions: int = 64,
    ) -> None:
        self.reconnect_deadline = reconnect_deadline
        """Seconds a dropped session keeps its place (``fast_reconnect_deadline_seconds``)."""
        self.answer_timeout = answer_timeout
        """Seconds the SFU waits for a client's answer to its subscriber offer."""
        self.max_published = max_published
        """Tracks one session may publish (one per track type)."""
        self.max_subscriptions = max_subscriptions
        """Tracks one session may subscribe to."""


class SfuSession:
    """One participant session of a call (``user_id``, ``session_id``), across websockets."""

    def __init__(self, room: Room, user_id: str, session_id: str, name: str = "") -> None:
        self.room = room
        self.user_id = user_id
        self.session_id = session_id
        self.name = name
        self.prefix = secrets.token_hex(6)
        """The ``track_lookup_prefix``: every track relayed from this session starts with it."""
        self.published: list[int] = []
        """Track types the call sees this session publish, in order."""
        self.feeds: dict[int, Feed] = {}
        self.subscriptions: set[tuple[str, int]] = set()
        self.outbound: dict[tuple[str, int], Outbound] = {}
        self.signal: Signal | None = None
        self.publisher: PublisherPeer | None = None
        self.subscriber: SubscriberPeer | None = None
        self.retired: list[Feed] = []
        """Feeds replaced by a republish, read until their connection closes."""
        self.grace: asyncio.TimerHandle | None = None
        """The timer that ends the session if its websocket stays down."""
        self._joined_at = models_pb2.Participant().joined_at
        self._joined_at.GetCurrentTime()

    def participant(self) -> Any:
        """The session as the SFU describes it (``models_pb2.Participant``)."""
        participant = models_pb2.Participant(
            user_id=self.user_id,
            session_id=self.session_id,
            published_tracks=self.published,
            track_lookup_prefix=self.prefix,
            name=self.name,
            roles=["user"],
        )
        participant.joined_at.CopyFrom(self._joined_at)
        return participant

    def send(self, frame: bytes) -> None:
        """Send an event to the session (dropped while its websocket is down)."""
        if self.signal is not None:
            self.signal.send(frame)

    def send_offer(self, sdp: str) -> None:
        """Send the SFU's subscriber offer to the session."""
        self.send(encode(subscriber_offer=events_pb2.SubscriberOffer(sdp=sdp)))

    async def close_media(self) -> None:
        """Stop every track to and from the session and close its peer connections."""
        for outbound in self.outbound.values():
            outbound.stop()
        self.outbound.clear()
        for feed in [*self.feeds.values(), *self.retired]:
            await feed.stop()
        self.retired.clear()
        for peer in (self.publisher, self.subscriber):
            if peer is not None:
                await peer.close()
        self.publisher = None
        self.subscriber = None


class Room:
    """One call's sessions on the emulated SFUs (``cid`` is ``type:id``)."""

    def __init__(self, call_type: str, call_id: str, limits: RoomLimits) -> None:
        self.call_type = call_type
        self.call_id = call_id
        self.cid = f"{call_type}:{call_id}"
        self.limits = limits
        self.sessions: dict[str, SfuSession] = {}
        self.ended = False
        self._started_at = models_pb2.CallState().started_at
        self._started_at.GetCurrentTime()

    # -- presence --------------------------------------------------------------

    def call_state(self) -> Any:
        """Everyone in the call, as a ``JoinResponse`` carries it (``models_pb2.CallState``)."""
        state = models_pb2.CallState(participants=[s.participant() for s in self.sessions.values()])
        state.started_at.CopyFrom(self._started_at)
        state.participant_count.total = len(self.sessions)
        return state

    def broadcast(self, frame: bytes, *, skip: SfuSession | None = None) -> None:
        """Send ``frame`` to every session but ``skip``."""
        for session in self.sessions.values():
            if session is not skip:
                session.send(frame)

    async def admit(
        self, user_id: str, session_id: str, signal: Signal, *, fast: bool, name: str = ""
    ) -> tuple[SfuSession, bool]:
        """Take a session's join on ``signal``: (the session, whether it was already in the call).

        A session already in the call comes back: on a fast reconnect it keeps
        its peer connections, otherwise (a migration, a rejoin) it gets new ones
        and republishes. Either way the call sees no leave and no join.
        """
        session = self.sessions.get(session_id)
        if session is not None and session.user_id == user_id:
            if session.grace is not None:
                session.grace.cancel()
                session.grace = None
            session.signal = signal  # an old websocket still open is left to its client to close
            if not fast or session.subscriber is None:
                await self._renew_media(session)
            return session, True
        if session is not None:
            msg = f"session {session_id} belongs to another user"
            raise PermissionError(msg)
        session = SfuSession(self, user_id, session_id, name)
        session.signal = signal
        session.subscriber = SubscriberPeer(session.send_offer, self.limits.answer_timeout)
        self.sessions[session_id] = session
        self.broadcast(
            encode(
                participant_joined=events_pb2.ParticipantJoined(
                    call_cid=self.cid, participant=session.participant()
                )
            ),
            skip=session,
        )
        return session, False

    def lost(self, session: SfuSession, signal: Signal) -> None:
        """``signal`` dropped: the session keeps its place for the reconnect deadline."""
        if session.signal is not signal or self.sessions.get(session.session_id) is not session:
            return
        session.signal = None
        loop = asyncio.get_running_loop()
        session.grace = loop.call_later(
            self.limits.reconnect_deadline,
            lambda: loop.create_task(self.leave(session, "reconnect deadline passed")),
        )

    async def leave(self, session: SfuSession, reason: str, signal: Signal | None = None) -> None:
        """The session leaves the call (if ``signal`` is given, only while it is still its own)."""
        if signal is not None and session.signal is not signal:
            return
        if self.sessions.get(session.session_id) is not session:
            return
        logger.debug("%s leaves %s: %s", session.session_id, self.cid, reason)
        del self.sessions[session.session_id]
        if session.grace is not None:
            session.grace.cancel()
        session.signal = None
        self.broadcast(
            encode(
                participant_left=events_pb2.ParticipantLeft(
                    call_cid=self.cid, participant=session.participant()
                )
            )
        )
        for other in self.sessions.values():
            other.subscriptions = {k for k in other.subscriptions if k[0] != session.session_id}
            self._sync(other)
        await session.close_media()

    async def end(self, reason: int) -> None:
        """End the call: every session gets ``CallEnded``, then its websocket closes."""
        self.ended = True
        frame = encode(call_ended=events_pb2.CallEnded(reason=reason))
        sessions = list(self.sessions.values())
        self.sessions.clear()
        for session in sessions:
            if session.grace is not None:
                session.grace.cancel()
            if session.signal is not None:
                session.signal.send(frame)
                session.signal.finish(1000)
                session.signal = None
        for session in sessions:
            await session.close_media()

    def go_away(self, sfu: str, reason: int) -> int:
        """Send ``GoAway`` to the sessions connected through SFU ``sfu``; how many got it."""
        frame = encode(go_away=events_pb2.GoAway(reason=reason))
        told = 0
        for session in self.sessions.values():
            if session.signal is not None and session.signal.sfu == sfu:
                session.signal.send(frame)
                told += 1
        return told

    def error(self, user_id: str, frame: bytes) -> int:
        """Send an ``Error`` event ``frame`` to every connected session of ``user_id``; how many."""
        told = 0
        for session in self.sessions.values():
            if session.user_id == user_id and session.signal is not None:
                session.signal.send(frame)
                told += 1
        return told

    # -- media -----------------------------------------------------------------

    async def publish(self, session: SfuSession, offer: str, tracks: Iterable[Any]) -> str:
        """``SetPublisher``: answer the offer, take its tracks, announce the new types."""
        if session.publisher is None:
            session.publisher = PublisherPeer()
        answer = await session.publisher.answer(offer)
        declared = {info.track_id: int(info.track_type) for info in tracks}
        fed = {id(feed.remote) for feed in (*session.feeds.values(), *session.retired)}
        for track_id, track in session.publisher.received().items():
            if id(track) in fed:
                continue
            kind = models_pb2.TRACK_TYPE_AUDIO if track.kind == "audio" else 2
            track_type = declared.get(track_id, kind)
            if track_type not in session.feeds and len(session.feeds) >= self.limits.max_published:
                continue
            old = session.feeds.get(track_type)
            session.feeds[track_type] = Feed(track_type, track)
            if old is not None:
                session.retired.append(old)
            if track_type in session.published:
                self._republished(session, track_type)
            else:
                self._announce(session, track_type)
        return answer

    async def mute(self, session: SfuSession, states: Iterable[Any]) -> None:
        """``UpdateMuteStates``: a muted track is unpublished, an unmuted one published again."""
        for state in states:
            track_type = int(state.track_type)
            unmuted = not state.muted and track_type not in session.published
            if state.muted and track_type in session.published:
                session.published.remove(track_type)
                event = events_pb2.TrackUnpublished(
                    user_id=session.user_id,
                    session_id=session.session_id,
                    type=track_type,
                    cause=models_pb2.TRACK_UNPUBLISH_REASON_USER_MUTED,
                    participant=session.participant(),
                )
                self.broadcast(encode(track_unpublished=event), skip=session)
                for other in self.sessions.values():
                    self._sync(other)
            elif unmuted and track_type in session.feeds:
                self._announce(session, track_type)

    def subscribe(self, session: SfuSession, details: Iterable[Any]) -> None:
        """``UpdateSubscriptions``: the tracks the session wants from now on."""
        wanted = {
            (detail.session_id, int(detail.track_type))
            for detail in details
            if detail.session_id != session.session_id
        }
        session.subscriptions = set(sorted(wanted)[: self.limits.max_subscriptions])
        self._sync(session)

    def answer(self, session: SfuSession, peer_type: int, sdp: str) -> bool:
        """``SendAnswer``: the client's answer to the subscriber offer."""
        if peer_type != models_pb2.PEER_TYPE_SUBSCRIBER or session.subscriber is None:
            return False
        return session.subscriber.answered(sdp)

    async def trickle(self, session: SfuSession, peer_type: int, candidate: str) -> None:
        """``IceTrickle``: one ICE candidate (JSON, as browsers send it) for one connection."""
        peer = (
            session.subscriber
            if peer_type == models_pb2.PEER_TYPE_SUBSCRIBER
            else session.publisher
        )
        fields = json.loads(candidate)
        if peer is None or not isinstance(fields, dict) or not fields.get("candidate"):
            return
        ice = candidate_from_aioice(aioice.Candidate.from_sdp(str(fields["candidate"])))
        ice.sdpMid = fields.get("sdpMid")
        ice.sdpMLineIndex = fields.get("sdpMLineIndex")
        await peer.pc.addIceCandidate(ice)

    def _announce(self, session: SfuSession, track_type: int) -> None:
        session.published.append(track_type)
        event = events_pb2.TrackPublished(
            user_id=session.user_id,
            session_id=session.session_id,
            type=track_type,
            participant=session.participant(),
        )
        self.broadcast(encode(track_published=event), skip=session)
        for other in self.sessions.values():
            self._sync(other)

    def _republished(self, publisher: SfuSession, track_type: int) -> None:
        feed = publisher.feeds[track_type]
        for other in self.sessions.values():
            outbound = other.outbound.get((publisher.session_id, track_type))
            if outbound is not None:
                outbound.switch(feed.tap())
            self._sync(other)

    async def _renew_media(self, session: SfuSession) -> None:
        for outbound in session.outbound.values():
            outbound.stop()
        session.outbound.clear()
        old_publisher, old_subscriber = session.publisher, session.subscriber
        session.publisher = None
        session.subscriber = SubscriberPeer(session.send_offer, self.limits.answer_timeout)
        session.retired.extend(session.feeds.values())
        session.feeds.clear()
        for peer in (old_publisher, old_subscriber):
            if peer is not None:
                with contextlib.suppress(Exception):
                    await peer.close()
        self._sync(session)

    def _sync(self, session: SfuSession) -> None:
        """Make the tracks sent to ``session`` match its subscriptions and what is published."""
        subscriber = session.subscriber
        for key in list(session.outbound):
            publisher = self.sessions.get(key[0])
            if (
                key not in session.subscriptions
                or publisher is None
                or key[1] not in publisher.published
            ):
                session.outbound.pop(key).stop()
        if subscriber is None:
            return
        for key in sorted(session.subscriptions - session.outbound.keys()):
            publisher = self.sessions.get(key[0])
            if publisher is None or key[1] not in publisher.published:
                continue
            feed = publisher.feeds.get(key[1])
            if feed is None:
                continue
            track_id = f"{publisher.prefix}:{key[1]}:{next(_ids)}"
            outbound = Outbound(feed.remote.kind, track_id, feed.tap())
            session.outbound[key] = outbound
            subscriber.add(outbound)
