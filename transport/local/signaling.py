"""The local edge's signaling protocol: msgspec frames over one websocket per participant.

Binary websocket messages are msgpack, text messages JSON (what the browser
page sends); both decode to the same tagged structs. A frame larger than
``MAX_FRAME`` bytes, or one that is not exactly a known frame, is refused with
``SignalingError`` and an ``ErrorFrame`` (tag ``Error``) back: the sender learns why and
nobody else in the call is affected.

Client to edge: ``Join``, ``Offer`` (with the tracks it publishes and the
agent tracks it wants to receive, by mid), ``Unpublish``, ``Leave``. Edge to
client: ``Joined``, ``Answer``, ``Done`` (the edge has acted on a frame:
presence is updated), ``Roster`` (who is in the call), ``Renegotiate`` (the
agent publishes tracks: offer to receive them), ``Custom`` (a custom event the
agent sends, at most ``MAX_CUSTOM_EVENT`` bytes of JSON), ``Error``. Only the client
makes offers, so the two sides never offer at once.
"""

from __future__ import annotations

from typing import Any

import msgspec

from messages import ProtocolError, TrackType, strict_decode

__all__ = [
    "MAX_CUSTOM_EVENT",
    "MAX_FRAME",
    "AgentTrack",
    "Answer",
    "ClientFrame",
    "Custom",
    "Done",
    "EdgeFrame",
    "ErrorFrame",
    "Join",
    "Joined",
    "Leave",
    "Offer",
    "ReceiveSpec",
    "Renegotiate",
    "Roster",
    "RosterEntry",
    "SignalingError",
    "TrackSpec",
    "Unpublish",
    "decode_client",
    "decode_edge",
    "encode",
]

MAX_FRAME = 64 * 1024
"""Largest signaling frame accepted, in bytes (several times an SDP offer with four tracks)."""

MAX_CUSTOM_EVENT = 16 * 1024
"""Largest custom event the agent may send to participants, in bytes of JSON."""


class SignalingError(ProtocolError):
    """A signaling frame was refused; the text says why."""


class _Frame(msgspec.Struct, frozen=True, tag=True, tag_field="type"):
    """Base of every frame; ``seq`` lets the client match ``Done`` to what it sent."""


class Join(_Frame, frozen=True):
    token: str
    seq: int = 0


class TrackSpec(msgspec.Struct, frozen=True):
    """A track in an offer: its transceiver ``mid``, our ``track_id`` and its type."""

    mid: str
    track_id: str
    track_type: TrackType


class ReceiveSpec(msgspec.Struct, frozen=True):
    """A receive-only transceiver (``mid``) the client offers for the agent's ``track_id``."""

    mid: str
    track_id: str


class Offer(_Frame, frozen=True):
    sdp: str
    publish: list[TrackSpec] = []
    receive: list[ReceiveSpec] = []
    seq: int = 0


class Unpublish(_Frame, frozen=True):
    track_id: str
    seq: int = 0


class Leave(_Frame, frozen=True):
    seq: int = 0


class Joined(_Frame, frozen=True):
    participant_id: str
    call_id: str
    seq: int = 0


class Answer(_Frame, frozen=True):
    sdp: str
    seq: int = 0


class Done(_Frame, frozen=True):
    seq: int


class RosterEntry(msgspec.Struct, frozen=True):
    user_id: str
    participant_id: str
    tracks: list[TrackType] = []


class Roster(_Frame, frozen=True):
    participants: list[RosterEntry]


class AgentTrack(msgspec.Struct, frozen=True):
    """A track the agent publishes into the call: its id, media kind and type."""

    track_id: str
    kind: str
    track_type: TrackType


class Renegotiate(_Frame, frozen=True):
    """The agent publishes these tracks: offer receive-only transceivers for them."""

    tracks: list[AgentTrack]


class Custom(_Frame, frozen=True):
    """A custom event from the agent (``send_custom_event``): any JSON object."""

    data: dict[str, Any]


class ErrorFrame(_Frame, frozen=True, tag="Error"):
    """The edge refused a frame (``seq`` names it, when it had one); ``reason`` says why."""

    reason: str
    seq: int = 0


ClientFrame = Join | Offer | Unpublish | Leave
EdgeFrame = Joined | Answer | Done | Roster | Renegotiate | Custom | ErrorFrame

_client_msgpack = msgspec.msgpack.Decoder(ClientFrame)
_client_json = msgspec.json.Decoder(ClientFrame)
_edge_msgpack = msgspec.msgpack.Decoder(EdgeFrame)
_edge_json = msgspec.json.Decoder(EdgeFrame)
_msgpack = msgspec.msgpack.Encoder()
_json = msgspec.json.Encoder()


def _decode(
    data: bytes | str, binary: msgspec.msgpack.Decoder[Any], text: msgspec.json.Decoder[Any]
) -> Any:
    if len(data) > MAX_FRAME:
        msg = f"frame of {len(data)} bytes is over the {MAX_FRAME}-byte limit"
        raise SignalingError(msg)
    decoder = text.decode if isinstance(data, str) else binary.decode
    try:
        return strict_decode(decoder, data, "signaling frame")
    except ProtocolError as exc:
        raise SignalingError(str(exc)) from None


def decode_client(data: bytes | str) -> ClientFrame:
    """A frame from a participant: msgpack bytes or JSON text."""
    frame: ClientFrame = _decode(data, _client_msgpack, _client_json)
    return frame


def decode_edge(data: bytes | str) -> EdgeFrame:
    """A frame from the edge: msgpack bytes or JSON text."""
    frame: EdgeFrame = _decode(data, _edge_msgpack, _edge_json)
    return frame


def encode(frame: _Frame, *, text: bool = False) -> bytes:
    """Encode a frame as msgpack (or JSON with ``text=True``)."""
    return _json.encode(frame) if text else _msgpack.encode(frame)
