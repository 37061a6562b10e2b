"""Measuring helpers shared by the scenarios: memory, percentiles, CPU time."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import resource
import statistics
import time
from typing import Any

__all__ = [
    "Stopwatch",
    "cpu_seconds",
    "median_result",
    "missing",
    "percentile",
    "rss_bytes",
    "settle_memory",
    "summary",
]

_PAGE = os.sysconf("SC_PAGE_SIZE")
_libc = ctypes.CDLL(ctypes.util.find_library("c") or None)


def rss_bytes() -> int:
    """Resident set size of this process now (from /proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


def settle_memory() -> int:
    """Collect garbage and hand freed heap back to the OS (glibc), then return the RSS."""
    gc.collect()
    trim = getattr(_libc, "malloc_trim", None)
    if trim is not None:
        trim(0)
    return rss_bytes()


def cpu_seconds() -> float:
    """User plus system CPU time of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of ``values`` (nearest rank); 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary(latencies_s: list[float]) -> dict[str, float]:
    """p50, p99 and mean of latencies given in seconds, in milliseconds."""
    return {
        "p50_ms": percentile(latencies_s, 0.50) * 1000,
        "p99_ms": percentile(latencies_s, 0.99) * 1000,
        "mean_ms": (statistics.fmean(latencies_s) * 1000) if latencies_s else 0.0,
    }


def median_result(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One point's result from several runs of it: each figure's median over the good runs.

    A figure is a top-level number (not a bool); anything else (nested tables,
    strings, flags) is taken from the first good run. ``runs`` says how many
    runs the medians cover; if some runs failed, ``failed_runs`` counts them.
    If every run failed, the first failure is the result.
    """
    good = [run for run in runs if "error" not in run]
    if not good:
        return runs[0]
    merged = dict(good[0])
    for key in list(merged):
        values = [run.get(key) for run in good]
        if all(_is_figure(v) for v in values):
            merged[key] = statistics.median(values)
    merged["runs"] = len(good)
    if len(good) < len(runs):
        merged["failed_runs"] = len(runs) - len(good)
    return merged


def _is_figure(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Stopwatch:
    """Wall time since creation, with ``time.perf_counter``."""

    def __init__(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        """Seconds since the stopwatch was made."""
        return time.perf_counter() - self.started


def missing(module: str) -> str | None:
    """Why ``module`` cannot be imported (a reason to skip a scenario), or ``None``."""
    import importlib.util

    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:
        found = False
    if found:
        return None
    return f"{module} does not exist yet; this scenario runs once it does"


def local_edge_missing() -> str | None:
    """Why the local edge cannot run here (its extra is not installed), or ``None``."""
    try:
        import aiortc  # noqa: F401
    except ImportError:
        return "the local edge is not installed (pip install 'edge-actors[local]')"
    return None
