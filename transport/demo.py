"""The local demo (``make run``): an agent and three people in a real WebRTC call on loopback.

A ``LocalEdge`` starts; an agent joins call ``demo``; three ``LocalParticipant``s
join, publish audio, video and a screen share, unpublish and leave on a script,
while the agent's event log and the call's presence print live. The agent
closes the connection once the call has been idle for 5 seconds (its
``idle_timeout``) and the program exits 0, all within a minute.
``--browser`` prints a join URL for a person instead and waits for them;
``--browser --open COMMAND`` also opens it by running ``COMMAND`` (a browser:
a headless one with fake camera and microphone runs the demo unattended), and
ends that command once the person there has published audio and video, which
is how they leave.
``--stream-local`` runs the same script on ``StreamEdge`` against the local
Stream emulator (``transport.stream.emulator``, not Stream's service): the
people are getstream SDK clients, so the third one leaves instead of vanishing
and the second shares video, not a screen (the SDK publishes audio and video).
``--fleet`` runs ``transport.demo_fleet``: two hosts on a local Ray cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from rich.console import Console
from rich.live import Live
from rich.table import Table

from transport import (
    Connection,
    ConnectionClosedEvent,
    ConnectionOptions,
    ConnectionState,
    EdgeEvent,
    EdgeFeature,
    EdgeTransport,
    Participant,
    Presence,
    TrackType,
    User,
)
from transport.local import LocalEdge, LocalParticipant

if TYPE_CHECKING:
    from transport.stream import StreamEdge

__all__ = ["main"]

AGENT = User(id="demo-agent", name="Demo Agent")
IDLE_TIMEOUT = 5.0
OPEN_DEADLINE = 90.0
"""Seconds the browser ``--open`` starts has to join and publish audio and video."""
END_DEADLINE = 10.0
"""Seconds that browser has to exit once asked to (SIGTERM), before it is killed."""


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


class _Person(Protocol):
    """A person in the demo's call: a ``LocalParticipant`` or a ``StreamParticipant``."""

    async def join(self) -> Participant: ...
    async def publish(self, track_type: TrackType) -> str: ...
    async def unpublish(self, track: str) -> None: ...
    async def leave(self) -> None: ...


class _Cast:
    """How people come into the demo's call on ``edge``, and how the third one goes.

    On a ``LocalEdge`` the second person shares a screen and the third vanishes
    without a goodbye; getstream SDK clients publish audio and video only, and
    leave.
    """

    def __init__(self, edge: LocalEdge | StreamEdge) -> None:
        self.edge = edge
        local = isinstance(edge, LocalEdge)
        self.second_track = TrackType.SCREEN_SHARE if local else TrackType.VIDEO

    async def enter(self, user_id: str) -> _Person:
        person: _Person = self.edge.participant("demo", user_id)
        await person.join()
        return person

    async def vanish(self, person: _Person) -> None:
        if isinstance(person, LocalParticipant):
            await person.drop()  # gone without saying goodbye
        else:
            await person.leave()


async def _script(cast: _Cast) -> None:
    """Three participants join, publish, unpublish and leave."""
    alice = await cast.enter("alice")
    await alice.publish(TrackType.AUDIO)
    await alice.publish(TrackType.VIDEO)
    await asyncio.sleep(0.6)  # pacing for a person watching, not waiting for state
    bob = await cast.enter("bob")
    await bob.publish(TrackType.AUDIO)
    shared = await bob.publish(cast.second_track)
    await asyncio.sleep(0.6)
    carol = await cast.enter("carol")
    await carol.publish(TrackType.VIDEO)
    await asyncio.sleep(0.6)
    await bob.unpublish(shared)
    await asyncio.sleep(0.6)
    await alice.leave()
    await cast.vanish(carol)
    await asyncio.sleep(0.6)
    await bob.leave()


async def run(
    browser: bool,
    console: Console,
    stream_local: bool = False,
    open_with: Sequence[str] = (),
) -> int:
    """Run the demo; returns the exit status.

    ``open_with`` (with ``browser``) is a command that opens the join link,
    given as its last argument; see ``_visit``. Runs on the loop it is awaited on.
    """
    options = ConnectionOptions(idle_timeout=IDLE_TIMEOUT)
    if not stream_local:
        async with LocalEdge(options=options) as edge:
            return await _serve(edge, None if browser else _Cast(edge), console, open_with)
    from transport.stream.emulator import StreamEmulator

    console.print(
        "[bold]Stream emulator[/bold] on 127.0.0.1: the getstream SDK against a local "
        "coordinator and SFU written here, not Stream's service."
    )
    async with StreamEmulator() as emulator, emulator.edge(options=options) as stream:
        return await _serve(stream, _Cast(stream), console)


async def _serve(
    edge: EdgeTransport, cast: _Cast | None, console: Console, open_with: Sequence[str] = ()
) -> int:
    """The agent joins call ``demo`` on ``edge``; ``cast`` plays the script (``None``: browser).

    Returns the exit status: 1 if the browser ``open_with`` started did not
    join and publish (the demo then closes the call itself), else 0.
    """
    await edge.authenticate(AGENT)
    call = await edge.create_call("demo")
    connection = await edge.join(AGENT, call)
    view = _View(connection, time.monotonic())

    @edge.events.subscribe
    async def log(event: EdgeEvent) -> None:
        view.add(_describe(event))

    visit = None
    if cast is None and EdgeFeature.JOIN_URLS in edge.features:
        url = edge.join_url("demo", "guest")
        console.print("Open this in a browser to join the call (the link admits one join):")
        print(url, flush=True)  # plain: a wrapped URL would not paste
        console.print(f"The agent closes the call {IDLE_TIMEOUT:.0f} s after everyone left.")
        if open_with:
            visit = asyncio.ensure_future(_visit(open_with, url, connection))
    with Live(view.render(), console=console, refresh_per_second=8) as live:
        script = None if cast is None else asyncio.ensure_future(_script(cast))
        closed = asyncio.ensure_future(_until_closed(connection))
        watched: set[asyncio.Future[Any]] = {closed} if visit is None else {closed, visit}
        while not closed.done():
            live.update(view.render())
            await asyncio.wait(watched, timeout=0.125)
            if visit in watched and visit.done():
                watched.discard(visit)
                if not visit.result():
                    await connection.close()  # nobody came: end the demo rather than wait
        live.update(view.render())
        if script is not None:
            await script
    if visit is not None and not await visit:
        console.print(
            f"The browser ({shlex.join(open_with)}) did not join and publish audio and video "
            f"within {OPEN_DEADLINE:.0f} s; the demo closed the call."
        )
        return 1
    console.print(
        f"Everyone left; after {IDLE_TIMEOUT:.0f} s idle the agent closed the connection "
        f"({len(view.log)} events in {time.monotonic() - view.started:.1f} s)."
    )
    return 0


def _published_audio_and_video(presence: Presence) -> bool:
    kinds = {t.track_type for t in presence.tracks}
    return {TrackType.AUDIO, TrackType.VIDEO} <= kinds


async def _visit(command: Sequence[str], url: str, connection: Connection) -> bool:
    """Open ``url`` by running ``command`` with it as the last argument, as a person would.

    Once someone has published audio and video in the call, the process is
    asked to end (SIGTERM, killed after ``END_DEADLINE`` seconds): the
    browser closes, its signaling socket with it, and the person has left.
    Returns whether they published within ``OPEN_DEADLINE`` seconds; a
    command that exits first, or cannot start, returns ``False``. Runs on the
    demo's loop; the process's output is discarded.
    """
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            url,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
    except OSError as error:
        print(f"--open: cannot run {command[0]!r}: {error}", file=sys.stderr)
        return False
    published = asyncio.ensure_future(
        connection.wait_for(_published_audio_and_video, timeout=OPEN_DEADLINE)
    )
    exited = asyncio.ensure_future(process.wait())
    try:
        await asyncio.wait({published, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        published.cancel()
        await asyncio.gather(published, return_exceptions=True)
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                await asyncio.wait_for(asyncio.shield(exited), END_DEADLINE)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        await exited
    return published.done() and not published.cancelled() and published.exception() is None


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
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--browser", action="store_true", help="wait for a person in a browser")
    parser.add_argument(
        "--open",
        metavar="COMMAND",
        help=(
            "with --browser: open the join link by running COMMAND with the link as its last "
            "argument, and end it once the person there has published audio and video; e.g. "
            "'chromium --headless=new --use-fake-ui-for-media-stream "
            "--use-fake-device-for-media-stream' runs the demo unattended"
        ),
    )
    where.add_argument(
        "--fleet",
        action="store_true",
        help="two hosts on Ray, four calls, one host killed and its calls placed again",
    )
    where.add_argument(
        "--stream-local",
        action="store_true",
        help="run on StreamEdge against the local Stream emulator (not Stream's service)",
    )
    args = parser.parse_args(argv)
    if args.open is not None and not args.browser:
        parser.error("--open opens the join link of --browser: give both")
    open_with = shlex.split(args.open or "")
    console = Console()
    with contextlib.suppress(KeyboardInterrupt):
        if args.fleet:
            from transport.demo_fleet import run as run_fleet

            return asyncio.run(run_fleet(console))
        return asyncio.run(
            run(args.browser, console, stream_local=args.stream_local, open_with=open_with)
        )
    return 130


if __name__ == "__main__":
    sys.exit(main())
