"""Custom call events through the SDK's own ``send_call_event``, against the emulator's route.

The emulator stands in for Stream's servers, which cannot run here: its route
takes ``POST /api/v2/video/call/{type}/{id}/event`` as Stream's API does and
fans the event out on the coordinator websockets watching the call, where
another SDK connection hears it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from getstream.exceptions import StreamApiException

from tests.stream.conftest import AGENT, LIMIT
from transport import CustomEventError, EdgeFeature, NotReadyError, User
from transport.stream import StreamEdge
from transport.stream.emulator import StreamEmulator


async def test_an_agents_custom_event_reaches_another_sdk_connection_in_the_call(
    edge: StreamEdge, emulator: StreamEmulator
) -> None:
    assert EdgeFeature.CUSTOM_EVENTS in edge.features
    await edge.authenticate(AGENT)
    call = await edge.create_call("events")
    await edge.join(AGENT, call)
    listener = await edge.join(User("listener"), call)
    # The SDK may subscribe its event websocket to the call after join() returns: Stream
    # sends a call's events to whoever watches it when they are sent.
    await asyncio.wait_for(emulator.watching("events", "listener"), LIMIT)
    heard: asyncio.Queue[Any] = asyncio.Queue()
    loop = asyncio.get_running_loop()  # the SDK's websocket client reads in a thread of its own
    edge.manager(listener).on("custom", lambda e: loop.call_soon_threadsafe(heard.put_nowait, e))
    await edge.send_custom_event("events", {"slide": 3})
    event = await asyncio.wait_for(heard.get(), LIMIT)
    custom = event["custom"] if isinstance(event, dict) else event.custom
    assert custom == {"slide": 3}


async def test_a_custom_event_needs_a_connection_in_the_call_and_a_json_object(
    edge: StreamEdge,
) -> None:
    with pytest.raises(NotReadyError, match="join it first"):
        await edge.send_custom_event("nobody-here", {"a": 1})
    with pytest.raises(CustomEventError):
        await edge.send_custom_event("nobody-here", ["not", "an", "object"])  # type: ignore[arg-type]


async def test_the_emulator_refuses_a_server_side_event_without_a_sender(
    emulator: StreamEmulator,
) -> None:
    edge = emulator.edge()
    try:
        await edge.authenticate(AGENT)
        call = await edge.create_call("unsigned")
        with pytest.raises(StreamApiException, match="user_id or user") as refused:
            await call.sdk_call.send_call_event(custom={"a": 1})
        assert refused.value.status_code == 400
    finally:
        await edge.close()
