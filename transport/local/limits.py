"""``LocalLimits``: what one peer may hold on a ``LocalEdge``, and how long it may take.

Peers are hostile until proven otherwise: every resource a participant can make
the edge hold has a cap, and every wait on a participant has a deadline. Past a
cap the frame is refused with an ``ErrorFrame`` (tag ``Error``) (the participant stays); a peer
that misses a deadline is dropped (``ParticipantLeft`` with reason ``dropped``).
"""

from __future__ import annotations

import math
import resource

import msgspec

__all__ = ["LocalLimits"]


class LocalLimits(msgspec.Struct, frozen=True):
    """Per-peer caps and deadlines of a ``LocalEdge`` (``LocalEdge(limits=...)``)."""

    join_timeout: float = 5.0
    """Seconds a new connection has to send its request head, and a new socket a valid ``Join``.

    A connection with no complete request head by then is cut; a websocket with
    no ``Join`` is closed (code 4408).
    """
    heartbeat: float = 2.0
    """Seconds between websocket pings to a peer that sent nothing meanwhile.

    A peer that does not answer within half of it is dropped: one whose
    machine or network vanished without closing the socket is gone within
    about two heartbeats.
    """
    send_timeout: float = 2.0
    """Seconds a peer may read nothing while the edge has frames for it; then it is dropped.

    A peer that reads, however slowly, keeps its seat: it misses roster versions
    (it gets the newest when it can take it), never a frame of another kind.
    """
    max_pending: int | None = None
    """Sockets connected but not joined yet, at once; past it the one waiting longest is cut.

    ``None``: a quarter of this process's file-descriptor limit, at most 512.
    """
    max_tracks: int = 8
    """Tracks one participant may publish at once (one per transceiver)."""
    max_receive: int = 16
    """Agent tracks one participant may receive at once."""
    max_outbox: int = 256
    """Frames that cannot be conflated (all but the roster) queued for one peer; past it, cut."""
    send_buffer: int | None = None
    """Bytes buffered for one peer (its socket's send buffer, and as much again above it).

    Past that the peer's writer waits for it to read. ``None``: the system's defaults.
    """
    max_refused: int = 32
    """Frames of one participant refused (malformed, unexpected, over a cap); then it is dropped."""

    def __post_init__(self) -> None:
        for name in ("join_timeout", "heartbeat", "send_timeout"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                msg = f"LocalLimits.{name} must be a positive, finite number of seconds"
                raise ValueError(msg)
        for name in (
            "max_pending",
            "max_tracks",
            "max_receive",
            "max_outbox",
            "max_refused",
            "send_buffer",
        ):
            value = getattr(self, name)
            if value is not None and value < 1:
                msg = f"LocalLimits.{name} must be at least 1"
                raise ValueError(msg)

    def pending_cap(self) -> int:
        """``max_pending``, or the default it stands for on this machine."""
        if self.max_pending is not None:
            return self.max_pending
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return 512
        return max(16, min(512, soft // 4))
