"""A host on ``StreamEdge``: the edge factory, run in the host's process, against the emulator.

The emulator runs in this (the driver's) process on 127.0.0.1; the host's
``StreamEdge`` reaches it there through the getstream SDK, as a host would
reach Stream. A person joins as a real SDK client; the driver sees them
through ``RemoteConnectionRef.wait_for_participant``, run on the host.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

ray = pytest.importorskip("ray")
pytest.importorskip("getstream.video.rtc")

from messages import ConnectionClosedError  # noqa: E402
from transport.fleet import close_call, place  # noqa: E402
from transport.stream import StreamEdge, StreamParticipant  # noqa: E402
from transport.stream.emulator import StreamEmulator  # noqa: E402

WAIT = 20.0


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stream_host(
    fleet_of: Callable[..., dict[str, Any]],
) -> AsyncIterator[tuple[Any, StreamEmulator]]:
    async with StreamEmulator() as emulator:
        edge = functools.partial(
            StreamEdge, emulator.api_key, emulator.api_secret, base_url=emulator.url
        )
        hosts = await asyncio.to_thread(fleet_of, ("stream-host",), max_sessions=4, edge=edge)
        yield hosts["stream-host"], emulator


@pytest.mark.asyncio(loop_scope="module")
async def test_a_host_on_stream_serves_a_placed_call_to_an_sdk_participant(
    stream_host: tuple[Any, StreamEmulator],
) -> None:
    _, emulator = stream_host
    ref = await place("on-stream", "agent")
    assert ref.url == ""  # Stream's calls are joined through Stream, not at the host
    client = emulator.client()
    carol = StreamParticipant(client, "on-stream", "carol")
    try:
        joined = await carol.join()
        assert await ref.wait_for_participant(timeout=WAIT) == [joined.id]
        view = await ref.presence()
        assert view is not None
        assert view.participants == (joined.id,)
        assert [s.user_id for s in await emulator.sessions("on-stream")] == ["agent", "carol"]
    finally:
        await carol.leave()
        await client.aclose()
    assert await close_call("on-stream")
    with pytest.raises(ConnectionClosedError):
        await ref.wait_for_participant(timeout=WAIT)


@pytest.mark.asyncio(loop_scope="module")
async def test_a_remote_wait_times_out_like_a_local_one(
    stream_host: tuple[Any, StreamEmulator],
) -> None:
    ref = await place("nobody-comes", "agent")
    with pytest.raises(TimeoutError):
        await ref.wait_for_participant(timeout=0.1)
    assert await close_call("nobody-comes")
