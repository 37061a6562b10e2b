"""What an edge offers beyond the contract, declared on ``EdgeTransport.features``.

Generic code (the vision-agents adapter, the fleet, the contract suite) asks
``EdgeFeature.X in edge.features`` instead of probing a particular edge. Each
feature has its hooks on ``EdgeTransport``; an edge that lacks a feature
raises ``EdgeFeatureError`` from them, naming the edge and what it lacks.
"""

from __future__ import annotations

import enum

from messages import EdgeActorsError

__all__ = ["EdgeFeature", "EdgeFeatureError"]


class EdgeFeature(enum.Enum):
    """One capability an edge may declare; the hooks it enables are named with each."""

    PEOPLE = "people"
    """``participant(call_id, user_id)``: a person the edge can put in a call, driven by code."""

    PUBLISH = "publish"
    """``publish_tracks(connection, audio=, video=)``, ``unpublish_tracks``: the agent's media."""

    SUBSCRIBE = "subscribe"
    """``add_track_subscriber(track_id)``: read the frames of a track the call receives."""

    CUSTOM_EVENTS = "custom_events"
    """``send_custom_event(call_id, data)``: a JSON object to everyone in a call."""

    JOIN_URLS = "join_urls"
    """``url``, ``token(call_id, user_id)``, ``join_url(call_id, user_id)``: joining by URL."""

    SDK_CALL = "sdk_call"
    """``sdk_call(connection)``: the provider SDK's own call object behind a connection."""


class EdgeFeatureError(EdgeActorsError, NotImplementedError):
    """An edge, or a participant of it, does not offer what was asked of it.

    For example custom events on a ``MemoryEdge``, or a screen share from a
    getstream SDK client: the message names the edge and what it lacks.
    """

    @classmethod
    def lacking(cls, edge: object, feature: EdgeFeature) -> EdgeFeatureError:
        """The error for ``edge``, which does not declare ``feature``."""
        return cls(
            f"{type(edge).__name__} does not offer {feature.value} "
            f"(its features: {', '.join(sorted(f.value for f in getattr(edge, 'features', ())))})"
        )
