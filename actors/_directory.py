"""The directory of live ``AsyncioActor``s: O(1) register, unregister and lookup by URN.

pykka's ``ActorRegistry`` keeps one list and unregisters by scanning it, which
takes hours for 100,000 actors. Here each actor class has a dict keyed by the
actor's ref, so starting and stopping cost O(1). An actor's URN is made the
first time someone reads it (most never are); from then on it is indexed here
too, so a lookup by URN costs O(1) (an actor whose URN nobody has read cannot be
looked up by it: nobody knows it). The directory holds its actors strongly: a
started actor stays alive until it stops, as a pykka thread keeps its actor
alive. Safe from any thread.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, TypeVar

import pykka

if TYPE_CHECKING:
    from actors._actor import AsyncioActor

__all__ = ["ActorDirectory", "directory"]

A = TypeVar("A", bound="AsyncioActor")


class ActorDirectory:
    """Where started ``AsyncioActor``s are kept until they stop; see ``actors.directory``."""

    def __init__(self) -> None:
        self._by_class: dict[type[Any], dict[pykka.ActorRef[Any], AsyncioActor]] = {}
        self._by_urn: dict[str, AsyncioActor] = {}  # the live actors whose URN was read
        self._urn_lock = threading.Lock()

    def register(self, actor: AsyncioActor) -> None:
        """Add a started actor. Called by ``AsyncioActor.start``."""
        ref = actor._actor_ref  # the runtime's partner (also below)
        try:
            self._by_class[type(actor)][ref] = actor
        except KeyError:  # the first of its class
            self._by_class.setdefault(type(actor), {})[ref] = actor
        if ref._urn is not None:  # read before it started
            self.named(actor, ref._urn)

    def unregister(self, actor: AsyncioActor) -> None:
        """Remove a stopped actor; nothing happens if it is not there."""
        ref = actor._actor_ref
        members = self._by_class.get(type(actor))
        if members is not None:
            members.pop(ref, None)
            if not members:
                # A dict keeps the table it grew to; drop it so 100,000 stopped
                # actors leave no 5 MB table behind.
                self._by_class.pop(type(actor), None)
        urn = ref._urn  # made once someone read it
        if urn is not None:
            with self._urn_lock:
                self._by_urn.pop(urn, None)

    def named(self, actor: AsyncioActor, urn: str) -> None:
        """Index a live actor by its URN, just made (called by its ref). Any thread."""
        with self._urn_lock:
            members = self._by_class.get(type(actor))
            if members is not None and actor.actor_ref in members:  # not stopped meanwhile
                self._by_urn[urn] = actor

    def get_by_urn(self, urn: str) -> pykka.ActorRef[Any] | None:
        """The ref of the live actor with this URN, or ``None``."""
        actor = self._by_urn.get(urn)
        return None if actor is None else actor.actor_ref

    def get_all(self) -> list[pykka.ActorRef[Any]]:
        """Refs of every live ``AsyncioActor``."""
        return [
            actor.actor_ref
            for members in list(self._by_class.values())
            for actor in list(members.values())
        ]

    def actors(self) -> list[AsyncioActor]:
        """Every live actor in the directory, of every class (a snapshot; any thread)."""
        return [
            actor for members in list(self._by_class.values()) for actor in list(members.values())
        ]

    def __len__(self) -> int:
        return sum(len(members) for members in list(self._by_class.values()))


directory = ActorDirectory()
"""The process-wide directory of live ``AsyncioActor``s."""
