"""``python -m benchmarks --repeat N``: medians per figure, and each ratio's range over the runs."""

from __future__ import annotations

from typing import Any

from benchmarks.__main__ import check_targets, ratio_ranges
from benchmarks._measure import median_result
from benchmarks.scenarios import ask_latency

_POINTS = ask_latency.points(quick=True)  # edge-actors, then task-queue


def _run(p50_us: float) -> dict[str, Any]:
    return {"asks": 5_000, "p50_us": p50_us, "p99_us": 2 * p50_us, "exact": True}


def test_each_figure_is_the_median_of_its_runs_and_the_rest_comes_from_the_first() -> None:
    merged = median_result([_run(5.0), _run(9.0), _run(6.0)])
    assert merged["p50_us"] == 6.0
    assert merged["p99_us"] == 12.0
    assert merged["exact"] is True  # a flag is not a figure: never averaged
    assert merged["runs"] == 3
    assert "failed_runs" not in merged


def test_failed_runs_are_left_out_and_counted() -> None:
    merged = median_result([{"error": "timed out"}, _run(4.0), _run(8.0)])
    assert merged["p50_us"] == 6.0
    assert merged["runs"] == 2
    assert merged["failed_runs"] == 1
    assert median_result([{"error": "a"}, {"error": "b"}]) == {"error": "a"}


def test_a_ratio_gets_its_lowest_and_highest_over_the_runs() -> None:
    # runs[i][k]: point i (edge-actors, task-queue), run k.
    runs = [[_run(5.0), _run(5.5), _run(4.8)], [_run(5.0), _run(5.0), _run(5.0)]]
    merged = [(p, median_result(r)) for p, r in zip(_POINTS, runs, strict=True)]
    summary = ask_latency.summarize(merged)
    summary["ratio_ranges"] = ratio_ranges(ask_latency, _POINTS, runs)
    assert summary["ratios"]["vs_task_queue"] == 1.0  # median 5.0 / median 5.0
    assert summary["ratio_ranges"]["vs_task_queue"] == [4.8 / 5.0, 5.5 / 5.0]
    (check,) = check_targets("ask_latency", ask_latency, summary)
    assert check["met"] is True
    assert check["range"] == [4.8 / 5.0, 5.5 / 5.0]


def test_a_run_where_a_point_failed_adds_no_ratio() -> None:
    runs = [[_run(5.0), {"error": "crashed"}], [_run(5.0), _run(4.0)]]
    assert ratio_ranges(ask_latency, _POINTS, runs) == {"vs_task_queue": [1.0, 1.0]}
