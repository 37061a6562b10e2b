"""The SFU's wire: Stream's protobuf messages (the ones the getstream SDK ships), checked.

Clients send ``SfuRequest`` frames on the signaling websocket and twirp request
messages over HTTP; both are decoded here, and any bytes that are not a valid
message of the expected type become a ``WireError`` (never a traceback), which
the SFU answers with an ``Error`` event or a twirp error. Events go out as
serialized ``SfuEvent`` frames.
"""

from __future__ import annotations

from typing import Any

from getstream.video.rtc.pb.stream.video.sfu.event import events_pb2
from getstream.video.rtc.pb.stream.video.sfu.models import models_pb2
from getstream.video.rtc.pb.stream.video.sfu.signal_rpc import signal_pb2

from messages import ProtocolError

__all__ = [
    "MAX_FRAME",
    "REQUESTS",
    "RPC",
    "WireError",
    "decode",
    "decode_request",
    "encode",
    "error_event",
    "events_pb2",
    "models_pb2",
    "signal_pb2",
]

MAX_FRAME = 1 << 20
"""The largest frame or RPC body the SFU reads (a join with both SDPs is a few KB)."""

RPC: dict[str, tuple[Any, Any]] = {
    "SetPublisher": (signal_pb2.SetPublisherRequest, signal_pb2.SetPublisherResponse),
    "SendAnswer": (signal_pb2.SendAnswerRequest, signal_pb2.SendAnswerResponse),
    "IceTrickle": (models_pb2.ICETrickle, signal_pb2.ICETrickleResponse),
    "UpdateSubscriptions": (
        signal_pb2.UpdateSubscriptionsRequest,
        signal_pb2.UpdateSubscriptionsResponse,
    ),
    "UpdateMuteStates": (signal_pb2.UpdateMuteStatesRequest, signal_pb2.UpdateMuteStatesResponse),
    "IceRestart": (signal_pb2.ICERestartRequest, signal_pb2.ICERestartResponse),
    "SendStats": (signal_pb2.SendStatsRequest, signal_pb2.SendStatsResponse),
    "SendMetrics": (signal_pb2.SendMetricsRequest, signal_pb2.SendMetricsResponse),
    "StartNoiseCancellation": (
        signal_pb2.StartNoiseCancellationRequest,
        signal_pb2.StartNoiseCancellationResponse,
    ),
    "StopNoiseCancellation": (
        signal_pb2.StopNoiseCancellationRequest,
        signal_pb2.StopNoiseCancellationResponse,
    ),
}
"""The SFU's twirp methods (``stream.video.sfu.signal.SignalServer``): request, response types."""


class WireError(ProtocolError):
    """Bytes that are not the message the SFU expected; the text says what was wrong."""


def decode(message_type: Any, data: bytes) -> Any:
    """``data`` parsed as ``message_type``; ``WireError`` if it is not one."""
    if len(data) > MAX_FRAME:
        msg = f"{message_type.__name__} of {len(data)} bytes is over the {MAX_FRAME} byte limit"
        raise WireError(msg)
    message = message_type()
    try:
        message.ParseFromString(data)
    except Exception as exc:  # DecodeError, and whatever else malformed input provokes
        raise WireError(f"not a valid {message_type.__name__}: {exc}") from None
    return message


REQUESTS = frozenset(("join_request", "health_check_request", "leave_call_request"))
"""The ``SfuRequest`` payloads the emulated SFU serves on its websocket."""


def decode_request(data: bytes) -> tuple[str, Any]:
    """A signaling frame: the name of the ``SfuRequest`` payload set, and the payload."""
    request = decode(events_pb2.SfuRequest, data)
    kind = request.WhichOneof("request_payload")
    if kind is None:
        raise WireError("the SfuRequest carries no request (join, health check or leave)")
    return kind, getattr(request, kind)


def encode(**payload: Any) -> bytes:
    """An ``SfuEvent`` with one payload (``join_response=...``), serialized."""
    frame: bytes = events_pb2.SfuEvent(**payload).SerializeToString()
    return frame


def error_event(code: int, message: str, strategy: int = 0) -> bytes:
    """An ``Error`` event: Stream's ``ErrorCode``, the reason, how the client should reconnect."""
    error = models_pb2.Error(code=code, message=message, should_retry=False)
    return encode(error=events_pb2.Error(error=error, reconnect_strategy=strategy))
