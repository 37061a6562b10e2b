"""``MediaEdge``: what an edge that carries media offers, checked by type.

``LocalEdge`` carries media itself (aiortc): the agent publishes its own tracks
with ``publish_track``, takes them back with ``unpublish_track``, and reads a
participant's with ``add_track_subscriber``. Code that needs media (the
vision-agents adapter, a host) checks ``isinstance(edge, MediaEdge)`` instead of
guessing with ``getattr``. Called on the edge's loop.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from messages import EdgeActorsError, TrackType

__all__ = ["EdgeFeatureError", "MediaEdge"]


class EdgeFeatureError(EdgeActorsError, NotImplementedError):
    """An edge, or a participant of it, does not offer what was asked of it.

    For example custom events or a demo page on a ``MemoryEdge``, or a screen
    share from a getstream SDK client: the message names the edge and what it
    lacks.
    """


@runtime_checkable
class MediaEdge(Protocol):
    """An edge whose media the agent sends and receives through the edge itself."""

    async def publish_track(
        self, call_id: str, track: Any, track_type: TrackType | None = None
    ) -> str:
        """Send the agent's ``track`` (an aiortc ``MediaStreamTrack``) into ``call_id``; its id."""
        ...

    async def unpublish_track(self, call_id: str, track_id: str) -> None:
        """Stop sending the agent's track ``track_id`` into ``call_id`` (unknown ids: no-op)."""
        ...

    def add_track_subscriber(self, track_id: str) -> Any:
        """A new track yielding the frames of the received track ``track_id``.

        ``None`` if no participant publishes ``track_id`` now (unknown, or
        unpublished already).
        """
        ...

    async def send_custom_event(self, call_id: str, data: dict[str, Any]) -> int:
        """Send a JSON object to every participant of ``call_id``; how many got it."""
        ...
