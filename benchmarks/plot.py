"""The suite's plot: throughput, latency and memory against the number of connections."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def _series(results: dict[str, Any], key: str) -> dict[str, tuple[list[int], list[float]]]:
    series = {}
    for impl, by_point in results.items():
        points = sorted((int(p), r[key]) for p, r in by_point.items() if p.isdigit() and key in r)
        if points:
            series[impl] = ([p for p, _ in points], [v for _, v in points])
    return series


def plot(report: dict[str, Any], path: str) -> None:
    """Draw three panels (throughput, latency, memory) from a suite report into ``path``."""
    scenarios = report["scenarios"]
    panels = [
        ("mailbox_fanout", "msgs_per_s", "tell fan-out (msg/s)", "actors"),
        ("presence_churn", "events_per_s", "presence churn (events/s)", "connections"),
        ("presence_churn", "p99_ms", "join-to-handler p99 (ms)", "connections"),
        ("mailbox_fanout", "bytes_per_actor", "RSS per idle actor (bytes)", "actors"),
    ]
    figure, axes = plt.subplots(2, 2, figsize=(11, 8))
    for axis, (scenario, key, title, unit) in zip(axes.flat, panels, strict=True):
        results = scenarios.get(scenario, {}).get("results", {})
        for impl, (xs, ys) in _series(results, key).items():
            axis.plot(xs, ys, marker="o", label=impl)
        axis.set_title(title)
        axis.set_xlabel(unit)
        axis.set_xscale("log")
        if key != "p99_ms":
            axis.set_yscale("log")
        axis.grid(True, which="both", alpha=0.3)
        axis.legend()
    figure.suptitle("edge-actors beside its baselines (same run, same machine)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
