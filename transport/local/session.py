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
from collections import deque
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
from transport.local.signaling import (
    Answer,
    Done,
    EdgeFrame,
    ErrorFrame,
    Leave,
    Offer,
    TrackSpec,
    Unpublish,
    encode,
)

if TYPE_CHECKING:
    from transport.local.limits import LocalLimits


class PeerSessionHost(Protocol):
    """What a ``PeerSession`` needs of its edge (``LocalEdge`` is one); called on its loop."""

    async def apply(self, message: Message) -> None:
        """Deliver a protocol message to the call's connections; return once handled."""
        ...

    def agent_track_source(self, call_id: str, track_id: str) -> MediaStreamTrack | None:
        """A fresh copy of the agent's track ``track_id`` to send to one participant."""
        ...

    def track_arrived(self, track_id: str, receiver: RTCRtpReceiver) -> None:
        """A participant's track arrived at ``receiver``; the host keeps and drains it."""
        ...

    async def track_gone(self, track_id: str) -> None:
        """A participant's track ended."""
        ...

    async def session_ended(self, session: PeerSession, reason: str) -> None:
        """The session is over."""
        ...

    async def roster_changed(self, call_id: str) -> None:
        """Tell the call's participants who is there."""
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
        self._outbox: deque[bytes] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._refused = 0
        self.gone = False
        self.cut = False  # aborted: the peer missed a deadline or a cap

    def __repr__(self) -> str:
        return f"<PeerSession {self.participant.id} in {self.call_id}>"

    async def send(self, frame: EdgeFrame) -> None:
        """Queue a frame for this participant; it never waits for the peer.

        Frames go out in order from the session's own writer task. A peer that
        lets ``max_outbox`` frames pile up, or does not take one within
        ``send_timeout``, has stopped reading: it is dropped. Ignored once the
        socket is closed.
        """
        if self._socket.closed or self.cut:
            return
        if isinstance(frame, ErrorFrame):
            self._refused += 1
            if self._refused > self.limits.max_refused:
                logger.info("%s: %d frames refused; dropping the peer", self, self._refused - 1)
                self.abort()
                return
        if len(self._outbox) >= self.limits.max_outbox:
            logger.info("%s: %d frames unread; dropping the peer", self, len(self._outbox))
            self.abort()
            return
        self._outbox.append(encode(frame, text=self._text))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())

    async def _write(self) -> None:
        outbox, socket = self._outbox, self._socket
        try:
            while outbox and not socket.closed:
                data = outbox.popleft()
                try:
                    async with asyncio.timeout(self.limits.send_timeout):
                        if self._text:
                            await socket.send_str(data.decode())
                        else:
                            await socket.send_bytes(data)
                except TimeoutError:
                    logger.info("%s: the peer stopped reading; dropping it", self)
                    self.abort()
                    return
                except (ConnectionError, RuntimeError) as exc:
                    logger.debug("%s: send failed, the peer is going: %r", self, exc)
                    return
        finally:
            self._writer = None
            outbox.clear()

    def abort(self) -> None:
        """Cut the peer's connection at once (no flush): it has missed a deadline or a cap.

        Its websocket reader then ends and the session ends as ``dropped``.
        """
        self.cut = True
        self._outbox.clear()
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.abort()

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
            await self.send(Done(frame.seq))
            await self.close_socket()
        else:
            await self.send(
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
            await self.send(ErrorFrame(f"offer refused: {refusal}", frame.seq))
            return
        if self._pc is None:
            self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc = self._pc
        try:
            await pc.setRemoteDescription(RTCSessionDescription(frame.sdp, "offer"))
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
            await self.send(ErrorFrame(f"offer refused: {exc}", frame.seq))
            return
        receivers = {t.mid: t.receiver for t in pc.getTransceivers()}
        for spec in frame.publish:
            receiver = receivers.get(spec.mid)
            if receiver is None:
                await self.send(ErrorFrame(f"no transceiver with mid {spec.mid!r}", frame.seq))
                continue
            self.tracks[spec.track_id] = spec
            self.edge.track_arrived(spec.track_id, receiver)
            await self.edge.apply(
                TrackAdded(self.call_id, self.participant, spec.track_id, spec.track_type)
            )
        await self.send(Answer(pc.localDescription.sdp, frame.seq))
        await self.edge.roster_changed(self.call_id)

    async def _unpublish(self, frame: Unpublish) -> None:
        spec = self.tracks.pop(frame.track_id, None)
        if spec is None:
            await self.send(ErrorFrame(f"unknown track {frame.track_id!r}", frame.seq))
            return
        await self.edge.track_gone(spec.track_id)
        await self.edge.apply(
            TrackRemoved(self.call_id, self.participant, spec.track_id, spec.track_type)
        )
        await self.send(Done(frame.seq))
        await self.edge.roster_changed(self.call_id)

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
                writer = self._writer
                if writer is not None:
                    await asyncio.shield(writer)
                await self._socket.close()
        except Exception:  # the peer does not take its last frames or the close
            self.abort()
