"""The README's example runs as it stands and prints what it claims."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks, "the README shows no Python example"
    return str(blocks[0])


def test_readme_example_runs_and_reports_presence() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _readme_example()],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "present: ['alice']"
    assert lines[1] == "alice published AUDIO"
    assert lines[2].startswith("idle since ")
    assert float(lines[2].removeprefix("idle since ")) > 0
