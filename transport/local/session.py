"""``Session``: one participant of a local call: its websocket, peer connection and tracks.

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

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from messages import (
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
    Error,
    Leave,
    Offer,
    TrackSpec,
    Unpublish,
    encode,
)

if TYPE_CHECKING:
    from transport.local.edge import LocalEdge

__all__ = ["Session"]

logger = logging.getLogger("transport.local.session")


class Session:
    """The edge's side of one participant; made and driven by ``LocalEdge``."""

    def __init__(
        self,
        edge: LocalEdge,
        call_id: str,
        participant: Participant,
        socket: web.WebSocketResponse,
        *,
        text: bool,
    ) -> None:
        self.edge = edge
        self.call_id = call_id
        self.participant = participant
        self.tracks: dict[str, TrackSpec] = {}
        self._socket = socket
        self._text = text
        self._pc: RTCPeerConnection | None = None
        self._sending: list[MediaStreamTrack] = []  # the agent's tracks, relayed to this one
        self.gone = False

    def __repr__(self) -> str:
        return f"<Session {self.participant.id} in {self.call_id}>"

    async def send(self, frame: EdgeFrame) -> None:
        """Send a frame to this participant (ignored once its socket is closed)."""
        if self._socket.closed:
            return
        data = encode(frame, text=self._text)
        with contextlib.suppress(ConnectionError, RuntimeError):
            if self._text:
                await self._socket.send_str(data.decode())
            else:
                await self._socket.send_bytes(data)

    async def start(self) -> None:
        """Announce the participant to the call."""
        await self.edge._apply(ParticipantJoined(self.call_id, self.participant))

    async def handle(self, frame: Any) -> None:
        """Act on one frame from the participant."""
        if isinstance(frame, Offer):
            await self._offer(frame)
        elif isinstance(frame, Unpublish):
            await self._unpublish(frame)
        elif isinstance(frame, Leave):
            await self.end("left")
            await self.send(Done(frame.seq))
            await self._socket.close()
        else:
            await self.send(
                Error(f"unexpected {type(frame).__name__} frame", getattr(frame, "seq", 0))
            )

    async def _offer(self, frame: Offer) -> None:
        for spec in frame.publish:
            if spec.track_id in self.tracks or not spec.track_id.startswith(self.participant.id):
                await self.send(
                    Error(f"track id {spec.track_id!r} is taken or not yours", frame.seq)
                )
                return
        if self._pc is None:
            self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc = self._pc
        try:
            await pc.setRemoteDescription(RTCSessionDescription(frame.sdp, "offer"))
            for wanted in frame.receive:  # the agent's tracks go out on these
                transceiver = next((t for t in pc.getTransceivers() if t.mid == wanted.mid), None)
                source = self.edge._agent_track_source(self.call_id, wanted.track_id)
                if transceiver is None or source is None:
                    msg = f"cannot send agent track {wanted.track_id!r} on mid {wanted.mid!r}"
                    raise ValueError(msg)
                transceiver.direction = "sendonly"
                transceiver.sender.replaceTrack(source)
                self._sending.append(source)
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as exc:
            logger.info("%s: offer refused: %s", self, exc)
            await self.send(Error(f"offer refused: {exc}", frame.seq))
            return
        receivers = {t.mid: t.receiver.track for t in pc.getTransceivers()}
        for spec in frame.publish:
            track = receivers.get(spec.mid)
            if track is None:
                await self.send(Error(f"no transceiver with mid {spec.mid!r}", frame.seq))
                continue
            self.tracks[spec.track_id] = spec
            self.edge._track_arrived(spec.track_id, track)
            await self.edge._apply(
                TrackAdded(self.call_id, self.participant, spec.track_id, spec.track_type)
            )
        await self.send(Answer(pc.localDescription.sdp, frame.seq))
        await self.edge._roster_changed(self.call_id)

    async def _unpublish(self, frame: Unpublish) -> None:
        spec = self.tracks.pop(frame.track_id, None)
        if spec is None:
            await self.send(Error(f"unknown track {frame.track_id!r}", frame.seq))
            return
        await self.edge._track_gone(spec.track_id)
        await self.edge._apply(
            TrackRemoved(self.call_id, self.participant, spec.track_id, spec.track_type)
        )
        await self.send(Done(frame.seq))
        await self.edge._roster_changed(self.call_id)

    async def end(self, reason: str) -> None:
        """The participant is gone (``left`` or ``dropped``): tell the call, release media."""
        if self.gone:
            return
        self.gone = True
        for track_id in list(self.tracks):
            await self.edge._track_gone(track_id)
        self.tracks.clear()
        await self.edge._session_ended(self, reason)
        await self.edge._apply(ParticipantLeft(self.call_id, self.participant, reason))
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
        """Close the websocket (the edge is shutting down)."""
        with contextlib.suppress(Exception):
            await self._socket.close()
