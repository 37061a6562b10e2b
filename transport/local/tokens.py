"""Short-lived, single-use join tokens: HMAC-SHA256 over the call, the user, an expiry and a nonce.

A token is ``<payload>.<signature>``, both base64url: the payload is JSON
``{"call": ..., "user": ..., "exp": ..., "kind": ..., "nonce": ...}``. The edge
that issues it is the one that checks it; the secret never leaves the process.
A token admits one join: ``redeem`` spends it, so a token seen on the wire, in a
log or in a browser's history cannot be used again, not even after its
participant left (a new session needs a new token). Spent nonces are kept
until their token would have expired anyway.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import secrets
import time
from collections.abc import Callable

import msgspec

from messages import EdgeActorsError, ParticipantKind

__all__ = ["JoinClaims", "JoinTokens", "TokenError"]


class TokenError(EdgeActorsError, ValueError):
    """A join token was refused; the message says why (malformed, forged, expired, wrong call)."""


class JoinClaims(msgspec.Struct, frozen=True):
    """What a valid token lets its bearer do: join ``call`` as ``user``, until ``exp``."""

    call: str
    user: str
    exp: float
    kind: ParticipantKind = ParticipantKind.HUMAN
    nonce: str = ""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class JoinTokens:
    """Issues and checks join tokens with one secret (random unless given)."""

    def __init__(
        self, secret: bytes | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self._clock = clock
        self._spent: dict[str, float] = {}  # nonce -> expiry of its token

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

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
        claims = JoinClaims(call_id, user_id, self._clock() + ttl, kind, secrets.token_hex(8))
        payload = msgspec.json.encode(claims)
        return f"{_b64(payload)}.{_b64(self._sign(payload))}"

    def verify(self, token: str, call_id: str) -> JoinClaims:
        """The claims of ``token`` for ``call_id``, or ``TokenError`` saying what is wrong."""
        try:
            encoded, signature = token.split(".")
            payload, mac = _unb64(encoded), _unb64(signature)
        except (ValueError, TypeError):
            raise TokenError("malformed join token") from None
        if not hmac.compare_digest(mac, self._sign(payload)):
            raise TokenError("join token signature does not match (forged or from another edge)")
        try:
            claims = msgspec.json.decode(payload, type=JoinClaims)
        except Exception:  # any malformed payload: a refusal, never a traceback
            raise TokenError("malformed join token payload") from None
        if claims.exp < self._clock():
            raise TokenError("join token expired")
        if claims.call != call_id:
            raise TokenError(f"join token is for call {claims.call!r}, not {call_id!r}")
        return claims

    def redeem(self, token: str, call_id: str) -> JoinClaims:
        """Like ``verify``, and spend the token: a second join with it is refused."""
        claims = self.verify(token, call_id)
        now = self._clock()
        if len(self._spent) > 1024:  # forget nonces whose tokens have expired anyway
            self._spent = {n: exp for n, exp in self._spent.items() if exp >= now}
        if not claims.nonce or claims.nonce in self._spent:
            raise TokenError("join token already used: ask for a new one to join again")
        self._spent[claims.nonce] = claims.exp
        return claims
