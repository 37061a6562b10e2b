"""The connection actor at its edges: its defaults, where it records, what it refuses or drops.

Found by the mutation check of ``actors/connection.py`` (``make mutation``):
each test pins a behaviour a surviving mutant changed.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import actors
from actors.recording import RecordingHeader, read_recording
from messages import Close, Participant, ParticipantJoined
from transport import Connection, ConnectionOptions, MemoryEdge, User


async def _join(edge: MemoryEdge, call_id: str = "c") -> Connection:
    return await edge.join(User("agent"), await edge.create_call(call_id))


async def test_each_connection_records_to_the_file_its_call_and_key_name(tmp_path: Path) -> None:
    pattern = str(tmp_path / "{call_id}" / "{key}.rec")
    edge = MemoryEdge(options=ConnectionOptions(record=pattern, idle_timeout=30))
    try:
        (tmp_path / "room-1").mkdir()
        connection = await _join(edge, "room-1")
        await connection.close()
    finally:
        await edge.close()
    path = tmp_path / "room-1" / (connection.key.replace("#", "-") + ".rec")
    assert "#" in connection.key  # the key's own separator is not left in a file name
    header = next(read_recording(path))
    assert isinstance(header, RecordingHeader)
    assert (header.call_id, header.agent_user_id) == ("room-1", "agent")
    assert header.options["idle_timeout"] == 30
    assert header.options["record"] is None  # the options, not where this copy was written


async def test_a_message_it_does_not_handle_is_refused_naming_its_type() -> None:
    edge = MemoryEdge()
    try:
        connection = await _join(edge)
        with pytest.raises(TypeError, match=r"^ConnectionActor does not handle dict$"):
            await actors.ask(connection.actor_ref, {"what": "this"})
    finally:
        await edge.close()


async def test_presence_for_a_closed_connection_is_dropped_and_said_at_debug_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    edge = MemoryEdge()
    try:
        connection = await _join(edge)
        connection.actor_ref.tell(Close("c", "closed"))
        late = ParticipantJoined("c", Participant(None, "ann", "ann__1"))
        caplog.set_level(logging.DEBUG, logger="actors.connection")
        connection.actor_ref.tell(late)
        await connection.settled()
        said = [r.getMessage() for r in caplog.records if r.name == "actors.connection"]
        assert said == [f"{connection.key} is closed; dropping {late!r}"]
        assert connection.participants == ()
    finally:
        await edge.close()
