"""Short-lived join tokens: HMAC-SHA256 over the call, the user and an expiry.

A token is ``<payload>.<signature>``, both base64url: the payload is JSON
``{"call": ..., "user": ..., "exp": ..., "kind": ...}``. The edge that issues it
is the one that checks it; the secret never leaves the process.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

import msgspec

from messages import ParticipantKind

__all__ = ["JoinClaims", "JoinTokens", "TokenError"]


class TokenError(ValueError):
    """A join token was refused; the message says why (malformed, forged, expired, wrong call)."""


class JoinClaims(msgspec.Struct, frozen=True):
    """What a valid token lets its bearer do: join ``call`` as ``user``, until ``exp``."""

    call: str
    user: str
    exp: float
    kind: ParticipantKind = ParticipantKind.HUMAN


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

    def _sign(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def issue(
        self,
        call_id: str,
        user_id: str,
        *,
        ttl: float = 600.0,
        kind: ParticipantKind = ParticipantKind.HUMAN,
    ) -> str:
        """A token for ``user_id`` to join ``call_id`` within ``ttl`` seconds."""
        claims = JoinClaims(call_id, user_id, self._clock() + ttl, kind)
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
        except msgspec.DecodeError:
            raise TokenError("malformed join token payload") from None
        if claims.exp < self._clock():
            raise TokenError("join token expired")
        if claims.call != call_id:
            raise TokenError(f"join token is for call {claims.call!r}, not {call_id!r}")
        return claims
