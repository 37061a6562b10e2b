"""The roster participants see: conflated, versioned, exact; slow is not dead, deaf is.

Real sockets on loopback against a real ``LocalEdge``; the edges here buffer
little per peer (``send_buffer``) and the clients have small receive buffers, so
a client that stops reading makes the edge's writes back up within well under a
megabyte, which the tests send on purpose.
"""

from __future__ import annotations

import asyncio
import collections
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from hypothesis import event, given, settings
from hypothesis import strategies as st

from messages import TrackType
from transport import Connection, EmptyFor, ParticipantLeftEvent, Someone, User
from transport.local import LocalEdge, LocalParticipant
from transport.local.limits import LocalLimits
from transport.local.roster import CallRoster, RosterView
from transport.local.signaling import (
    VERSION_REFUSED,
    ErrorFrame,
    Join,
    Joined,
    Roster,
    RosterEntry,
    SignalingVersionError,
    decode_client,
    decode_edge,
    encode,
)

sys.path.insert(0, str(Path(__file__).parent))
from roster_client import RosterClient, connector

# Paused clients answer no pings: the heartbeat here is far longer than any pause.
LIMITS = LocalLimits(send_buffer=8192, send_timeout=10.0, heartbeat=60.0)
PAD = "x" * 15_000  # about the largest custom event (MAX_CUSTOM_EVENT)
# Custom events sent to a client that does not read: twice what the buffers between the
# edge and it hold (aiohttp's reader keeps 512 KiB; the sockets and the edge's writer,
# with send_buffer and the client's receive buffer as small as here, well under 100 KiB).
FLOOD = 80


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with LocalEdge(limits=LIMITS) as edge:
        yield edge


@pytest.fixture
async def connection(edge: LocalEdge) -> Connection:
    return await edge.join(User("agent"), await edge.create_call("room"))


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(connector=connector()) as http:
        yield http


async def _client(http: aiohttp.ClientSession, edge: LocalEdge, user: str) -> RosterClient:
    client = RosterClient(http, edge.url, "room", edge.token("room", user))
    await client.join()
    return client


def _current(edge: LocalEdge) -> Any:
    roster = edge.roster("room")
    assert roster is not None
    return lambda client: client.view.version == roster.version


def _session(edge: LocalEdge, client: RosterClient) -> Any:
    return next(s for s in edge.sessions("room") if s.participant.id == client.participant_id)


# -- the roster itself ---------------------------------------------------------------


_changes = st.lists(
    st.tuples(st.sampled_from(["join", "leave", "tracks"]), st.integers(0, 7), st.integers(0, 3)),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(_changes)
def test_a_delta_or_snapshot_from_any_version_gives_the_edges_roster_in_order(
    changes: list[tuple[str, int, int]],
) -> None:
    roster = CallRoster()
    seen: dict[int, list[RosterEntry]] = {0: []}
    joined = 0
    for op, who, tracks in changes:
        ids = list(roster.entries)
        if op == "join":
            joined += 1
            roster.join(RosterEntry(f"u{who}", f"u{who}__{joined}"))
        elif ids and op == "leave":
            roster.leave(ids[who % len(ids)])
        elif ids:
            old = roster.entries[ids[who % len(ids)]]
            roster.update(RosterEntry(old.user_id, old.participant_id, [TrackType.AUDIO] * tracks))
        seen[roster.version] = list(roster.entries.values())
    for version, entries in seen.items():
        view = RosterView()
        view.apply(Roster(entries, version))
        frame = roster.frame_for(version)
        if frame is not None:
            assert view.apply(frame.frame)  # type: ignore[arg-type]
            assert frame is roster.frame_for(version)  # encoded once for everyone at version
        assert view.participants == list(roster.entries.values())
        assert view.version == roster.version


# -- slow is not dead ----------------------------------------------------------------


async def test_a_participant_that_stops_reading_then_resumes_keeps_its_seat_and_the_exact_roster(
    edge: LocalEdge, connection: Connection, http: aiohttp.ClientSession
) -> None:
    slow = await _client(http, edge, "slow")
    await slow.until(_current(edge), timeout=10)
    slow.pause()
    for n in range(FLOOD):  # more than the buffers between the edge and it hold
        await edge.send_custom_event("room", {"n": n, "pad": PAD})
    others = [await _client(http, edge, f"p{i}") for i in range(6)]
    for other in others[:3]:
        await other.leave()
    roster = edge.roster("room")
    assert roster is not None
    lagging = _session(edge, slow).outbox
    assert lagging.roster_version is not None
    assert lagging.roster_version < roster.version
    for other in others[3:]:  # the lagging one holds up nobody else's roster
        await other.until(_current(edge), timeout=10)
    slow.resume()
    await slow.until(lambda c: len(c.customs) == FLOOD and _current(edge)(c), timeout=20)
    assert [custom["n"] for custom in slow.customs] == list(range(FLOOD))
    assert slow.view.participants == list(roster.entries.values())
    # Nine changes while it lagged reached it as one frame, after every custom event.
    after = slow.kinds[slow.kinds.index("Custom") :]
    assert after == ["Custom"] * FLOOD + ["RosterDelta"]
    await connection.settled()
    assert {p.id for p in connection.participants} == set(roster.entries)
    assert slow.participant_id in {p.id for p in connection.participants}
    assert edge.cuts == collections.Counter()
    for other in others[3:]:
        await other.leave()
    await slow.leave()


async def test_conflation_never_reorders_or_drops_frames_that_carry_meaning_once(
    edge: LocalEdge, connection: Connection, http: aiohttp.ClientSession
) -> None:
    slow = await _client(http, edge, "slow")
    await slow.until(_current(edge), timeout=10)
    slow.pause()
    others = []
    for n in range(FLOOD):  # custom events and roster changes, interleaved
        await edge.send_custom_event("room", {"n": n, "pad": PAD})
        if n % 4 == 0:
            others.append(await _client(http, edge, f"p{n}"))
        elif n % 4 == 2:
            await others.pop(0).leave()
    slow.resume()
    await slow.until(lambda c: len(c.customs) == FLOOD and _current(edge)(c), timeout=20)
    assert [custom["n"] for custom in slow.customs] == list(range(FLOOD))
    roster = edge.roster("room")
    assert roster is not None
    assert slow.view.participants == list(roster.entries.values())
    rosters = sum(kind.startswith("Roster") for kind in slow.kinds)
    changes = FLOOD // 4 * 2  # a join and a leave in every four custom events
    assert rosters < changes  # it lagged: changes were merged
    for other in others:
        await other.leave()
    await slow.leave()


# -- deaf is dead --------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["send_timeout", "max_outbox"])
async def test_a_participant_that_never_reads_is_dropped_by_the_limit_it_breaks(
    limit: str, http: aiohttp.ClientSession
) -> None:
    limits = (
        LocalLimits(send_buffer=8192, send_timeout=0.5, max_outbox=10_000, heartbeat=60.0)
        if limit == "send_timeout"
        else LocalLimits(send_buffer=8192, send_timeout=30.0, max_outbox=8, heartbeat=60.0)
    )
    left: list[ParticipantLeftEvent] = []
    async with LocalEdge(limits=limits) as edge:

        @edge.events.subscribe
        async def on_left(event: ParticipantLeftEvent) -> None:
            left.append(event)

        connection = await edge.join(User("agent"), await edge.create_call("room"))
        deaf = await _client(http, edge, "deaf")
        deaf.pause()
        await connection.wait_for(Someone())
        for n in range(20 * FLOOD):
            if edge.cuts:
                break
            await edge.send_custom_event("room", {"n": n, "pad": PAD})
            await asyncio.sleep(0)  # one loop turn: its writer writes what the buffers take
        await connection.wait_for(EmptyFor(0), timeout=15)
        await connection.settled()
        assert edge.cuts == collections.Counter({limit: 1})
        assert [(e.participant.user_id, e.reason) for e in left] == [("deaf", "dropped")]
        deaf.resume()
        closed = await asyncio.wait_for(deaf.closed, timeout=15)
        assert closed.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
        await deaf.close()


# -- the versioned wire --------------------------------------------------------------


async def test_a_client_of_the_old_signaling_version_is_refused_with_a_reason(
    edge: LocalEdge, connection: Connection, http: aiohttp.ClientSession
) -> None:
    async with http.ws_connect(f"{edge.url}/ws/room") as socket:
        await socket.send_str('{"type": "Join", "token": "' + edge.token("room", "old") + '"}')
        refusal = decode_edge(await socket.receive_str())
        assert isinstance(refusal, ErrorFrame)
        assert "signaling version 1" in refusal.reason
        assert "reload the page" in refusal.reason
        closing = await socket.receive()
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, VERSION_REFUSED)
    assert connection.participants == ()


async def test_a_client_refuses_an_edge_of_the_old_signaling_version() -> None:
    async def old_edge(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        join = decode_client((await socket.receive()).data)
        assert isinstance(join, Join)
        await socket.send_bytes(encode(Joined("p__1", "room", join.seq)))  # no version: 1
        await socket.receive()
        return socket

    app = web.Application()
    app.router.add_get("/ws/{call_id}", old_edge)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        participant = LocalParticipant(f"http://127.0.0.1:{port}", "room", "token")
        with pytest.raises(SignalingVersionError, match="signaling version 1"):
            await participant.join()
    finally:
        await runner.cleanup()


# -- any interleaving converges ------------------------------------------------------

_OFFER: list[tuple[str, str]] = []  # (sdp, mid) of one audio track, made once


async def _audio_offer() -> tuple[str, str]:
    if not _OFFER:
        from aiortc import RTCConfiguration, RTCPeerConnection

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        transceiver = pc.addTransceiver("audio", direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        _OFFER.append((pc.localDescription.sdp, str(transceiver.mid)))
        await pc.close()
    return _OFFER[0]


def _presence_roster(connection: Connection) -> dict[str, tuple[str, list[TrackType]]]:
    presence = connection.presence
    return {
        p.id: (p.user_id, sorted(t.track_type for t in presence.tracks if t.participant_id == p.id))
        for p in presence.participants
    }


def _view_roster(view: RosterView) -> dict[str, tuple[str, list[TrackType]]]:
    return {e.participant_id: (e.user_id, sorted(e.tracks)) for e in view.participants}


_steps = st.lists(
    st.tuples(
        st.sampled_from(["leave", "publish", "unpublish", "pause", "resume", "flood"]),
        st.integers(0, 4),
    ),
    min_size=1,
    max_size=14,
)


@settings(max_examples=30, deadline=None, derandomize=True, database=None)
@given(_steps)
def test_any_interleaving_ends_with_every_live_roster_equal_to_the_agents_presence(
    steps: list[tuple[str, int]],
) -> None:
    asyncio.run(asyncio.wait_for(_interleaving(steps), timeout=60))


async def _interleaving(steps: list[tuple[str, int]]) -> None:
    sdp, mid = await _audio_offer()
    limits = LocalLimits(send_buffer=8192, send_timeout=30.0, max_outbox=10_000, heartbeat=60.0)
    async with (
        LocalEdge(limits=limits) as edge,
        aiohttp.ClientSession(connector=connector()) as http,
    ):
        connection = await edge.join(User("agent"), await edge.create_call("room"))
        clients: dict[int, RosterClient] = {}
        tracks: dict[int, str] = {}
        published: set[int] = set()  # one offer per client: its only transceiver
        for step, k in steps:
            client = clients.get(k)
            if step == "flood":  # enough to make a paused client's socket back up
                for _ in range(FLOOD // 2):
                    await edge.send_custom_event("room", {"pad": PAD})
            elif client is None:  # any step of a participant not in the call joins it
                clients[k] = await _client(http, edge, f"u{k}")
            elif step == "pause":
                client.pause()
            elif step == "resume":
                client.resume()
            elif step == "leave":
                client.resume()  # it reads its answer
                await client.leave()
                del clients[k]
                tracks.pop(k, None)
            elif step == "publish" and k not in published:
                client.resume()
                tracks[k] = await client.publish(sdp, mid)
                published.add(k)
            elif step == "unpublish" and k in tracks:
                client.resume()
                await client.unpublish(tracks.pop(k))
        await connection.settled()
        for client in clients.values():
            if _session(edge, client).outbox.roster_version != edge.roster("room").version:
                event("a participant lags behind the roster")
        expected = _presence_roster(connection)
        roster = edge.roster("room")
        order = list(roster.entries) if roster is not None else []
        assert set(order) == set(expected)
        for client in clients.values():
            client.resume()
            await client.until(lambda c: _view_roster(c.view) == expected, timeout=20)
            assert list(client.view.entries) == order  # and in the edge's order
            assert client.participant_id in expected  # it kept its seat
        assert edge.cuts == collections.Counter()
        for client in clients.values():
            await client.leave()
