"""Rosters of local calls: ``CallRoster`` on the edge, ``RosterView`` in a client.

A call's roster is state with a version: every join, leave or change of a
participant's tracks makes a new version. The edge does not send every version
to every participant. Each participant's outbox holds at most one pending
roster, and the frame is chosen when the socket can take it
(``CallRoster.frame_for``):

- nothing, if the participant already has the newest version;
- a ``RosterDelta`` from the version it has, while that version is in the
  recent-change log and the delta is no larger than a snapshot. Participants
  that are at the same version share one frame, encoded once;
- a full ``Roster`` snapshot otherwise: the first roster of a session, or after
  the participant fell too far behind. All of them share one encoding.

``RosterView`` applies both kinds of frame and ends with the same entries, in
the same order, as the edge's roster at that version (``call.js`` does the same
in the browser).
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Protocol

from transport.local.signaling import EncodedFrame, Roster, RosterDelta, RosterEntry

__all__ = ["ROSTER_LOG", "CallRoster", "RosterFollower", "RosterView"]

logger = logging.getLogger(__name__)

ROSTER_LOG = 1024
"""Recent changes kept per call for deltas; a participant further behind gets a snapshot."""


class RosterFollower(Protocol):
    """What keeps one participant's copy of a roster current (its ``Outbox``)."""

    def roster_changed(self) -> None:
        """The roster changed since this follower last took it; on the edge's loop."""
        ...


class CallRoster:
    """The roster of one call on the edge: entries in join order, a version, recent changes.

    The edge is its one writer (``join``, ``leave``, ``update``, then ``notify``),
    on its loop; sessions read frames from it with ``frame_for`` when their socket
    is ready, and ``wait`` for the next change once they are current. A change
    therefore costs work only for the participants that took the previous one,
    not for everyone in the call.
    """

    def __init__(self) -> None:
        self.version = 0
        """Bumped by every change; a participant's roster is current when it has this one."""
        self.entries: dict[str, RosterEntry] = {}
        """Participant id -> entry, in the order they joined."""
        # (version made, participant id, present before the change), oldest first.
        self._log: deque[tuple[int, str, bool]] = deque(maxlen=ROSTER_LOG)
        self._snapshot: EncodedFrame | None = None  # of self.version
        self._deltas: dict[int, EncodedFrame | None] = {}  # base -> delta to self.version
        self._waiting: dict[RosterFollower, None] = {}  # told at the next notify(), in order

    def __len__(self) -> int:
        return len(self.entries)

    def _changed(self, participant_id: str, present_before: bool) -> None:
        self.version += 1
        self._log.append((self.version, participant_id, present_before))
        self._snapshot = None
        self._deltas.clear()

    def join(self, entry: RosterEntry) -> None:
        """``entry``'s participant joined the call (appended at the end)."""
        self.entries[entry.participant_id] = entry
        self._changed(entry.participant_id, False)

    def leave(self, participant_id: str) -> None:
        """``participant_id`` left the call; nothing changes if it was not in it."""
        if self.entries.pop(participant_id, None) is not None:
            self._changed(participant_id, True)

    def update(self, entry: RosterEntry) -> None:
        """``entry``'s participant now publishes other tracks (its place is kept).

        Ignored for a participant not in the roster (not joined yet, or gone).
        """
        old = self.entries.get(entry.participant_id)
        if old is None or old == entry:
            return
        self.entries[entry.participant_id] = entry
        self._changed(entry.participant_id, True)

    def wait(self, follower: RosterFollower) -> None:
        """Call ``follower.roster_changed()`` at the next ``notify()`` (once)."""
        self._waiting[follower] = None

    def forget(self, follower: RosterFollower) -> None:
        """Do not tell ``follower`` of changes any more (its participant is gone)."""
        self._waiting.pop(follower, None)

    def notify(self) -> None:
        """Tell the followers waiting for a change that there was one (the edge calls it)."""
        waiting, self._waiting = self._waiting, {}
        for follower in waiting:
            follower.roster_changed()

    def snapshot(self) -> EncodedFrame:
        """The whole roster at ``version``, encoded at most once per version and format."""
        if self._snapshot is None:
            self._snapshot = EncodedFrame(Roster(list(self.entries.values()), self.version))
        return self._snapshot

    def frame_for(self, base: int | None) -> EncodedFrame | None:
        """What brings a participant whose roster is version ``base`` to ``version``.

        ``None`` if it is current; a delta while ``base`` is within the log and the
        delta is smaller than the roster; else the snapshot. ``base`` is ``None``
        for a participant that has no roster yet. Frames are shared by every
        participant at the same ``base`` until the next change.
        """
        if base == self.version:
            return None
        if base is None:
            return self.snapshot()
        if base in self._deltas:
            return self._deltas[base] or self.snapshot()
        delta = self._delta(base)
        self._deltas[base] = delta
        return delta or self.snapshot()

    def _delta(self, base: int) -> EncodedFrame | None:
        log = self._log
        if not log or log[0][0] > base + 1 or base > self.version:
            return None  # changes after base have left the log (or base is not ours)
        # participant id -> (present at base, version of its oldest change after base)
        touched: dict[str, tuple[bool, int]] = {}
        for version, participant_id, present_before in reversed(log):
            if version <= base:
                break
            touched[participant_id] = (present_before, version)  # the oldest one wins
        joined: list[tuple[int, RosterEntry]] = []
        changed: list[RosterEntry] = []
        left: list[str] = []
        entries = self.entries
        for participant_id, (present_at_base, first) in touched.items():
            entry = entries.get(participant_id)
            if entry is None:
                if present_at_base:
                    left.append(participant_id)
            elif present_at_base:
                changed.append(entry)
            else:
                joined.append((first, entry))  # first: the version it joined at
        if base + 1 < self.version and len(joined) + len(changed) + len(left) > len(entries):
            return None  # the snapshot is smaller
        joined.sort(key=lambda item: item[0])  # the roster's order is the order of joining
        return EncodedFrame(
            RosterDelta(base, self.version, [entry for _, entry in joined], left, changed)
        )


class RosterView:
    """A client's copy of its call's roster, kept by applying the edge's roster frames.

    ``apply`` takes a ``Roster`` or ``RosterDelta``; ``entries`` then equals the
    edge's roster at ``version``. Used by ``LocalParticipant`` and load clients.
    """

    def __init__(self) -> None:
        self.version: int | None = None
        """The roster version this view shows; ``None`` until the first snapshot."""
        self.entries: dict[str, RosterEntry] = {}
        """Participant id -> entry, in the order they joined."""

    def apply(self, frame: Roster | RosterDelta) -> bool:
        """Apply a roster frame; ``False`` (and nothing changes) for a delta from another version.

        The edge sends a delta only from the version the client has, so a
        refused delta means a broken edge or a frame lost on the way.
        """
        if isinstance(frame, Roster):
            self.entries = {entry.participant_id: entry for entry in frame.participants}
            self.version = frame.version
            return True
        if frame.base != self.version:
            logger.warning(
                "roster delta from version %s, but this roster is at %s: ignored",
                frame.base,
                self.version,
            )
            return False
        entries = self.entries
        for participant_id in frame.left:
            entries.pop(participant_id, None)
        for entry in frame.changed:
            entries[entry.participant_id] = entry
        for entry in frame.joined:
            entries[entry.participant_id] = entry
        self.version = frame.version
        return True

    @property
    def participants(self) -> list[RosterEntry]:
        """The entries as a list, in the order they joined."""
        return list(self.entries.values())
