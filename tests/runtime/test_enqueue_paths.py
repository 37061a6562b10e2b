"""A tell's written-out enqueue path leaves the mailbox exactly as ``put_here`` does.

``AsyncioActorRef.tell`` copies ``put_here`` for speed (the mailbox's one
second path). Two actors get the same steps, one through ``tell`` and one
through ``put_here``; after every step their mailboxes and run-queue entries
must match, and in the end they must have handled the same messages in the
same order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import actors
from actors._dispatcher import dispatcher_for
from actors._mailbox import ONE, AsyncioActorRef

# A step: tell n messages in a row, or let the loop run until both are idle.
STEPS = st.lists(st.one_of(st.integers(1, 70), st.just("run")), min_size=1, max_size=12)


class Log(actors.AsyncioActor):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def on_receive(self, message: Any) -> None:
        self.seen.append(message)


def _shape(mailbox: AsyncioActorRef) -> tuple[Any, ...]:
    queue = mailbox._queue  # noqa: SLF001
    if queue is None:
        return ("idle", mailbox._head)  # noqa: SLF001
    if queue is ONE:
        return ("one", mailbox._one, mailbox._head)  # noqa: SLF001
    return ("list", list(queue), mailbox._head)  # noqa: SLF001


def _scheduled(actor: actors.AsyncioActor) -> int:
    return sum(1 for queued in dispatcher_for(asyncio.get_running_loop())._ready if queued is actor)  # noqa: SLF001


async def _same_steps(steps: list[int | str]) -> None:
    told, put = Log.start(), Log.start()
    told_actor, put_actor = told._actor_weakref(), put._actor_weakref()  # noqa: SLF001
    assert told_actor is not None
    assert put_actor is not None
    sent = 0
    for step in steps:
        if step == "run":
            await actors.ask(told, "barrier")
            await actors.ask(put, "barrier")
            continue
        assert isinstance(step, int)
        for _ in range(step):
            told.tell(sent)
            put.actor_inbox._put_here(sent)  # type: ignore[attr-defined]  # noqa: SLF001
            sent += 1
            assert _shape(told.actor_inbox) == _shape(put.actor_inbox)  # type: ignore[arg-type]
            assert _scheduled(told_actor) == _scheduled(put_actor) == 1
    await actors.ask(told, "barrier")
    await actors.ask(put, "barrier")
    assert told_actor.seen == put_actor.seen
    assert [m for m in told_actor.seen if m != "barrier"] == list(range(sent))
    await actors.stop_all()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_tell_and_put_here_leave_the_same_mailbox(steps: list[int | str]) -> None:
    asyncio.run(_same_steps(steps))
