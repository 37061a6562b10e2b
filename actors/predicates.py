"""Predicates over a ``Presence`` snapshot, for ``Connection.wait_for``.

A wait checks its predicate against the state at the moment it starts, then
after every change, on the connection actor's loop, until it holds. The ready-made ones
are frozen msgspec structs, so a recording can carry them and a replay can
evaluate them again; any ``Callable[[Presence], bool]`` works too (it is wrapped
in ``FunctionOf``, which a recording notes but cannot replay).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec

from actors.presence import Presence
from messages import ConnectionState, ParticipantKind, TrackType

__all__ = [
    "AtLeast",
    "FunctionOf",
    "EmptyFor",
    "KindPresent",
    "Predicate",
    "Someone",
    "TrackPublished",
    "UserPresent",
    "as_predicate",
]


class Predicate(msgspec.Struct, frozen=True, tag=True):
    """Base of the ready-made predicates."""

    def holds(self, presence: Presence, now: float) -> bool:
        """Whether the predicate is true of ``presence`` at clock reading ``now``."""
        raise NotImplementedError

    def due(self, presence: Presence) -> float | None:
        """When the passing of time alone could make it true (``None``: never)."""
        return None


class Someone(Predicate, frozen=True):
    """Anyone but the agent is present (``wait_for_participant()``)."""

    def holds(self, presence: Presence, now: float) -> bool:
        return bool(presence.participants)


class UserPresent(Predicate, frozen=True):
    """A session of ``user_id`` is present (``wait_for_participant(user_id=...)``)."""

    user_id: str

    def holds(self, presence: Presence, now: float) -> bool:
        return any(p.user_id == self.user_id for p in presence.participants)


class KindPresent(Predicate, frozen=True):
    """A participant of ``kind`` (human, agent, sip) is present."""

    kind: ParticipantKind

    def holds(self, presence: Presence, now: float) -> bool:
        return any(p.kind == self.kind for p in presence.participants)


class TrackPublished(Predicate, frozen=True):
    """A track of ``track_type`` is published (by ``user_id``, if given)."""

    track_type: TrackType
    user_id: str | None = None

    def holds(self, presence: Presence, now: float) -> bool:
        if self.user_id is None:
            return any(t.track_type == self.track_type for t in presence.tracks)
        owners = {p.id for p in presence.participants if p.user_id == self.user_id}
        return any(
            t.track_type == self.track_type and t.participant_id in owners for t in presence.tracks
        )


class AtLeast(Predicate, frozen=True):
    """At least ``count`` participants are present."""

    count: int

    def holds(self, presence: Presence, now: float) -> bool:
        return len(presence.participants) >= self.count


_EMPTY = (ConnectionState.WAITING, ConnectionState.IDLE)


class EmptyFor(Predicate, frozen=True):
    """Nobody has been present for ``seconds`` (waiting from the start, or idle)."""

    seconds: float

    def holds(self, presence: Presence, now: float) -> bool:
        return presence.state in _EMPTY and now - presence.since >= self.seconds

    def due(self, presence: Presence) -> float | None:
        if presence.state in _EMPTY:
            return presence.since + self.seconds
        return None


class FunctionOf(Predicate, frozen=True):
    """A plain function of the presence; evaluated like the others, not replayable."""

    func: Any
    name: str = ""

    def holds(self, presence: Presence, now: float) -> bool:
        return bool(self.func(presence))


def as_predicate(predicate: Predicate | Callable[[Presence], bool]) -> Predicate:
    """Return ``predicate`` as a ``Predicate`` (functions are wrapped in ``FunctionOf``)."""
    if isinstance(predicate, Predicate):
        return predicate
    if callable(predicate):
        return FunctionOf(predicate, getattr(predicate, "__qualname__", repr(predicate)))
    msg = f"a wait needs a Predicate or a function of the presence, not {predicate!r}"
    raise TypeError(msg)
