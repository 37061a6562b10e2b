"""Stream credentials: from arguments or ``STREAM_API_KEY`` / ``STREAM_API_SECRET``."""

from __future__ import annotations

import os

import msgspec

from transport.stream.errors import StreamCredentialsError

__all__ = ["StreamCredentials", "StreamCredentialsError", "resolve_credentials"]


class StreamCredentials(msgspec.Struct, frozen=True):
    """An API key and secret for Stream (the secret never leaves the process)."""

    api_key: str
    api_secret: str = msgspec.field(default="")

    def __repr__(self) -> str:
        return f"StreamCredentials(api_key={self.api_key!r}, api_secret='***')"


def resolve_credentials(api_key: str | None, api_secret: str | None) -> StreamCredentials:
    """Arguments first, then the environment; ``StreamCredentialsError`` if either is missing."""
    key = api_key or os.environ.get("STREAM_API_KEY", "")
    secret = api_secret or os.environ.get("STREAM_API_SECRET", "")
    missing = [
        name
        for name, value in (("STREAM_API_KEY", key), ("STREAM_API_SECRET", secret))
        if not value
    ]
    if missing:
        msg = (
            f"Stream credentials missing: {' and '.join(missing)}. Pass api_key/api_secret to "
            "StreamEdge() or set them in the environment (from your Stream dashboard)."
        )
        raise StreamCredentialsError(msg)
    return StreamCredentials(key, secret)
