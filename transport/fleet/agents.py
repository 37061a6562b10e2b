"""Small agents for fleets: what a host runs for each call, ready to place.

``greeter`` is the example agent of the fleet demo and tests: it waits for
someone to join, then for their video, then tells everyone in the call which
host it runs on and what it saw, as a custom event (on edges with ``EdgeFeature.CUSTOM_EVENTS``).
Agents are ``async def agent(connection)`` functions; a host runs one per call
on its own loop and ends it when the connection closes.
"""

from __future__ import annotations

import os

from actors.presence import Presence
from messages import TrackType
from transport._connection import Connection
from transport.features import EdgeFeature

__all__ = ["greeter"]

GREETING_WAIT_S = 60.0
"""How long ``greeter`` waits for a participant, then for their video."""


async def greeter(connection: Connection) -> None:
    """Wait for a participant with video; say which host saw it (a custom event); again.

    Returns (and its host closes the call) when nobody comes, or nobody
    publishes video, within ``GREETING_WAIT_S``.
    """
    try:
        while True:
            await connection.wait_for_participant(timeout=GREETING_WAIT_S)
            await connection.wait_for(_has_video, timeout=GREETING_WAIT_S)
            presence = connection.presence
            if EdgeFeature.CUSTOM_EVENTS in connection.edge.features:
                greeting = {
                    "host_pid": os.getpid(),
                    "participants": [p.id for p in presence.participants],
                    "tracks": [t.track_id for t in presence.tracks],
                }
                await connection.edge.send_custom_event(connection.call.id, greeting)
            await connection.wait_for(lambda p: not p.participants)  # then greet the next one
    except TimeoutError:
        return


def _has_video(presence: Presence) -> bool:
    return any(t.track_type is TrackType.VIDEO for t in presence.tracks)
