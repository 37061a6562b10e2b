"""Hostile peers on the local edge: caps, deadlines and clean refusals, over real sockets.

Every test drives real websockets on loopback against a real ``LocalEdge`` with
small limits, so deadlines are short; waits are on the edge's own signals
(presence, close frames), never on sleeps.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import socket
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import msgspec
import pytest

pytest.importorskip("aiortc")

from actors.predicates import EmptyFor, Someone
from messages import InvalidCallIdError
from transport import (
    Connection,
    ConnectionOptions,
    MemoryEdge,
    ParticipantLeftEvent,
    User,
    VirtualClock,
)
from transport.local import FrameRefusedError, LocalEdge, LocalParticipant
from transport.local.limits import LocalLimits
from transport.local.signaling import (
    SIGNALING_VERSION,
    ErrorFrame,
    Join,
    Offer,
    ReceiveSpec,
    TrackSpec,
    decode_edge,
    encode,
)

LIMITS = LocalLimits(
    join_timeout=0.3,
    send_timeout=0.3,
    max_pending=3,
    max_tracks=2,
    max_receive=2,
    max_outbox=16,
    max_refused=10,
)
LIMIT = 15.0  # seconds before a test that would otherwise hang is failed
CHILD_LIMIT = 50.0  # seconds for fd_exhaustion.py, which takes ~3 s (imports, three rounds)


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with LocalEdge(limits=LIMITS) as edge:
        yield edge


@pytest.fixture
async def connection(edge: LocalEdge) -> Connection:
    return await edge.join(User("agent"), await edge.create_call("room"))


async def _joined_socket(
    http: aiohttp.ClientSession, edge: LocalEdge, user: str
) -> aiohttp.ClientWebSocketResponse:
    socket = await http.ws_connect(f"{edge.url}/ws/room")
    await socket.send_bytes(encode(Join(edge.token("room", user), 1, SIGNALING_VERSION)))
    while type(decode_edge(await socket.receive_bytes())).__name__ != "Joined":
        pass
    return socket


async def _next_error(socket: aiohttp.ClientWebSocketResponse) -> ErrorFrame:
    while True:
        frame = decode_edge(await socket.receive_bytes())
        if isinstance(frame, ErrorFrame):
            return frame


def _masked(payload: bytes, opcode: int = 0x2) -> bytes:
    """One client websocket frame (clients must mask), as a hostile peer would write it."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + body


def _deaf_peer(host: str, port: int, token: str, frames: int) -> None:
    """Join, then flood the edge with bad frames and never read a byte of the answers."""
    with socket.socket() as raw:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        raw.connect((host, port))
        key = base64.b64encode(os.urandom(16)).decode()
        raw.sendall(
            (
                f"GET /ws/room HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        raw.sendall(_masked(encode(Join(token, 1, SIGNALING_VERSION))))
        raw.settimeout(LIMIT)
        try:
            for _ in range(frames):  # each one earns an Error frame it will never read
                raw.sendall(_masked(b"\xc1"))
        except OSError:
            return  # the edge cut us off: what this test wants


@pytest.mark.parametrize(
    ("limits", "limit_fired"),
    [
        (msgspec.structs.replace(LIMITS, max_refused=10**9), "max_outbox"),  # its outbox fills
        (LIMITS, "max_refused"),  # it has had max_refused frames refused
    ],
    ids=["unread-frames", "refused-frames"],
)
async def test_a_peer_that_stops_reading_is_dropped_and_close_returns(
    limits: LocalLimits, limit_fired: str
) -> None:
    edge = await LocalEdge(limits=limits).start()
    left: list[ParticipantLeftEvent] = []

    @edge.events.subscribe
    async def record(event: ParticipantLeftEvent) -> None:
        left.append(event)

    connection = await edge.join(User("agent"), await edge.create_call("room"))
    host, port = edge.url.removeprefix("http://").split(":")
    flood = asyncio.ensure_future(
        asyncio.to_thread(_deaf_peer, host, int(port), edge.token("room", "deaf"), 200_000)
    )
    async with asyncio.timeout(LIMIT):
        await connection.wait_for(Someone())
        await connection.wait_for(EmptyFor(0))  # dropped: it let its frames pile up unread
        await connection.settled()
        assert dict(edge.cuts) == {limit_fired: 1}  # which limit fired
        assert [(e.participant.user_id, e.reason) for e in left] == [("deaf", "dropped")]
        await edge.close()  # and closing the edge does not hang on it
        await flood


async def test_offers_over_the_caps_are_refused_with_a_reason(
    edge: LocalEdge, connection: Connection
) -> None:
    async with aiohttp.ClientSession() as http:
        socket = await _joined_socket(http, edge, "mallory")
        me = connection.participants[0].id

        async def offer(publish: list[TrackSpec], receive: tuple[ReceiveSpec, ...] = ()) -> str:
            await socket.send_bytes(encode(Offer("v=0\r\n", publish, list(receive), seq=7)))
            return (await _next_error(socket)).reason

        three = [TrackSpec(str(n), f"{me}:{n}", 1) for n in range(3)]
        assert "at most 2 tracks" in await offer(three)
        same_id = [TrackSpec("0", f"{me}:x", 1), TrackSpec("1", f"{me}:x", 2)]
        assert "track id twice" in await offer(same_id)
        same_mid = [TrackSpec("0", f"{me}:a", 1), TrackSpec("0", f"{me}:b", 2)]
        assert "more than one track" in await offer(same_mid)
        not_mine = [TrackSpec("0", "someone-else:1", 1)]
        assert "not yours" in await offer(not_mine)
        wants = [ReceiveSpec(str(n), f"agent:room:{n}") for n in range(3)]
        assert "at most 2 agent tracks" in await offer([], tuple(wants))
        many_sections = "v=0\r\n" + "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" * 50
        await socket.send_bytes(encode(Offer(many_sections, [], [], seq=8)))
        assert "media sections" in (await _next_error(socket)).reason
        assert connection.presence.tracks == ()  # nothing was created
        assert [p.user_id for p in connection.participants] == ["mallory"]  # still in the call
        await socket.close()


async def test_sockets_that_never_join_are_closed_at_the_deadline(edge: LocalEdge) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{edge.url}/ws/room") as socket:
        async with asyncio.timeout(LIMIT):
            while (message := await socket.receive()).type is not aiohttp.WSMsgType.CLOSE:
                pass
        assert message.data == 4408


async def test_past_the_cap_the_oldest_unjoined_socket_makes_room_for_an_honest_join() -> None:
    # No join deadline to speak of here: only the cap may cut a socket.
    limits = msgspec.structs.replace(LIMITS, join_timeout=LIMIT)
    async with LocalEdge(limits=limits) as edge, aiohttp.ClientSession() as http:
        connection = await edge.join(User("agent"), await edge.create_call("room"))
        idle = [await http.ws_connect(f"{edge.url}/ws/room") for _ in range(LIMITS.max_pending)]
        honest = await _joined_socket(http, edge, "honest")  # joins despite the idle ones
        assert [p.user_id for p in connection.participants] == ["honest"]
        closed = await idle[0].receive()  # the one that waited longest was cut
        assert closed.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert edge.turned_away == 1
        for socket in (*idle, honest):
            await socket.close()


async def test_mutated_and_deeply_nested_frames_get_an_error_frame_and_no_error_log(
    edge: LocalEdge, connection: Connection, caplog: pytest.LogCaptureFixture
) -> None:
    valid = encode(Join(edge.token("room", "x"), 3, SIGNALING_VERSION))
    hostile = [
        valid.replace(b"Join", b"J\xffin"),  # invalid UTF-8 in a string
        b"\x91" * 5_000 + b"\xc0",  # nested 5,000 deep
        b"\x81\xa4type\xa4Join\xa5token\xcf" + b"\xff" * 8,  # an integer where text belongs
        b"\x81\xa4type\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
        msgspec.json.encode({"type": "Offer", "sdp": 1, "seq": 2**70}),
    ]
    caplog.set_level(logging.INFO)
    async with aiohttp.ClientSession() as http:
        socket = await _joined_socket(http, edge, "fuzzer")
        for data in hostile:
            await socket.send_bytes(data)
            assert (await _next_error(socket)).reason.startswith("refused frame")
        assert [p.user_id for p in connection.participants] == ["fuzzer"]
        await socket.close()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_join_token_admits_one_join(edge: LocalEdge, connection: Connection) -> None:
    token = edge.token("room", "alice")
    first = LocalParticipant(edge.url, "room", token)
    await first.join()
    again = LocalParticipant(edge.url, "room", token)
    with pytest.raises(FrameRefusedError, match="already used"):
        await again.join()
    await first.leave()
    after = LocalParticipant(edge.url, "room", token)  # not even once its session ended
    with pytest.raises(FrameRefusedError, match="already used"):
        await after.join()


@pytest.mark.parametrize("bad", ["", "../escaped", "a/b", "x" * 129, ".hidden", "sp ace", "é"])
async def test_invalid_call_ids_are_refused_before_anything_is_made(bad: str) -> None:
    edge = MemoryEdge()
    with pytest.raises(InvalidCallIdError, match="invalid call id"):
        await edge.create_call(bad)
    await edge.close()


async def test_every_valid_call_id_is_joinable_end_to_end(edge: LocalEdge) -> None:
    call = await edge.create_call("Team_1.sync:2026-11-25")
    connection = await edge.join(User("agent"), call)
    async with aiohttp.ClientSession() as http, http.get(call.url) as page:
        assert page.status == 200
    guest = edge.participant(call.id, "guest")
    await guest.join()
    assert [p.user_id for p in connection.participants] == ["guest"]
    await guest.leave()


async def test_a_recording_path_names_a_folder_it_may_create(tmp_path: Path) -> None:
    record = str(tmp_path / "new" / "folder" / "{call_id}.rec")
    edge = MemoryEdge(options=ConnectionOptions(record=record))
    connection = await edge.join(User("agent"), await edge.create_call("c-1"))
    await connection.close()
    assert (tmp_path / "new" / "folder" / "c-1.rec").exists()
    await edge.close()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
async def test_non_finite_or_negative_timeouts_and_delays_are_refused(bad: float) -> None:
    clock = VirtualClock()
    edge = MemoryEdge(clock=clock)
    connection = await edge.join(User("agent"), await edge.create_call("c"))
    with pytest.raises(ValueError, match="timeout"):
        await connection.wait_for_participant(timeout=bad)
    with pytest.raises(ValueError, match="delay"):
        clock.call_later(bad, lambda: None)
    with pytest.raises(ValueError, match="seconds"):
        clock.advance(bad)
    with pytest.raises(TimeoutError):
        await connection.wait_for_participant(timeout=0)  # 0: check now
    await edge.close()


@pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="fd_exhaustion.py counts descriptors in /proc"
)
async def test_failed_accepts_are_reported_once_per_episode() -> None:
    """A process really out of descriptors (``fd_exhaustion.py``, a low ``RLIMIT_NOFILE``):
    every round of failed accepts makes one log line in all, no asyncio traceback, and
    once descriptors are free the client that waited is served and a participant joins."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("fd_exhaustion.py")),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(child.communicate(), CHILD_LIMIT)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert child.returncode == 0, err.decode(errors="replace")[-3000:]
    report = json.loads(out)
    assert report["errno"] == ["EMFILE"]
    assert report["rounds"] >= 3  # asyncio retried (a second apart) and failed again
    assert report["failed_accepts"] >= report["rounds"]
    assert len(report["reports"]) == 1, report["reports"]
    assert report["reports"][0].startswith("the edge cannot accept connections ([Errno 24]")
    assert report["asyncio_records"] == []
    assert report["waiting_client"] == "HTTP/1.1 200 OK"
    assert report["joined"] == ["guest"]


async def _cut(reader: asyncio.StreamReader) -> bytes:
    """What the edge sends before it cuts the connection (read until the end)."""
    async with asyncio.timeout(LIMIT):
        return await reader.read()


async def test_connections_that_send_no_request_are_cut_at_the_deadline(
    edge: LocalEdge,
) -> None:
    host, port = edge.url.removeprefix("http://").split(":")
    silent = await asyncio.open_connection(host, int(port))
    slow = await asyncio.open_connection(host, int(port))
    slow[1].write(b"GET /ws/room HTTP/1.1\r\nHost: x\r\n")  # a head that never ends
    assert await _cut(silent[0]) == b""
    assert await _cut(slow[0]) == b""
    assert edge.guard is not None
    assert edge.guard.cut == 2
    for _, writer in (silent, slow):
        writer.close()


async def test_past_the_cap_the_oldest_silent_connection_makes_room(
    edge: LocalEdge, connection: Connection
) -> None:
    host, port = edge.url.removeprefix("http://").split(":")
    silent = [await asyncio.open_connection(host, int(port)) for _ in range(LIMITS.pending_cap())]
    async with aiohttp.ClientSession() as http:
        honest = await _joined_socket(http, edge, "honest")  # still gets in
        assert [p.user_id for p in connection.participants] == ["honest"]
        assert await _cut(silent[0][0]) == b""  # the one that waited longest
        await honest.close()
    for _, writer in silent:
        writer.close()
