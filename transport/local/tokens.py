"""Short-lived, single-use join tokens: standard JWTs signed with HS256 (PyJWT).

A join token is a JWT whose claims are ``sub`` (the user id), ``call`` (the
call id), ``exp`` (expiry, seconds since the epoch), ``jti`` (a unique id) and,
optionally, ``kind`` (``"human"`` unless given: ``ParticipantKind``'s values).
Any backend can mint one with its usual JWT library and the edge's secret, as
Stream and LiveKit tokens are minted, e.g. in Python::

    jwt.encode({"sub": "alice", "call": "room", "exp": time.time() + 120,
                "jti": uuid.uuid4().hex}, secret, algorithm="HS256")

A token admits one join: ``redeem`` spends its ``jti``, so a token seen on the
wire, in a log or in a browser's history cannot be used again, not even after
its participant left (a new session needs a new token). A spent ``jti`` is kept
until its token would have expired anyway, and at most ``max_spent`` of them
are kept at once (see ``JoinTokens``).
"""

from __future__ import annotations

import heapq
import math
import secrets
import time
from collections.abc import Callable
from typing import Any

import jwt
import msgspec

from messages import EdgeActorsError, ParticipantKind

__all__ = ["ALGORITHM", "JoinClaims", "JoinTokens", "TokenError"]

ALGORITHM = "HS256"
"""The one signing algorithm join tokens use and the edge accepts."""

_REQUIRED = ["sub", "call", "exp", "jti"]


class TokenError(EdgeActorsError, ValueError):
    """A join token was refused; the message says why (malformed, forged, expired,
    wrong call, already used)."""


class JoinClaims(msgspec.Struct, frozen=True):
    """What a valid token lets its bearer do: join ``call`` as ``user``, until ``exp``.

    ``user`` is the token's ``sub`` claim and ``jti`` its unique id (the one a
    join spends).
    """

    call: str
    user: str
    exp: float
    kind: ParticipantKind = ParticipantKind.HUMAN
    jti: str = ""


class JoinTokens:
    """Issues and checks join tokens with one secret (32 random bytes unless given).

    ``clock`` tells the time that ``exp`` is compared with. ``max_spent`` caps
    the spent ``jti`` values kept: when that many unexpired tokens have been
    redeemed, further joins are refused (``TokenError``) until the oldest
    expire, rather than forgetting a ``jti`` that could then be used again.
    Not thread-safe: use it on one loop (the edge's).
    """

    def __init__(
        self,
        secret: bytes | None = None,
        *,
        clock: Callable[[], float] = time.time,
        max_spent: int = 200_000,
    ) -> None:
        if max_spent < 1:
            msg = f"max_spent must be at least 1, not {max_spent!r}"
            raise ValueError(msg)
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._clock = clock
        self.max_spent = max_spent
        """How many spent, unexpired tokens are kept before joins are refused."""
        self._spent: dict[str, float] = {}  # jti -> expiry of its token
        # (expiry, jti) of every entry of _spent, soonest first: pruning pops the front.
        self._expiries: list[tuple[float, str]] = []

    def issue(
        self,
        call_id: str,
        user_id: str,
        *,
        ttl: float = 120.0,
        kind: ParticipantKind = ParticipantKind.HUMAN,
    ) -> str:
        """A single-use token for ``user_id`` to join ``call_id`` within ``ttl`` seconds."""
        if not math.isfinite(ttl):
            msg = f"ttl must be a finite number of seconds, not {ttl!r}"
            raise ValueError(msg)
        claims: dict[str, Any] = {
            "sub": user_id,
            "call": call_id,
            "exp": self._clock() + ttl,
            "jti": secrets.token_hex(8),
        }
        if kind is not ParticipantKind.HUMAN:
            claims["kind"] = kind.value
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str, call_id: str) -> JoinClaims:
        """The claims of ``token`` for ``call_id``, or ``TokenError`` saying what is wrong."""
        try:
            payload = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                # exp is checked below against our clock, not PyJWT's
                options={"require": _REQUIRED, "verify_exp": False},
            )
        except jwt.InvalidSignatureError:
            raise TokenError(
                "join token signature does not match (forged or from another edge)"
            ) from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"malformed join token: no {exc.claim!r} claim") from None
        except jwt.InvalidTokenError as exc:  # any malformed token: a refusal, never a traceback
            raise TokenError(f"malformed join token: {exc}") from None
        try:
            claims = msgspec.convert(
                {
                    "call": payload["call"],
                    "user": payload["sub"],
                    "exp": payload["exp"],
                    "kind": payload.get("kind", ParticipantKind.HUMAN.value),
                    "jti": payload["jti"],
                },
                JoinClaims,
            )
        except msgspec.ValidationError as exc:
            raise TokenError(f"malformed join token claims: {exc}") from None
        if not math.isfinite(claims.exp) or claims.exp < self._clock():
            raise TokenError("join token expired")
        if claims.call != call_id:
            raise TokenError(f"join token is for call {claims.call!r}, not {call_id!r}")
        if not claims.jti:
            raise TokenError("malformed join token: an empty 'jti' claim")
        return claims

    def redeem(self, token: str, call_id: str) -> JoinClaims:
        """Like ``verify``, and spend the token: a second join with it is refused.

        Besides the signature check, a join costs a dict look-up and one heap
        push, and each spent ``jti`` is popped once, after its token expired: no
        redeem walks the whole table.
        """
        claims = self.verify(token, call_id)
        spent, expiries = self._spent, self._expiries
        if claims.jti in spent:
            raise TokenError("join token already used: ask for a new one to join again")
        now = self._clock()
        while expiries and expiries[0][0] < now:
            _, jti = heapq.heappop(expiries)
            del spent[jti]
        if len(spent) >= self.max_spent:
            msg = (
                f"the edge is holding {len(spent)} join tokens spent and not yet expired, "
                "its cap: try again once older tokens expire (or issue shorter-lived ones)"
            )
            raise TokenError(msg)
        spent[claims.jti] = claims.exp
        heapq.heappush(expiries, (claims.exp, claims.jti))
        return claims

    @property
    def spent(self) -> int:
        """How many spent tokens are remembered now (expired ones go at the next redeem)."""
        return len(self._spent)
