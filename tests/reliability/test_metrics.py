"""OpenTelemetry metrics read the runtime's own counters (extra ``otel``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk.metrics")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

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
