"""The emulator's protobuf wire, checked against the types the getstream SDK ships.

What the emulator serves must be what the SDK's own descriptors declare: the
methods of ``SignalServer`` with their request and response types, the
``SfuRequest`` payloads a client sends and the ``SfuEvent`` payloads it
reads. Bytes that are not the expected message are a ``WireError`` or a
twirp error, never a traceback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from transport.stream.emulator import EmulatedSfu
from transport.stream.emulator.tokens import Keys
from transport.stream.emulator.wire import (
    MAX_FRAME,
    REQUESTS,
    RPC,
    WireError,
    decode,
    decode_request,
    encode,
    error_event,
    events_pb2,
    models_pb2,
    signal_pb2,
)

SERVICE = signal_pb2.DESCRIPTOR.services_by_name["SignalServer"]


def test_the_emulator_serves_every_method_of_the_sdks_signal_service_with_its_types() -> None:
    declared = {
        method.name: (method.input_type.full_name, method.output_type.full_name)
        for method in SERVICE.methods
    }
    served = {
        name: (request.DESCRIPTOR.full_name, response.DESCRIPTOR.full_name)
        for name, (request, response) in RPC.items()
    }
    assert served == declared


@pytest.mark.parametrize(
    "payload",
    [
        events_pb2.SfuRequest(
            join_request=events_pb2.JoinRequest(
                token="t", session_id="s-1", subscriber_sdp="v=0", fast_reconnect=True
            )
        ),
        events_pb2.SfuRequest(health_check_request=events_pb2.HealthCheckRequest()),
        events_pb2.SfuRequest(leave_call_request=events_pb2.LeaveCallRequest(session_id="s-1")),
    ],
    ids=lambda request: request.WhichOneof("request_payload"),
)
def test_each_request_a_client_sends_decodes_to_the_same_message(payload: object) -> None:
    assert isinstance(payload, events_pb2.SfuRequest)
    kind, decoded = decode_request(payload.SerializeToString())
    assert kind == payload.WhichOneof("request_payload")
    assert decoded == getattr(payload, kind)


def test_every_request_payload_the_sdk_can_send_is_one_the_emulator_serves() -> None:
    payloads = events_pb2.SfuRequest.DESCRIPTOR.oneofs_by_name["request_payload"].fields
    assert {field.name for field in payloads} == REQUESTS


def test_events_the_emulator_sends_parse_as_the_sdks_sfu_events() -> None:
    participant = models_pb2.Participant(user_id="alice", session_id="s-1")
    frames = {
        "participant_joined": encode(
            participant_joined=events_pb2.ParticipantJoined(
                call_cid="default:c", participant=participant
            )
        ),
        "track_published": encode(
            track_published=events_pb2.TrackPublished(
                user_id="alice", session_id="s-1", type=models_pb2.TRACK_TYPE_VIDEO
            )
        ),
        "go_away": encode(go_away=events_pb2.GoAway(reason=models_pb2.GO_AWAY_REASON_REBALANCE)),
        "call_ended": encode(
            call_ended=events_pb2.CallEnded(reason=models_pb2.CALL_ENDED_REASON_ENDED)
        ),
        "error": error_event(models_pb2.ERROR_CODE_PARTICIPANT_NOT_FOUND, "who?", 2),
    }
    for kind, frame in frames.items():
        event = events_pb2.SfuEvent.FromString(frame)
        assert event.WhichOneof("event_payload") == kind
    error = events_pb2.SfuEvent.FromString(frames["error"]).error
    assert (error.error.message, error.reconnect_strategy) == ("who?", 2)
    assert (
        events_pb2.SfuEvent.FromString(frames["participant_joined"]).participant_joined.participant
        == participant
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xff\xff\xff", "not a valid SfuRequest"),
        (b"", "carries no request"),
        (b"\x00" * (MAX_FRAME + 1), "over the"),
    ],
    ids=["garbage", "empty", "oversize"],
)
def test_bytes_that_are_no_request_are_a_wire_error(data: bytes, reason: str) -> None:
    with pytest.raises(WireError, match=reason):
        decode_request(data)


def test_a_message_of_another_type_is_not_taken_for_the_expected_one() -> None:
    with pytest.raises(WireError, match="not a valid SetPublisherRequest"):
        decode(signal_pb2.SetPublisherRequest, b"\x0a\x05hello\x12\xff")


@pytest.fixture
async def sfu() -> AsyncIterator[tuple[EmulatedSfu, Keys]]:
    keys = Keys("key", "a-secret-long-enough-for-hs256-signing")
    server = EmulatedSfu("sfu-wire", keys, {}.get)
    await server.start()
    try:
        yield server, keys
    finally:
        await server.stop()


async def test_the_twirp_service_answers_bad_requests_with_twirp_errors(
    sfu: tuple[EmulatedSfu, Keys],
) -> None:
    server, keys = sfu
    base = f"{server.url}/stream.video.sfu.signal.SignalServer"
    granted = {"authorization": keys.grant("alice", "default:c")}  # as the SDK sends it
    body = signal_pb2.SendAnswerRequest(session_id="s-1").SerializeToString()
    async with aiohttp.ClientSession() as http:
        cases = [
            (f"{base}/NoSuchMethod", body, granted, 404, "bad_route"),
            (f"{base}/SendAnswer", body, {}, 401, "unauthenticated"),
            (f"{base}/SendAnswer", b"\xff\xff\xff", granted, 400, "malformed"),
        ]
        for url, data, headers, status, code in cases:
            async with http.post(url, data=data, headers=headers) as response:
                assert (response.status, (await response.json())["code"]) == (status, code)
        async with http.post(f"{base}/SendAnswer", data=body, headers=granted) as response:
            answer = signal_pb2.SendAnswerResponse.FromString(await response.read())
    assert answer.error.code == models_pb2.ERROR_CODE_PARTICIPANT_NOT_FOUND
