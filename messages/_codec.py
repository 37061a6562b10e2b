"""The wire codec: msgpack (``encode``/``decode``) and JSON (``encode_json``/``decode_json``).

Decoding is validation: anything that is not exactly one protocol message raises
``ProtocolError`` with the path of the offending field and what was wrong. The
codec functions are pure and safe to call from any thread.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import msgspec

from messages._errors import EdgeActorsError
from messages._protocol import Message
from messages._types import Participant

__all__ = [
    "ProtocolError",
    "decode",
    "decode_json",
    "encode",
    "encode_json",
    "strict_decode",
    "wire_form",
]

T = TypeVar("T")


class ProtocolError(EdgeActorsError, ValueError):
    """A frame is not a valid protocol message; the text names the field and the problem."""


def strict_decode(decode: Callable[[Any], T], data: Any, what: str = "frame") -> T:
    """``decode(data)``, with any failure on malformed input raised as ``ProtocolError``.

    Every decoder of bytes from outside (peers, files, other hosts) goes through
    this: msgspec's own errors keep their text; anything else malformed bytes
    can provoke (invalid UTF-8, nesting too deep, integers too large, ...) is
    named by type, so a hostile frame is always a clean refusal, never a
    traceback. Any thread.
    """
    try:
        return decode(data)
    except ProtocolError:
        raise
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ProtocolError(str(exc)) from None
    except Exception as exc:  # UnicodeDecodeError, RecursionError, OverflowError, ...
        raise ProtocolError(f"malformed {what}: {type(exc).__name__}: {exc}") from None


_msgpack_encoder = msgspec.msgpack.Encoder()
_msgpack_decoder = msgspec.msgpack.Decoder(Message)
_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder(Message)


def wire_form(message: Any) -> Any:
    """Return ``message`` with any participant's provider object replaced by ``None``.

    This is what goes on the wire (and into recordings): everything but ``original``.
    """
    participant = getattr(message, "participant", None)
    if participant is not None and participant.original is not None:
        return msgspec.structs.replace(
            message, participant=msgspec.structs.replace(participant, original=None)
        )
    return message


def _checked(message: Message) -> Message:
    participant: Participant | None = getattr(message, "participant", None)
    if participant is not None and participant.original is not None:
        msg = (
            "Expected `null`, got a value - at `$.participant.original` "
            "(provider objects never go on the wire)"
        )
        raise ProtocolError(msg)
    return message


def _check_type(message: object) -> None:
    if not isinstance(message, Message):
        msg = f"Cannot encode {type(message).__name__!s}: only protocol messages go on the wire"
        raise ProtocolError(msg)


def encode(message: Message) -> bytes:
    """Encode one protocol message as msgpack bytes."""
    _check_type(message)
    return _msgpack_encoder.encode(wire_form(message))


def decode(data: bytes | bytearray | memoryview) -> Message:
    """Decode msgpack bytes into one protocol message, or raise ``ProtocolError``."""
    return _checked(strict_decode(_msgpack_decoder.decode, data, "msgpack message"))


def encode_json(message: Message) -> bytes:
    """Encode one protocol message as UTF-8 JSON bytes."""
    _check_type(message)
    return _json_encoder.encode(wire_form(message))


def decode_json(data: bytes | bytearray | memoryview | str) -> Message:
    """Decode JSON into one protocol message, or raise ``ProtocolError``."""
    return _checked(strict_decode(_json_decoder.decode, data, "JSON message"))
