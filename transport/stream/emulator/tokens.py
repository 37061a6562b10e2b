"""The emulator's credentials: Stream's JWTs, checked the way Stream checks them.

A Stream API request carries ``api_key`` in its query and a JWT (HS256, signed
with the API secret) in ``Authorization``: no ``user_id`` claim makes a server
token, one with it a user token. The coordinator hands out SFU tokens signed
with a key of its own; the emulated SFUs check those. A refusal is a
``Refusal``: the HTTP status, Stream's error code and a message, turned into
the ``APIError`` body the SDK parses (``getstream.models.APIError``).
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import jwt
import msgspec

from messages import EdgeActorsError

__all__ = [
    "CODE_ACCESS_KEY",
    "CODE_INPUT",
    "CODE_NOT_ALLOWED",
    "CODE_NOT_FOUND",
    "CODE_TOKEN_EXPIRED",
    "CODE_TOKEN_SIGNATURE",
    "Keys",
    "Refusal",
    "SfuGrant",
]

# Stream's API error codes, as its REST API documents them.
CODE_ACCESS_KEY = 2
CODE_INPUT = 4
CODE_NOT_FOUND = 16
CODE_NOT_ALLOWED = 17
CODE_TOKEN_EXPIRED = 40
CODE_TOKEN_SIGNATURE = 43


class Refusal(EdgeActorsError):
    """A request the emulator refuses: ``status`` (HTTP), ``code`` (Stream's) and why."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self, started: float) -> dict[str, Any]:
        """The JSON ``APIError`` envelope Stream answers with."""
        return {
            "code": self.code,
            "message": self.message,
            "StatusCode": self.status,
            "duration": f"{(time.monotonic() - started) * 1000:.2f}ms",
            "more_info": "https://getstream.io/chat/docs/api_errors_response",
            "details": [],
        }


class SfuGrant(msgspec.Struct, frozen=True):
    """What an SFU token lets its bearer do: join call ``cid`` as ``user_id``."""

    user_id: str
    cid: str


class Keys:
    """One app's API key and secret, plus the key the coordinator signs SFU tokens with."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self._sfu_secret = secrets.token_urlsafe(32)

    def caller(self, api_key: str | None, token: str | None) -> str | None:
        """Who a coordinator request comes from: a user id, or ``None`` for the server.

        Raises ``Refusal`` (401) for an unknown key or a token not signed with
        the secret, with Stream's code for each case.
        """
        if api_key != self.api_key:
            raise Refusal(
                401, CODE_ACCESS_KEY, f'api_key "{api_key or ""}" not found: check your API key'
            )
        if not token:
            raise Refusal(401, CODE_ACCESS_KEY, "Authorization header is missing: send a JWT")
        claims = self._decode(token, self.api_secret, "the API secret of this key")
        user_id = claims.get("user_id")
        if user_id is None:
            return None
        if not isinstance(user_id, str) or not user_id:
            raise Refusal(401, CODE_TOKEN_SIGNATURE, "the token's user_id claim is not a string")
        return user_id

    def grant(self, user_id: str, cid: str) -> str:
        """An SFU token for ``user_id`` in call ``cid`` (valid for an hour)."""
        claims = {"user_id": user_id, "call_cid": cid, "exp": int(time.time()) + 3600}
        return jwt.encode(claims, self._sfu_secret, algorithm="HS256")

    def check_grant(self, token: str) -> SfuGrant:
        """The grant an SFU token carries; ``Refusal`` (401) if it is not one of ours."""
        claims = self._decode(token, self._sfu_secret, "the coordinator's SFU key")
        user_id, cid = claims.get("user_id"), claims.get("call_cid")
        if not (isinstance(user_id, str) and isinstance(cid, str)):
            raise Refusal(401, CODE_TOKEN_SIGNATURE, "the SFU token has no user_id or call_cid")
        return SfuGrant(user_id, cid)

    @staticmethod
    def _decode(token: str, secret: str, what: str) -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token, secret, algorithms=["HS256"], options={"verify_iat": False}, leeway=5
            )
        except jwt.ExpiredSignatureError:
            raise Refusal(
                401, CODE_TOKEN_EXPIRED, "the token has expired: sign a new one"
            ) from None
        except jwt.InvalidTokenError as exc:
            msg = f"the token is not valid ({exc}): sign it with {what}"
            raise Refusal(401, CODE_TOKEN_SIGNATURE, msg) from None
        if not isinstance(claims, dict):
            raise Refusal(401, CODE_TOKEN_SIGNATURE, "the token's claims are not an object")
        return claims
