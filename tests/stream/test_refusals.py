"""What Stream refuses reaches the caller as our errors, with Stream's reason (emulated).

The emulator stands in for Stream's servers, which cannot run here: it refuses
what Stream's API refuses, with the same status codes.
"""

from __future__ import annotations

import pytest

from transport.stream import StreamCredentialsError, StreamEdge, StreamRequestError
from transport.stream.emulator import StreamEmulator


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
    import asyncio

    from getstream.video.rtc.pb.stream.video.sfu.event import events_pb2
    from getstream.video.rtc.signaling import WebSocketClient

    import transport.stream.sdk  # noqa: F401  (it wraps the SDK's close)

    client = WebSocketClient(
        "ws://127.0.0.1:9/none", events_pb2.JoinRequest(), asyncio.get_running_loop()
    )
    waiting = asyncio.get_running_loop().run_in_executor(None, client.first_message_event.wait)
    client.close()
    assert await asyncio.wait_for(waiting, 10) is True
