"""The fleet demo (``make run ARGS=--fleet``): two hosts on Ray, four calls, one host lost.

It lives beside the fleet, not in it: the people here are the local edge's own
(``LocalParticipant``), and ``transport.fleet`` names no particular edge.

A local Ray cluster starts with the call directory and two hosts, each on
its own ``LocalEdge`` (its own port) running the ``greeter`` agent. Four calls
are placed within the hosts' ``max_sessions``; a Python participant joins each
at the URL placement returned and publishes video, and the agent of each call
answers from the host it runs on. Then one host's process is killed: the
directory reports its calls lost, ``place_again`` opens them on the other host,
and their participants join again there. Everything is closed and Ray stopped
before the program exits 0.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from messages import TrackType

__all__ = ["run"]

HOSTS = ("host-1", "host-2")
CALLS = ("standup", "support", "sales", "lobby")
LOST_AFTER = 2.0
STEP_S = 30.0  # the longest any one step may take before the demo gives up


async def run(console: Console) -> int:
    """Run the demo; returns the exit status."""
    import ray

    console.print("Starting a local Ray cluster (2 CPUs) ...")
    from transport.fleet import start_local_cluster

    start_local_cluster()
    try:
        async with asyncio.timeout(len(CALLS) * STEP_S):
            return await _run(console)
    finally:
        ray.shutdown()
        console.print("Ray stopped.")


async def _run(console: Console) -> int:
    import ray

    from transport.fleet import (
        Host,
        RemoteConnectionRef,
        close_call,
        next_lost,
        place,
        place_again,
        start_directory,
    )
    from transport.fleet.agents import greeter
    from transport.local import LocalParticipant

    start_directory(lost_after=LOST_AFTER)
    hosts = {name: Host.options(name=name).remote(name, 4, agent=greeter) for name in HOSTS}
    started = await asyncio.gather(*(h.start.remote(h) for h in hosts.values()))
    pids = {await handle.pid.remote(): name for name, handle in hosts.items()}
    console.print(f"Hosts up: {', '.join(started)}, each on its own LocalEdge.")

    refs = {call: await place(call, "greeter") for call in CALLS}
    people: dict[str, Any] = {}

    async def visit(call: str, ref: Any) -> dict[str, Any]:
        person = LocalParticipant(ref.url, call, await ref.token(f"guest-{call}"))
        await person.join()
        await person.publish(TrackType.VIDEO)
        people[call] = person
        greeting: dict[str, Any] = await person.custom_event()
        return greeting

    greetings = await asyncio.gather(*(visit(call, ref) for call, ref in refs.items()))
    console.print(_table("Placed", refs, greetings, pids))

    victim = refs[CALLS[0]].host
    console.print(f"Killing {victim}'s process ...")
    killed = time.monotonic()
    ray.kill(hosts[victim])
    lost = await next_lost()
    reported = time.monotonic() - killed
    console.print(
        f"{lost.host} reported lost after {reported:.1f} s with calls {', '.join(lost.call_ids)}."
    )
    for call in lost.call_ids:
        await people.pop(call).drop()  # their host is gone: nothing to say goodbye to
    outcomes = await place_again(lost)
    moved = {c: r for c, r in outcomes.items() if isinstance(r, RemoteConnectionRef)}
    if len(moved) < len(outcomes):
        console.print(f"[red]could not place every call again: {outcomes}")
        return 1
    again = await asyncio.gather(*(visit(call, ref) for call, ref in moved.items()))
    serving = time.monotonic() - killed
    console.print(_table("Placed again", moved, again, pids))
    console.print(
        f"Its calls were served again on the other host {serving:.1f} s after the kill "
        f"({reported:.1f} s of it to detect the loss)."
    )
    for person in people.values():
        await person.leave()
    for call in CALLS:
        await close_call(call)
    return 0


def _table(
    title: str, refs: dict[str, Any], greetings: list[dict[str, Any]], pids: dict[int, str]
) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("call")
    table.add_column("placed on")
    table.add_column("agent on")
    table.add_column("join URL", overflow="fold", min_width=22)
    table.add_column("agent saw")
    for (call, ref), greeting in zip(refs.items(), greetings, strict=True):
        seen = f"{len(greeting['participants'])} person, {len(greeting['tracks'])} track"
        where = pids.get(int(greeting["host_pid"]), "?")
        table.add_row(call, ref.host, where, ref.url, seen)
    return table
