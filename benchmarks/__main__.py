"""``python -m benchmarks``: run the scenarios, show a table each, write JSON and a plot.

Options: ``--quick`` (under a minute on 2 cores), ``--only a,b``, ``--json PATH``,
``--plot PATH``. Each point runs in its own process; a point that fails is
reported as such and the suite goes on.
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

from benchmarks.scenarios import SCENARIOS

POINT_TIMEOUT_S = 300


def _machine() -> dict[str, Any]:
    versions = {}
    for name in ("pykka", "msgspec", "aiortc", "aiohttp", "edge-actors"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "versions": versions,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _run_point(name: str, point: dict[str, Any]) -> dict[str, Any]:
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
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(name: str, module: Any, summary: dict[str, Any]) -> Table:
    table = Table(title=name, title_justify="left")
    table.add_column("implementation")
    table.add_column("point")
    keys = [
        k
        for k in (
            "msgs_per_s",
            "events_per_s",
            "bytes_per_actor",
            "bytes_per_connection",
            "start_s",
            "seconds",
            "p50_ms",
            "p99_ms",
            "after_close_ratio",
            "participants_per_core",
            "error",
        )
        if any(
            k in result
            for impls in summary["results"].values()
            for result in (impls.values() if isinstance(impls, dict) else [])
            if isinstance(result, dict)
        )
        or any(k in r for r in summary["results"].values() if isinstance(r, dict))
    ]
    for key in keys:
        table.add_column(key, justify="right")
    for impl, by_point in summary["results"].items():
        rows = (
            by_point.items()
            if all(isinstance(v, dict) for v in by_point.values())
            else [("", by_point)]
        )
        for point, result in rows:
            table.add_row(impl, str(point), *(_fmt(result.get(k, "")) for k in keys))
    for ratio, value in summary.get("ratios", {}).items():
        table.caption = (table.caption or "") + f"{ratio} = {value:.3g}   "
    return table


def _targets(name: str, module: Any, summary: dict[str, Any]) -> list[dict[str, Any]]:
    checks = []
    headline = summary.get("headline", {})
    for key, (what, op, bound) in getattr(module, "TARGETS", {}).items():
        if key == "time_ratio":
            value = summary.get("ratios", {}).get("time_ratio_at_10000")
        elif key in headline:
            value = headline[key]
        else:
            value = None
        met = None if value is None else (value >= bound if op == ">=" else value <= bound)
        checks.append(
            {
                "scenario": name,
                "metric": key,
                "what": what,
                "target": f"{op} {bound:,}",
                "value": value,
                "met": met,
            }
        )
    return checks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small points: under a minute")
    parser.add_argument("--only", help="comma-separated scenario names")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument("--plot", help="write a PNG plot to this file")
    args = parser.parse_args(argv)
    names = list(SCENARIOS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario(s) {unknown}; known: {', '.join(SCENARIOS)}")
    console = Console()
    report: dict[str, Any] = {"machine": _machine(), "scenarios": {}, "targets": []}
    plan = []
    for name in names:
        module = SCENARIOS[name]
        skip = module.available() if hasattr(module, "available") else None
        if skip:
            report["scenarios"][name] = {"skipped": skip}
            continue
        plan.append((name, module, module.points(args.quick)))
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        overall = progress.add_task("all scenarios", total=sum(len(p) for _, _, p in plan))
        for name, module, points in plan:
            task = progress.add_task(name, total=len(points))
            results = []
            for point in points:
                progress.update(task, description=f"{name} {point}")
                results.append((point, _run_point(name, point)))
                progress.advance(task)
                progress.advance(overall)
            progress.update(task, description=name)
            failed = [r for _, r in results if "error" in r]
            good = [(p, r) for p, r in results if "error" not in r]
            summary = module.summarize(good)
            summary["params"] = {"points": [p for p, _ in results], "quick": args.quick}
            if failed:
                summary["errors"] = [r["error"] for r in failed]
            report["scenarios"][name] = summary
            report["targets"].extend(_targets(name, module, summary))
    for name, summary in report["scenarios"].items():
        if "skipped" in summary:
            console.print(f"[yellow]{name}: skipped: {summary['skipped']}")
            continue
        console.print(_table(name, SCENARIOS[name], summary))
        for error in summary.get("errors", []):
            console.print(f"[red]{name}: a point failed: {error}")
    targets = Table(title="targets", title_justify="left")
    for column in ("scenario", "metric", "target", "value", "met"):
        targets.add_column(column)
    for check in report["targets"]:
        met = {True: "[green]yes", False: "[red]no", None: "-"}[check["met"]]
        targets.add_row(
            check["scenario"],
            f"{check['metric']} ({check['what']})",
            check["target"],
            _fmt(check["value"]),
            met,
        )
    console.print(targets)
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
