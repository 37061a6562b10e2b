"""Measuring helpers shared by the scenarios: memory, percentiles, CPU time."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
import resource
import statistics
import time

__all__ = [
    "Stopwatch",
    "cpu_seconds",
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
