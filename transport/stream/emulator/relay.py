"""The emulated SFU's media: one publisher and one subscriber peer connection per session.

As on Stream, a client publishes over its publisher connection (it offers with
``SetPublisher``, the SFU answers) and receives over its subscriber connection
(the SFU offers with a ``SubscriberOffer`` event, the client answers with
``SendAnswer``). Each track the SFU receives is a ``Feed``: read all the time
(an unread aiortc video track grows memory) and relayed, decoded and encoded
again by aiortc, to each subscriber as an ``Outbound`` track whose id starts
with the publisher's ``track_lookup_prefix`` (the SDK finds the participant of
a received track by that prefix). Peer connections use no ICE servers: host
candidates only, which is all a machine talking to itself needs. Runs on the
emulator's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from av.frame import Frame
from av.packet import Packet

from transport.local.fanout import Fanout
from transport.local.tracks import EncoderSafeTrack

__all__ = ["Feed", "Outbound", "PublisherPeer", "SubscriberPeer", "peer_connection"]

logger = logging.getLogger(__name__)


def peer_connection() -> RTCPeerConnection:
    """A peer connection with host candidates only (no STUN server to wait for)."""
    return RTCPeerConnection(RTCConfiguration(iceServers=[]))


class Feed:
    """One track a session publishes, as the SFU receives it."""

    def __init__(self, track_type: int, remote: MediaStreamTrack) -> None:
        self.track_type = track_type
        self.remote = remote
        self._fanout = Fanout(remote.kind)
        self._fanout.feed_from(remote)

    @property
    def frames(self) -> int:
        """How many frames the SFU has received on this track."""
        return self._fanout.frames

    def tap(self) -> MediaStreamTrack:
        """A new copy of the track for one subscriber (frames as they come, none buffered)."""
        copy = self._fanout.subscribe()
        return EncoderSafeTrack(copy) if self.remote.kind == "video" else copy

    async def stop(self) -> None:
        """Stop reading the track (its copies end)."""
        await self._fanout.stop()


class Outbound(MediaStreamTrack):
    """A feed on its way to one subscriber, under the id the SDK reads the publisher from.

    ``switch`` moves it to another source (the publisher republished after a
    reconnect or a migration) without the subscriber seeing a new track; while
    its source has ended and no other has come, it sends nothing.
    """

    def __init__(self, kind: str, track_id: str, source: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = kind
        self._track_id = track_id
        self._source = source
        self._changed = asyncio.Event()

    @property
    def id(self) -> str:
        return self._track_id

    async def recv(self) -> Frame | Packet:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            source = self._source
            try:
                return await source.recv()
            except MediaStreamError:
                if self._source is source:
                    self._changed.clear()
                    await self._changed.wait()

    def switch(self, source: MediaStreamTrack) -> None:
        """Read ``source`` from now on."""
        old, self._source = self._source, source
        old.stop()
        self._changed.set()

    def stop(self) -> None:
        super().stop()
        self._source.stop()
        self._changed.set()


class PublisherPeer:
    """The SFU's end of a session's publisher connection."""

    def __init__(self) -> None:
        self.pc = peer_connection()

    async def answer(self, offer: str) -> str:
        """Answer the client's offer (a first one or a renegotiation); the answer's SDP."""
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        return str(self.pc.localDescription.sdp)

    def received(self) -> dict[str, MediaStreamTrack]:
        """The tracks the client sends, by the track id its SDP announced."""
        tracks: dict[str, MediaStreamTrack] = {}
        for transceiver in self.pc.getTransceivers():
            track = transceiver.receiver.track
            if track is not None:
                tracks[track.id] = track
        return tracks

    async def close(self) -> None:
        """Close the connection."""
        await self.pc.close()


class SubscriberPeer:
    """The SFU's end of a session's subscriber connection: it offers, the client answers.

    ``send_offer`` hands an offer's SDP to the session's websocket (as a
    ``SubscriberOffer`` event); ``answered`` takes the client's ``SendAnswer``.
    Changes made while a negotiation runs are folded into the next one.
    """

    def __init__(self, send_offer: Callable[[str], None], answer_timeout: float) -> None:
        self.pc = peer_connection()
        self._send_offer = send_offer
        self._answer_timeout = answer_timeout
        self._answer: asyncio.Future[str] | None = None
        self._again = False
        self._task: asyncio.Task[None] | None = None

    def add(self, track: Outbound) -> None:
        """Send ``track`` to the client (negotiated soon after)."""
        self.pc.addTransceiver(track, direction="sendonly")
        self.negotiate()

    def negotiate(self) -> None:
        """Offer the connection's current tracks to the client (now, or after the running offer)."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.get_running_loop().create_task(self._negotiate())

    def answered(self, sdp: str) -> bool:
        """The client's answer to the pending offer; false if no offer was waiting for one."""
        if self._answer is None or self._answer.done():
            return False
        self._answer.set_result(sdp)
        return True

    async def _negotiate(self) -> None:
        self._again = True
        while self._again and self.pc.signalingState != "closed":
            self._again = False
            try:
                await self.pc.setLocalDescription(await self.pc.createOffer())
                self._answer = asyncio.get_running_loop().create_future()
                self._send_offer(str(self.pc.localDescription.sdp))
                answer = await asyncio.wait_for(self._answer, self._answer_timeout)
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            except Exception as exc:  # a client's bad answer, or none in time
                logger.info("subscriber negotiation did not finish: %r", exc)
                return
            finally:
                self._answer = None

    async def close(self) -> None:
        """Stop negotiating and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.pc.close()
