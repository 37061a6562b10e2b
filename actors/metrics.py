"""OpenTelemetry metrics for edge-actors (the optional extra ``otel``).

Nothing is measured until ``enable()`` is called, and then almost nothing is
added to the hot path: the instruments are observable ones that read the
runtime's own counters (mailbox depth, messages handled, refusals, restarts,
presence) when the exporter collects, which happens on the exporter's thread.
Only the wait latency is recorded as it happens, by ``Connection``.

======================================  ===========  ==========================================
instrument                              kind         meaning
======================================  ===========  ==========================================
``edge_actors.mailbox.depth``           gauge        messages queued in all live actors
``edge_actors.mailbox.depth.max``       gauge        the deepest single mailbox
``edge_actors.messages.handled``        counter      messages handled since start (rate = msg/s)
``edge_actors.messages.refused``        counter      tells refused by full mailboxes
``edge_actors.actor.restarts``          counter      actor restarts after failing tells
``edge_actors.actors``                  gauge        live actors
``edge_actors.presence.participants``   gauge        participants present, over all connections
``edge_actors.presence.connections``    gauge        open connections, by state
``edge_actors.wait.duration``           histogram    ms a ``wait_for_participant`` waited
``edge_actors.media.packets_lost``      counter      received media packets lost, by call
``edge_actors.media.frames_unread``     counter      frames dropped undecoded (nobody read them)
``edge_actors.media.decode_backlog``    gauge        decoded frames not read yet, by call
======================================  ===========  ==========================================

The media instruments read every edge made in the process (``watch_media``;
``EdgeTransport`` registers itself) through its ``media_health()``.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from actors._actor import AsyncioActor
from actors._directory import directory
from actors._stopping import retired
from actors.connection import ConnectionActor
from actors.presence import Presence
from messages import EdgeActorsError, MediaHealth

__all__ = [
    "MediaSource",
    "MetricsUnavailableError",
    "enable",
    "messages_handled",
    "record_wait",
    "recording",
    "watch_media",
]

_wait_histogram: Any = None
_Observation: Any = None  # opentelemetry.metrics.Observation, once enabled


class MetricsUnavailableError(EdgeActorsError, RuntimeError):
    """``enable()`` was called but OpenTelemetry is not installed (extra ``otel``)."""


class MediaSource(Protocol):
    """What reports media health: an edge (``EdgeTransport.media_health``)."""

    def media_health(self, call_id: str | None = None) -> tuple[MediaHealth, ...]: ...


_media_sources: weakref.WeakSet[Any] = weakref.WeakSet()


def watch_media(source: MediaSource) -> None:
    """Have the media instruments read ``source`` while it lives (held weakly); any thread."""
    _media_sources.add(source)


def _media() -> list[MediaHealth]:
    return [health for source in list(_media_sources) for health in source.media_health()]


def recording() -> bool:
    """Whether waits are being recorded (``enable()`` was called). Any thread."""
    return _wait_histogram is not None


def record_wait(seconds: float) -> None:
    """Record how long a wait took; a no-op until ``enable()``. Call it on any thread."""
    histogram = _wait_histogram
    if histogram is not None:
        histogram.record(seconds * 1000.0)


def messages_handled() -> int:
    """Messages handled by every ``AsyncioActor`` so far, live and stopped (a retry counts twice).

    Read it on the actors' loop; the difference over a stretch of work counts its
    mailbox hops (what ``edge_actors.messages.handled`` reports, without OpenTelemetry).
    """
    return retired.handled + sum(actor.messages_handled for actor in _live())


def enable(meter_provider: Any = None) -> None:
    """Register the instruments with ``meter_provider`` (default: OpenTelemetry's global one).

    Call once, from any thread, after configuring OpenTelemetry. Raises
    ``MetricsUnavailableError`` when the ``otel`` extra is not installed.
    """
    global _wait_histogram
    try:
        from opentelemetry import metrics
    except ImportError as exc:
        msg = "OpenTelemetry is not installed: pip install 'edge-actors[otel]'"
        raise MetricsUnavailableError(msg) from exc

    global _Observation
    _Observation = metrics.Observation
    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    meter = provider.get_meter("edge-actors")
    meter.create_observable_gauge("edge_actors.mailbox.depth", callbacks=[_depth], unit="{message}")
    meter.create_observable_gauge(
        "edge_actors.mailbox.depth.max", callbacks=[_max_depth], unit="{message}"
    )
    meter.create_observable_counter(
        "edge_actors.messages.handled", callbacks=[_handled], unit="{message}"
    )
    meter.create_observable_counter(
        "edge_actors.messages.refused", callbacks=[_refused], unit="{message}"
    )
    meter.create_observable_counter(
        "edge_actors.actor.restarts", callbacks=[_restarts], unit="{restart}"
    )
    meter.create_observable_gauge("edge_actors.actors", callbacks=[_actors])
    meter.create_observable_gauge("edge_actors.presence.participants", callbacks=[_participants])
    meter.create_observable_gauge("edge_actors.presence.connections", callbacks=[_connections])
    meter.create_observable_counter(
        "edge_actors.media.packets_lost", callbacks=[_per_call("packets_lost")], unit="{packet}"
    )
    meter.create_observable_counter(
        "edge_actors.media.frames_unread", callbacks=[_frames_unread], unit="{frame}"
    )
    meter.create_observable_gauge(
        "edge_actors.media.decode_backlog", callbacks=[_per_call("decode_backlog")], unit="{frame}"
    )
    _wait_histogram = meter.create_histogram(
        "edge_actors.wait.duration", unit="ms", description="time a wait_for_participant waited"
    )


def _live() -> list[AsyncioActor]:
    return directory.actors()


def _depth(_options: Any) -> Iterable[Any]:
    yield _Observation(sum(actor.mailbox_depth for actor in _live()))


def _max_depth(_options: Any) -> Iterable[Any]:
    yield _Observation(max((actor.mailbox_depth for actor in _live()), default=0))


def _handled(_options: Any) -> Iterable[Any]:
    yield _Observation(messages_handled())


def _refused(_options: Any) -> Iterable[Any]:
    yield _Observation(retired.refused + sum(actor.messages_refused for actor in _live()))


def _restarts(_options: Any) -> Iterable[Any]:
    yield _Observation(retired.restarts + sum(actor.restart_count for actor in _live()))


def _actors(_options: Any) -> Iterable[Any]:
    yield _Observation(len(directory))


def _presences() -> list[Presence]:
    return [actor.presence for actor in _live() if isinstance(actor, ConnectionActor)]


def _participants(_options: Any) -> Iterable[Any]:
    yield _Observation(sum(len(p.participants) for p in _presences()))


def _connections(_options: Any) -> Iterable[Any]:
    states = Counter(p.state.value for p in _presences())
    for state, count in states.items():
        yield _Observation(count, {"state": state})


def _per_call(field: str) -> Callable[[Any], Iterable[Any]]:
    """An instrument callback: ``field`` of each call's ``MediaHealth``, by call."""

    def observe(_options: Any) -> Iterable[Any]:
        for health in _media():
            yield _Observation(getattr(health, field), {"call_id": health.call_id})

    return observe


def _frames_unread(_options: Any) -> Iterable[Any]:
    yield _Observation(sum(health.frames_unread for health in _media()))
