"""Runs one measurement point in this (fresh) process and prints its result as JSON.

``python -m benchmarks._worker SCENARIO POINT_JSON``; the suite starts one per
point, so every point has its own heap, RSS baseline and warm-up. With
``--profile PATH`` the point runs under pyinstrument and its call tree is
written to ``PATH`` (``.html`` gives the interactive page, anything else text),
e.g. ``python -m benchmarks._worker mailbox_fanout
'{"impl": "edge-actors", "actors": 100000, "rounds": 10}' --profile fanout.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from benchmarks.scenarios import SCENARIOS


def main(argv: list[str] | None = None) -> int:
    """Run the point given on the command line; print its result as one JSON line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks._worker")
    parser.add_argument("scenario", choices=list(SCENARIOS))
    parser.add_argument("point", help="the point as JSON")
    parser.add_argument("--profile", metavar="PATH", help="profile with pyinstrument into PATH")
    args = parser.parse_args(argv)
    scenario = SCENARIOS[args.scenario]
    point = json.loads(args.point)
    if os.environ.get("EDGE_ACTORS_BENCH_LOOP") == "uvloop":
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())  # every asyncio.run() below
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
        profiler.start()
        result = scenario.run(point)
        profiler.stop()
        with open(args.profile, "w") as out:
            if args.profile.endswith(".html"):
                out.write(profiler.output_html())
            else:
                out.write(profiler.output_text(unicode=True, show_all=False))
    else:
        result = scenario.run(point)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
