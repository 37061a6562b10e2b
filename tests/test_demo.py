"""``make run`` and its modes: each demo runs to its end in a process of its own and exits 0."""

from __future__ import annotations

import asyncio
import re
import shlex
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "local"))
from browser import CHROMIUM, HEADLESS

LIMIT = 180.0  # a guard against a hang; each demo ends by itself well within it


async def _demo(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "transport.demo",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), LIMIT)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, out.decode(errors="replace")


@pytest.mark.deadline(LIMIT + 10)
@pytest.mark.parametrize(
    ("args", "needs", "ending"),
    [
        ((), "aiortc", "the agent closed the connection"),
        (("--stream-local",), "getstream.video.rtc", "the agent closed the connection"),
        (("--fleet",), "ray", "Ray stopped."),
    ],
    ids=["local", "stream-local", "fleet"],
)
async def test_a_demo_runs_to_its_end_and_exits_0(
    args: tuple[str, ...], needs: str, ending: str
) -> None:
    pytest.importorskip(needs)
    code, out = await _demo(*args)
    assert code == 0, out[-2000:]
    assert ending in " ".join(out.split()), out[-2000:]


@pytest.mark.browser
@pytest.mark.deadline(LIMIT + 10)
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
async def test_the_browser_demo_runs_to_its_end_with_a_headless_chromium_joining(
    tmp_path: Path,
) -> None:
    """``--browser --open``: the demo opens its join link in a headless Chromium (fake camera
    and microphone), which joins and publishes; the demo ends it, the person has left, and
    the agent closes the call once idle."""
    pytest.importorskip("aiortc")
    assert CHROMIUM is not None
    chromium = shlex.join([CHROMIUM, f"--user-data-dir={tmp_path}", *HEADLESS])
    code, out = await _demo("--browser", "--open", chromium)
    assert code == 0, out[-2000:]
    said = " ".join(out.split())
    assert "the agent closed the connection" in said, out[-2000:]
    assert re.search(r"ParticipantJoined guest__\w+", said), out[-2000:]
    assert re.search(r"TrackAdded guest__\w+: AUDIO", said), out[-2000:]
    assert re.search(r"TrackAdded guest__\w+: VIDEO", said), out[-2000:]
    assert re.search(r"ParticipantLeft guest__\w+ \(dropped\)", said), out[-2000:]
