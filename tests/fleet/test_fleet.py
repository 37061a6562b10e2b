"""Two host processes on a local Ray cluster: placement, cross-host close, presence, loss."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("aiortc")

from real_people import arrive  # noqa: E402

from transport.fleet import (  # noqa: E402
    PresenceView,
    directory_presence,
    lookup,
    next_lost,
    place,
)

WAIT = 20.0  # seconds any one step may take on a loaded 2-core machine
LOST_AFTER = 2.0  # seconds without a heartbeat before a host is declared lost
HEARTBEAT_S = 0.5  # transport.fleet.host's period: a host's last beat is at most this old
REPORT_BOUND = 5 * (LOST_AFTER + LOST_AFTER / 4)  # 5x the expected time (the cluster benchmark
# measures it: about lost_after plus one sweep)


@pytest.fixture(scope="module")
def hosts(fleet_of: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    return fleet_of(("host-a", "host-b"), lost_after=LOST_AFTER)


def _view(data: bytes | None) -> PresenceView:
    assert data is not None
    return msgspec.msgpack.decode(data, type=PresenceView)


async def test_placement_cross_host_close_presence_and_a_lost_host(
    hosts: dict[str, Any],
) -> None:
    a, b = hosts["host-a"], hosts["host-b"]
    first = await place("call-1", "agent")
    second = await place("call-2", "agent")
    assert {first.host, second.host} == {"host-a", "host-b"}  # least loaded first
    ref_a = first if first.host == "host-a" else second
    on_a = ref_a.call_id
    on_b = "call-2" if on_a == "call-1" else "call-1"

    # Presence made on host A by people joining its edge is what host B reads.
    alice, alice_joined = await arrive(ref_a, "alice")
    bob, _ = await arrive(ref_a, "bob")
    await bob.leave()
    await a.settled.remote(on_a, WAIT)
    seen_on_a = _view(await a.local_presence.remote(on_a))
    seen_from_b = _view(await b.presence_seen_here.remote(on_a))
    assert seen_from_b == seen_on_a
    assert seen_from_b.participants == (alice_joined.id,)
    assert (await directory_presence(on_a)) == seen_on_a
    await alice.leave()

    # A connection on host A is closed by an actor on host B.
    assert await b.close_remote.remote(on_a, "closed from host-b") == "closed"
    assert await a.load.remote() == 0
    assert await lookup(on_a) is None

    # Host B's process dies: its calls are reported lost, not before lost_after has passed.
    started = time.monotonic()
    ray.kill(b)
    lost = await next_lost()
    elapsed = time.monotonic() - started
    assert lost.host == "host-b"
    assert lost.call_ids == (on_b,)
    print(f"host loss reported after {elapsed:.2f} s (bound {REPORT_BOUND:.1f} s)")
    assert LOST_AFTER - HEARTBEAT_S <= elapsed <= REPORT_BOUND, f"reported after {elapsed:.2f} s"
    assert await lookup(on_b) is None
