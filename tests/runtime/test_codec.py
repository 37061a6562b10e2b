"""The wire codec: every message round-trips through msgpack and JSON; bad input is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from messages import (
    Close,
    Participant,
    ParticipantJoined,
    ParticipantKind,
    ParticipantLeft,
    ProtocolError,
    TrackAdded,
    TrackRemoved,
    TrackType,
    decode,
    decode_json,
    encode,
    encode_json,
)

# A fixed alphabet: st.text() with none builds Hypothesis's Unicode tables on first use
# (about a second with an empty .hypothesis/, enough to fail the too_slow health check).
text = st.text(alphabet='aZ09_-/:. \x00\n"\\é€中😀', max_size=30)
participants = st.builds(
    Participant,
    original=st.none(),
    user_id=text,
    id=text,
    kind=st.sampled_from(list(ParticipantKind)),
)
kinds = st.sampled_from(list(TrackType))
messages = st.one_of(
    st.builds(ParticipantJoined, call_id=text, participant=participants),
    st.builds(ParticipantLeft, call_id=text, participant=participants, reason=text),
    st.builds(TrackAdded, call_id=text, participant=participants, track_id=text, track_type=kinds),
    st.builds(
        TrackRemoved, call_id=text, participant=participants, track_id=text, track_type=kinds
    ),
    st.builds(Close, call_id=text, reason=text),
)


@given(messages)
def test_every_message_round_trips_through_msgpack_and_json(message: object) -> None:
    assert decode(encode(message)) == message  # type: ignore[arg-type]
    assert decode_json(encode_json(message)) == message  # type: ignore[arg-type]


def test_the_provider_object_never_goes_on_the_wire() -> None:
    secret = object()
    message = ParticipantJoined("c", Participant(secret, "u", "u__1"))
    assert decode(encode(message)).participant.original is None  # type: ignore[union-attr]
    forged = encode_json(message).replace(b'"original":null', b'"original":{"x":1}')
    with pytest.raises(ProtocolError, match=r"participant.original"):
        decode_json(forged)


@pytest.mark.parametrize(
    ("data", "names"),
    [
        (b'{"type":"TrackAdded","call_id":"c"}', "participant"),
        (b'{"type":"Close","call_id":7}', "call_id"),
        (b'{"type":"Nope","call_id":"c"}', "type"),
    ],
)
def test_bad_input_names_the_field(data: bytes, names: str) -> None:
    with pytest.raises(ProtocolError, match=names):
        decode_json(data)


def test_only_protocol_messages_can_be_encoded() -> None:
    with pytest.raises(ProtocolError, match="only protocol messages"):
        encode({"type": "Close"})  # type: ignore[arg-type]


def test_every_error_of_ours_has_one_root() -> None:
    import inspect

    import actors
    import messages
    import transport
    from transport.local import FrameRefusedError, SignalingError, TokenError
    from transport.stream import StreamCredentialsError

    ours = {
        obj
        for module in (actors, messages, transport)
        for _, obj in inspect.getmembers(module, inspect.isclass)
        if issubclass(obj, Exception)
        and obj.__module__.split(".")[0] in ("actors", "messages", "transport")
    }
    ours |= {FrameRefusedError, SignalingError, TokenError, StreamCredentialsError}
    assert len(ours) >= 10
    assert all(issubclass(cls, messages.EdgeActorsError) for cls in ours), ours
    assert issubclass(messages.ProtocolError, ValueError)
