"""Backpressure: bounded mailboxes refuse a tell when full; an awaiting sender waits for room."""

from __future__ import annotations

import asyncio
from typing import Any

import pykka
import pytest

import actors


class Slow(actors.AsyncioActor):
    mailbox_capacity = 3

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__()
        self.gate = gate
        self.started = asyncio.Event()  # set once the first message is being handled
        self.seen: list[Any] = []

    async def on_receive(self, message: Any) -> Any:
        self.started.set()
        await self.gate.wait()
        self.seen.append(message)
        return list(self.seen)


async def test_a_tell_to_a_full_mailbox_raises_and_is_counted() -> None:
    gate = asyncio.Event()
    ref = Slow.start(gate)
    ref.tell(0)
    await ref._actor_weakref().started.wait()  # type: ignore[attr-defined]  # 0 is in hand  # noqa: SLF001
    for n in (1, 2, 3):
        ref.tell(n)
    with pytest.raises(actors.MailboxFullError, match="3 messages"):
        ref.tell(4)
    assert ref.actor_inbox.refused == 1  # type: ignore[attr-defined]
    gate.set()
    assert await actors.ask(ref, "last") == [0, 1, 2, 3, "last"]
    await actors.stop_all()


async def test_send_waits_for_room_and_loses_nothing() -> None:
    gate = asyncio.Event()
    ref = Slow.start(gate)
    senders = [asyncio.ensure_future(actors.send(ref, n)) for n in range(20)]
    await ref._actor_weakref().started.wait()  # type: ignore[attr-defined]  # noqa: SLF001
    assert sum(not s.done() for s in senders) >= 15  # at most 1 in hand + 3 queued + 1 racing
    gate.set()
    await asyncio.gather(*senders)
    seen = await actors.ask(ref, "check")
    assert sorted(m for m in seen if isinstance(m, int)) == list(range(20))
    await actors.stop_all()


async def test_send_to_a_stopped_actor_raises_actor_dead_error() -> None:
    gate = asyncio.Event()
    gate.set()
    ref = Slow.start(gate)
    await ref.stop(block=False)
    with pytest.raises(pykka.ActorDeadError):
        await actors.send(ref, 1)
