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
