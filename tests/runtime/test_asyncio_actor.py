"""AsyncioActor: pykka's actor API on an asyncio loop, one message at a time, no thread."""

from __future__ import annotations

import asyncio
import gc
import threading
import weakref
from typing import Any

import pykka
import pytest

import actors


class Recorder(actors.AsyncioActor):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == "seen":
            return list(self.seen)
        if message == "boom":
            raise ValueError("boom")
        self.seen.append(message)
        return len(self.seen)

    def count(self) -> int:
        return len(self.seen)


class Gate(actors.AsyncioActor):
    """An ask that waits on an asyncio.Event the test sets."""

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__()
        self.gate = gate

    async def on_receive(self, message: Any) -> Any:
        await self.gate.wait()
        return message


async def test_messages_are_handled_in_arrival_order() -> None:
    ref = Recorder.start()
    for n in range(1_000):
        ref.tell(n)
    assert await actors.ask(ref, "seen") == list(range(1_000))
    await actors.stop_all()


async def test_eight_threads_of_ten_thousand_tells_lose_nothing() -> None:
    ref = Recorder.start()

    def burst(base: int) -> None:
        for n in range(10_000):
            ref.tell(base + n)

    await asyncio.gather(*(asyncio.to_thread(burst, k * 100_000) for k in range(8)))
    seen = await actors.ask(ref, "seen")
    assert sorted(seen) == sorted(k * 100_000 + n for k in range(8) for n in range(10_000))
    for k in range(8):  # each sender's messages keep their order
        own = [m for m in seen if k * 100_000 <= m < (k + 1) * 100_000]
        assert own == sorted(own)
    await actors.stop_all()


async def test_awaiting_a_slow_ask_never_stalls_other_work_on_the_loop() -> None:
    gate = asyncio.Event()
    ref = Gate.start(gate)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            if ticks == 100:
                gate.set()  # only a loop that keeps running gets here
            await asyncio.sleep(0)

    ticking = asyncio.ensure_future(ticker())
    # Only a loop that keeps running while the ask waits lets the ticker open the
    # gate: a blocked loop fails this at the test's deadline.
    assert await ref.ask("slow", block=False) == "slow"
    ticking.cancel()
    await actors.stop_all()


async def test_ask_from_a_plain_thread_and_from_a_threading_actor() -> None:
    ref = Recorder.start()

    class Asker(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            return ref.ask(message, timeout=10)

    assert await asyncio.to_thread(lambda: ref.ask("from a thread", timeout=10)) == 1
    asker = Asker.start()
    try:
        assert await asyncio.to_thread(lambda: asker.ask("from an actor", timeout=10)) == 2
    finally:
        await asyncio.to_thread(asker.stop)
    await actors.stop_all()


async def test_an_asyncio_actor_awaits_a_threading_actor_without_blocking() -> None:
    class Doubler(pykka.ThreadingActor):
        def on_receive(self, message: Any) -> Any:
            return message * 2

    doubler = Doubler.start()
    try:
        answers = await asyncio.gather(*(actors.ask(doubler, n) for n in range(50)))
        assert answers == [2 * n for n in range(50)]
    finally:
        await asyncio.to_thread(doubler.stop)


async def test_async_handlers_and_proxied_methods() -> None:
    ref = Recorder.start()
    proxy = ref.proxy()
    ref.tell("a")
    assert await proxy.count() == 1
    assert await proxy.seen == ["a"]
    await actors.stop_all()


async def test_an_exception_in_an_ask_reaches_the_caller_and_the_actor_goes_on() -> None:
    ref = Recorder.start()
    with pytest.raises(ValueError, match="boom"):
        await actors.ask(ref, "boom")
    assert await actors.ask(ref, "after") == 1
    await actors.stop_all()


async def test_an_exception_in_a_tell_stops_the_actor_after_on_failure() -> None:
    failures: list[BaseException | None] = []

    class Fragile(Recorder):
        def on_failure(self, exc_type: Any, exc: Any, tb: Any) -> None:
            failures.append(exc)

    ref = Fragile.start()
    ref.tell("boom")
    queued = actors.ask(ref, "never")
    with pytest.raises(pykka.ActorDeadError):
        await queued
    assert not ref.is_alive()
    assert [str(e) for e in failures] == ["boom"]
    with pytest.raises(pykka.ActorDeadError):
        ref.tell("late")


async def test_on_start_and_on_stop_run_on_the_loop_and_may_be_async() -> None:
    events: list[str] = []

    class Lifecycle(actors.AsyncioActor):
        async def on_start(self) -> None:
            await asyncio.sleep(0)
            events.append("started")

        def on_receive(self, message: Any) -> Any:
            events.append(message)

        async def on_stop(self) -> None:
            events.append("stopped")

    ref = Lifecycle.start()
    ref.tell("hello")
    assert await ref.stop(block=False) is True
    assert events == ["started", "hello", "stopped"]
    assert await ref.stop(block=False) is False  # already dead


async def test_stopping_fails_queued_asks_with_actor_dead_error() -> None:
    gate = asyncio.Event()
    ref = Gate.start(gate)
    first = actors.ask(ref, 1)
    stopping = ref.stop(block=False)
    later = actors.ask(ref, 2)
    gate.set()
    assert await first == 1
    assert await stopping is True
    with pytest.raises(pykka.ActorDeadError):
        await later


async def test_get_on_the_loop_thread_says_to_await_instead() -> None:
    gate = asyncio.Event()
    ref = Gate.start(gate)
    pending = ref.ask("x", block=False)
    with pytest.raises(actors.BlockingOnLoopError, match="await"):
        pending.get(timeout=1)
    gate.set()
    assert await pending == "x"
    await actors.stop_all()


def test_starting_without_a_running_loop_is_a_clear_error() -> None:
    with pytest.raises(actors.NoEventLoopError, match="running asyncio event loop"):
        Recorder.start()


async def test_start_on_from_another_thread() -> None:
    loop = asyncio.get_running_loop()
    ref = await asyncio.to_thread(lambda: Recorder.start_on(loop))
    assert await actors.ask(ref, "hi") == 1
    assert await asyncio.to_thread(lambda: ref.ask("seen", timeout=10)) == ["hi"]
    await actors.stop_all()


async def test_an_actor_lives_on_the_loop_of_the_thread_that_makes_it() -> None:
    """Not on the loop that made the last actor, when that loop runs in another thread."""
    ref = Recorder.start()  # this loop, running in this thread, made the last actor
    off_loop = await asyncio.to_thread(Recorder)  # a thread that runs no loop
    with pytest.raises(AttributeError, match="made off any event loop"):
        _ = off_loop.actor_loop

    def on_a_loop_of_its_own() -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]:
        async def main() -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop]:
            theirs = _actor_of(Recorder.start())
            await actors.stop_all()  # this loop's actors only
            return theirs.actor_loop, asyncio.get_running_loop()

        return asyncio.run(main())

    bound_to, running = await asyncio.to_thread(on_a_loop_of_its_own)
    assert bound_to is running
    assert bound_to is not asyncio.get_running_loop()
    mine = _actor_of(Recorder.start())  # the other loop made the last actor meanwhile
    assert mine.actor_loop is asyncio.get_running_loop()
    assert await actors.ask(ref, "hi") == 1
    await actors.stop_all()


async def test_ten_thousand_actors_start_and_stop_leaving_nothing_behind() -> None:
    tasks_before = len(asyncio.all_tasks())
    threads_before = set(threading.enumerate())  # earlier tests' threads may end meanwhile
    refs = [Recorder.start() for _ in range(10_000)]
    for ref in refs:
        ref.tell(1)
    assert await actors.ask(refs[-1], "seen") == [1]
    assert len(actors.directory) == 10_000
    assert await actors.stop_all() == 10_000
    assert len(actors.directory) == 0
    assert len(asyncio.all_tasks()) == tasks_before
    assert set(threading.enumerate()) - threads_before == set()


async def test_an_urn_is_made_when_read_and_finds_its_actor_until_it_stops() -> None:
    unstarted_urn = Recorder().actor_urn
    ref = Recorder.start()
    urn = ref.actor_urn
    assert urn == _actor_of(ref).actor_urn
    assert urn != unstarted_urn
    assert actors.directory.get_by_urn(urn) is ref
    assert actors.directory.get_by_urn(unstarted_urn) is None
    assert await ref.stop(block=False)
    assert actors.directory.get_by_urn(urn) is None
    assert ref.actor_urn == urn  # a stopped actor's ref still says who it was
    await actors.stop_all()


async def test_an_urn_read_before_start_is_found_once_started() -> None:
    class Early(Recorder):
        def __init__(self) -> None:
            super().__init__()
            self.urn_at_init = self.actor_urn

    ref = Early.start()
    urn = _actor_of(ref).urn_at_init
    assert actors.directory.get_by_urn(urn) is ref
    await actors.stop_all()
    assert actors.directory.get_by_urn(urn) is None


async def test_a_thread_waits_on_actor_stopped_until_the_actor_stops() -> None:
    ref = Recorder.start()
    assert await asyncio.to_thread(ref.actor_stopped.wait, 0.01) is False
    waiting = asyncio.ensure_future(asyncio.to_thread(ref.actor_stopped.wait, 10))
    assert await ref.stop(block=False)
    assert await waiting is True
    assert ref.actor_stopped.is_set()
    assert await asyncio.to_thread(ref.actor_stopped.wait, 0) is True


async def test_a_ref_kept_after_the_stop_keeps_no_actor_alive() -> None:
    import gc
    import weakref

    ref = Recorder.start()
    actor = weakref.ref(_actor_of(ref))
    await ref.stop(block=False)
    gc.collect()
    assert actor() is None
    assert ref._actor_weakref() is None  # as pykka's weak reference reads then  # noqa: SLF001
    with pytest.raises(pykka.ActorDeadError):
        ref.tell(1)


async def test_stop_all_stops_an_actor_that_already_has_a_stop_queued() -> None:
    gate = asyncio.Event()
    busy = Gate.start(gate)
    answer = busy.ask("held", block=False)
    first_stop = busy.stop(block=False)  # queued behind the held ask
    idle = Recorder.start()
    stopping = asyncio.ensure_future(actors.stop_all())
    await asyncio.sleep(0)  # one loop turn: stop_all's first step queues every stop
    with pytest.raises(pykka.ActorDeadError):  # queued behind its stop: answered once it stopped
        await idle.ask("after", block=False)
    assert not stopping.done()  # the idle one has stopped; the gate still holds the first
    gate.set()
    assert await stopping == 2
    assert await answer == "held"
    assert await first_stop is True
    assert not busy.is_alive()
    assert not idle.is_alive()


async def test_an_ask_awaited_again_after_its_first_awaiter_was_cancelled_gets_the_answer() -> None:
    gate = asyncio.Event()
    ref = Gate.start(gate)
    answer = ref.ask("late", block=False)
    first = asyncio.ensure_future(_await(answer))
    await asyncio.sleep(0)
    first.cancel()
    second, third = asyncio.ensure_future(_await(answer)), asyncio.ensure_future(_await(answer))
    gate.set()
    assert await second == "late"
    assert await third == "late"
    assert first.cancelled()
    await actors.stop_all()


async def test_a_failed_ask_nobody_awaits_leaves_no_never_retrieved_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ref = Recorder.start()
    unread = ref.ask("boom", block=False)  # asked on the loop: its waiter is made at once
    assert await actors.ask(ref, "seen") == []  # the failed ask has been answered
    assert unread.done()
    del unread
    gc.collect()
    assert not [r for r in caplog.records if "never retrieved" in r.getMessage()]
    await actors.stop_all()


async def test_an_ask_made_on_a_thread_is_awaited_on_the_loop() -> None:
    ref = Recorder.start()
    asked = await asyncio.to_thread(actors.ask, ref, "from a thread")
    assert await asked == 1
    from_loop = actors.ask(ref, "from the loop")
    assert await asyncio.to_thread(from_loop.get, timeout=5) == 2
    await actors.stop_all()


def test_a_tell_from_the_loops_thread_while_the_loop_is_paused_waits_for_it() -> None:
    """A loop that stopped (not closed) in its thread: a tell there queues for its next run."""
    loop = asyncio.new_event_loop()
    try:

        async def start() -> Any:
            return Recorder.start()

        ref = loop.run_until_complete(start())
        ref.tell("while paused")  # on the loop's thread, but the loop is not running
        assert ref.actor_inbox.empty()  # handed to the loop, not yet queued
        assert loop.run_until_complete(_await(actors.ask(ref, "seen"))) == ["while paused"]
        loop.run_until_complete(actors.stop_all())
    finally:
        loop.close()


async def test_an_answer_reaches_tasks_on_two_loops() -> None:
    gate = asyncio.Event()
    ref = Gate.start(gate)
    answer = ref.ask("both", block=False)
    here = asyncio.ensure_future(_await(answer))
    await asyncio.sleep(0)  # this loop awaits first
    awaiting = threading.Event()

    async def on_another_loop() -> Any:
        awaiting.set()
        return await answer

    there = asyncio.ensure_future(asyncio.to_thread(asyncio.run, on_another_loop()))
    await asyncio.to_thread(awaiting.wait, 10)
    gate.set()
    assert await here == "both"
    assert await there == "both"
    await actors.stop_all()


async def test_an_error_answer_is_raised_in_the_awaiting_task() -> None:
    class Stops(actors.AsyncioActor):
        def on_receive(self, message: Any) -> Any:
            if message == "stop-iteration":
                raise StopIteration
            raise KeyError(message)

    ref = Stops.start()
    with pytest.raises(KeyError, match="nope"):
        await actors.ask(ref, "nope")
    with pytest.raises(RuntimeError, match="StopIteration"):
        await actors.ask(ref, "stop-iteration")  # asyncio cannot carry StopIteration
    assert ref.is_alive()
    await actors.stop_all()


async def _await(future: Any) -> Any:
    return await future


def _actor_of(ref: Any) -> Any:
    actor = ref._actor_weakref()  # noqa: SLF001
    assert actor is not None
    return actor


async def test_futures_map_filter_reduce_and_join_without_blocking() -> None:
    ref = Recorder.start()
    for n in (1, 2, 3):
        ref.tell(n)
    seen = ref.ask("seen", block=False)
    assert await seen.map(len) == 3
    assert list(await seen.filter(lambda n: n > 1)) == [2, 3]
    assert await seen.reduce(lambda a, b: a + b) == 6
    assert list(await seen.join(ref.ask("seen", block=False))) == [[1, 2, 3], [1, 2, 3]]
    await actors.stop_all()


async def test_registering_with_pykka_is_opt_in_and_undone_on_stop() -> None:
    class Visible(Recorder):
        register_with_pykka = True

    hidden, visible = Recorder.start(), Visible.start()
    assert visible in pykka.ActorRegistry.get_all()
    assert hidden not in pykka.ActorRegistry.get_all()
    await actors.stop_all()
    assert visible not in pykka.ActorRegistry.get_all()


class Greeter(actors.AsyncioActor):
    """An actor whose ``on_start`` (sync) ran before any mail arrived."""

    def __init__(self, started: asyncio.Event) -> None:
        super().__init__()
        self.started = started

    def on_start(self) -> None:
        self.started.set()

    def on_receive(self, message: Any) -> Any:
        return f"hello {message}"


class AsyncGreeter(Greeter):
    async def on_start(self) -> None:  # type: ignore[override]
        await asyncio.sleep(0)
        self.started.set()


@pytest.mark.parametrize("kind", [Greeter, AsyncGreeter], ids=["sync", "async"])
async def test_an_actor_hears_mail_sent_after_on_start_has_finished(kind: type[Greeter]) -> None:
    started = asyncio.Event()
    ref = kind.start(started)
    await started.wait()  # on_start has returned and found no mail waiting
    assert await asyncio.wait_for(actors.ask(ref, "world"), 5.0) == "hello world"
    assert await ref.stop(block=False) is True


class Doomed(actors.AsyncioActor):
    """Raises a BaseException (not an Exception) when told to; notes on_stop."""

    def __init__(self, stopped: list[str]) -> None:
        super().__init__()
        self.stopped = stopped

    def on_receive(self, message: Any) -> Any:
        if message == "die":
            raise BaseException("not an Exception")
        return message

    def on_stop(self) -> None:
        self.stopped.append("doomed")


class Bystander(Doomed):
    def on_stop(self) -> None:
        self.stopped.append("bystander")


async def test_a_base_exception_stops_every_actor_after_on_stop_as_pykka_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stopped: list[str] = []
    doomed = Doomed.start(stopped)
    bystander = Bystander.start(stopped)
    with pytest.raises(pykka.ActorDeadError):
        await asyncio.wait_for(actors.ask(doomed, "die"), 5.0)
    await asyncio.wait_for(actors.stop_all(), 5.0)  # nothing left running: returns at once
    assert sorted(stopped) == ["bystander", "doomed"]
    assert not doomed.is_alive()
    assert not bystander.is_alive()
    assert "Exception in callback" not in caplog.text  # nothing was raised into the loop


def test_set_get_hook_is_refused_once_a_result_is_set() -> None:
    import queue

    future: actors.AsyncioFuture[int] = actors.AsyncioFuture()
    future.set(123)
    with pytest.raises(queue.Full):
        future.set_get_hook(lambda timeout: 456)
    assert future.get(timeout=0) == 123


def test_an_actor_can_be_made_off_any_loop_but_not_started_there() -> None:
    unstarted = Recorder()  # no loop in this thread: fine, as with pykka
    assert "Recorder" in str(unstarted)
    with pytest.raises(pykka.ActorDeadError, match="never started"):
        unstarted.actor_ref.tell("hello")
    with pytest.raises(actors.NoEventLoopError, match=r"Recorder\.start\(\) needs a running"):
        Recorder.start()


class Exiting(Doomed):
    """Raises the exception it is told (``SystemExit``, ``KeyboardInterrupt``)."""

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, BaseException):
            raise message
        return message


@pytest.mark.parametrize("error", [SystemExit(3), KeyboardInterrupt()], ids=type)
def test_an_exit_in_a_handler_ends_the_loop_with_no_actor_left_alive_and_deaf(
    error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    stopped: list[str] = []
    started: dict[str, Any] = {}
    loop = asyncio.new_event_loop()

    async def main() -> None:
        started["bystander"] = bystander = Bystander.start(stopped)
        assert await actors.ask(bystander, "ready") == "ready"
        Exiting.start(stopped).tell(error)
        started["queued"] = actors.ask(bystander, "never handled")  # behind the exit
        await asyncio.Event().wait()  # the exit ends the loop first

    task = loop.create_task(main())
    try:
        with pytest.raises(type(error)):
            loop.run_until_complete(task)
        # The loop has ended: nothing runs on it any more, and nothing says otherwise.
        assert sorted(stopped) == ["bystander", "doomed"]
        assert not started["bystander"].is_alive()
        assert actors.directory.get_all() == []
        with pytest.raises(pykka.ActorDeadError):
            started["queued"].get(timeout=0)
    finally:
        task.cancel()
        loop.run_until_complete(asyncio.gather(task, return_exceptions=True))
        loop.close()
    assert "Exception in callback" not in caplog.text


def test_a_loop_that_ran_actors_is_freed_once_it_is_closed_and_dropped() -> None:
    import gc
    import weakref

    class Echo(actors.AsyncioActor):
        def on_receive(self, message: Any) -> Any:
            return message

    async def use() -> None:
        ref = Echo.start()
        assert await actors.ask(ref, "hi") == "hi"
        await actors.stop_all()

    loop = asyncio.new_event_loop()
    loop.run_until_complete(use())
    loop.close()
    gone = weakref.ref(loop)
    del loop
    gc.collect()
    assert gone() is None, "a closed loop is kept alive by the runtime"


class _Note:
    """A message a test can hold a weak reference to."""


class _Keeper(actors.AsyncioActor):
    """Handles two messages per turn and, at each, looks at which earlier ones are still alive."""

    mailbox_batch = 2

    def __init__(self) -> None:
        super().__init__()
        self.earlier: list[weakref.ref[_Note]] = []
        self.alive_at: list[int] = []

    def on_receive(self, message: Any) -> Any:
        if message == "alive":
            return self.alive_at
        gc.collect()
        self.alive_at.append(sum(ref() is not None for ref in self.earlier))
        self.earlier.append(weakref.ref(message))
        return None


async def test_a_long_mailbox_keeps_no_message_alive_once_a_turn_has_handled_it() -> None:
    ref = _Keeper.start()
    for _ in range(5):
        ref.tell(_Note())  # nothing else holds them: only the mailbox, until handled
    # Turn 1 handles notes 0 and 1 (note 0 is still in the turn when note 1 runs),
    # turn 2 notes 2 and 3, turn 3 note 4: at each turn's first note, none before lives.
    assert await actors.ask(ref, "alive") == [0, 1, 0, 1, 0]
    await actors.stop_all()


# -- one message at a time: the mailbox holds a lone item without a list --------------
# Each test sends the next message only once the actor has handled the one before
# (a future its handler settles, or an ask to another actor queued behind it), so
# every message arrives to an idle actor.


class _Lone(actors.AsyncioActor):
    """Notes each message with its mailbox depth; settles ``reached[message]`` when handled."""

    def __init__(self, reached: dict[Any, asyncio.Future[None]]) -> None:
        super().__init__()
        self.reached = reached
        self.seen: list[tuple[Any, int]] = []
        self.dropped: list[Any] = []

    def on_receive(self, message: Any) -> Any:
        if message == "seen":
            return self.seen
        inbox = self.actor_ref.actor_inbox
        self.seen.append((message, len(inbox)))
        if message == "first":
            self.actor_ref.tell("second")  # comes while "first" is being handled
            self.seen.append(("told second", len(inbox)))
        if message in self.reached:
            self.reached[message].set_result(None)
        if message == "boom":
            raise ValueError("boom")
        return None

    def on_dropped(self, message: Any) -> None:
        self.dropped.append(message)


def _futures(*names: str) -> dict[Any, asyncio.Future[None]]:
    loop = asyncio.get_running_loop()
    return {name: loop.create_future() for name in names}


async def test_mail_that_comes_while_a_lone_message_is_handled_follows_it_in_order() -> None:
    reached = _futures("second")
    ref = _Lone.start(reached)
    ref.tell("first")
    assert len(ref.actor_inbox) == 1
    await reached["second"]
    assert len(ref.actor_inbox) == 0
    assert await actors.ask(ref, "seen") == [("first", 0), ("told second", 1), ("second", 0)]
    assert ref._actor_weakref().messages_handled == 3  # type: ignore[attr-defined]  # noqa: SLF001
    await actors.stop_all()


async def test_a_lone_tell_that_fails_stops_the_actor_and_drops_nothing() -> None:
    reached = _futures("boom")
    ref = _Lone.start(reached)
    actor = ref._actor_weakref()  # type: ignore[attr-defined]  # noqa: SLF001
    ref.tell("boom")
    await reached["boom"]  # the turn ends with the failure: the actor is gone once we wake
    assert not ref.is_alive()
    assert actor.dropped == []


async def test_a_lone_tell_failing_again_after_its_restart_is_dropped_once() -> None:
    loop = asyncio.get_running_loop()
    second_try: asyncio.Future[None] = loop.create_future()

    class Poisoned(actors.AsyncioActor):
        restart_policy = actors.RestartPolicy(max_restarts=3, within=60.0)

        def __init__(self) -> None:
            super().__init__()
            self.tries = 0

        def on_receive(self, message: Any) -> Any:
            if message == "poison":
                self.tries += 1
                if self.tries == 2:
                    second_try.set_result(None)
                raise RuntimeError("poison")
            return self.tries

    ref = Poisoned.start()
    ref.tell("poison")  # fails, restart; the retry fails too: restart, and it is dropped
    await second_try
    assert await actors.ask(ref, "tries") == 2  # not tried a third time
    assert ref._actor_weakref().restart_count == 2  # type: ignore[attr-defined]  # noqa: SLF001
    await actors.stop_all()


async def test_a_lone_message_with_an_async_handler_is_handled_once() -> None:
    loop = asyncio.get_running_loop()
    gate = asyncio.Event()
    done: asyncio.Future[None] = loop.create_future()

    class Slow(actors.AsyncioActor):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[Any] = []

        async def on_receive(self, message: Any) -> Any:
            if message == "seen":
                return self.seen
            self.seen.append(message)
            await gate.wait()
            done.set_result(None)
            return None

    ref = Slow.start()
    other = Recorder.start()
    ref.tell("slow")
    gate.set()
    await done
    # The slow actor's next turn (it finds its lone message handled) is queued
    # before this ask: once the other actor answers, that turn has run.
    await actors.ask(other, "barrier")
    assert await actors.ask(ref, "seen") == ["slow"]
    await actors.stop_all()


async def test_an_item_taken_with_pykkas_inbox_get_is_not_handled_and_later_mail_is() -> None:
    ref = Recorder.start()
    inbox = ref.actor_inbox
    ref.tell("taken")  # a lone item, its turn not yet run
    envelope = inbox.get()
    assert (envelope.message, envelope.reply_to) == ("taken", None)
    assert inbox.empty()
    with pytest.raises(IndexError):
        inbox.get()
    ref.tell("kept")
    assert await actors.ask(ref, "seen") == ["kept"]
    await actors.stop_all()


async def test_a_lone_message_handled_or_taken_is_not_kept_alive_by_the_mailbox() -> None:
    ref = _Keeper.start()  # keeps weak references only
    other = Recorder.start()
    note = _Note()
    handled = weakref.ref(note)
    ref.tell(note)
    del note
    await actors.ask(other, "barrier")  # the keeper's turn was queued first: it has run
    gc.collect()
    assert handled() is None
    note = _Note()
    taken = weakref.ref(note)
    ref.tell(note)
    del note
    assert ref.actor_inbox.get().message is taken()
    gc.collect()
    assert taken() is None
    await actors.stop_all()
