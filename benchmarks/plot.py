"""The suite's plot: throughput, latency and memory against the number of actors/connections.

Rows: throughput, latency, memory. Each panel draws every implementation a
scenario measured (edge-actors and its baselines) on the same axes, log-log.
Matplotlib runs on the Agg backend: no display needed.
"""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

__all__ = ["PANELS", "plot"]

PANELS = (
    ("mailbox_fanout", "msgs_per_s", "tell fan-out (msg/s)", "actors"),
    ("presence_churn", "events_per_s", "presence churn (events/s)", "connections"),
    ("presence_churn", "p99_ms", "message-to-handler p99, idle loop (ms)", "connections"),
    ("waiters", "p99_ms", "wait_for_participant wake p99 (ms)", "waiters"),
    ("mailbox_fanout", "bytes_per_actor", "RSS per idle actor (bytes)", "actors"),
    ("memory", "bytes_per_connection", "RSS per idle connection (bytes)", "connections"),
)
"""(scenario, figure, title, x label) of each panel, row by row."""


def _series(results: dict[str, Any], key: str) -> dict[str, tuple[list[int], list[float]]]:
    series = {}
    for impl, by_size in results.items():
        points = sorted(
            (int(size), float(result[key]))
            for size, result in by_size.items()
            if size.isdigit() and isinstance(result.get(key), int | float)
        )
        if points:
            series[impl] = ([x for x, _ in points], [y for _, y in points])
    return series


def plot(report: dict[str, Any], path: str) -> None:
    """Draw the panels of ``PANELS`` from a suite report into the PNG ``path``."""
    scenarios = report["scenarios"]
    figure, axes = plt.subplots(3, 2, figsize=(12, 12))
    for axis, (scenario, key, title, unit) in zip(axes.flat, PANELS, strict=True):
        results = scenarios.get(scenario, {}).get("results", {})
        drawn = _series(results, key)
        for impl, (xs, ys) in drawn.items():
            axis.plot(xs, ys, marker="o", label=impl)
        axis.set_title(f"{scenario}: {title}", fontsize=10)
        axis.set_xlabel(unit)
        if not drawn:
            axis.text(0.5, 0.5, "not measured in this run", ha="center", transform=axis.transAxes)
            continue
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize=8)
    machine = report.get("machine", {})
    figure.suptitle(
        "edge-actors beside its baselines (same run, same machine: "
        f"{machine.get('cpus', '?')} CPUs, Python {machine.get('python', '?')})"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
