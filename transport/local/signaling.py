"""The local edge's signaling protocol: msgspec frames over one websocket per participant.

Binary websocket messages are msgpack, text messages JSON (what the browser
page sends); both decode to the same tagged structs. A frame larger than
``MAX_FRAME`` bytes, or one that is not exactly a known frame, is refused with
``SignalingError`` and an ``ErrorFrame`` (tag ``Error``) back: the sender learns why and
nobody else in the call is affected.

Client to edge: ``Join``, ``Offer`` (with the tracks it publishes and the
agent tracks it wants to receive, by mid), ``Unpublish``, ``Leave``. Edge to
client: ``Joined``, ``Answer``, ``Done`` (the edge has acted on a frame:
presence is updated), ``Roster`` (who is in the call: a full snapshot) and
``RosterDelta`` (who joined, left or changed tracks since a roster version the
client has), ``Renegotiate`` (the agent publishes tracks: offer to receive
them), ``SendTrack`` (send a published video track, or pause it: nobody on the
edge reads it), ``Custom`` (a custom event the agent sends, at most
``MAX_CUSTOM_EVENT`` bytes of JSON), ``Error``. Only the client makes offers, so
the two sides never offer at once.

The roster is state, not a stream of events: a client that reads slowly gets
the newest roster (a delta from the version it has, or a snapshot), never every
version in between; ``RosterView`` applies both (the browser page does the same
in ``call.js``). The other edge frames carry meaning once and arrive in the
order they were sent.

The wire is versioned (``SIGNALING_VERSION``): ``Join`` and ``Joined`` carry
the version each side speaks, a frame without one is version 1 (the full
roster on every change), and an edge refuses a client of another version with an
``Error`` frame that says so and close code ``4426``; a client refuses an edge
whose ``Joined`` names another version.
"""

from __future__ import annotations

from typing import Any

import msgspec

from messages import ProtocolError, TrackType, strict_decode

__all__ = [
    "MAX_CUSTOM_EVENT",
    "MAX_FRAME",
    "SIGNALING_VERSION",
    "VERSION_REFUSED",
    "AgentTrack",
    "Answer",
    "ClientFrame",
    "Custom",
    "Done",
    "EdgeFrame",
    "EncodedFrame",
    "ErrorFrame",
    "Join",
    "Joined",
    "Leave",
    "Offer",
    "ReceiveSpec",
    "Renegotiate",
    "Roster",
    "RosterDelta",
    "RosterEntry",
    "SendTrack",
    "SignalingError",
    "SignalingVersionError",
    "TrackSpec",
    "Unpublish",
    "decode_client",
    "decode_edge",
    "encode",
    "version_mismatch",
]

MAX_FRAME = 64 * 1024
"""Largest signaling frame accepted, in bytes (several times an SDP offer with four tracks)."""

MAX_CUSTOM_EVENT = 16 * 1024
"""Largest custom event the agent may send to participants, in bytes of JSON."""


SIGNALING_VERSION = 3
"""The signaling version this edge and its clients speak.

2: conflated, versioned rosters; 3: ``SendTrack``, the edge pauses video nobody reads.
"""

VERSION_REFUSED = 4426
"""Close code of a socket whose client speaks another signaling version."""


class SignalingError(ProtocolError):
    """A signaling frame was refused; the text says why."""


class SignalingVersionError(SignalingError):
    """The two ends of a signaling socket speak different versions; the text says which."""


class _Frame(msgspec.Struct, frozen=True, tag=True, tag_field="type"):
    """Base of every frame; ``seq`` lets the client match ``Done`` to what it sent."""


class Join(_Frame, frozen=True):
    """Join with ``token``; ``version`` is the signaling version the client speaks."""

    token: str
    seq: int = 0
    version: int = 1


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
    """The join is done; ``version`` is the signaling version the edge speaks."""

    participant_id: str
    call_id: str
    seq: int = 0
    version: int = 1


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
    """Everyone in the call at roster ``version``, in the order they joined."""

    participants: list[RosterEntry]
    version: int = 0


class RosterDelta(_Frame, frozen=True):
    """From roster ``base`` to ``version``: who ``joined`` (appended in that order),
    who ``left`` (by participant id), whose tracks ``changed`` (replaced in place).

    The edge sends one only to a client it knows has roster ``base``.
    """

    base: int
    version: int
    joined: list[RosterEntry] = []
    left: list[str] = []
    changed: list[RosterEntry] = []


class AgentTrack(msgspec.Struct, frozen=True):
    """A track the agent publishes into the call: its id, media kind and type."""

    track_id: str
    kind: str
    track_type: TrackType


class Renegotiate(_Frame, frozen=True):
    """The agent publishes these tracks: offer receive-only transceivers for them."""

    tracks: list[AgentTrack]


class SendTrack(_Frame, frozen=True):
    """Send the published track ``track_id`` (``send``), or stop sending it until asked again.

    The edge asks a publisher to pause a video track that nobody on the edge
    reads (it would only be received and dropped) and to send it again, from a
    keyframe, when someone subscribes. A track is sent until the edge says
    otherwise, and the newest ``SendTrack`` for it holds. A client that ignores
    it costs the edge bandwidth and packet handling, never decoding.
    """

    track_id: str
    send: bool


class Custom(_Frame, frozen=True):
    """A custom event from the agent (``send_custom_event``): any JSON object."""

    data: dict[str, Any]


class ErrorFrame(_Frame, frozen=True, tag="Error"):
    """The edge refused a frame (``seq`` names it, when it had one); ``reason`` says why."""

    reason: str
    seq: int = 0


ClientFrame = Join | Offer | Unpublish | Leave
EdgeFrame = (
    Joined | Answer | Done | Roster | RosterDelta | Renegotiate | SendTrack | Custom | ErrorFrame
)

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


def version_mismatch(client: int) -> str:
    """Why a client of signaling version ``client`` is refused, in words a user can act on."""
    return (
        f"this client speaks signaling version {client} and the edge speaks "
        f"{SIGNALING_VERSION}: reload the page (or upgrade edge-actors) to join"
    )


class EncodedFrame:
    """An edge frame with its encodings, each made at most once, for any number of recipients.

    A frame sent to many participants (a custom event, the agent's new tracks,
    a roster version) is wrapped once and each session takes the bytes for its
    wire format (``data(text)``). Immutable once made; any loop.
    """

    __slots__ = ("_binary", "_text", "frame")

    def __init__(self, frame: _Frame) -> None:
        self.frame = frame
        self._binary: bytes | None = None
        self._text: bytes | None = None

    def __repr__(self) -> str:
        return f"EncodedFrame({self.frame!r})"

    def data(self, text: bool) -> bytes:
        """The frame as JSON (``text``) or msgpack bytes, encoded on first use."""
        if text:
            if self._text is None:
                self._text = _json.encode(self.frame)
            return self._text
        if self._binary is None:
            self._binary = _msgpack.encode(self.frame)
        return self._binary
