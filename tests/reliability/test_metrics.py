"""OpenTelemetry metrics read the runtime's own counters (extra ``otel``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk.metrics")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import actors
from actors import metrics
from transport import MemoryEdge, User


def _points(reader: InMemoryMetricReader) -> dict[str, list[Any]]:
    data = reader.get_metrics_data()
    assert data is not None
    found: dict[str, list[Any]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found[metric.name] = list(metric.data.data_points)
    return found


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    reader = InMemoryMetricReader()
    metrics.enable(MeterProvider(metric_readers=[reader]))
    yield reader
    metrics._wait_histogram = None  # noqa: SLF001


async def test_metrics_report_presence_connections_and_wait_latency(
    reader: InMemoryMetricReader,
) -> None:
    edge = MemoryEdge()
    call = await edge.create_call("metrics")
    connection = await edge.join(User("agent"), call)
    waiter = asyncio.ensure_future(connection.wait_for_participant(timeout=5))
    await connection.settled()  # the wait starts while nobody is present
    await edge.participant("metrics", "alice").join()
    await waiter

    points = _points(reader)
    assert [p.value for p in points["edge_actors.presence.participants"]] == [1]
    by_state = {p.attributes["state"]: p.value for p in points["edge_actors.presence.connections"]}
    assert by_state == {"active": 1}
    assert points["edge_actors.messages.handled"][0].value > 0
    assert points["edge_actors.wait.duration"][0].count == 1
    await edge.close()


def test_enable_without_opentelemetry_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_otel(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("opentelemetry"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_otel)
    with pytest.raises(metrics.MetricsUnavailableError, match=r"edge-actors\[otel\]"):
        metrics.enable()


async def test_media_instruments_read_every_edges_media_health(
    reader: InMemoryMetricReader,
) -> None:
    pytest.importorskip("aiortc")
    from transport import TrackType
    from transport.local import LocalEdge

    async with LocalEdge() as edge:
        await edge.join(User("agent"), await edge.create_call("media"))
        person = edge.participant("media", "watcher")
        await person.join()
        video_id = await person.publish(TrackType.VIDEO)
        watched = edge.add_track_subscriber(video_id)
        await asyncio.wait_for(watched.recv(), 20)
        points = _points(reader)
        watched.stop()
        await person.leave()
    backlog = {p.attributes["call_id"]: p.value for p in points["edge_actors.media.decode_backlog"]}
    lost = {p.attributes["call_id"]: p.value for p in points["edge_actors.media.packets_lost"]}
    assert backlog["media"] >= 0
    assert lost == {"media": 0}
    assert "edge_actors.media.frames_unread" in points


def _value(points: dict[str, list[Any]], name: str) -> int:
    """The one value of instrument ``name`` (0 if it reported none)."""
    return int(sum(p.value for p in points.get(name, [])))


class _Gated(actors.AsyncioActor):
    """Handles each message once ``gate`` is set; ``started`` once it holds its first."""

    mailbox_capacity = 2

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__()
        self.gate = gate
        self.started = asyncio.Event()

    async def on_receive(self, message: Any) -> Any:
        self.started.set()
        await self.gate.wait()
        return message


class _FailsOnce(actors.AsyncioActor):
    """Raises on its first message, then handles every message (it restarts once)."""

    restart_policy = actors.RestartPolicy(max_restarts=3, within=60.0)

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def on_receive(self, message: Any) -> Any:
        if not self.failed:
            self.failed = True
            raise RuntimeError("the first message fails")
        return message


def _started(ref: Any) -> asyncio.Event:
    started: asyncio.Event = ref._actor_weakref().started  # noqa: SLF001
    return started


async def test_mailbox_depth_its_max_live_actors_and_messages_handled_follow_the_actors(
    reader: InMemoryMetricReader,
) -> None:
    before = _points(reader)
    gate = asyncio.Event()
    busy, idle = _Gated.start(gate), _Gated.start(gate)
    busy.tell("held")  # taken at once, then held by the gate
    await _started(busy).wait()
    busy.tell("queued 1")
    busy.tell("queued 2")
    idle.tell("held")
    await _started(idle).wait()
    during = _points(reader)
    assert _value(during, "edge_actors.actors") == _value(before, "edge_actors.actors") + 2
    depth = _value(before, "edge_actors.mailbox.depth")
    assert _value(during, "edge_actors.mailbox.depth") == depth + 2
    assert _value(during, "edge_actors.mailbox.depth.max") == 2
    gate.set()
    assert await actors.ask(busy, "last") == "last"
    assert await actors.ask(idle, "last") == "last"
    after = _points(reader)
    assert _value(after, "edge_actors.mailbox.depth") == depth
    handled = _value(after, "edge_actors.messages.handled")
    assert handled == _value(before, "edge_actors.messages.handled") + 6
    await actors.stop_all()
    stopped = _points(reader)
    assert _value(stopped, "edge_actors.actors") == _value(before, "edge_actors.actors")
    # a counter: what stopped actors handled stays, and each handled its stop
    assert _value(stopped, "edge_actors.messages.handled") == handled + 2


async def test_refused_tells_are_counted_and_stay_counted_once_the_actor_stops(
    reader: InMemoryMetricReader,
) -> None:
    refused = _value(_points(reader), "edge_actors.messages.refused")
    gate = asyncio.Event()
    ref = _Gated.start(gate)
    ref.tell("held")
    await _started(ref).wait()
    ref.tell("queued 1")
    ref.tell("queued 2")  # the mailbox (capacity 2) is full now
    for n in range(3):
        with pytest.raises(actors.MailboxFullError):
            ref.tell(f"refused {n}")
    assert _value(_points(reader), "edge_actors.messages.refused") == refused + 3
    gate.set()
    await actors.stop_all()
    assert _value(_points(reader), "edge_actors.messages.refused") == refused + 3


async def test_restarts_are_counted_and_stay_counted_once_the_actor_stops(
    reader: InMemoryMetricReader,
) -> None:
    restarts = _value(_points(reader), "edge_actors.actor.restarts")
    ref = _FailsOnce.start()
    ref.tell("fails, restarts, then handled")
    assert await actors.ask(ref, "next") == "next"
    assert _value(_points(reader), "edge_actors.actor.restarts") == restarts + 1
    await actors.stop_all()
    assert _value(_points(reader), "edge_actors.actor.restarts") == restarts + 1


async def test_frames_of_a_track_nobody_reads_are_counted_unread_until_someone_does(
    reader: InMemoryMetricReader,
) -> None:
    pytest.importorskip("aiortc")
    from transport import TrackType
    from transport.local import LocalEdge

    async def hear(track: Any, frames: int) -> None:
        """Read ``frames`` audio frames (20 ms each): the media flows that long meanwhile."""
        for _ in range(frames):
            await asyncio.wait_for(track.recv(), 20)

    async with LocalEdge() as edge:
        await edge.join(User("agent"), await edge.create_call("unread"))
        person = edge.participant("unread", "speaker")
        await person.join()
        audio_id = await person.publish(TrackType.AUDIO)
        # A second audio track nobody reads (unread video is paused at its sender instead).
        other_id = await person.publish(TrackType.SCREEN_SHARE_AUDIO)
        heard = edge.add_track_subscriber(audio_id)
        await hear(heard, 100)  # two seconds of the other track arrive, and nobody reads it
        unread = _value(_points(reader), "edge_actors.media.frames_unread")
        assert unread > 0
        also_heard = edge.add_track_subscriber(other_id)  # decoded from now on
        await hear(heard, 100)
        assert _value(_points(reader), "edge_actors.media.frames_unread") == unread
        also_heard.stop()
        heard.stop()
        await person.leave()
