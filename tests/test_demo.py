"""``make run`` and its modes: each demo runs to its end in a process of its own and exits 0."""

from __future__ import annotations

import asyncio
import sys

import pytest

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
