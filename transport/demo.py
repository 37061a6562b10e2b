"""The local demo (``make run``): an agent and three people in a real WebRTC call on loopback.

A ``LocalEdge`` starts; an agent joins call ``demo``; three ``LocalParticipant``s
join, publish audio, video and a screen share, unpublish and leave on a script,
while the agent's event log and the call's presence print live. The agent
closes the connection once the call has been idle for 5 seconds (its
``idle_timeout``) and the program exits 0, all within a minute.
``--browser`` prints a join URL for a person instead and waits for them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from transport import (
    Connection,
    ConnectionClosedEvent,
    ConnectionOptions,
    ConnectionState,
    EdgeEvent,
    TrackType,
    User,
)
from transport.local import LocalEdge

__all__ = ["main"]

AGENT = User(id="demo-agent", name="Demo Agent")
IDLE_TIMEOUT = 5.0


def _describe(event: Any) -> str:
    name = type(event).__name__.removesuffix("Event")
    participant = getattr(event, "participant", None)
    who = f" {participant.id}" if participant is not None else ""
    if hasattr(event, "track_type"):
        return f"{name}{who}: {event.track_type.name}"
    if name == "ConnectionState":
        return f"state {event.previous.value} -> {event.state.value}"
    reason = getattr(event, "reason", "")
    return f"{name}{who}" + (f" ({reason})" if reason and name != "ParticipantJoined" else "")


class _View:
    """What the terminal shows: the event log and the presence table."""

    def __init__(self, connection: Connection, started: float) -> None:
        self.connection = connection
        self.started = started
        self.log: list[str] = []

    def add(self, line: str) -> None:
        self.log.append(f"{time.monotonic() - self.started:6.2f}s  {line}")

    def render(self) -> Table:
        presence = self.connection.presence
        outer = Table.grid(padding=(0, 2))
        people = Table(title=f"call demo: {presence.state.value}", min_width=60)
        people.add_column("participant")
        people.add_column("tracks")
        for participant in presence.participants:
            kinds = [
                t.track_type.name for t in presence.tracks if t.participant_id == participant.id
            ]
            people.add_row(participant.user_id, ", ".join(kinds) or "-")
        events = Table(title="agent's event log", min_width=60)
        events.add_column("event")
        for line in self.log[-16:]:
            events.add_row(line)
        outer.add_row(people)
        outer.add_row(events)
        return outer


async def _script(edge: LocalEdge) -> None:
    """Three participants join, publish, unpublish and leave."""
    alice = edge.participant("demo", "alice")
    bob = edge.participant("demo", "bob")
    carol = edge.participant("demo", "carol")
    await alice.join()
    await alice.publish(TrackType.AUDIO)
    await alice.publish(TrackType.VIDEO)
    await asyncio.sleep(0.6)  # pacing for a person watching, not waiting for state
    await bob.join()
    await bob.publish(TrackType.AUDIO)
    screen = await bob.publish(TrackType.SCREEN_SHARE)
    await asyncio.sleep(0.6)
    await carol.join()
    await carol.publish(TrackType.VIDEO)
    await asyncio.sleep(0.6)
    await bob.unpublish(screen)
    await asyncio.sleep(0.6)
    await alice.leave()
    await carol.drop()  # vanishes without saying goodbye
    await asyncio.sleep(0.6)
    await bob.leave()


async def run(browser: bool, console: Console) -> int:
    """Run the demo; returns the exit status."""
    options = ConnectionOptions(idle_timeout=IDLE_TIMEOUT)
    async with LocalEdge(options=options) as edge:
        await edge.authenticate(AGENT)
        call = await edge.create_call("demo")
        connection = await edge.join(AGENT, call)
        view = _View(connection, time.monotonic())

        @edge.events.subscribe
        async def log(event: EdgeEvent) -> None:
            view.add(_describe(event))

        if browser:
            url = edge.join_url("demo", "guest")
            console.print("Open this in a browser to join the call (the link admits one join):")
            print(url, flush=True)  # plain: a wrapped URL would not paste
            console.print(f"The agent closes the call {IDLE_TIMEOUT:.0f} s after everyone left.")
        with Live(view.render(), console=console, refresh_per_second=8) as live:
            script = None if browser else asyncio.ensure_future(_script(edge))
            closed = asyncio.ensure_future(_until_closed(connection))
            while not closed.done():
                live.update(view.render())
                await asyncio.wait({closed}, timeout=0.125)
            live.update(view.render())
            if script is not None:
                await script
        console.print(
            f"Everyone left; after {IDLE_TIMEOUT:.0f} s idle the agent closed the connection "
            f"({len(view.log)} events in {time.monotonic() - view.started:.1f} s)."
        )
    return 0


async def _until_closed(connection: Connection) -> None:
    done = asyncio.Event()

    @connection.edge.events.subscribe
    async def on_closed(event: ConnectionClosedEvent) -> None:
        done.set()

    if connection.state is not ConnectionState.CLOSED:
        await done.wait()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m transport.demo``."""
    parser = argparse.ArgumentParser(prog="python -m transport.demo", description=__doc__)
    parser.add_argument("--browser", action="store_true", help="wait for a person in a browser")
    args = parser.parse_args(argv)
    console = Console()
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args.browser, console))
    return 130


if __name__ == "__main__":
    sys.exit(main())
