"""A pytest plugin that runs pykka's own test suite on edge-actors' ``AsyncioActor``.

pykka's suite is written against a ``runtime`` fixture (``tests/conftest.py``
of its source distribution: an actor class, an event class, a future class and
a sleep function). This plugin parametrizes that fixture with pykka's own
threading runtime and with ``asyncio``: ``AsyncioActor`` hosted on one event
loop that runs in a background thread for the whole session, registered with
pykka's ``ActorRegistry`` (as pykka's tests expect), and started from the
tests' thread through ``start_on``. Nothing of pykka's is copied here: the
suite is read from the sdist that ``tests/runtime/test_pykka_suite.py``
downloads.

``EXPECTED_DIFFERENCES`` lists the tests that cannot pass by design, each with
the reason; the README's "Threads and loops" section says the same.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Self

import pykka
import pytest

import actors

EXPECTED_DIFFERENCES: dict[str, str] = {}
"""pykka test id (as pytest names it, asyncio runtime) -> why it cannot pass on a loop."""

_loop = asyncio.new_event_loop()
_thread = threading.Thread(target=_loop.run_forever, name="edge-actors-loop", daemon=True)
_thread.start()


class LoopActor(actors.AsyncioActor):
    """``AsyncioActor`` on the session's background loop, registered with pykka."""

    register_with_pykka = True

    @classmethod
    def start(cls, *args: Any, **kwargs: Any) -> pykka.ActorRef[Self]:
        """Start on the background loop, from its thread or any other."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is _loop or getattr(_starting, "now", False):
            return super().start(*args, **kwargs)
        _starting.now = True  # start_on calls start() again, in this thread
        try:
            return cls.start_on(_loop, *args, **kwargs)
        finally:
            _starting.now = False


_starting = threading.local()


@pytest.hookimpl(tryfirst=True)
def pytest_plugin_registered(plugin: object, manager: pytest.PytestPluginManager) -> None:
    """Add ``asyncio`` to pykka's ``RUNTIMES`` as its conftest is registered.

    pykka's ``runtime`` fixture takes its params from ``RUNTIMES`` when its
    conftest is imported, so the fixture is made again over the extended dict,
    before pytest reads the conftest's fixtures (this hook runs first).
    """
    runtimes = getattr(plugin, "RUNTIMES", None)
    if getattr(plugin, "__name__", "") != "tests.conftest" or not isinstance(runtimes, dict):
        return
    from tests.types import Runtime  # pykka's, importable while its suite runs

    runtimes["asyncio"] = pytest.param(
        Runtime(
            name="asyncio",
            actor_class=LoopActor,
            event_class=threading.Event,
            future_class=actors.AsyncioFuture,
            sleep_func=time.sleep,
        ),
        id="asyncio",
    )

    @pytest.fixture(scope="session", params=list(runtimes.values()))
    def runtime(request: pytest.FixtureRequest) -> Any:
        return request.param

    plugin.runtime = runtime  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the expected differences as xfail (strict: one that passes is news)."""
    for item in items:
        reason = EXPECTED_DIFFERENCES.get(item.nodeid.split("::", 1)[-1])
        if reason is not None:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


_outcomes: dict[str, int] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Count the asyncio runtime's outcomes (the call phase, or a failed setup)."""
    if "[asyncio" not in report.nodeid:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        _outcomes[outcome] = _outcomes.get(outcome, 0) + 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """One line the edge-actors test reads: the asyncio runtime's own counts."""
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(_outcomes.items()))
    terminalreporter.write_line(f"edge-actors asyncio runtime: {counts or 'nothing ran'}")


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the background loop at the end of the session."""
    _loop.call_soon_threadsafe(_loop.stop)
    _thread.join(timeout=5)
