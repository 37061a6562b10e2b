"""Fuzzing the wire codec: every input ends in a message or ``ProtocolError``, never a crash."""

from __future__ import annotations

import contextlib
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from messages import Message, ProtocolError, decode, decode_json

# How many cases each fuzzer ran; tests/reliability/conftest.py prints it at the end.
_cases = {"msgpack": 0, "json": 0, "structured": 0, "signaling": 0, "mutated": 0}

# Text from a fixed alphabet (ASCII, controls, accents, symbols, astral): ``st.text()``
# with no alphabet builds Hypothesis's Unicode tables on first use, which takes about a
# second with an empty .hypothesis/ and fails the too_slow health check.
ALPHABET = 'aZ09_-/:. \x00\n"\\é€中😀'
_text = st.text(alphabet=ALPHABET, max_size=20)
_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,  # small trees: wrong shapes matter here, not size (and generation stays fast)
)
_tags = st.sampled_from(
    ["ParticipantJoined", "ParticipantLeft", "TrackAdded", "TrackRemoved", "Close", "Nope", ""]
)


def _check(result: Any) -> None:
    assert isinstance(result, Message)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=256))
def test_random_msgpack_bytes(data: bytes) -> None:
    _cases["msgpack"] += 1
    with contextlib.suppress(ProtocolError):
        _check(decode(data))


@settings(max_examples=400)
@given(st.binary(max_size=256))
def test_random_json_bytes(data: bytes) -> None:
    _cases["json"] += 1
    with contextlib.suppress(ProtocolError):
        _check(decode_json(data))


@settings(max_examples=400)
@given(
    tag=_tags,
    # Each field present or not, with a value of any shape: no retries for unique keys.
    fields=st.fixed_dictionaries(
        {},
        optional=dict.fromkeys(
            ["call_id", "participant", "track_id", "track_type", "reason", "extra"], _json_values
        ),
    ),
)
def test_structured_frames_with_wrong_types_and_tags(tag: str, fields: dict[str, Any]) -> None:
    _cases["structured"] += 1
    frame = {"type": tag, **fields}
    for encoded in (msgspec.json.encode(frame), msgspec.msgpack.encode(frame)):
        with contextlib.suppress(ProtocolError):
            _check(decode_json(encoded) if encoded[:1] == b"{" else decode(encoded))


@settings(max_examples=400, deadline=None)  # the first call imports the local edge
@given(
    data=st.one_of(
        st.binary(max_size=512),
        st.text(alphabet=ALPHABET, max_size=512),
        st.builds(
            lambda tag, fields: msgspec.json.encode({"type": tag, **fields}).decode(),
            st.sampled_from(["Join", "Offer", "Unpublish", "Leave", "Answer", "Nope"]),
            st.dictionaries(
                st.sampled_from(["token", "sdp", "publish", "receive", "track_id", "seq"]),
                _json_values,
                max_size=5,
            ),
        ),
    )
)
def test_random_signaling_frames_decode_or_are_refused(data: bytes | str) -> None:
    pytest.importorskip("aiortc")
    from transport.local.signaling import ClientFrame, SignalingError, decode_client

    _cases["signaling"] += 1
    try:
        frame = decode_client(data)
    except SignalingError:
        return
    assert isinstance(frame, ClientFrame)


def test_huge_and_deeply_nested_input_is_refused() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    for data in (deep, b'{"type":"Close","call_id":"' + b"x" * 5_000_000 + b'"'):
        try:
            decode_json(data)
        except ProtocolError:
            continue
        raise AssertionError("malformed input was accepted")


def _valid_frames() -> list[bytes]:
    from messages import (
        Close,
        Participant,
        ParticipantJoined,
        ParticipantLeft,
        TrackAdded,
        TrackType,
        encode,
        encode_json,
    )

    person = Participant(None, "user-é", "user-é__s1")
    messages = [
        ParticipantJoined("call", person),
        TrackAdded("call", person, "t1", TrackType.VIDEO),
        ParticipantLeft("call", person, "dropped"),
        Close("call", "call_ended"),
    ]
    return [encode(m) for m in messages] + [encode_json(m) for m in messages]


_VALID = _valid_frames()


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """A valid frame with a few bytes flipped, inserted, deleted or repeated."""
    data = bytearray(draw(st.sampled_from(_VALID)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "delete", "repeat"]))
        if action == "flip" and where < len(data):
            data[where] = draw(st.integers(0, 255))
        elif action == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del data[where : where + draw(st.integers(1, 4))]
        else:
            data[where:where] = data[where : where + 8] * draw(st.integers(1, 50))
    return bytes(data)


@settings(max_examples=400)
@given(_mutated())
def test_mutated_valid_frames_decode_or_raise_protocol_error(data: bytes) -> None:
    _cases["mutated"] += 1
    for decoder in (decode, decode_json):
        with contextlib.suppress(ProtocolError):
            _check(decoder(data))
