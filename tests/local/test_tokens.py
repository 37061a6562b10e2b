"""Join tokens are standard HS256 JWTs: what any backend mints is admitted once, and
every refusal says why."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest

from messages import ParticipantKind
from transport.local.tokens import JoinTokens, TokenError

SECRET = b"s" * 32


class Clock:
    """A clock a test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _minted(**claims: Any) -> str:
    """A token as another backend would mint it, with its own JWT library."""
    base: dict[str, Any] = {
        "sub": "alice",
        "call": "room",
        "exp": time.time() + 60,
        "jti": uuid.uuid4().hex,
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, SECRET, "HS256")


def test_an_issued_token_is_a_standard_jwt() -> None:
    token = JoinTokens(SECRET).issue("room", "alice", kind=ParticipantKind.AGENT)
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["call"] == "room"
    assert claims["kind"] == ParticipantKind.AGENT.value
    assert claims["jti"]
    assert claims["exp"] > time.time()


def test_a_token_minted_elsewhere_is_admitted_once() -> None:
    tokens = JoinTokens(SECRET)
    token = _minted()
    claims = tokens.redeem(token, "room")
    assert (claims.user, claims.call, claims.kind) == ("alice", "room", ParticipantKind.HUMAN)
    with pytest.raises(TokenError, match="already used"):
        tokens.redeem(token, "room")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"exp": -1.0}, "expired"),  # exp relative to now: minted as the test runs
        ({"call": "other"}, "for call 'other'"),
        ({"jti": None}, "no 'jti' claim"),
        ({"sub": None}, "no 'sub' claim"),
        ({"kind": "robot"}, "malformed join token claims"),
    ],
)
def test_refusals_say_why(claims: dict[str, Any], reason: str) -> None:
    if "exp" in claims:
        claims = {**claims, "exp": time.time() + claims["exp"]}
    with pytest.raises(TokenError, match=reason):
        JoinTokens(SECRET).redeem(_minted(**claims), "room")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (jwt.encode({"sub": "a", "call": "room", "exp": 2e9, "jti": "x"}, b"o" * 32), "forged"),
        ("not.a.jwt", "malformed join token"),
        ("", "malformed join token"),
    ],
)
def test_tokens_not_signed_by_the_edge_are_refused(token: str, reason: str) -> None:
    with pytest.raises(TokenError, match=reason):
        JoinTokens(SECRET).redeem(token, "room")


def test_another_algorithm_is_refused() -> None:
    token = jwt.encode(
        {"sub": "a", "call": "room", "exp": 2e9, "jti": "x"}, SECRET * 2, algorithm="HS512"
    )
    with pytest.raises(TokenError, match="malformed join token"):
        JoinTokens(SECRET * 2).redeem(token, "room")


def test_a_reused_token_is_refused_among_many_spent_ones() -> None:
    clock = Clock()
    tokens = JoinTokens(SECRET, clock=clock)
    first = tokens.issue("room", "u0", ttl=600)
    tokens.redeem(first, "room")
    for n in range(3000):  # past any pruning threshold
        tokens.redeem(tokens.issue("room", f"u{n}", ttl=60), "room")
        clock.now += 0.01
    with pytest.raises(TokenError, match="already used"):
        tokens.redeem(first, "room")


def test_spent_tokens_are_forgotten_once_expired() -> None:
    clock = Clock()
    tokens = JoinTokens(SECRET, clock=clock)
    for n in range(100):
        tokens.redeem(tokens.issue("room", f"u{n}", ttl=10), "room")
    assert tokens.spent == 100
    clock.now += 11
    tokens.redeem(tokens.issue("room", "late", ttl=10), "room")
    assert tokens.spent == 1


def test_at_the_cap_joins_are_refused_rather_than_a_spent_token_forgotten() -> None:
    clock = Clock()
    tokens = JoinTokens(SECRET, clock=clock, max_spent=3)
    spent = [tokens.issue("room", f"u{n}", ttl=10) for n in range(3)]
    for token in spent:
        tokens.redeem(token, "room")
    with pytest.raises(TokenError, match="cap"):
        tokens.redeem(tokens.issue("room", "d", ttl=10), "room")
    with pytest.raises(TokenError, match="already used"):
        tokens.redeem(spent[0], "room")
    clock.now += 11  # the spent ones expired: room again
    tokens.redeem(tokens.issue("room", "e", ttl=10), "room")


@pytest.mark.parametrize("why", ["reused", "expired", "wrong call", "forged"])
async def test_a_refused_token_closes_the_socket_with_4401_saying_why(why: str) -> None:
    import aiohttp

    from transport.local import LocalEdge
    from transport.local.signaling import SIGNALING_VERSION, ErrorFrame, Join, decode_edge, encode

    async with LocalEdge() as edge, aiohttp.ClientSession() as http:
        token = {
            "reused": edge.token("room", "eve"),
            "expired": edge.token("room", "eve", ttl=-1),
            "wrong call": edge.token("other", "eve"),
            "forged": edge.token("room", "eve") + "x",
        }[why]
        if why == "reused":
            async with http.ws_connect(f"{edge.url}/ws/room") as first:
                await first.send_bytes(encode(Join(token, 1, SIGNALING_VERSION)))
                assert not isinstance(decode_edge(await first.receive_bytes()), ErrorFrame)
        async with http.ws_connect(f"{edge.url}/ws/room") as socket:
            await socket.send_bytes(encode(Join(token, 1, SIGNALING_VERSION)))
            refusal = decode_edge(await socket.receive_bytes())
            assert isinstance(refusal, ErrorFrame)
            reason = {
                "reused": "already used",
                "expired": "expired",
                "wrong call": "for call 'other'",
                "forged": "signature does not match",
            }[why]
            assert reason in refusal.reason
            closing = await socket.receive()
            assert closing.type is aiohttp.WSMsgType.CLOSE
            assert closing.data == 4401
