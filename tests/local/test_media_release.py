"""Received tracks are released when their peer goes, even if they never carried a frame.

aiortc ends a received track only once its decoder has run: a track that never
got a packet would keep whatever reads it waiting forever. Real peers on
loopback, each publishing a track whose source never yields a frame.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("aiortc")

from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError

from transport import Connection, TrackPublished, TrackType
from transport.local import LocalEdge

LIMIT = 15.0


class Mute(MediaStreamTrack):
    """An audio source that yields no frame until it is stopped (then it ends, as tracks do)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._stopped = asyncio.get_running_loop().create_future()

    async def recv(self) -> Any:
        await asyncio.shield(self._stopped)
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        if not self._stopped.done():
            self._stopped.set_result(None)


async def _every_task_ended(before: set[asyncio.Task[Any]]) -> None:
    left = asyncio.all_tasks() - before - {asyncio.current_task()}
    if left:
        await asyncio.wait(left)


async def test_a_track_that_never_sent_a_frame_is_released_when_its_peer_leaves(
    edge: LocalEdge, connection: Connection
) -> None:
    before = asyncio.all_tasks()
    person = edge.participant("room", "mia")
    await person.join()
    async with asyncio.timeout(LIMIT):
        track_id = await person.publish(TrackType.AUDIO, Mute())
        await connection.wait_for(TrackPublished(TrackType.AUDIO, user_id="mia"))
        copy = edge.add_track_subscriber(track_id)
        assert copy is not None
        reading = asyncio.ensure_future(copy.recv())  # waits: no frame will come
        await person.leave()
        with pytest.raises(MediaStreamError):  # the track ended with its peer
            await reading
        await _every_task_ended(before)


async def test_an_agent_track_that_never_sent_a_frame_is_released_when_the_receiver_leaves(
    edge: LocalEdge, connection: Connection
) -> None:
    before = asyncio.all_tasks()
    track_id = await edge.publish_track("room", Mute())
    person = edge.participant("room", "noa")
    await person.join()
    async with asyncio.timeout(LIMIT):
        copy = await person.agent_track(track_id)  # negotiated; no frame will come
        copy.stop()
        await person.leave()
        await edge.unpublish_track("room", track_id)
        await _every_task_ended(before)
