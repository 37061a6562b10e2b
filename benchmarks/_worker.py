"""Runs one measurement point in this (fresh) process and prints its result as JSON.

``python -m benchmarks._worker SCENARIO POINT_JSON``; the suite starts one per point.
"""

from __future__ import annotations

import json
import sys

from benchmarks.scenarios import SCENARIOS


def main() -> int:
    scenario = SCENARIOS[sys.argv[1]]
    point = json.loads(sys.argv[2])
    result = scenario.run(point)
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
