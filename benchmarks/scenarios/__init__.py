"""The scenario registry: one module per scenario, listed in ``ORDER``.

A scenario is a module with these names (see ``Scenario``):

- ``NAME``: the name used by ``--only`` and as the JSON key;
- ``TARGETS``: ``{metric: (what, "<=" or ">=", bound)}``; a metric is looked up
  first in the summary's ``headline`` result, then in its ``ratios``;
- ``points(quick) -> list[dict]``: the measurement points; each runs in a fresh
  process (``python -m benchmarks._worker``) so one cannot warm up or pollute
  another;
- ``run(point) -> dict``: measure one point, in that worker process;
- ``summarize([(point, result), ...]) -> dict`` with ``results``
  (``{implementation: {size: result}}``), ``ratios`` and ``headline``;
- optionally ``available() -> str | None`` (a reason to skip, e.g. the code it
  measures is not installed), ``environment(point) -> dict[str, str]`` (extra
  environment variables for the worker) and ``NOTES`` (lines printed under the
  table).

To add one, write ``benchmarks/scenarios/<name>.py`` and put its name in
``ORDER``. A module that fails to import is reported as skipped, with the
error, instead of breaking the suite.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, Protocol

__all__ = ["ORDER", "SCENARIOS", "Scenario", "load"]

ORDER = (
    "mailbox_fanout",
    "ask_latency",
    "presence_churn",
    "isolation",
    "waiters",
    "memory",
    "lifecycle_costs",
    "local_media",
    "voice_density",
    "stream_local",
    "hostile_load",
    "large_call",
    "soak",
    "cluster",
)
"""Scenario module names, in the order the suite runs them."""


class Scenario(Protocol):
    """What the suite expects of a scenario module (modules satisfy it structurally)."""

    NAME: str
    TARGETS: dict[str, tuple[str, str, float]]

    def points(self, quick: bool) -> list[dict[str, Any]]:
        """The measurement points, smaller ones when ``quick``."""
        ...

    def run(self, point: dict[str, Any]) -> dict[str, Any]:
        """Measure one point (called in a fresh worker process)."""
        ...

    def summarize(self, results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
        """Fold the points' results into ``results``, ``ratios`` and ``headline``."""
        ...


class _Broken:
    """Stands in for a scenario module that could not be imported: always skipped."""

    def __init__(self, name: str, error: BaseException) -> None:
        self.NAME = name
        self.TARGETS: dict[str, tuple[str, str, float]] = {}
        self._reason = f"cannot import benchmarks.scenarios.{name}: {error!r}"

    def available(self) -> str | None:
        """The reason this scenario is skipped."""
        return self._reason

    def points(self, quick: bool) -> list[dict[str, Any]]:
        """No points: the scenario is skipped."""
        return []

    def run(self, point: dict[str, Any]) -> dict[str, Any]:
        """Never called: the scenario is skipped."""
        raise RuntimeError(self._reason)

    def summarize(self, results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
        """Nothing to summarize."""
        return {"results": {}, "ratios": {}, "headline": {}}


def load(name: str) -> ModuleType | _Broken:
    """Import the scenario module ``name``, or a stand-in that says why it cannot run."""
    try:
        return importlib.import_module(f"benchmarks.scenarios.{name}")
    except ImportError as error:
        return _Broken(name, error)


SCENARIOS: dict[str, Any] = {name: load(name) for name in ORDER}
"""Every scenario by name, in ``ORDER`` (values are modules satisfying ``Scenario``)."""
