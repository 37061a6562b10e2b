"""``PeerSession``: one participant of a local call: its websocket, peer connection and tracks.

A session is made when a websocket sends a valid ``Join``; it turns the frames
that follow into mailbox messages through its ``LocalEdge`` and answers each
one once the call's connection actors have handled it (presence published; event
handlers are never waited for, so a slow handler delays no peer). Presence is tied to the
websocket: when it closes without a ``Leave`` the participant leaves with
reason ``dropped`` (within milliseconds of the socket closing; a peer that
vanishes without closing is found by the websocket heartbeat, within two
heartbeat intervals). Everything runs on the edge's loop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpReceiver,
    RTCSessionDescription,
)

from messages import (
    Message,
    Participant,
    ParticipantJoined,
    ParticipantLeft,
    TrackAdded,
    TrackRemoved,
    TrackType,
)
from transport.local import media_path
from transport.local.outbox import Flusher, Outbox, SendCounts
from transport.local.signaling import (
    Answer,
    Done,
    EdgeFrame,
    EncodedFrame,
    ErrorFrame,
    Leave,
    Offer,
    RosterEntry,
    TrackSpec,
    Unpublish,
)

if TYPE_CHECKING:
    from transport.local.limits import LocalLimits
    from transport.local.roster import CallRoster


class PeerSessionHost(Protocol):
    """What a ``PeerSession`` needs of its edge (``LocalEdge`` is one); called on its loop."""

    async def apply(self, message: Message) -> None:
        """Deliver a protocol message to the call's connections; return once handled."""
        ...

    def agent_track_source(self, call_id: str, track_id: str) -> MediaStreamTrack | None:
        """A fresh copy of the agent's track ``track_id`` to send to one participant."""
        ...

    def track_arrived(
        self, track_id: str, receiver: RTCRtpReceiver, publisher: PeerSession
    ) -> None:
        """``publisher``'s track arrived at ``receiver``; the host keeps and drains it."""
        ...

    async def track_gone(self, track_id: str) -> None:
        """A participant's track ended."""
        ...

    async def session_ended(self, session: PeerSession, reason: str) -> None:
        """The session is over."""
        ...

    def roster_changed(self, session: PeerSession) -> None:
        """``session``'s tracks changed: update its roster entry and tell the call."""
        ...


__all__ = ["PeerSession", "PeerSessionHost"]

logger = logging.getLogger(__name__)


_DIRECTIONS = {  # (the edge sends an agent track, the edge receives a published track)
    (True, True): "sendrecv",
    (True, False): "sendonly",
    (False, True): "recvonly",
    (False, False): "inactive",
}


class PeerSession:
    """The edge's side of one participant; made and driven by ``LocalEdge``."""

    def __init__(
        self,
        edge: PeerSessionHost,
        call_id: str,
        participant: Participant,
        socket: web.WebSocketResponse,
        *,
        text: bool,
        limits: LocalLimits,
        counts: SendCounts,
        flusher: Flusher,
        transport: asyncio.Transport | None = None,
    ) -> None:
        self.edge = edge
        self.call_id = call_id
        self.participant = participant
        self.tracks: dict[str, TrackSpec] = {}
        self.limits = limits
        self._socket = socket
        self._transport = transport
        self._text = text
        self._pc: RTCPeerConnection | None = None
        self._sending: list[MediaStreamTrack] = []  # the agent's tracks, relayed to this one
        self._receive_mids: set[str] = set()  # transceivers carrying the agent's tracks
        self.outbox = Outbox(
            socket,
            transport,
            text=text,
            limits=limits,
            counts=counts,
            flusher=flusher,
            name=repr(self),
        )
        """The frames on their way to this participant (see ``transport.local.outbox``)."""
        self._refused = 0
        self.gone = False

    def __repr__(self) -> str:
        return f"<PeerSession {self.participant.id} in {self.call_id}>"

    @property
    def cut(self) -> bool:
        """The peer was cut for breaking a limit (``outbox.cut_reason`` says which)."""
        return self.outbox.cut_reason is not None

    def send(self, frame: EdgeFrame | EncodedFrame) -> None:
        """Queue a frame that must arrive (not a roster: see ``follow``); never waits.

        Frames go out in order from the session's own writer task. A peer that
        lets ``max_outbox`` of them pile up, or reads nothing for ``send_timeout``,
        is dropped; so is one that had more than ``max_refused`` frames refused.
        Ignored once the socket is closed.
        """
        if self._socket.closed or self.cut:
            return
        encoded = frame if isinstance(frame, EncodedFrame) else EncodedFrame(frame)
        if isinstance(encoded.frame, ErrorFrame):
            self._refused += 1
            if self._refused > self.limits.max_refused:
                self.abort("max_refused", f"{self._refused - 1} frames refused")
                return
        self.outbox.put(encoded)

    def follow(self, roster: CallRoster) -> None:
        """Keep this participant's copy of ``roster`` current, from a snapshot on."""
        self.outbox.follow(roster)

    def entry(self) -> RosterEntry:
        """This participant's roster entry: who it is and the types of its tracks."""
        participant = self.participant
        return RosterEntry(participant.user_id, participant.id, self.track_types())

    def abort(self, reason: str = "send_timeout", detail: str = "the peer is stuck") -> None:
        """Cut the peer's connection at once (no flush): it broke the limit ``reason``.

        Its websocket reader then ends and the session ends as ``dropped``.
        """
        self.outbox.cut(reason, detail)

    async def start(self) -> None:
        """Announce the participant to the call."""
        await self.edge.apply(ParticipantJoined(self.call_id, self.participant))

    async def handle(self, frame: Any) -> None:
        """Act on one frame from the participant."""
        if isinstance(frame, Offer):
            await self._offer(frame)
        elif isinstance(frame, Unpublish):
            await self._unpublish(frame)
        elif isinstance(frame, Leave):
            await self.end("left")
            self.send(Done(frame.seq))
            await self.close_socket()
        else:
            self.send(
                ErrorFrame(f"unexpected {type(frame).__name__} frame", getattr(frame, "seq", 0))
            )

    def _refusal(self, frame: Offer) -> str | None:
        """Why ``frame`` is refused, or ``None``: caps and one track per transceiver."""
        limits = self.limits
        new_ids = [spec.track_id for spec in frame.publish]
        if len(set(new_ids)) != len(new_ids):
            return "the offer names a track id twice"
        # A transceiver carries at most one track each way: one published, one received.
        published = [spec.mid for spec in frame.publish]
        received = [spec.mid for spec in frame.receive]
        publishing = {spec.mid for spec in self.tracks.values()}
        if len(set(published)) != len(published) or publishing.intersection(published):
            return "the offer publishes more than one track on a transceiver (mid)"
        if len(set(received)) != len(received) or self._receive_mids.intersection(received):
            return "the offer receives more than one agent track on a transceiver (mid)"
        for track_id in new_ids:
            if track_id in self.tracks or not track_id.startswith(f"{self.participant.id}:"):
                return f"track id {track_id!r} is taken or not yours"
        if len(self.tracks) + len(new_ids) > limits.max_tracks:
            return f"a participant publishes at most {limits.max_tracks} tracks at once"
        if len(self._sending) + len(frame.receive) > limits.max_receive:
            return f"a participant receives at most {limits.max_receive} agent tracks at once"
        sections = frame.sdp.count("\nm=") + frame.sdp.startswith("m=")
        if sections > limits.max_tracks + limits.max_receive:
            return f"the offer has {sections} media sections; too many for one participant"
        return None

    async def _offer(self, frame: Offer) -> None:
        refusal = self._refusal(frame)
        if refusal is not None:
            logger.info("%s: offer refused: %s", self, refusal)
            self.send(ErrorFrame(f"offer refused: {refusal}", frame.seq))
            return
        if self._pc is None:
            self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc = self._pc
        published = {spec.mid for spec in frame.publish}
        try:
            await pc.setRemoteDescription(RTCSessionDescription(frame.sdp, "offer"))
            for received in pc.getTransceivers():
                if received.mid in published:
                    # Before the answer, which starts the receiver of a connected peer.
                    media_path.gate(received.receiver)
            for wanted in frame.receive:  # the agent's tracks go out on these
                transceiver = next((t for t in pc.getTransceivers() if t.mid == wanted.mid), None)
                source = self.edge.agent_track_source(self.call_id, wanted.track_id)
                if transceiver is None or source is None:
                    msg = f"cannot send agent track {wanted.track_id!r} on mid {wanted.mid!r}"
                    raise ValueError(msg)
                transceiver.sender.replaceTrack(source)
                self._sending.append(source)
                self._receive_mids.add(wanted.mid)
            inbound = {s.mid for s in (*self.tracks.values(), *frame.publish)}
            for transceiver in pc.getTransceivers():
                # Media flows only where a track of the call is: the rest is inactive.
                transceiver.direction = _DIRECTIONS[
                    (transceiver.mid in self._receive_mids, transceiver.mid in inbound)
                ]
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            logger.info("%s: offer refused: %s", self, exc)
            self.send(ErrorFrame(f"offer refused: {exc}", frame.seq))
            return
        receivers = {t.mid: t.receiver for t in pc.getTransceivers()}
        for spec in frame.publish:
            receiver = receivers.get(spec.mid)
            if receiver is None:
                self.send(ErrorFrame(f"no transceiver with mid {spec.mid!r}", frame.seq))
                continue
            self.tracks[spec.track_id] = spec
            self.edge.track_arrived(spec.track_id, receiver, self)
            await self.edge.apply(
                TrackAdded(self.call_id, self.participant, spec.track_id, spec.track_type)
            )
        self.send(Answer(pc.localDescription.sdp, frame.seq))
        self.edge.roster_changed(self)

    async def _unpublish(self, frame: Unpublish) -> None:
        spec = self.tracks.pop(frame.track_id, None)
        if spec is None:
            self.send(ErrorFrame(f"unknown track {frame.track_id!r}", frame.seq))
            return
        await self.edge.track_gone(spec.track_id)
        await self.edge.apply(
            TrackRemoved(self.call_id, self.participant, spec.track_id, spec.track_type)
        )
        self.send(Done(frame.seq))
        self.edge.roster_changed(self)

    async def end(self, reason: str) -> None:
        """The participant is gone (``left`` or ``dropped``): tell the call, release media."""
        if self.gone:
            return
        self.gone = True
        for track_id in list(self.tracks):
            await self.edge.track_gone(track_id)
        self.tracks.clear()
        await self.edge.session_ended(self, reason)
        await self.edge.apply(ParticipantLeft(self.call_id, self.participant, reason))
        for source in self._sending:
            source.stop()
        self._sending.clear()
        if self._pc is not None:
            await self._pc.close()
            self._pc = None

    def track_types(self) -> list[TrackType]:
        """The types of the tracks this participant publishes, for the roster."""
        return [spec.track_type for spec in self.tracks.values()]

    async def close_socket(self) -> None:
        """Close the websocket after what is queued, within ``send_timeout``; else cut it."""
        try:
            async with asyncio.timeout(self.limits.send_timeout):
                await self.outbox.flush()
                await self._socket.close()
        except Exception:  # the peer does not take its last frames or the close
            self.abort("send_timeout", "the peer does not take its last frames")
