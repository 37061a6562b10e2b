"""``LocalParticipant``: a Python participant of a local call (aiortc), for tests, demos and load.

It has the same methods as ``MemoryParticipant`` (``join``, ``publish``,
``unpublish``, ``leave``) plus ``drop`` (vanish without leaving), so a test
switches edges by changing one line. Each method returns once the edge has
acted on it and every connection of the call has handled the result. Published
tracks are synthetic (a tone, a moving pattern) unless you pass your own; a
published video track is paused while the edge says nobody reads it
(``SendTrack``, ``is_sending``). The agent's tracks are received automatically
(``agent_track(track_id)``).
``LocalParticipant.connect(url, call_id, token)`` joins from another process.
Run it on an event loop; one participant belongs to one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import aiohttp
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InvalidStateError

from actors.clock import check_seconds
from messages import EdgeActorsError, NotReadyError, Participant, TrackType
from transport.local import media_path
from transport.local.fanout import Fanout
from transport.local.roster import RosterView
from transport.local.signaling import (
    SIGNALING_VERSION,
    AgentTrack,
    Answer,
    Custom,
    Done,
    ErrorFrame,
    Join,
    Joined,
    Leave,
    Offer,
    ReceiveSpec,
    Renegotiate,
    Roster,
    RosterDelta,
    RosterEntry,
    SendTrack,
    SignalingError,
    SignalingVersionError,
    TrackSpec,
    Unpublish,
    decode_edge,
    encode,
)
from transport.local.tracks import PausableTrack, synthetic_track

__all__ = ["FrameRefusedError", "LocalParticipant"]

logger = logging.getLogger(__name__)


class FrameRefusedError(EdgeActorsError, RuntimeError):
    """The edge refused a frame of this participant; the text is the edge's reason."""


class LocalParticipant:
    """One participant session of a local call, driven from Python.

    ``reply_timeout`` bounds each wait on the edge (the connection, then each
    answer to a request): past it the call raises ``TimeoutError``. When the
    edge closes the signaling socket (the session was replaced, cut or the edge
    shut down), the participant releases its peer connection and HTTP session
    by itself, on its loop; ``leave()`` and ``drop()`` then only wait for that.
    """

    def __init__(self, url: str, call_id: str, token: str, *, reply_timeout: float = 10.0) -> None:
        check_seconds("reply_timeout", reply_timeout)
        media_path.install()  # as LocalEdge does: the same levels, cheaper
        self.reply_timeout = reply_timeout
        self.url = url.rstrip("/")
        self.call_id = call_id
        self.token = token
        self.participant_id: str | None = None
        self.roster_view = RosterView()
        """The call's roster as this participant last heard it (the edge's, at its version)."""
        self._roster_changed = asyncio.Event()
        self._sending_changed = asyncio.Event()
        self.tracks: dict[str, TrackType] = {}
        self._sources: dict[str, MediaStreamTrack] = {}
        self._session: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._pc: RTCPeerConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._replies: dict[int, asyncio.Future[Any]] = {}
        self._seq = itertools.count(1)
        self._track_numbers = itertools.count(1)
        self._negotiation = asyncio.Lock()  # one offer at a time
        self._received: dict[str, asyncio.Future[Fanout]] = {}  # the agent's tracks, by id
        self._fanouts: list[Fanout] = []  # every track received, each read all the time
        self._receiving: set[asyncio.Task[None]] = set()
        self._closing = False  # once set, no new negotiation starts (a closed pc stays closed)
        self._closed: asyncio.Task[None] | None = None  # the one close, once begun
        self._custom: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=256)

    def __repr__(self) -> str:
        return f"<LocalParticipant {self.participant_id or '(not joined)'} in {self.call_id}>"

    @classmethod
    async def connect(cls, url: str, call_id: str, token: str) -> LocalParticipant:
        """Join ``call_id`` on the edge at ``url`` with ``token`` (from any process)."""
        participant = cls(url, call_id, token)
        await participant.join()
        return participant

    @property
    def roster(self) -> list[RosterEntry]:
        """Who is in the call, in the order they joined, as this participant last heard."""
        return self.roster_view.participants

    async def wait_for_roster(
        self, predicate: Callable[[list[RosterEntry]], bool], timeout: float | None = None
    ) -> list[RosterEntry]:
        """The roster once ``predicate(roster)`` holds, waiting for roster frames until then.

        ``TimeoutError`` past ``timeout`` seconds (default ``reply_timeout``). On
        the participant's loop; its reader must be running (joined).
        """
        async with asyncio.timeout(self.reply_timeout if timeout is None else timeout):
            while not predicate(roster := self.roster):
                self._roster_changed.clear()
                await self._roster_changed.wait()
        return roster

    async def _request(self, frame: Any) -> Any:
        if self._socket is None or self._socket.closed:
            msg = f"{self} is not connected: call join() first"
            raise NotReadyError(msg)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[frame.seq] = reply
        try:
            async with asyncio.timeout(self.reply_timeout):
                await self._socket.send_bytes(encode(frame))
                result = await reply
        except TimeoutError:
            msg = (
                f"{self}: the edge did not answer {type(frame).__name__} in {self.reply_timeout} s"
            )
            raise TimeoutError(msg) from None
        finally:
            self._replies.pop(frame.seq, None)
        if isinstance(result, ErrorFrame):
            raise FrameRefusedError(result.reason)
        return result

    async def _read(self) -> None:
        assert self._socket is not None
        try:
            async for message in self._socket:
                if message.type is not aiohttp.WSMsgType.BINARY:
                    continue
                try:
                    frame = decode_edge(message.data)
                except SignalingError:
                    logger.warning("%s: unreadable frame from the edge", self)
                    continue
                if isinstance(frame, Roster | RosterDelta):
                    if self.roster_view.apply(frame):
                        self._roster_changed.set()
                    continue
                if isinstance(frame, Custom):
                    if self._custom.full():
                        self._custom.get_nowait()  # keep the newest
                    self._custom.put_nowait(frame.data)
                    continue
                if isinstance(frame, SendTrack):
                    self._on_send_track(frame)
                    continue
                if isinstance(frame, Renegotiate):
                    if self._closing:
                        continue  # leaving: there is nothing to receive into
                    task = asyncio.get_running_loop().create_task(self._receive(frame.tracks))
                    self._receiving.add(task)
                    task.add_done_callback(self._receiving.discard)
                    continue
                reply = self._replies.pop(getattr(frame, "seq", 0), None)
                if reply is not None and not reply.done():
                    reply.set_result(frame)
        finally:
            closed = ConnectionResetError("the edge closed the signaling socket")
            for reply in self._replies.values():
                if not reply.done():
                    reply.set_exception(closed)
            self._replies.clear()
            if self._closed is None:  # the edge ended the session: release what is ours
                self._closed = asyncio.get_running_loop().create_task(self._release())

    def _on_send_track(self, frame: SendTrack) -> None:
        source = self._sources.get(frame.track_id)
        if isinstance(source, PausableTrack):
            source.paused = not frame.send
            self._sending_changed.set()

    def is_sending(self, track_id: str) -> bool:
        """Whether this participant sends its track ``track_id`` now.

        ``False`` while the edge has it paused (a video track nobody reads), or
        if it is not published. On the participant's loop.
        """
        source = self._sources.get(track_id)
        return source is not None and not (isinstance(source, PausableTrack) and source.paused)

    async def wait_until_sending(
        self, track_id: str, sending: bool = True, timeout: float | None = None
    ) -> None:
        """Return once ``is_sending(track_id)`` is ``sending``, as the edge asks.

        ``TimeoutError`` past ``timeout`` seconds (default ``reply_timeout``). On
        the participant's loop; its reader must be running (joined).
        """
        async with asyncio.timeout(self.reply_timeout if timeout is None else timeout):
            while self.is_sending(track_id) is not sending:
                self._sending_changed.clear()
                await self._sending_changed.wait()

    async def custom_event(self) -> dict[str, Any]:
        """The next custom event the agent sent (``send_custom_event``), waiting for one.

        Up to 256 unread events are kept; older ones are dropped past that.
        """
        return await self._custom.get()

    async def join(self) -> Participant:
        """Connect the signaling socket and join the call; returns the participant."""
        if self._socket is not None:
            msg = f"{self} has already joined"
            raise NotReadyError(msg)
        self._session = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self.reply_timeout):
                self._socket = await self._session.ws_connect(
                    f"{self.url}/ws/{quote(self.call_id)}", heartbeat=2.0
                )
            self._reader = asyncio.get_running_loop().create_task(self._read())
            joined: Joined = await self._request(
                Join(self.token, next(self._seq), SIGNALING_VERSION)
            )
            if joined.version != SIGNALING_VERSION:
                msg = (
                    f"the edge speaks signaling version {joined.version} and this client "
                    f"{SIGNALING_VERSION}: upgrade edge-actors on one side"
                )
                raise SignalingVersionError(msg)
        except BaseException:
            await self._close()
            raise
        self.participant_id = joined.participant_id
        return Participant(self, self._user_id(), joined.participant_id)

    def _user_id(self) -> str:
        return (self.participant_id or "").rsplit("__", 1)[0]

    async def publish(self, track_type: TrackType, track: MediaStreamTrack | None = None) -> str:
        """Publish a track of ``track_type`` (synthetic unless ``track`` is given); its id."""
        if self.participant_id is None:
            msg = f"{self} has not joined"
            raise NotReadyError(msg)
        source = track if track is not None else synthetic_track(track_type)
        if source.kind == "video":
            source = PausableTrack(source)  # the edge pauses what nobody reads
        async with self._negotiation:
            pc = self._peer()
            sender = pc.addTrack(source)
            await pc.setLocalDescription(await pc.createOffer())
            transceiver = next(t for t in pc.getTransceivers() if t.sender is sender)
            assert transceiver.mid is not None
            track_id = f"{self.participant_id}:{next(self._track_numbers)}"
            spec = TrackSpec(transceiver.mid, track_id, track_type)
            self._sources[track_id] = source  # known before the answer: SendTrack may precede it
            answer: Answer = await self._request(
                Offer(pc.localDescription.sdp, [spec], [], next(self._seq))
            )
            await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        self.tracks[track_id] = track_type
        return track_id

    def _peer(self) -> RTCPeerConnection:
        if self._pc is None:
            self._pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        return self._pc

    async def _receive(self, tracks: list[AgentTrack]) -> None:
        """Offer receive-only transceivers for the agent's ``tracks`` (the edge asked)."""
        for wanted in tracks:
            self._received.setdefault(wanted.track_id, asyncio.get_running_loop().create_future())
        try:
            async with self._negotiation:
                if self._closing:
                    return
                pc = self._peer()
                added = [(pc.addTransceiver(t.kind, direction="recvonly"), t) for t in tracks]
                await pc.setLocalDescription(await pc.createOffer())
                specs = [ReceiveSpec(str(tr.mid), t.track_id) for tr, t in added]
                answer: Answer = await self._request(
                    Offer(pc.localDescription.sdp, [], specs, next(self._seq))
                )
                await pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        except (FrameRefusedError, ConnectionResetError, RuntimeError, InvalidStateError) as exc:
            # InvalidStateError: the peer connection closed under the negotiation.
            log = logger.debug if self._closing else logger.warning
            log("%s: cannot receive the agent's tracks: %r", self, exc)
            return
        for transceiver, wanted in added:
            fanout = Fanout(transceiver.receiver.track.kind)
            fanout.feed_from(transceiver.receiver.track)  # unread, an aiortc track piles up
            self._fanouts.append(fanout)
            waiter = self._received[wanted.track_id]
            if not waiter.done():
                waiter.set_result(fanout)

    async def agent_track(self, track_id: str) -> MediaStreamTrack:
        """The agent's track ``track_id`` as this participant receives it (a new subscription).

        Waits until the edge has offered it; read the track or stop it.
        """
        waiter = self._received.setdefault(track_id, asyncio.get_running_loop().create_future())
        fanout = await asyncio.shield(waiter)
        return fanout.subscribe()

    async def unpublish(self, track_id: str) -> None:
        """Stop publishing ``track_id`` (aiortc cannot remove a track: this is signalled)."""
        await self._request(Unpublish(track_id, next(self._seq)))
        self.tracks.pop(track_id, None)
        source = self._sources.pop(track_id, None)
        if source is not None:
            source.stop()

    async def leave(self) -> None:
        """Leave the call (reason ``left``) and close everything."""
        with contextlib.suppress(ConnectionResetError):
            done: Done = await self._request(Leave(next(self._seq)))
            del done
        await self._close()

    async def drop(self) -> None:
        """Vanish without leaving, as a crashed client would (reason ``dropped``)."""
        await self._close()

    async def _close(self) -> None:
        """Release everything (once; a second caller waits for the first close)."""
        if self._closed is None:
            self._closed = asyncio.get_running_loop().create_task(self._release())
        await asyncio.shield(self._closed)

    async def _release(self) -> None:
        self._closing = True
        receiving = list(self._receiving)
        for task in receiving:
            task.cancel()
        # Ended before the peer connection closes: none may make a new one after.
        await asyncio.gather(*receiving, return_exceptions=True)
        for fanout in self._fanouts:
            await fanout.stop()
        self._fanouts.clear()
        for source in self._sources.values():
            source.stop()
        self._sources.clear()
        if self._pc is not None:
            await self._pc.close()
            self._pc = None
        if self._socket is not None:
            await self._socket.close()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self._session is not None:
            await self._session.close()
            self._session = None
