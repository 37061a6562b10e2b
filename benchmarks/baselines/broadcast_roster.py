"""The roster as the local edge sent it before issue 31: all of it to everyone, on every change.

``BroadcastRosterEdge`` is a ``LocalEdge`` whose roster announcements do what
``LocalEdge.roster_changed`` did then. Every join, leave and track change
builds the full roster and queues it for every participant as an ordinary frame.
Each recipient encodes its own copy and gets its own send. The frame counts
against ``max_outbox`` like an answer would, and nothing is conflated, so a
participant that lags gets every stale roster in turn. Everything else is the
edge as shipped: the signaling, the sessions, the slow-reader rule's deadline.
One difference, in the baseline's favour: the joiner also gets the conflated
edge's first snapshot (one frame more per join, against n per change).

For the ``large_call`` benchmark only; not part of the library.
"""

from __future__ import annotations

from transport.local import LocalEdge
from transport.local.signaling import Roster

__all__ = ["BroadcastRosterEdge"]


class BroadcastRosterEdge(LocalEdge):
    """A ``LocalEdge`` that sends every participant the full roster on every change."""

    def _announce(self, call_id: str) -> None:
        roster = self._rosters.get(call_id)
        if roster is None:
            return
        entries = list(roster.entries.values())
        for session in self.sessions(call_id):
            session.send(Roster(entries, roster.version))  # a frame, and an encoding, each
