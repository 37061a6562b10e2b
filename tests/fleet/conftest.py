"""One local Ray cluster for every fleet test module; each module starts its own fleet on it.

Starting and stopping Ray costs about 5 s here, so the cluster lives for the
session (2 CPUs, no dashboard); ``fleet_of`` gives each module a new directory
and its hosts, and kills them all when the module is done, so the next
module's directory (the same Ray names) starts with no calls, hosts or losses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    """The session's Ray cluster (the ``ray`` module, initialised)."""
    ray = pytest.importorskip("ray")
    from transport.fleet import start_local_cluster

    start_local_cluster()
    try:
        yield ray
    finally:
        ray.shutdown()


FleetOf = Callable[..., dict[str, Any]]


@pytest.fixture(scope="module")
def fleet_of(ray_cluster: Any) -> Iterator[FleetOf]:
    """``fleet_of(names, lost_after=2.0, **host_options)``: a directory and started hosts.

    Returns the hosts' handles by name, each an ``InstrumentedHost`` (a ``Host``
    tests can drive and break); ``host_options`` go to each
    (``max_sessions``, ``edge``, ``agent``). Everything it started is killed
    when the module ends.
    """
    from transport.fleet import start_directory
    from transport.fleet.testing import InstrumentedHost

    started: list[Any] = []

    def start(names: tuple[str, ...], lost_after: float = 2.0, **options: Any) -> dict[str, Any]:
        started.extend(start_directory(lost_after=lost_after))
        handles = {
            name: InstrumentedHost.options(name=name).remote(name, **options) for name in names
        }
        started.extend(handles.values())
        ray_cluster.get([handle.start.remote(handle) for handle in handles.values()])
        return handles

    yield start
    for actor in started:
        ray_cluster.kill(actor)  # killing one already dead (a test's lost host) is harmless
