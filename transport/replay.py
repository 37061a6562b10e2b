"""Replaying a recorded connection on a virtual clock.

``replay(path)`` reads a recording made with ``ConnectionOptions(record=...)``
(on any edge), plays its messages into a fresh connection on a ``MemoryEdge``
whose clock is a ``VirtualClock`` set to each recorded reading, starts the
recorded waits at their times with their predicates and timeouts, and returns
the events, the final presence and the waits' outcomes. Timers (reconnect
grace, idle timeout, wait timeouts) fire on the virtual clock, so a replay
takes no real time and gives the same result every run. ``event_signature``
turns an event into plain data for comparing a live session with its replay.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec

from actors.clock import VirtualClock
from actors.connection_interface import ConnectionOptions
from actors.presence import Presence
from actors.recording import (
    FORMAT_VERSION,
    RecordedEnd,
    RecordedMessage,
    RecordedWait,
    RecordedWaitEnd,
    RecordingHeader,
    read_recording,
    written,
)
from messages import ConnectionClosedError, EdgeEvent, Participant, ProtocolError, User
from transport.memory import MemoryEdge

__all__ = ["Replay", "event_signature", "replay"]


class Replay(msgspec.Struct, frozen=True):
    """What a replay produced, beside what the recording says happened live."""

    events: tuple[Any, ...]
    presence: Presence
    outcomes: dict[int, str]
    """Each replayed wait's outcome: ``met``, ``timeout``, ``closed`` or ``pending``."""
    recorded_outcomes: dict[int, str]
    """Each wait's outcome as recorded live."""
    skipped_waits: tuple[int, ...] = ()
    """Waits whose predicate was a plain function, which a recording cannot carry."""


def event_signature(event: Any) -> tuple[Any, ...]:
    """An event as plain data: its type and fields, without the call and provider objects."""
    fields = []
    for name in event.__struct_fields__:
        if name == "call":
            continue
        value = getattr(event, name)
        if isinstance(value, Participant):
            value = (value.user_id, value.id, value.kind.value)
        fields.append((name, value))
    return (type(event).__name__, tuple(fields))


async def replay(path: str | Path) -> Replay:
    """Play the recording at ``path`` back; call it on a running loop."""
    await written()  # a recording still being written here is complete first
    frames = iter(await asyncio.to_thread(lambda: list(read_recording(path))))
    header = next(frames, None)
    if not isinstance(header, RecordingHeader):
        msg = f"{path} does not start with a recording header"
        raise ProtocolError(msg)
    if header.version != FORMAT_VERSION:
        msg = (
            f"{path} is a version {header.version} recording; this edge-actors plays "
            f"version {FORMAT_VERSION} only"
        )
        raise ProtocolError(msg)
    try:
        options = msgspec.convert(header.options, ConnectionOptions)
    except (msgspec.ValidationError, ValueError) as exc:
        msg = f"{path}: the recorded connection options are not valid: {exc}"
        raise ProtocolError(msg) from None
    clock = VirtualClock(start=header.started_at)
    edge = MemoryEdge(clock=clock, options=options)
    seen: list[Any] = []

    @edge.events.subscribe
    async def collect(event: EdgeEvent) -> None:
        seen.append(event)

    connection = await edge.join(User(header.agent_user_id), await edge.create_call(header.call_id))
    waits: dict[int, asyncio.Task[None]] = {}
    recorded: dict[int, str] = {}
    skipped: list[int] = []
    try:
        for frame in frames:
            if isinstance(frame, RecordingHeader):
                continue
            if frame.at > clock.time():
                clock.set(frame.at)  # timers that fall due run first, as they did live
                await connection.settled()
            if isinstance(frame, RecordedMessage):
                if not connection.actor_ref.is_alive():
                    break  # closed as it was live (by its idle timeout, say)
                connection.actor_ref.tell(frame.message)
            elif isinstance(frame, RecordedWait):
                if frame.predicate is None:
                    skipped.append(frame.wait)
                    continue
                waits[frame.wait] = asyncio.ensure_future(
                    connection.wait_for(frame.predicate, frame.timeout)
                )
            elif isinstance(frame, RecordedWaitEnd):
                recorded[frame.wait] = frame.outcome
            elif isinstance(frame, RecordedEnd):
                break  # the clock has reached the close; an idle timeout has fired by now
            await connection.settled()
        presence = connection.presence
        outcomes = {number: _outcome(task) for number, task in waits.items()}
    finally:
        for task in waits.values():
            task.cancel()
        await asyncio.gather(*waits.values(), return_exceptions=True)
        await edge.close()
    return Replay(tuple(seen), presence, outcomes, recorded, tuple(skipped))


def _outcome(task: asyncio.Task[None]) -> str:
    if not task.done():
        return "pending"
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    if error is None:
        return "met"
    if isinstance(error, TimeoutError):
        return "timeout"
    if isinstance(error, ConnectionClosedError):
        return "closed"
    return f"error: {error!r}"
