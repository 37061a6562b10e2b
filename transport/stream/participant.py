"""``StreamParticipant``: a person in a Stream call, as a real getstream SDK client.

Each is its own SDK ``ConnectionManager`` (run as ``StreamEdge`` runs it:
``transport.stream.sdk.EdgeConnectionManager``) joining the call as a user,
publishing a tone (audio) and a moving pattern (video) through the SDK's
``add_tracks``, and unpublishing the way Stream's clients mute: an
``UpdateMuteStates`` RPC, after which the SFU sends ``TrackUnpublished``. Its
ids follow the edge's forms, so tests and demos can compare them with what an
agent's connection reports. ``StreamEdge.participant()`` makes one with the
edge's client, as ``LocalEdge.participant()`` and ``MemoryEdge.participant()``
do. It works against the emulator and against Stream's service alike. Runs on
its caller's loop, like any SDK client.
"""

from __future__ import annotations

from typing import Any

from messages import NotReadyError, Participant, TrackType
from transport.features import EdgeFeatureError
from transport.local.tracks import PatternTrack, ToneTrack
from transport.stream.sfu_events import participant_id, track_id

__all__ = ["StreamParticipant"]


class StreamParticipant:
    """``user_id`` in call ``call_id`` of the Stream app (or emulator) that ``client`` talks to.

    ``client`` is a getstream ``AsyncStream`` with the app's secret (it signs
    the user's token); the participant does not close it.
    """

    def __init__(self, client: Any, call_id: str, user_id: str, call_type: str = "default") -> None:
        self.client = client
        self.call_id = call_id
        self.user_id = user_id
        self.call_type = call_type
        self.manager: Any = None
        """The SDK ``ConnectionManager`` while joined."""
        self.participant_id: str | None = None
        """The id an agent's connection gives this session (``user__session``), once joined."""
        self._sources: dict[TrackType, Any] = {}

    @property
    def id(self) -> str:
        """The participant id of the session last joined (``NotReadyError`` before a join)."""
        if self.participant_id is None:
            raise NotReadyError(f"{self.user_id} has not joined call {self.call_id}: join() first")
        return self.participant_id

    def _joined(self) -> Any:
        if self.manager is None or not self.manager.running:
            raise NotReadyError(f"{self.user_id} is not in call {self.call_id}: join() first")
        return self.manager

    async def join(self) -> Participant:
        """Join the call through the SDK (coordinator join, then the SFU websocket).

        Returns the participant as an agent's connection sees it.
        """
        if self.manager is not None:
            raise NotReadyError(f"{self.user_id} has already joined call {self.call_id}")
        from transport.stream.sdk import EdgeConnectionManager

        call = self.client.video.call(self.call_type, self.call_id)
        self.manager = EdgeConnectionManager(call, self.user_id, track_types=())
        try:
            await self.manager.open()
        except BaseException:
            manager, self.manager = self.manager, None
            await manager.close()
            raise
        self.participant_id = participant_id(self.manager)
        return Participant(self, self.user_id, self.participant_id)

    async def publish(self, track_type: TrackType) -> str:
        """Publish a synthetic ``AUDIO`` or ``VIDEO`` track; its id as the agent sees it."""
        manager = self._joined()
        if track_type is TrackType.AUDIO:
            source: Any = ToneTrack()
            await manager.add_tracks(audio=source)
        elif track_type is TrackType.VIDEO:
            source = PatternTrack()
            await manager.add_tracks(video=source)
        else:
            msg = f"a getstream SDK client publishes AUDIO and VIDEO only, not {track_type.name}"
            raise EdgeFeatureError(msg)
        self._sources[track_type] = source
        return track_id(self.id, track_type)

    async def unpublish(self, track: str | TrackType) -> None:
        """Stop publishing a track (by its id or type): muted, as Stream's clients do it."""
        from getstream.video.rtc.pb.stream.video.sfu.signal_rpc import signal_pb2

        manager = self._joined()
        kind = track if isinstance(track, TrackType) else TrackType[track.rsplit(":", 1)[1].upper()]
        request = signal_pb2.UpdateMuteStatesRequest(
            session_id=manager.session_id,
            mute_states=[signal_pb2.TrackMuteState(track_type=int(kind), muted=True)],
        )
        await manager.twirp_signaling_client.UpdateMuteStates(
            ctx=manager.twirp_context, request=request, server_path_prefix=""
        )

    async def leave(self) -> None:
        """Leave the call (the SDK closes its websocket; the SFU tells the others)."""
        manager, self.manager = self.manager, None
        if manager is None:
            return
        try:
            await manager.close()
        finally:
            for source in self._sources.values():
                source.stop()
            self._sources.clear()
