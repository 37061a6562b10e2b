"""The seed's usage example, pointed at this library, with MemoryEdge in place of StreamEdge.

Its structure is kept line for line; only time is virtual: ``time.time`` reads
the edge's ``VirtualClock`` and ``asyncio.sleep(1.0)`` advances it by a second,
so the example's 30-second idle wait takes no real time.
"""

from __future__ import annotations

import asyncio
from typing import Any

from transport import MemoryEdge, TrackAddedEvent, TrackType, User, VirtualClock


class Lines(list[str]):
    """The example's printed lines; ``waiting`` is set once it starts waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting = asyncio.Event()

    def append(self, line: str) -> None:
        super().append(line)
        if line == "Waiting for participant...":
            self.waiting.set()


def _seed_example(edge: MemoryEdge, agent: Any, time: Any, sleep: Any, out: Lines) -> Any:
    async def run_agent() -> None:
        # Authenticate
        await edge.authenticate(User(id="agent-support-1", name="Support Agent"))
        # Create call and join
        call = await edge.create_call("support-session-789")
        connection = await edge.join(agent, call)

        # Subscribe to track events
        @edge.events.subscribe
        async def on_track_added(event: TrackAddedEvent) -> None:
            if event.track_type == TrackType.AUDIO:
                out.append(f"Audio track: {event.track_id}")
            elif event.track_type == TrackType.VIDEO:
                out.append(f"Video track: {event.track_id}")

        try:
            # Wait up to 60 seconds for a participant
            out.append("Waiting for participant...")
            await connection.wait_for_participant(timeout=60.0)
            out.append("Participant joined!")
            # Monitor for inactivity
            while True:
                idle_time = connection.idle_since()
                if idle_time > 0:
                    elapsed = time.time() - idle_time
                    if elapsed > 30.0:
                        out.append("Idle for 30s, ending call")
                        break
                await sleep(1.0)
        except TimeoutError:
            out.append("No participant joined, closing")
        finally:
            await connection.close()
            await edge.close()

    return run_agent


async def test_the_seed_usage_example_runs_on_this_library() -> None:
    clock = VirtualClock()
    edge = MemoryEdge(clock=clock)
    agent = User(id="agent-support-1", name="Support Agent")
    out = Lines()

    async def tick(seconds: float) -> None:
        clock.advance(seconds)
        await asyncio.sleep(0)  # let the actors run; time itself is virtual

    async def customer() -> None:
        person = edge.participant("support-session-789", "customer")
        await person.join()
        await person.publish(TrackType.AUDIO)
        await person.publish(TrackType.VIDEO)
        await person.leave()

    run_agent = _seed_example(edge, agent, clock, tick, out)
    agent_task = asyncio.ensure_future(run_agent())
    await out.waiting.wait()  # the agent is in the call and waiting
    await customer()
    await asyncio.wait_for(agent_task, timeout=10)
    assert out[0] == "Waiting for participant..."
    assert out[1] == "Participant joined!"
    assert [line.split(":")[0] for line in out[2:4]] == ["Audio track", "Video track"]
    assert out[-1] == "Idle for 30s, ending call"


async def test_the_seed_example_reports_when_nobody_joins() -> None:
    clock = VirtualClock()
    edge = MemoryEdge(clock=clock)
    out = Lines()
    run_agent = _seed_example(edge, User("agent-support-1"), clock, asyncio.sleep, out)
    agent_task = asyncio.ensure_future(run_agent())
    await out.waiting.wait()  # the wait and its 60 s timer are set by now
    clock.advance(60)
    await asyncio.wait_for(agent_task, timeout=10)
    assert out == ["Waiting for participant...", "No participant joined, closing"]
