"""The local edge's media: what participants publish, what the agent reads and sends.

A mixin of ``LocalEdge`` (it needs the edge's sessions), apart so that each
module stays one concept: the edge's server, sessions and signaling in
``edge``, its media here. Every received track is decoded only while someone
subscribes (``media_path.gate``), and its decoder hands each frame straight to
every subscriber's copy (a ``Fanout``: no task between them). A video track nobody
subscribes to is not even sent: its publisher is asked to pause it
(``SendTrack``) and to send it again, from a keyframe, for the first
subscriber. The agent's own tracks are offered to every participant of the
call. Everything runs on the edge's loop.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from aiortc import MediaStreamTrack, RTCRtpReceiver
from aiortc.contrib.media import MediaRelay

from messages import MediaHealth, TrackType
from transport._connection import Connection
from transport.local import media_path
from transport.local.fanout import Fanout
from transport.local.session import PeerSession
from transport.local.signaling import AgentTrack, EncodedFrame, Renegotiate, SendTrack
from transport.local.tracks import EncoderSafeTrack

__all__ = ["LocalMedia"]


class LocalMedia:
    """The media half of ``LocalEdge``; see that class."""

    _sessions: dict[str, dict[str, PeerSession]]

    def sessions(self, call_id: str) -> tuple[PeerSession, ...]:
        """The participants connected to ``call_id`` now."""
        return tuple(self._sessions.get(call_id, {}).values())

    def init_media(self) -> None:
        """Start with no tracks (``LocalEdge.__init__`` calls it)."""
        self._relay = MediaRelay()  # the agent's tracks, to each participant
        self._received: dict[str, Fanout] = {}  # participants' tracks, to each subscriber
        self._gates: dict[str, media_path.DecodeGate] = {}  # received tracks, decoded if read
        self._readers: dict[str, int] = {}  # live subscriptions per received track
        self._pausable: dict[str, PeerSession] = {}  # video tracks, by id: who publishes each
        self._agent_tracks: dict[str, dict[str, tuple[MediaStreamTrack, AgentTrack]]] = {}
        self._agent_numbers = itertools.count(1)

    async def release_media(self) -> None:
        """Stop every received and every agent track (the edge is shutting down)."""
        for track_id in list(self._received):
            await self.track_gone(track_id)
        for tracks in self._agent_tracks.values():
            for track, _ in tracks.values():
                track.stop()
        self._agent_tracks.clear()

    def add_track_subscriber(self, track_id: str) -> MediaStreamTrack | None:
        """A track that yields the frames of the received track ``track_id`` (relayed).

        Each call gives a new subscription; read it or stop it. The track is
        decoded only while at least one subscription is live (video restarts
        from a keyframe). ``None`` if no participant publishes ``track_id`` now
        (never published, or unpublished or gone already), as vision-agents'
        ``EdgeTransport`` contract has it. Call it on the edge's loop.
        """
        fanout = self._received.get(track_id)
        if fanout is None:
            return None
        gate = self._gates.get(track_id)
        if gate is not None and not gate.is_open:
            gate.open()  # decoding starts with the first reader (video: from a keyframe)
            self._ask_to_send(track_id, send=True)
        self._readers[track_id] = self._readers.get(track_id, 0) + 1
        return fanout.subscribe(lambda: self._unsubscribed(track_id))

    def media_health(self, call_id: str | None = None) -> tuple[MediaHealth, ...]:
        """Per call: its participants' tracks as this edge receives them (any thread)."""
        calls = [call_id] if call_id is not None else list(self._sessions)
        return tuple(self._call_media(call) for call in calls if call in self._sessions)

    def _call_media(self, call_id: str) -> MediaHealth:
        gates = [
            gate
            for session in list(self._sessions.get(call_id, {}).values())
            for track_id in list(session.tracks)
            if (gate := self._gates.get(track_id)) is not None
        ]
        return MediaHealth(
            call_id,
            tracks=len(gates),
            tracks_decoding=sum(1 for gate in gates if gate.is_open),
            frames_received=sum(gate.received for gate in gates),
            frames_decoded=sum(gate.decoded for gate in gates),
            frames_unread=sum(gate.unread for gate in gates),
            packets_lost=sum(gate.packets_lost for gate in gates),
            decode_backlog=sum(gate.backlog for gate in gates),
        )

    def _unsubscribed(self, track_id: str) -> None:
        readers = self._readers.get(track_id, 0) - 1
        if readers > 0:
            self._readers[track_id] = readers
            return
        self._readers.pop(track_id, None)
        gate = self._gates.get(track_id)
        if gate is not None:
            gate.close()  # nobody reads it: no decoding
            self._ask_to_send(track_id, send=False)

    def _ask_to_send(self, track_id: str, *, send: bool) -> None:
        publisher = self._pausable.get(track_id)
        if publisher is not None:
            publisher.send(SendTrack(track_id, send))

    async def publish_track(
        self, call_id: str, track: MediaStreamTrack, track_type: TrackType | None = None
    ) -> str:
        """Publish the agent's ``track`` into ``call_id``: every participant receives it.

        Participants who join later receive it too. ``track_type`` defaults to
        ``AUDIO`` or ``VIDEO`` by the track's kind. Returns the track's id.
        """
        if track_type is None:
            track_type = TrackType.AUDIO if track.kind == "audio" else TrackType.VIDEO
        track_id = f"agent:{call_id}:{next(self._agent_numbers)}"
        spec = AgentTrack(track_id, track.kind, track_type)
        self._agent_tracks.setdefault(call_id, {})[track_id] = (track, spec)
        frame = EncodedFrame(Renegotiate([spec]))
        for session in self.sessions(call_id):
            session.send(frame)
        return track_id

    async def unpublish_track(self, call_id: str, track_id: str) -> None:
        """Stop sending the agent's track ``track_id`` (participants' copies end)."""
        tracks = self._agent_tracks.get(call_id, {})
        entry = tracks.pop(track_id, None)
        if entry is not None:
            entry[0].stop()
        if not tracks:
            self._agent_tracks.pop(call_id, None)

    async def publish_tracks(
        self, connection: Connection, *, audio: Any = None, video: Any = None
    ) -> tuple[str, ...]:
        """``publish_track`` each of the agent's tracks into the connection's call; their ids."""
        return tuple(
            [
                await self.publish_track(connection.call.id, track)
                for track in (audio, video)
                if track is not None and not connection.closed
            ]
        )

    async def unpublish_tracks(self, connection: Connection, track_ids: Iterable[str]) -> None:
        """``unpublish_track`` each of ``track_ids`` in the connection's call."""
        for track_id in track_ids:
            await self.unpublish_track(connection.call.id, track_id)

    def agent_track_source(self, call_id: str, track_id: str) -> MediaStreamTrack | None:
        entry = self._agent_tracks.get(call_id, {}).get(track_id)
        if entry is None:
            return None
        copy = self._relay.subscribe(entry[0], buffered=False)
        return EncoderSafeTrack(copy) if copy.kind == "video" else copy

    def track_arrived(
        self, track_id: str, receiver: RTCRtpReceiver, publisher: PeerSession
    ) -> None:
        """``publisher``'s track ``track_id`` arrived: keep it for subscribers.

        It is not decoded until someone subscribes (``add_track_subscriber``);
        a video track is paused at its publisher until then.
        """
        fanout = self._received[track_id] = Fanout(receiver.track.kind)
        gate = media_path.gate(receiver)
        if gate is None:  # aiortc decodes it already: read all it yields (unread, it piles up)
            fanout.feed_from(receiver.track)
        else:
            gate.deliver_to(fanout.push)
            self._gates[track_id] = gate
            if receiver.track.kind == "video":  # audio is cheap and must not clip: it flows
                self._pausable[track_id] = publisher
                self._ask_to_send(track_id, send=False)

    async def track_gone(self, track_id: str) -> None:
        """A participant's track ended (unpublished, or its session ended): release it."""
        self._readers.pop(track_id, None)
        self._pausable.pop(track_id, None)
        gate = self._gates.pop(track_id, None)
        if gate is not None:
            gate.close()
        fanout = self._received.pop(track_id, None)
        if fanout is not None:
            await fanout.stop()
