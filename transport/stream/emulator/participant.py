"""``SdkParticipant``: a person in an emulated call, as a real getstream SDK client.

Each is its own ``ConnectionManager`` (the SDK's, run as ``StreamEdge`` runs it:
``transport.stream.sdk.EdgeConnectionManager``) joining the call
as a user, publishing a tone (audio) and a moving pattern (video) through the
SDK's ``add_tracks``, and unpublishing the way Stream clients mute: an
``UpdateMuteStates`` RPC, after which the SFU sends ``TrackUnpublished``. Its
ids follow the edge's forms, so tests can compare them with what an agent's
connection reports. Runs on its caller's loop, like any SDK client.
"""

from __future__ import annotations

from typing import Any

from messages import TrackType
from transport.local.media import PatternTrack, ToneTrack
from transport.stream.emulator.service import StreamEmulatorError
from transport.stream.emulator.wire import signal_pb2
from transport.stream.sfu import participant_id, track_id

__all__ = ["SdkParticipant"]


class SdkParticipant:
    """``user_id`` in call ``call_id`` of the emulator (or Stream) that ``client`` talks to.

    ``client`` is a getstream ``AsyncStream`` with the app's secret (it signs
    the user's token), e.g. ``StreamEmulator.client()``.
    """

    def __init__(self, client: Any, call_id: str, user_id: str, call_type: str = "default") -> None:
        self.client = client
        self.call_id = call_id
        self.user_id = user_id
        self.call_type = call_type
        self.manager: Any = None
        """The SDK ``ConnectionManager`` once joined."""
        self._sources: dict[TrackType, Any] = {}

    @property
    def id(self) -> str:
        """The participant id an agent's connection gives this session (``user__session``)."""
        return participant_id(self._joined())

    def _joined(self) -> Any:
        if self.manager is None or not self.manager.running:
            raise StreamEmulatorError(f"{self.user_id} is not in call {self.call_id}: join() first")
        return self.manager

    async def join(self) -> SdkParticipant:
        """Join the call through the SDK (coordinator join, then the SFU websocket)."""
        from transport.stream.sdk import EdgeConnectionManager

        call = self.client.video.call(self.call_type, self.call_id)
        self.manager = EdgeConnectionManager(call, self.user_id, track_types=())
        await self.manager.open()
        return self

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
            msg = f"the SDK publishes AUDIO and VIDEO tracks only, not {track_type.name}"
            raise StreamEmulatorError(msg)
        self._sources[track_type] = source
        return track_id(self.id, track_type)

    async def unpublish(self, track: str | TrackType) -> None:
        """Stop publishing a track (by its id or type): muted, as Stream's clients do it."""
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
        await manager.close()
        for source in self._sources.values():
            source.stop()
        self._sources.clear()
