"""report(), the introspection socket, and recording a session then replaying it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from transport import (
    ConnectionClosedError,
    ConnectionOptions,
    ConnectionState,
    EdgeEvent,
    MemoryEdge,
    Someone,
    TrackPublished,
    TrackType,
    User,
    VirtualClock,
)
from transport.introspection import fetch_reports, render, serve_introspection
from transport.introspection import main as inspect_main
from transport.replay import event_signature, replay


async def test_inspect_reports_presence_tracks_and_lifecycle(edge: MemoryEdge) -> None:
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    alice = edge.participant("c", "alice")
    joined = await alice.join()
    track = await alice.publish(TrackType.AUDIO)
    await edge.participant("c", "bob").join()
    report = await connection.report()
    assert report.state is ConnectionState.ACTIVE
    assert [p.user_id for p in report.participants] == ["alice", "bob"]
    assert [(t.track_id, t.participant_id) for t in report.tracks] == [(track, joined.id)]
    assert report.mailbox_depth == 0
    assert report.messages_handled >= 3
    assert report.restarts == 0
    assert [e.what for e in report.lifecycle] == ["joined", "joined"]


async def test_introspection_socket_serves_every_live_connection(
    edge: MemoryEdge, tmp_path: Path
) -> None:
    first = await edge.join(User("agent"), await edge.create_call("one"))
    await edge.join(User("agent"), await edge.create_call("two"))
    await edge.participant("one", "alice").join()
    server = await serve_introspection(edge, tmp_path / "inspect.sock")
    try:
        reports = await fetch_reports(tmp_path / "inspect.sock")
    finally:
        server.close()
        await server.wait_closed()
    assert [r.call_id for r in reports] == ["one", "two"]
    assert reports[0].key == first.key
    text = render(reports)
    assert "alice__s" in text
    assert "state=waiting" in text


def test_inspect_cli_says_when_no_host_listens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert inspect_main([str(tmp_path / "nobody.sock")]) == 1
    assert "cannot reach a host" in capsys.readouterr().err


async def test_the_cli_prints_a_live_host_as_text_and_as_json(
    edge: MemoryEdge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await edge.join(User("agent"), await edge.create_call("listed"))
    await edge.participant("listed", "bea").join()
    path = str(tmp_path / "host.sock")
    server = await serve_introspection(edge, path)
    try:  # the CLI runs its own loop: in a thread, while this loop serves it
        assert await asyncio.to_thread(inspect_main, [path]) == 0
        text = capsys.readouterr().out
        assert await asyncio.to_thread(inspect_main, [path, "--json"]) == 0
        raw = capsys.readouterr().out
    finally:
        server.close()
        await server.wait_closed()
    assert "call=listed" in text
    assert "bea__s" in text
    assert [r["call_id"] for r in json.loads(raw)] == ["listed"]


async def _session(edge: MemoryEdge, clock: VirtualClock) -> Any:
    """A scripted session with waits, a drop within the grace period and an idle timeout."""
    connection = await edge.join(User("agent"), await edge.create_call("rec"))
    first = asyncio.ensure_future(connection.wait_for(Someone(), timeout=10))
    video = asyncio.ensure_future(connection.wait_for(TrackPublished(TrackType.VIDEO), timeout=3))
    await connection.settled()
    clock.advance(1)
    alice = edge.participant("rec", "alice")
    await alice.join()
    await first
    await alice.publish(TrackType.AUDIO)
    clock.advance(5)
    await connection.settled()
    with pytest.raises(TimeoutError):
        await video
    await alice.drop()
    clock.advance(2)
    again = edge.participant("rec", "alice")
    await again.join()
    await again.publish(TrackType.VIDEO)
    await again.leave()
    clock.advance(30)
    await connection.settled()
    return connection


async def test_a_replay_gives_the_same_events_presence_and_wait_outcomes(
    tmp_path: Path,
) -> None:
    path = tmp_path / "session.rec"
    clock = VirtualClock(start=5_000.0)
    options = ConnectionOptions(reconnect_grace=5, idle_timeout=30, record=str(path))
    edge = MemoryEdge(clock=clock, options=options)
    live: list[Any] = []

    @edge.events.subscribe
    async def record(event: EdgeEvent) -> None:
        live.append(event)

    connection = await _session(edge, clock)
    await edge.events.drain()
    assert connection.state is ConnectionState.CLOSED
    await edge.close()

    first = await replay(path)
    second = await replay(path)
    assert [event_signature(e) for e in first.events] == [event_signature(e) for e in live]
    assert first.outcomes == first.recorded_outcomes == {1: "met", 2: "timeout"}
    assert first.presence.state is ConnectionState.CLOSED
    assert first == second


async def test_a_wait_still_open_at_close_is_recorded_as_ended_by_the_close(
    tmp_path: Path,
) -> None:
    path = tmp_path / "closed.rec"
    edge = MemoryEdge(options=ConnectionOptions(record=str(path)))
    try:
        connection = await edge.join(User("agent"), await edge.create_call("c"))
        waiting = asyncio.ensure_future(connection.wait_for_participant(timeout=30))
        await connection.settled()  # the wait is registered with the connection actor
        await connection.close()
        with pytest.raises(ConnectionClosedError):
            await waiting
    finally:
        await edge.close()
    assert (await replay(path)).recorded_outcomes == {1: "closed"}
