"""What Stream refuses reaches the caller as our errors, with Stream's reason (emulated).

The emulator stands in for Stream's servers, which cannot run here: it refuses
what Stream's API refuses, with the same status codes.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.stream.conftest import AGENT
from transport.stream import (
    StreamCredentialsError,
    StreamEdge,
    StreamJoinError,
    StreamRequestError,
)
from transport.stream.emulator import StreamEmulator
from transport.stream.emulator.wire import models_pb2


async def test_a_request_stream_refuses_is_a_request_error_with_its_reason(
    edge: StreamEdge,
) -> None:
    # A server-side token creating a call must name its creator: nobody authenticated.
    with pytest.raises(StreamRequestError, match=r"\(400\).*created_by_id") as refused:
        await edge.create_call("nobody-made-it")
    assert not isinstance(refused.value, StreamCredentialsError)
    assert edge.connections() == ()


async def test_refused_credentials_are_a_credentials_error_not_a_request_error(
    emulator: StreamEmulator,
) -> None:
    emulator.refuse_credentials("the key was revoked")
    try:
        async with emulator.edge() as edge:
            with pytest.raises(StreamCredentialsError, match="the key was revoked"):
                await edge.create_call("refused")
    finally:
        emulator.refuse_credentials(None)


async def test_closing_the_sdks_sfu_client_wakes_a_connect_still_waiting() -> None:
    # A cancelled SDK join closes its client while connect() waits for the SFU's first
    # message in an executor thread; unwoken, that thread would hold the loop's shutdown.
    from getstream.video.rtc.pb.stream.video.sfu.event import events_pb2
    from getstream.video.rtc.signaling import WebSocketClient

    import transport.stream.sdk  # noqa: F401  (it wraps the SDK's close)

    client = WebSocketClient(
        "ws://127.0.0.1:9/none", events_pb2.JoinRequest(), asyncio.get_running_loop()
    )
    waiting = asyncio.get_running_loop().run_in_executor(None, client.first_message_event.wait)
    client.close()
    assert await asyncio.wait_for(waiting, 10) is True


@pytest.mark.parametrize(
    "code",
    [
        models_pb2.ERROR_CODE_PERMISSION_DENIED,  # the SDK gives up at once
        models_pb2.ERROR_CODE_SFU_FULL,  # the SDK asks for other SFUs, which refuse too
    ],
)
async def test_a_join_the_sfu_refuses_is_a_join_error_and_leaves_nothing_behind(
    edge: StreamEdge, emulator: StreamEmulator, code: int
) -> None:
    await edge.authenticate(AGENT)
    call = await edge.create_call("refused-join")
    emulator.refuse_joins(AGENT.id, "no agents in this call", code)
    before = asyncio.all_tasks()
    with pytest.raises(StreamJoinError, match="no agents in this call") as refused:
        await edge.join(AGENT, call)
    assert not isinstance(refused.value, StreamCredentialsError | StreamRequestError)
    assert edge.connections() == ()
    assert asyncio.all_tasks() - before == set()  # no SDK task (coordinator, reconnect) is left
    assert await emulator.sessions("refused-join") == []
    # Nothing of the refused join is in the way of the next one.
    emulator.refuse_joins(AGENT.id, None)
    connection = await edge.join(AGENT, call)
    assert edge.connections() == (connection,)
    assert [s.user_id for s in await emulator.sessions("refused-join")] == [AGENT.id]
