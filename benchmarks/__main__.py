"""``python -m benchmarks``: run the scenarios, show a table each, write JSON and a plot.

Options: ``--quick`` (under a minute on 2 cores), ``--only a,b``, ``--json PATH``,
``--plot PATH``, ``--loop uvloop``, ``--repeat N``. Each measurement point runs
in its own fresh process (``python -m benchmarks._worker``); a point that fails
or times out is reported as such and the suite goes on. With ``--repeat N``
every point runs N times (all points once, then again, so a drift in the
machine touches every implementation alike); each figure is the median of its
runs, and each ratio is shown with its lowest and highest over the N runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks._measure import median_result
from benchmarks.scenarios import SCENARIOS

POINT_TIMEOUT_S = 240
"""A point that runs longer is killed and reported as failed (the suite stays bounded)."""

LOOP_VARIABLE = "EDGE_ACTORS_BENCH_LOOP"
"""Environment variable naming the event loop the workers run on (``asyncio`` or ``uvloop``)."""

_COLUMNS = (
    "msgs_per_s",
    "host_cores_per_call",
    "rss_mb_per_call",
    "worst_fps",
    "worst_late_or_lost",
    "round_trip_p50_ms",
    "round_trip_p99_ms",
    "calls_per_core",
    "events_per_s",
    "bytes_per_actor",
    "traced_bytes_per_actor",
    "bytes_per_connection",
    "start_s",
    "stop_s",
    "seconds",
    "join_p50_ms",
    "join_p99_ms",
    "p50_ms",
    "p99_ms",
    "cpu_ms_per_s_per_connection",
    "loaded_p50_ms",
    "loaded_p99_ms",
    "woke_all_s",
    "waiters_left",
    "extra_tasks_left",
    "objects_left",
    "after_close_ratio",
    "retained_of_peak",
    "participants_per_core",
    "cpu_ms_per_s_per_participant",
    "beside_cpu_ms_per_s_per_participant",
    "audio_fps_per_participant",
    "video_fps_per_participant",
    "tells_per_s",
    "unbatched_tells_per_s",
    "local_msgs_per_s",
    "ask_p50_ms",
    "ask_p99_ms",
    "local_ask_p50_ms",
    "batched_asks_per_s",
    "unbatched_asks_per_s",
    "turn_ask_p50_ms",
    "turn_ask_p99_ms",
    "turn_asks_per_s",
    "calls_moved",
    "lost_after_s",
    "serve_again_s",
    "directory_updates_per_s",
    "places_per_s",
    "p50_us",
    "p99_us",
    "joins_per_s",
    "cut",
    "fds_before",
    "fds_after",
    "tasks_before",
    "tasks_after",
    "slow_events_waiting",
    "hops_per_change",
    "dropped",
    "cpu_ms_per_join",
    "token_ms_per_join",
    "roster_frames_per_change_per_participant",
    "roster_bytes_per_change_per_participant",
    "client_cpu_share",
    "error",
)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU, memory, Python and package versions."""
    versions: dict[str, str | None] = {}
    for name in ("edge-actors", "pykka", "msgspec", "aiortc", "aiohttp", "rich", "matplotlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "versions": versions,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def run_point(name: str, point: dict[str, Any]) -> dict[str, Any]:
    """Run one point of scenario ``name`` in a fresh process and return its result."""
    command = [sys.executable, "-m", "benchmarks._worker", name, json.dumps(point)]
    module = SCENARIOS[name]
    extra = module.environment(point) if hasattr(module, "environment") else {}
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=POINT_TIMEOUT_S,
            check=False,
            env={**os.environ, **extra},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {POINT_TIMEOUT_S} s"}
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit status {done.returncode}"}
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def scenario_table(name: str, summary: dict[str, Any]) -> Table:
    """One row per implementation and size, one column per figure that any row has."""
    results: dict[str, dict[str, dict[str, Any]]] = summary["results"]
    rows = [(impl, size, r) for impl, by in results.items() for size, r in by.items()]
    keys = [k for k in _COLUMNS if any(r.get(k) is not None for _, _, r in rows)]
    table = Table(title=name, title_justify="left")
    table.add_column("implementation")
    table.add_column("size", justify="right")
    for key in keys:
        table.add_column(key, justify="right")
    for impl, size, result in rows:
        table.add_row(
            impl, _fmt(int(size)) if size.isdigit() else size, *(_fmt(result.get(k)) for k in keys)
        )
    ratios = summary.get("ratios", {})
    if ratios:
        spans = summary.get("ratio_ranges", {})
        table.caption = "   ".join(f"{k} = {v:.3g}{_span(spans.get(k))}" for k, v in ratios.items())
    return table


def _span(low_high: list[float] | None) -> str:
    """`` (low-high)``: a ratio's range over the runs of ``--repeat``; empty without one."""
    return f" ({low_high[0]:.3g}-{low_high[1]:.3g})" if low_high else ""


def ratio_ranges(
    module: Any, points: list[dict[str, Any]], runs: list[list[dict[str, Any]]]
) -> dict[str, list[float]]:
    """Each ratio's lowest and highest value over the runs (``runs[i][k]``: point i, run k)."""
    seen: dict[str, list[float]] = {}
    for k in range(len(runs[0]) if runs else 0):
        one = [(p, r[k]) for p, r in zip(points, runs, strict=True) if "error" not in r[k]]
        for key, value in module.summarize(one).get("ratios", {}).items():
            seen.setdefault(key, []).append(value)
    return {key: [min(values), max(values)] for key, values in seen.items()}


def check_targets(name: str, module: Any, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Compare the scenario's ``TARGETS`` with its headline result and ratios."""
    checks = []
    headline = summary.get("headline", {})
    ratios = summary.get("ratios", {})
    for key, (what, op, bound) in getattr(module, "TARGETS", {}).items():
        value = headline.get(key, ratios.get(key))
        met = None if value is None else (value >= bound if op == ">=" else value <= bound)
        checks.append(
            {
                "scenario": name,
                "metric": key,
                "what": what,
                "target": f"{op} {bound:,}",
                "value": value,
                "range": summary.get("ratio_ranges", {}).get(key),
                "met": met,
            }
        )
    return checks


def targets_table(title: str, checks: list[dict[str, Any]], *, what: bool = True) -> Table:
    """Targets with their measured value and pass / miss (``what``: with the description)."""
    table = Table(title=title, title_justify="left")
    columns = ["scenario", "metric", "what", "target", "measured", "result"]
    if not what:
        columns.remove("what")
    for column in columns:
        table.add_column(column, justify="right" if column == "measured" else "left")
    verdict = {True: "[green]pass", False: "[red]miss", None: "[yellow]not measured"}
    for check in checks:
        cells = [check["scenario"], check["metric"], check["what"], check["target"]]
        if not what:
            del cells[2]
        measured = _fmt(check["value"]) + _span(check.get("range"))
        table.add_row(*cells, measured, verdict[check["met"]])
    return table


def main(argv: list[str] | None = None) -> int:
    """Parse the options, run the chosen scenarios, print, write JSON and plot."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small points: under a minute")
    parser.add_argument("--only", metavar="NAME[,NAME]", help="run only these scenarios")
    parser.add_argument("--json", metavar="PATH", help="write the results to this file")
    parser.add_argument("--plot", metavar="PATH", help="write a PNG plot to this file")
    parser.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="the event loop every point runs on (uvloop: the extra `uvloop`)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run every point N times; report each figure's median and each ratio's range",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat needs a count of 1 or more")
    if args.loop == "uvloop":
        try:
            import uvloop  # noqa: F401
        except ImportError:
            parser.error("--loop uvloop needs uvloop: pip install 'edge-actors[uvloop]'")
    os.environ[LOOP_VARIABLE] = args.loop  # the workers read it
    names = list(SCENARIOS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    # Piped output (CI logs, `make bench | tee`) gets a width the tables fit in.
    console = Console() if sys.stdout.isatty() else Console(width=150)
    report: dict[str, Any] = {
        "machine": {**machine(), "loop": args.loop},
        "scenarios": {},
        "targets": [],
    }
    plan = []
    for name in names:
        module = SCENARIOS[name]
        skip = module.available() if hasattr(module, "available") else None
        if skip:
            report["scenarios"][name] = {"skipped": skip}
            continue
        plan.append((name, module, module.points(args.quick)))
    began = time.perf_counter()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        repeat = args.repeat
        overall = progress.add_task("all scenarios", total=sum(len(p) for _, _, p in plan) * repeat)
        tasks = {
            name: progress.add_task(name, total=len(points) * repeat) for name, _, points in plan
        }
        for name, module, points in plan:
            task = tasks[name]
            runs: list[list[dict[str, Any]]] = [[] for _ in points]
            for k in range(repeat):
                for point, point_runs in zip(points, runs, strict=True):
                    label = " ".join(f"{key}={v}" for key, v in point.items())
                    run_label = f" run {k + 1}/{repeat}" if repeat > 1 else ""
                    progress.update(task, description=f"{name} [dim]{label}{run_label}")
                    point_runs.append(run_point(name, point))
                    progress.advance(task)
                    progress.advance(overall)
            progress.update(task, description=name)
            results = [(p, median_result(r)) for p, r in zip(points, runs, strict=True)]
            good = [(p, r) for p, r in results if "error" not in r]
            summary = module.summarize(good)
            if repeat > 1:
                summary["ratio_ranges"] = ratio_ranges(module, points, runs)
            summary["params"] = {
                "quick": args.quick,
                "repeat": repeat,
                "points": [p for p, _ in results],
            }
            summary["notes"] = list(getattr(module, "NOTES", ()))
            failed = [{"point": p, "error": r["error"]} for p, r in results if "error" in r]
            if failed:
                summary["errors"] = failed
            checks = check_targets(name, module, summary)
            summary["targets"] = checks
            report["scenarios"][name] = summary
            report["targets"].extend(checks)
    report["wall_s"] = time.perf_counter() - began
    for name, summary in report["scenarios"].items():
        if "skipped" in summary:
            console.print(f"[yellow]{name}: skipped: {summary['skipped']}\n")
            continue
        console.print(scenario_table(name, summary))
        for note in summary["notes"]:
            console.print(f"  [dim]{note}")
        for failure in summary.get("errors", []):
            console.print(f"  [red]point {failure['point']} failed: {failure['error']}")
        if summary["targets"]:
            console.print(targets_table(f"{name}: targets", summary["targets"]))
        console.print()
    if report["targets"]:
        console.print(targets_table("all targets", report["targets"], what=False))
    console.print(f"suite wall time {report['wall_s']:.1f} s")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2, default=str)
        console.print(f"results written to {args.json}")
    if args.plot:
        from benchmarks.plot import plot

        plot(report, args.plot)
        console.print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
