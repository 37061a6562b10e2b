"""Every Python block of the README runs as it stands (or the README says why it cannot)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 120.0  # seconds a block may take (the fleet's starts a Ray cluster)


def _blocks() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) == 5, "a README block was added or removed: run it here too"
    return [str(block) for block in blocks]


def _run(block: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", block],
        capture_output=True,
        text=True,
        timeout=LIMIT,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.splitlines()


def test_the_short_example_runs_and_reports_presence() -> None:
    lines = _run(_blocks()[0])
    assert lines[0] == "present: ['alice']"
    assert lines[1] == "alice published AUDIO"
    assert lines[2].startswith("idle since ")
    assert float(lines[2].removeprefix("idle since ")) > 0


def test_the_local_edge_block_runs() -> None:
    pytest.importorskip("aiortc")
    lines = _run(_blocks()[1])
    assert lines[0].startswith("http://127.0.0.1:")
    assert "token=" in lines[0]
    assert lines[1] == "a frame of 320 x 240"


def test_the_stream_emulator_block_runs() -> None:
    pytest.importorskip("getstream.video.rtc")
    assert _run(_blocks()[2]) == ["present: ['alice']"]


def test_the_vision_agents_block_says_why_it_is_not_run() -> None:
    readme = (ROOT / "README.md").read_text()
    block = _blocks()[3]
    before = readme[: readme.index(block)]
    assert "needs an LLM of yours" in before[-400:]
    assert "llm=..." in block


def test_the_fleet_block_runs() -> None:
    pytest.importorskip("ray")
    pytest.importorskip("aiortc")
    lines = _run(_blocks()[4])
    assert lines[0] == "active"
    assert lines[1] in ("{'h1': 1, 'h2': 0}", "{'h1': 0, 'h2': 1}")
